r"""Class imbalance: per-class weights and the focal loss.

Notation as in ``losses``: logits x, p = softmax(x), class-index targets
y_n, per-class weights w_c, C classes, n_c examples of class c.
"""

from __future__ import annotations

import numpy as np

from ._validate import as_class_indices, as_float, check_classification
from .losses import _pick, _reduce, _target_weights
from .probabilities import log_softmax

__all__ = [
    "class_counts",
    "effective_number_weights",
    "focal_loss",
    "inverse_frequency_weights",
]


def class_counts(target, num_classes, *, ignore_index=-100):
    r"""How many targets of each class: n_c, a (C,) int64 array.

    Targets equal to ``ignore_index`` are not counted; any other value
    outside 0..C−1 is refused.

    >>> class_counts([0, 2, 2, -100, 2], 3)
    array([1, 0, 3])
    """
    y = as_class_indices(target, "target").reshape(-1)
    y = y[y != ignore_index]
    bad = (y < 0) | (y >= num_classes)
    if bad.any():
        raise ValueError(
            f"target holds {int(y[bad][0])}, outside 0..{num_classes - 1} "
            f"(num_classes = {num_classes}) and not ignore_index "
            f"({ignore_index})"
        )
    return np.bincount(y, minlength=num_classes)


def _check_counts(counts):
    n = as_float(counts, "counts")
    if n.ndim != 1 or n.size == 0:
        raise ValueError(
            f"counts must be a (C,) vector, one count per class; got "
            f"shape {n.shape}"
        )
    if not np.all(np.isfinite(n)) or np.any(n <= 0):
        c = int(np.argmax(~(np.isfinite(n) & (n > 0))))
        raise ValueError(
            f"counts must be positive: class {c} has {float(n[c])!r} examples, so "
            "its weight would be infinite; drop the class or count it"
        )
    return n


def inverse_frequency_weights(counts):
    r"""Weights proportional to 1 / n_c, normalized to sum to C.

    .. math:: w_c = \frac{C \, / \, n_c}{\sum_k 1 / n_k}

    so a balanced data set gets all ones. Inside a weighted ``mean`` a
    common factor cancels (the mean divides by Σ w_{y_n}), so only the
    ratios matter there; the normalization keeps ``sum`` losses on the
    scale of unweighted ones.

    Shapes: counts (C,), positive; the result (C,).

    >>> inverse_frequency_weights([90, 10]).round(4)
    array([0.2, 1.8])

    Chapter 6 explains this.
    """
    n = _check_counts(counts)
    inverse = 1.0 / n
    return n.size * inverse / inverse.sum()


def effective_number_weights(counts, *, beta=0.999):
    r"""Class-balanced weights of Cui et al. (2019): 1 / effective number.

    The effective number of samples of class c is
    E_c = (1 − β^{n_c}) / (1 − β): it grows like n_c for small counts and
    saturates at 1 / (1 − β), since more examples of a class add less and
    less new information. The weights are 1 / E_c normalized to sum to C:

    .. math:: w_c = \frac{C\,(1 - \beta) / (1 - \beta^{n_c})}
                         {\sum_k (1 - \beta) / (1 - \beta^{n_k})}

    β = 0 gives equal weights; β → 1 gives ``inverse_frequency_weights``.

    Shapes: counts (C,), positive; β in [0, 1); the result (C,).

    Reference: Y. Cui, M. Jia, T.-Y. Lin, Y. Song, S. Belongie,
    "Class-Balanced Loss Based on Effective Number of Samples", CVPR 2019.

    >>> effective_number_weights([9000, 100], beta=0.999).round(4)
    array([0.1739, 1.8261])

    Chapter 6 explains this.
    """
    n = _check_counts(counts)
    if isinstance(beta, bool) or not 0.0 <= float(beta) < 1.0:
        raise ValueError(f"beta must be in [0, 1); got {beta!r}")
    with np.errstate(divide="ignore"):  # beta = 0: log 0 = -inf, fine
        beta_n = np.exp(n * np.log(float(beta)))  # beta ** n_c
    effective = (1.0 - beta_n) / (1.0 - beta)
    inverse = 1.0 / effective
    return n.size * inverse / inverse.sum()


def focal_loss(
    input,
    target,
    *,
    gamma=2.0,
    weight=None,
    ignore_index=-100,
    reduction="mean",
):
    r"""Focal loss (Lin et al., 2017) of logits, for class-index targets.

    The cross-entropy of each example scaled down by (1 − p_y)^γ, so that
    examples the model already gets right (p_y near 1) count less:

    .. math::
        \ell_n = -w_{y_n} (1 - p_{n,y_n})^\gamma \log p_{n,y_n},
        \qquad p_n = \operatorname{softmax}(x_n)

    ``weight`` (the α of the paper, one per class), ``ignore_index`` and
    ``reduction`` behave as in ``cross_entropy``: ``mean`` divides by
    Σ_n w_{y_n} over the targets that count, so γ = 0 gives exactly
    ``cross_entropy``.

    Shapes: input (C,), (N, C) or (N, C, d1, ..., dK); target (), (N,) or
    (N, d1, ..., dK) of class indices; a float, or target's shape for
    'none'.

    Reference: T.-Y. Lin, P. Goyal, R. Girshick, K. He, P. Dollár, "Focal
    Loss for Dense Object Detection", ICCV 2017.

    >>> import math
    >>> x = [[0.0, math.log(3.0)]]  # p = (1/4, 3/4)
    >>> round(focal_loss(x, [1], gamma=2.0), 6)  # (1/4)^2 * -log(3/4)
    0.01798

    Chapter 6 explains this.
    """
    if isinstance(gamma, bool) or not float(gamma) >= 0.0:
        raise ValueError(f"gamma must be a number >= 0; got {gamma!r}")
    x, y, w, dim, _ = check_classification(
        input,
        target,
        weight,
        ignore_index,
        reduction,
        allow_probability_target=False,
    )
    kept = y != ignore_index
    log_p_y = _pick(log_softmax(x, dim=dim), y, kept, dim)
    w_y = _target_weights(w, y, kept)  # 0 if ignored
    modulator = (-np.expm1(log_p_y)) ** float(gamma)  # (1 - p_y)^gamma
    losses = -w_y * modulator * log_p_y
    return _reduce(losses, reduction, np.sum(w_y))
