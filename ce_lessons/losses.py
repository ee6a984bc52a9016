r"""The losses: nll_loss, cross_entropy and the two binary cross-entropies.

Same names, arguments, defaults, shapes and results as
``torch.nn.functional``, in float64. Notation: logits x, log-probabilities
log p = log_softmax(x), class-index targets y_n, class probability targets
q_{n,c}, per-class weights w_c, label smoothing ε, C classes; n runs over
the batch and every spatial position d1, ..., dK.

Each loss checks its arguments once (``_validate``), then reads top to
bottom: log-softmax, pick the target's entry, weight, reduce. The options
after ``weight`` are keyword-only: torch's positional order holds deprecated
arguments there (``size_average`` is its 4th).
"""

from __future__ import annotations

import numpy as np

from ._validate import check_binary, check_classification, keyword_options
from .probabilities import log_sigmoid, log_softmax

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "nll_loss",
]


def _reduce(losses, reduction, denominator):
    """'none' keeps the per-element ``losses``, 'sum' adds them up, 'mean'
    divides that sum by ``denominator`` (NaN when it is 0, as in torch)."""
    if reduction == "none":
        return np.asarray(losses)
    total = float(np.sum(losses))
    if reduction == "sum":
        return total
    return total / float(denominator) if denominator != 0 else float("nan")


def _pick(values, y, kept, dim):
    """values[n, y_n] along the class dimension ``dim``; 0 where not kept."""
    safe = np.expand_dims(np.where(kept, y, 0), dim)
    picked = np.take_along_axis(values, safe, axis=dim)
    return np.where(kept, np.squeeze(picked, axis=dim), 0.0)


def _target_weights(w, y, kept):
    """w_{y_n} for each target, 0 where ignored: what a 'mean' divides by."""
    return np.where(kept, w[np.where(kept, y, 0)], 0.0)


def _per_class(w, dim, ndim):
    """The (C,) vector ``w`` shaped to broadcast along dimension ``dim``."""
    shape = [1] * ndim
    shape[dim] = -1
    return w.reshape(shape)


@keyword_options("input", "target", "weight")
def nll_loss(
    input, target, weight=None, *, ignore_index=-100, reduction="mean"
):
    r"""Negative log-likelihood: pick each target's entry, negate, weight.

    .. math::
        \ell_n = -w_{y_n}\, x_{n, y_n} \cdot [y_n \ne \text{ignore}],
        \qquad
        \text{mean} = \frac{\sum_n \ell_n}
                           {\sum_n w_{y_n} [y_n \ne \text{ignore}]}

    ``input`` should hold log-probabilities (the output of ``log_softmax``),
    but, exactly like torch, ``nll_loss`` does not check: it gathers and
    negates whatever it is given. Probability targets are refused, as in
    torch: only ``cross_entropy`` takes them.

    Shapes: input (C,), (N, C) or (N, C, d1, ..., dK); target (), (N,) or
    (N, d1, ..., dK) of integer class indices; the result is a float, or has
    the target's shape for 'none'. Chapter 2 explains this.

    >>> round(nll_loss([[-0.1, -2.4], [-1.2, -0.4]], [0, 1]), 4)
    0.25
    """
    x, y, w, dim, _ = check_classification(
        input,
        target,
        weight,
        ignore_index,
        reduction,
        allow_probability_target=False,
    )
    kept = y != ignore_index
    w_y = _target_weights(w, y, kept)
    losses = -w_y * _pick(x, y, kept, dim)
    return _reduce(losses, reduction, np.sum(w_y))


