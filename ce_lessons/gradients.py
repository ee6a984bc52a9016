r"""Gradients as plain functions, and a finite-difference check for them.

The headline: for one example with a one-hot target y, ∂L/∂x = p − y. Every
option of ``cross_entropy`` only changes the weighted target a that is
subtracted and how the result is scaled:

.. math::
    \partial \ell_n / \partial x_{n,c} = p_{n,c} \sum_k a_{n,k} - a_{n,c}
          \qquad\text{for}\qquad \ell_n = -\sum_k a_{n,k} \log p_{n,k}

with a = one-hot(y) · w_y (class indices, weighted), mixed with ε/C · w for
label smoothing, or w · q for probability targets. For reduction 'none' the
functions return the gradient of the sum of the per-element losses (each
element's gradient sits in its own slice). Each gradient takes the same
arguments as its loss in ``losses``.
"""

from __future__ import annotations

import numpy as np

from ._validate import (
    as_float,
    check_binary,
    check_classification,
    keyword_options,
)
from .losses import _per_class, _target_weights
from .probabilities import sigmoid, softmax

# torch's BCELoss backward caps p(1 - p) at its EPSILON, the C float 1e-12:
# in single precision that is 9.99999996e-13, and the gradient shows it.
_BCE_EPSILON = float(np.float32(1e-12))

__all__ = [
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits_grad",
    "cross_entropy_grad",
    "finite_difference_grad",
    "softmax_jacobian",
]


def _weighted_target(y, w, kept, dim, n_classes, eps):
    r"""a_{n,c} in ℓ_n = −Σ_c a_{n,c} log p_{n,c}, for class-index targets:
    (1 − ε) w_{y_n} [c = y_n] + (ε/C) w_c, and 0 on ignored targets."""
    classes = _per_class(np.arange(n_classes), dim, y.ndim + 1)
    one_hot = classes == np.expand_dims(y, dim)
    w_y = np.expand_dims(_target_weights(w, y, kept), dim)
    kept = np.expand_dims(kept, dim)
    w_c = _per_class(w, dim, y.ndim + 1)
    return (1.0 - eps) * one_hot * w_y + eps / n_classes * w_c * kept


