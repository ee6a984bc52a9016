"""From logits to probabilities: logsumexp, softmax, log-softmax, sigmoid.

Notation of the book: ``x`` holds logits, ``p = softmax(x)`` probabilities,
and along the class dimension c = 0, ..., C-1. Every function returns
float64 numpy arrays.
"""

from __future__ import annotations

import numpy as np

from ._validate import as_class_indices, as_float, check_dim, check_dims

__all__ = [
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "one_hot",
    "sigmoid",
    "softmax",
]


def _max_shift(x, dim):
    """m = max_c x_c along ``dim``, kept as a size-1 axis; 0 where m is ±inf.

    Subtracting m makes every exponent at most 0. An infinite m is not
    subtracted (that would give inf − inf = nan), and an empty ``dim``
    gets m = 0, so that its sum of exponentials is 0, as in torch.
    """
    m = np.max(x, axis=dim, keepdims=True, initial=-np.inf)
    return np.where(np.isinf(m), 0.0, m)


def logsumexp(input, dim, keepdim=False):
    r"""log Σ_c exp(x_c) along ``dim`` (an int or tuple), without overflow.

    .. math::
        \operatorname{logsumexp}(x) = m + \log \sum_c e^{x_c - m},
        \qquad m = \max_c x_c

    Shifting by the largest logit ``m`` keeps every ``exp`` at most 1, so
    huge logits do not overflow. As in torch, an infinite maximum is not
    subtracted (that would give ``inf - inf``).

    Shapes: ``input`` of any shape; the result drops ``dim`` (keeps it with
    size 1 if ``keepdim``). A scalar input is its own logsumexp.

    >>> float(logsumexp([1000.0, 1000.0], dim=0))  # naive: inf
    1000.6931471805599
    >>> float(logsumexp([[0.0, 0.0], [0.0, 0.0]], dim=(0, 1)))  # log 4
    1.3862943611198906
    """
    x = as_float(input, "input")
    dim = check_dims(dim, x.ndim)
    if x.ndim == 0:  # as torch: logsumexp of one number is the number
        return x.copy()
    m = _max_shift(x, dim)
    # log(0) = -inf when every logit is -inf, as in torch
    with np.errstate(divide="ignore"):
        out = m + np.log(np.sum(np.exp(x - m), axis=dim, keepdims=True))
    return out if keepdim else np.squeeze(out, axis=dim)


def log_softmax(input, dim):
    r"""log p_c = x_c − logsumexp(x) along ``dim``, stable at any logit.

    .. math::
        \log \operatorname{softmax}(x)_c = (x_c - m) - \log \sum_k e^{x_k - m}

    Subtracting m = max x before anything else (rather than computing
    x − logsumexp(x)) keeps the result exact even for logits like 1e17,
    where m + log(...) would round the log away.

    Shapes: ``input`` of any shape; the result has the same shape.

    >>> log_softmax([2.0, 1.0, 0.1], dim=0).round(4)
    array([-0.417, -1.417, -2.317])
    """
    x = as_float(input, "input")
    dim = check_dim(dim, x.ndim)
    z = x - _max_shift(x, dim)
    with np.errstate(divide="ignore"):
        return z - np.log(np.sum(np.exp(z), axis=dim, keepdims=True))


def softmax(input, dim):
    r"""p_c = exp(x_c) / Σ_k exp(x_k) along ``dim``: positive, summing to 1.

    .. math::
        \mathrm{softmax}(x)_c = \frac{e^{x_c - m}}{\sum_k e^{x_k - m}},
        \qquad m = \max_k x_k

    The shift by ``m`` changes nothing mathematically (softmax(x + a) =
    softmax(x)) and keeps the exponentials from overflowing. ``dim`` has no
    default: torch guesses one with a warning when it is left out, and a
    softmax over the wrong dimension is a classic silent bug.

    Shapes: ``input`` of any shape; the result has the same shape.

    >>> softmax([2.0, 1.0, 0.1], dim=0).round(4)
    array([0.659 , 0.2424, 0.0986])
    """
    x = as_float(input, "input")
    dim = check_dim(dim, x.ndim)
    e = np.exp(x - _max_shift(x, dim))
    return e / np.sum(e, axis=dim, keepdims=True)


def sigmoid(input):
    r"""σ(x) = 1 / (1 + e^{−x}), elementwise, with no overflow at large |x|.

    For x < 0 the equal form e^{x} / (1 + e^{x}) is used, so ``exp`` never
    sees a large argument.

    >>> sigmoid([0.0, 2.0, -1000.0]).round(4)
    array([0.5   , 0.8808, 0.    ])
    """
    x = as_float(input, "input")
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def log_sigmoid(input):
    r"""log σ(x) = min(x, 0) − log(1 + e^{−|x|}), elementwise, finite.

    >>> log_sigmoid([0.0, -1000.0]).round(4)
    array([-6.931e-01, -1.000e+03])
    """
    x = as_float(input, "input")
    return np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))


def one_hot(tensor, num_classes=-1):
    """Class indices of shape S as 0/1 int64 of shape (*S, C), as F.one_hot.

    ``num_classes=-1`` takes C = max(tensor) + 1. Note that the class
    dimension is the LAST one; for an (N, d1, d2) target it must be moved to
    dim 1 to line up with an (N, C, d1, d2) input.

    >>> one_hot([2, 0], num_classes=3)
    array([[0, 0, 1],
           [1, 0, 0]])
    """
    t = as_class_indices(tensor, "tensor")
    if isinstance(num_classes, bool) or not isinstance(
        num_classes, (int, np.integer)
    ):
        raise TypeError(f"num_classes must be an int; got {num_classes!r}")
    if t.size and t.min() < 0:
        raise ValueError(
            f"tensor must hold class indices >= 0; got {int(t.min())}"
        )
    if num_classes == -1:
        if t.size == 0:
            raise ValueError(
                "num_classes=-1 needs a non-empty tensor to infer C from"
            )
        num_classes = int(t.max()) + 1
    if num_classes < 1 or (t.size and t.max() >= num_classes):
        raise ValueError(
            f"num_classes={num_classes} is too small for class index "
            f"{int(t.max()) if t.size else 0}"
        )
    return (t[..., None] == np.arange(num_classes)).astype(np.int64)