@keyword_options("input", "target", "weight")
def cross_entropy(
    input,
    target,
    weight=None,
    *,
    ignore_index=-100,
    reduction="mean",
    label_smoothing=0.0,
):
    r"""Cross-entropy of logits: ``log_softmax`` followed by ``nll_loss``.

    Class-index targets y_n, with label smoothing ε (0 by default):

    .. math::
        \ell_n = (1 - \varepsilon)\, \bigl(-w_{y_n} \log p_{n, y_n}\bigr)
               + \frac{\varepsilon}{C} \sum_c \bigl(-w_c \log p_{n,c}\bigr),
        \qquad
        p_n = \operatorname{softmax}(x_n)

    and ``mean`` divides the sum of ℓ_n by Σ_n w_{y_n} over the targets that
    are not ``ignore_index`` (NaN if every target is ignored). Ignored
    targets contribute 0. With ε = 0 this is exactly
    ``nll_loss(log_softmax(x))``; with ε > 0 the second term is added.

    Probability targets q_{n,c} (same shape as ``input``), smoothed to (1−ε)
    q + ε/C:

    .. math:: \ell_n = -\sum_c w_c\, q_{n,c} \log p_{n,c}

    and ``mean`` divides by the number of distributions N·d1···dK, whatever
    the weights.

    ``input`` holds logits, NOT probabilities: the softmax is applied
    inside. Shapes: input (C,), (N, C) or (N, C, d1, ..., dK) with the
    classes in dim 1 (dim 0 when unbatched); target (), (N,) or (N, d1, ...,
    dK) of class indices, or input's shape for probabilities. Chapters 2
    and 5 explain this.

    Stricter than torch: probability targets must lie in [0, 1] and sum to 1
    over the classes, ``weight`` must be non-negative, and ``ignore_index``
    cannot be set with probability targets (torch raises for a non-negative
    value there and silently accepts a negative one).

    >>> round(cross_entropy([[2.0, 1.0, 0.1]], [0]), 4)  # -log 0.659
    0.417
    """
    x, y, w, dim, soft = check_classification(
        input, target, weight, ignore_index, reduction, label_smoothing
    )
    eps, n_classes = label_smoothing, x.shape[dim]
    log_p = log_softmax(x, dim=dim)
    if soft:
        q = (1.0 - eps) * y + eps / n_classes
        losses = -np.sum(_per_class(w, dim, x.ndim) * q * log_p, axis=dim)
        return _reduce(losses, reduction, losses.size)
    kept = y != ignore_index
    w_y = _target_weights(w, y, kept)
    losses = -w_y * _pick(log_p, y, kept, dim)
    if eps:
        uniform = -np.sum(_per_class(w, dim, x.ndim) * log_p, axis=dim)
        uniform = np.where(kept, uniform, 0.0)  # an ignored row adds 0
        losses = (1.0 - eps) * losses + eps / n_classes * uniform
    return _reduce(losses, reduction, np.sum(w_y))


@keyword_options("input", "target", "weight")
def binary_cross_entropy(input, target, weight=None, *, reduction="mean"):
    r"""Binary cross-entropy of probabilities p and targets y, elementwise.

    .. math::
        \ell = -w \bigl[y \max(\log p, -100)
                    + (1 - y) \max(\log(1 - p), -100)\bigr]

    Like torch, each log is clamped at −100, so p = 0 or 1 gives a large
    finite loss instead of ``inf``. ``mean`` is the plain average over all
    elements (``weight`` does not divide).

    The gradient is where this loss breaks on sigmoid outputs: torch's
    backward is w (p − y) / max(p(1 − p), 1e-12) (see
    ``binary_cross_entropy_grad``), so through p = σ(x) it collapses once
    p(1 − p) < 1e-12, at |x| ≈ 27.6, while the loss value is still right.
    Pass logits to ``binary_cross_entropy_with_logits`` instead. Chapter 4
    explains this.

    Shapes: input, target of any one shape; ``weight`` broadcastable to it.

    >>> round(binary_cross_entropy([0.9, 0.2], [1.0, 0.0]), 4)
    0.1643
    """
    p, y, w, _ = check_binary(
        input, target, weight, reduction, input_is_probability=True
    )
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), -100.0)
        log_1mp = np.maximum(np.log1p(-p), -100.0)
    losses = -w * (y * log_p + (1.0 - y) * log_1mp)
    return _reduce(losses, reduction, losses.size)


@keyword_options("input", "target", "weight")
def binary_cross_entropy_with_logits(
    input, target, weight=None, *, reduction="mean", pos_weight=None
):
    r"""Binary cross-entropy of logits x (σ applied inside), always stable.

    With a = ``pos_weight`` (the weight of the positive term) and
    log(1 − σ(x)) = log σ(x) − x:

    .. math::
        \ell = -w \bigl[a\, y \log\sigma(x)
                    + (1 - y) \log(1 - \sigma(x))\bigr]
             = w \bigl[(1 - y)\, x - (1 + (a - 1)\, y) \log\sigma(x)\bigr]

    and ``log_sigmoid`` is finite at any logit, so no clamp is needed.

    Shapes: input, target of any one shape; ``weight`` and ``pos_weight``
    broadcastable to it (``pos_weight`` usually has one entry per class,
    along the last dimension). Chapter 4 explains this.

    >>> round(binary_cross_entropy_with_logits([2.0, -1.0], [1.0, 0.0]), 4)
    0.2201
    """
    x, y, w, a = check_binary(input, target, weight, reduction, pos_weight)
    losses = w * ((1.0 - y) * x - (1.0 + (a - 1.0) * y) * log_sigmoid(x))
    return _reduce(losses, reduction, losses.size)
