r"""The losses: nll_loss, cross_entropy and the two binary cross-entropies.

Same names, arguments, defaults, shapes and results as
``torch.nn.functional``, in float64. Notation: logits x, log-probabilities
log p = log_softmax(x), class-index targets y_n, class probability targets
q_{n,c}, per-class weights w_c, label smoothing ε, C classes; n runs over
the batch and every spatial position d1, ..., dK.
"""

from __future__ import annotations

import numpy as np

from ._validate import check_binary, check_classification
from .probabilities import log_sigmoid, log_softmax


def reduce(losses, reduction, denominator):
    """Apply ``reduction`` to per-element ``losses``: 'none' keeps them,
    'sum' adds them up and
    'mean' divides that sum by ``denominator`` (NaN when it is 0, as in
    torch).
    """
    if reduction == "none":
        return np.asarray(losses)
    total = float(np.sum(losses))
    if reduction == "sum":
        return total
    return total / float(denominator) if denominator != 0 else float("nan")


def target_mask(args):
    """True where a class-index target counts, False where it is ignored."""
    return args.target != args.ignore_index


def target_weight(args):
    """w_{y_n} per target, 0 where ignored: what a 'mean' divides by."""
    mask = target_mask(args)
    return np.where(mask, args.weight[np.where(mask, args.target, 0)], 0.0)


def gather(values, args):
    """values[n, y_n] along the class dimension (0 where ignored)."""
    safe = np.where(target_mask(args), args.target, 0)
    picked = np.take_along_axis(
        values, np.expand_dims(safe, args.class_dim), axis=args.class_dim
    )
    return np.where(
        target_mask(args), np.squeeze(picked, axis=args.class_dim), 0.0
    )


def nll_loss(
    input, target, weight=None, ignore_index=-100, reduction="mean"
):
    r"""Negative log-likelihood: pick each target's entry, negate, weight.

    .. math::
        \ell_n = -w_{y_n}\, x_{n, y_n} \cdot [y_n \ne \text{ignore}],
        \qquad
        \text{mean} = \frac{\sum_n \ell_n}
                           {\sum_n w_{y_n} [y_n \ne \text{ignore}]}

    ``input`` should hold log-probabilities (the output of ``log_softmax``),
    but, exactly like torch, ``nll_loss`` does not check: it gathers and
    negates whatever it is given.

    Shapes: input (C,), (N, C) or (N, C, d1, ..., dK); target (), (N,) or
    (N, d1, ..., dK) of integer class indices; the result is a float, or has
    the target's shape for 'none'.

    >>> round(nll_loss([[-0.1, -2.4], [-1.2, -0.4]], [0, 1]), 4)
    0.25
    """
    args = check_classification(
        input,
        target,
        weight,
        ignore_index,
        reduction,
        allow_probability_target=False,
    )
    losses = -target_weight(args) * gather(args.input, args)
    return reduce(losses, args.reduction, np.sum(target_weight(args)))


def cross_entropy(
    input,
    target,
    weight=None,
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
    targets contribute 0.

    Probability targets q_{n,c} (same shape as ``input``), smoothed to (1−ε)
    q + ε/C:

    .. math:: \ell_n = -\sum_c w_c\, q_{n,c} \log p_{n,c}

    and ``mean`` divides by the number of distributions N·d1···dK, whatever
    the weights.

    ``input`` holds logits, NOT probabilities: the softmax is applied
    inside. Shapes: input (C,), (N, C) or (N, C, d1, ..., dK) with the
    classes in dim 1 (dim 0 when unbatched); target (), (N,) or (N, d1, ...,
    dK) of class indices, or input's shape for probabilities.

    Stricter than torch: probability targets must lie in [0, 1] and sum to 1
    over the classes, ``weight`` must be non-negative, and ``ignore_index``
    cannot be set with probability targets (torch allows any negative value
    there and ignores it).

    >>> round(cross_entropy([[2.0, 1.0, 0.1]], [0]), 4)  # -log 0.659
    0.417
    """
    args = check_classification(
        input, target, weight, ignore_index, reduction, label_smoothing
    )
    log_p = log_softmax(args.input, dim=args.class_dim)
    if args.probability_target:
        return _cross_entropy_probabilities(log_p, args)
    w_y = target_weight(args)
    nll = reduce(-w_y * gather(log_p, args), args.reduction, np.sum(w_y))
    eps = args.label_smoothing
    if eps == 0.0:
        return nll
    w = args.class_shape(args.weight)
    smooth = -np.sum(w * log_p, axis=args.class_dim)
    smooth = np.where(target_mask(args), smooth, 0.0)  # ignored: 0
    smooth = reduce(smooth, args.reduction, np.sum(w_y))
    return (1.0 - eps) * nll + (eps / args.n_classes) * smooth


def _cross_entropy_probabilities(log_p, args):
    eps, w = args.label_smoothing, args.class_shape(args.weight)
    q = (1.0 - eps) * args.target + eps / args.n_classes
    losses = -np.sum(w * q * log_p, axis=args.class_dim)
    return reduce(losses, args.reduction, losses.size)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    r"""Binary cross-entropy of probabilities p and targets y, elementwise.

    .. math::
        \ell = -w \bigl[y \max(\log p, -100)
                    + (1 - y) \max(\log(1 - p), -100)\bigr]

    Like torch, each log is clamped at −100, so p = 0 or 1 gives a large
    finite loss instead of ``inf``. ``mean`` is the plain average over all
    elements (``weight`` does not divide).

    Shapes: input, target of any one shape; ``weight`` broadcastable to it.

    >>> round(binary_cross_entropy([0.9, 0.2], [1.0, 0.0]), 4)
    0.1643
    """
    args = check_binary(
        input, target, weight, reduction, input_is_probability=True
    )
    p, y = args.input, args.target
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), -100.0)
        log_1mp = np.maximum(np.log1p(-p), -100.0)
    losses = -args.weight * (y * log_p + (1.0 - y) * log_1mp)
    return reduce(losses, args.reduction, losses.size)


def binary_cross_entropy_with_logits(
    input, target, weight=None, reduction="mean", pos_weight=None
):
    r"""Binary cross-entropy of logits x (σ applied inside), always stable.

    With pos_weight a (weight of the positive term) and log(1 − σ(x)) = log
    σ(x) − x:

    .. math::
        \ell = -w \bigl[a\, y \log\sigma(x)
                    + (1 - y) \log(1 - \sigma(x))\bigr]
             = w \bigl[(1 - y)\, x - (1 + (a - 1)\, y) \log\sigma(x)\bigr]

    and ``log_sigmoid`` is finite at any logit, so no clamp is needed.

    Shapes: input, target of any one shape; ``weight`` and ``pos_weight``
    broadcastable to it (``pos_weight`` usually has one entry per class,
    along the last dimension).

    >>> round(binary_cross_entropy_with_logits([2.0, -1.0], [1.0, 0.0]), 4)
    0.2201
    """
    args = check_binary(input, target, weight, reduction, pos_weight)
    x, y, a = args.input, args.target, args.pos_weight
    losses = args.weight * (
        (1.0 - y) * x - (1.0 + (a - 1.0) * y) * log_sigmoid(x)
    )
    return reduce(losses, args.reduction, losses.size)