@keyword_options("input", "target", "weight")
def cross_entropy_grad(
    input,
    target,
    weight=None,
    *,
    ignore_index=-100,
    reduction="mean",
    label_smoothing=0.0,
):
    r"""∂ cross_entropy / ∂ input, same arguments: (p·Σa − a) / D.

    .. math::
        \frac{\partial L}{\partial x_{n,c}}
        = \frac{1}{D}\Bigl(p_{n,c} \sum_k a_{n,k} - a_{n,c}\Bigr)

    D is 1 for 'sum' and 'none', Σ_n w_{y_n} (non-ignored) for a 'mean' over
    class indices, and N·d1···dK for a 'mean' over probability targets.
    Unweighted and unsmoothed: (p − one_hot(y)) / N. Chapter 3 explains
    this.

    Shapes: the gradient has the shape of ``input``.

    >>> cross_entropy_grad([0.0, 0.0, 0.0, 0.0], 1).round(2)  # p = 1/4
    array([ 0.25, -0.75,  0.25,  0.25])
    """
    x, y, w, dim, soft = check_classification(
        input, target, weight, ignore_index, reduction, label_smoothing
    )
    eps, n_classes = label_smoothing, x.shape[dim]
    p = softmax(x, dim=dim)
    if soft:
        a = _per_class(w, dim, x.ndim) * ((1.0 - eps) * y + eps / n_classes)
    else:
        kept = y != ignore_index
        a = _weighted_target(y, w, kept, dim, n_classes, eps)
    grad = p * np.sum(a, axis=dim, keepdims=True) - a
    if reduction != "mean":
        return grad
    if soft:
        return grad / (y.size // n_classes)
    # as torch: ignored rows get 0; the rest nan if their weights sum to 0
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.sum(_target_weights(w, y, kept))
        return np.where(np.expand_dims(kept, dim), grad / total, 0.0)


@keyword_options("input", "target", "weight")
def binary_cross_entropy_grad(
    input, target, weight=None, *, reduction="mean"
):
    r"""∂ binary_cross_entropy / ∂ input, as torch's backward computes it.

    .. math::
        \frac{\partial \ell}{\partial p}
        = w\,\frac{p - y}{\max\bigl(p(1 - p),\ 10^{-12}\bigr)}

    The exact derivative has p(1 − p) in the denominator; torch caps it at
    1e-12 from below so that p = 0 or 1 gives a finite gradient. Chained
    through p = σ(x), whose derivative is p(1 − p), the cap makes the
    gradient with respect to x collapse once p(1 − p) < 1e-12 (|x| ≈ 27.6)
    instead of staying p − y. Divided by the element count for 'mean'.
    Chapter 4 explains this.

    >>> binary_cross_entropy_grad([0.5, 0.5], [1.0, 0.0], reduction="sum")
    array([-2.,  2.])
    """
    p, y, w, _ = check_binary(
        input, target, weight, reduction, input_is_probability=True
    )
    grad = np.broadcast_to(
        w * (p - y) / np.maximum(p * (1.0 - p), _BCE_EPSILON), p.shape
    )
    return grad / p.size if reduction == "mean" else grad.copy()


@keyword_options("input", "target", "weight")
def binary_cross_entropy_with_logits_grad(
    input, target, weight=None, *, reduction="mean", pos_weight=None
):
    r"""∂ binary_cross_entropy_with_logits / ∂ input.

    w·((1 + (a−1)y)·σ(x) − a·y), divided by the element count for 'mean',
    with a = ``pos_weight``.

    With no ``pos_weight`` (a = 1) this is w·(σ(x) − y): prediction minus
    target again. Chapter 4 explains this.

    >>> x, y = [0.0, 0.0], [1.0, 0.0]
    >>> binary_cross_entropy_with_logits_grad(x, y, reduction="sum")
    array([-0.5,  0.5])
    """
    x, y, w, a = check_binary(input, target, weight, reduction, pos_weight)
    grad = np.broadcast_to(
        w * ((1.0 + (a - 1.0) * y) * sigmoid(x) - a * y), x.shape
    )
    return grad / x.size if reduction == "mean" else grad.copy()


def softmax_jacobian(input):
    r"""J_ij = ∂p_i/∂x_j = p_i (δ_ij − p_j) = diag(p) − p pᵀ, classes last.

    Shapes: input (..., C) → (..., C, C). Each row sums to 0: adding the
    same constant to every logit does not change p. Chapter 3 explains this.

    >>> softmax_jacobian([0.0, 0.0]).round(2)
    array([[ 0.25, -0.25],
           [-0.25,  0.25]])
    """
    x = as_float(input, "input")
    if x.ndim == 0:
        raise ValueError(
            "input must have a class dimension (..., C); got a scalar"
        )
    p = softmax(x, dim=-1)
    return p[..., :, None] * (np.eye(x.shape[-1]) - p[..., None, :])


def finite_difference_grad(f, input, h=1e-6):
    r"""The gradient of a scalar function ``f`` by central differences.

    .. math::
        \frac{\partial f}{\partial x_i}
        \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h}

    The error is O(h²) plus rounding of order ε/h; with float64 and h = 1e-6
    that is about 1e-9 for well-scaled functions. ``f`` takes an array
    shaped like ``input`` and returns a number. Chapter 3 explains this.

    >>> square = lambda x: float((x**2).sum())
    >>> finite_difference_grad(square, [1.0, -2.0]).round(6)
    array([ 2., -4.])
    """
    x = as_float(input, "input")
    if not h > 0:
        raise ValueError(f"h must be a positive step; got {h!r}")
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = h
        grad[i] = (float(f(x + step)) - float(f(x - step))) / (2.0 * h)
    return grad
