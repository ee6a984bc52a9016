r"""Gradients as plain functions, and a finite-difference check for them.

The headline: for one example with a one-hot target y, ∂L/∂x = p − y. Every
option of ``cross_entropy`` only changes which "target" a is subtracted and
how the result is scaled:

.. math::
    \partial \ell_n / \partial x_{n,c} = p_{n,c} \sum_k a_{n,k} - a_{n,c}
          \qquad\text{for}\qquad \ell_n = -\sum_k a_{n,k} \log p_{n,k}

with a = one-hot(y) · w_y (class indices, weighted), mixed with ε/C · w for
label smoothing, or w · q for probability targets. For reduction 'none' the
functions return the gradient of the sum of the per-element losses (each
element's gradient sits in its own slice).
"""

from __future__ import annotations

import numpy as np

from ._validate import as_float, check_binary, check_classification
from .losses import target_mask, target_weight
from .probabilities import sigmoid, softmax


def loss_target(args):
    r"""a_{n,c}, the weighted target in ℓ_n = −Σ_c a_{n,c} log p_{n,c}."""
    w = args.class_shape(args.weight)
    eps, n_classes = args.label_smoothing, args.n_classes
    if args.probability_target:
        return w * ((1.0 - eps) * args.target + eps / n_classes)
    mask = np.expand_dims(target_mask(args), args.class_dim)
    y = np.expand_dims(
        np.where(target_mask(args), args.target, 0), args.class_dim
    )
    classes = args.class_shape(np.arange(n_classes))
    one_hot = (classes == y) & mask
    return (1.0 - eps) * one_hot * np.expand_dims(
        target_weight(args), args.class_dim
    ) + eps / n_classes * w * mask


def cross_entropy_grad(
    input,
    target,
    weight=None,
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
    Unweighted and unsmoothed: (p − one_hot(y)) / N.

    Shapes: the gradient has the shape of ``input``.

    >>> cross_entropy_grad([0.0, 0.0, 0.0, 0.0], 1).round(2)  # p = 1/4
    array([ 0.25, -0.75,  0.25,  0.25])
    """
    args = check_classification(
        input, target, weight, ignore_index, reduction, label_smoothing
    )
    p = softmax(args.input, dim=args.class_dim)
    a = loss_target(args)
    grad = p * np.sum(a, axis=args.class_dim, keepdims=True) - a
    if args.reduction != "mean":
        return grad
    if args.probability_target:
        return grad / (args.target.size // args.n_classes)
    # as torch: ignored rows get 0; the rest nan if their weights sum to 0
    counted = np.expand_dims(target_mask(args), args.class_dim)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counted, grad / np.sum(target_weight(args)), 0.0)


def binary_cross_entropy_with_logits_grad(
    input, target, weight=None, reduction="mean", pos_weight=None
):
    r"""∂ binary_cross_entropy_with_logits / ∂ input.

    w·((1 + (a−1)y)·σ(x) − a·y), divided by the element count for 'mean'.

    With no ``pos_weight`` (a = 1) this is w·(σ(x) − y): prediction minus
    target again.

    >>> x, y = [0.0, 0.0], [1.0, 0.0]
    >>> binary_cross_entropy_with_logits_grad(x, y, reduction="sum")
    array([-0.5,  0.5])
    """
    args = check_binary(input, target, weight, reduction, pos_weight)
    x, y, a = args.input, args.target, args.pos_weight
    grad = np.broadcast_to(
        args.weight * ((1.0 + (a - 1.0) * y) * sigmoid(x) - a * y), x.shape
    )
    return grad / x.size if args.reduction == "mean" else grad.copy()


def softmax_jacobian(input):
    r"""J_ij = ∂p_i/∂x_j = p_i (δ_ij − p_j) = diag(p) − p pᵀ, classes last.

    Shapes: input (..., C) → (..., C, C). Each row sums to 0: adding the
    same constant to every logit does not change p.

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
    shaped like ``input`` and returns a number.

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
