r"""Back from probabilities to logits: the two conversions in the thread.

``nn.CrossEntropyLoss`` wants logits. If all you have are probabilities p,
which numbers x give softmax(x) = p back? Any x = log p + k (k the same for
every class), because softmax ignores a constant shift. The sigmoid's logit
log(p / (1 − p)) is NOT such an x for more than two classes: it inverts a
sigmoid, not a softmax.
"""

from __future__ import annotations

import numpy as np

from ._validate import as_float, check_dim, check_in_unit_interval


def logits_from_probs(probs, dim):
    r"""x = log p: logits whose softmax over ``dim`` is exactly ``probs``.

    Softmax's inverse, up to a constant added to every class:

    .. math:: \mathrm{softmax}(\log p)_c = \frac{p_c}{\sum_k p_k} = p_c

    ``probs`` must lie in [0, 1] and sum to 1 over ``dim``; a probability of
    0 gives a logit of −inf, which softmax maps back to 0.

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
    ``sigmoid``), not for a distribution over C > 2 classes:
    softmax(logit(p)) is not p.

    >>> logit([0.5, 0.9]).round(4)
    array([0.    , 2.1972])
    """
    p = check_in_unit_interval(as_float(probs, "probs"), "probs")
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)
