r"""Back from probabilities to logits: the two conversions in the thread.

``nn.CrossEntropyLoss`` wants logits. If all you have are probabilities p,
which numbers x give softmax(x) = p back? Any x = log p + k (k the same for
every class), because softmax ignores a constant shift. The sigmoid's logit
log(p / (1 − p)) is NOT such an x, not even for two classes: it inverts a
sigmoid, one probability at a time, not a softmax. For p = (0.8, 0.2) it
gives (1.386, −1.386), whose softmax is (0.941, 0.059). What is true for two
classes: σ(x₁ − x₀) = softmax(x)₁, so logit(p₁) is the logit *difference*
x₁ − x₀ of any x with softmax(x) = p. Chapter 1 explains this.
"""

from __future__ import annotations

import numpy as np

from ._validate import as_float, check_dim, check_in_unit_interval

__all__ = ["logit", "logits_from_probs"]


def logits_from_probs(probs, dim):
    r"""x = log p: logits whose softmax over ``dim`` gives ``probs`` back.

    Softmax's inverse, up to a constant added to every class:

    .. math:: \mathrm{softmax}(\log p)_c = \frac{p_c}{\sum_k p_k}

    which is p_c itself when p sums to 1. ``probs`` must lie in [0, 1] and
    sum to 1 over ``dim`` within 1e-4 (rounded probabilities are accepted);
    softmax of the result is then the renormalized p / Σp, which differs
    from ``probs`` by at most about that much. A probability of 0 gives a
    logit of −inf, which softmax maps back to 0.

    >>> logits_from_probs([0.5, 0.25, 0.25], dim=0).round(4)
    array([-0.6931, -1.3863, -1.3863])
    """
    p = check_in_unit_interval(as_float(probs, "probs"), "probs")
    dim = check_dim(dim, p.ndim)
    sums = p.sum(axis=dim)
    if not np.allclose(sums, 1.0, rtol=0.0, atol=1e-4):
        raise ValueError(
            f"probs must sum to 1 over dim {dim}; the sums range from "
            f"{float(sums.min())!r} to {float(sums.max())!r}"
        )
    with np.errstate(divide="ignore"):
        return np.log(p)


def logit(probs):
    r"""The sigmoid's inverse log(p / (1 − p)), elementwise, as torch.logit.

    .. math:: \sigma(\operatorname{logit}(p)) = p

    The right inverse for ONE probability (binary classification,
    ``sigmoid``), not for a distribution over classes: softmax(logit(p)) is
    not p, not even for two classes.

    >>> from ce_lessons import softmax
    >>> softmax(logit([0.8, 0.2]), dim=0).round(3)  # not (0.8, 0.2)
    array([0.941, 0.059])

    >>> logit([0.5, 0.9]).round(4)
    array([0.    , 2.1972])
    """
    p = check_in_unit_interval(as_float(probs, "probs"), "probs")
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)
