"""Self-checks of chapter 3, why the gradient is p − y: cross_entropy_grad, finite_difference, smoothed_grad."""

from __future__ import annotations

import numpy as np

from .. import gradients, losses
from .. import probabilities as prob
from ._framework import Case, Mistake, run_check
from ._inputs import ce_cases

__all__ = ["cross_entropy_grad", "finite_difference", "smoothed_grad"]


def cross_entropy_grad(fn):
    """Check ``fn(logits, target)`` = ∂ mean cross_entropy / ∂ logits, for (N, C) logits and index targets."""
    cases = [
        Case(label, (x, y), gradients.cross_entropy_grad(x, y))
        for label, x, y in ce_cases()
        if np.ndim(x) == 2
    ]
    mistakes = [
        Mistake(
            "your gradient is N times too large: with the mean reduction every example's p − onehot(y) is "
            "divided by N.",
            lambda x, y: gradients.cross_entropy_grad(
                x, y, reduction="sum"
            ),
        ),
        Mistake(
            "you subtracted 1 from every class. Only the true class gets p − 1; every other class gets p.",
            lambda x, y: (prob.softmax(x, 1) - 1.0) / np.shape(x)[0],
        ),
        Mistake(
            "the sign is flipped: the gradient is p − onehot(y), not onehot(y) − p.",
            lambda x, y: -gradients.cross_entropy_grad(x, y),
        ),
        Mistake(
            "you returned p − onehot(y) for probabilities computed over the wrong dimension: softmax over dim 1.",
            lambda x, y: (
                (prob.softmax(x, 0) - prob.one_hot(y, np.shape(x)[1]))
                / np.shape(x)[0]
            ),
        ),
    ]
    return run_check("cross_entropy_grad", fn, cases, mistakes)


def finite_difference(fn):
    """Check ``fn(f, x)``: the gradient of a scalar function ``f`` at ``x`` by finite differences.

    The cases are functions whose gradient is known exactly: a sum of squares, logsumexp (its
    gradient is the softmax) and a cross-entropy as a function of its logits.
    """
    x = np.array([[0.5, -1.0, 2.0], [0.0, 0.3, -0.7]])
    y = np.array([2, 0])
    functions = [
        (
            "sum of squares",
            lambda z: float(np.sum(z**2)),
            np.array([1.0, -2.0, 0.5]),
            lambda z: 2 * z,
            1e-7,
        ),
        (
            "logsumexp",
            lambda z: float(prob.logsumexp(z, 0)),
            x[0],
            lambda z: prob.softmax(z, 0),
            5e-6,
        ),
        (
            "cross_entropy of (2, 3) logits",
            lambda z: losses.cross_entropy(z, y),
            x,
            lambda z: gradients.cross_entropy_grad(z, y),
            5e-6,
        ),
    ]
    # The tolerance of each case is the error a right answer can have: a
    # central difference with any step h from 1e-2 to 1e-8 (in float64)
    # stays below 2e-6 here (O(h²) at large h, rounding ε/h at small h),
    # and below 3e-8 on the sum of squares, whose third derivative is 0.
    # A forward difference errs by about h·f''/2, which the sum of squares
    # shows for every h from 1e-2 to 1e-6 (at h ≈ 1e-8 it is as accurate
    # as a central one, and nothing can tell them apart).
    cases = [
        Case(label, (f, z.copy()), exact(z), rtol=0.0, atol=tol)
        for label, f, z, exact, tol in functions
    ]

    def forward(f, z, h=1e-5):
        return np.array(
            [
                (f(z + h * e) - f(z)) / h
                for e in np.eye(z.size).reshape(-1, *z.shape)
            ]
        ).reshape(z.shape)

    mistakes = [
        Mistake(
            "your gradient is twice the right one: a central difference spans 2h, from x − h to x + h, "
            "so divide by 2h.",
            lambda f, z: (
                2.0 * gradients.finite_difference_grad(f, z, h=1e-5)
            ),
        ),
        Mistake(
            "the sign is flipped: it is f(x + h) − f(x − h), over 2h.",
            lambda f, z: -gradients.finite_difference_grad(f, z, h=1e-5),
        ),
        Mistake(
            "that is a forward difference, whose error shrinks only like h: use the central difference "
            "(f(x + h) − f(x − h)) / 2h, whose error shrinks like h².",
            forward,
        ),
    ]
    # the check's own tolerance only matches a mistake's pattern (a forward
    # difference with h from 1e-4 to 1e-8 looks like the one with h = 1e-5)
    return run_check(
        "finite_difference", fn, cases, mistakes, rtol=1e-3, atol=1e-4
    )


def smoothed_grad(fn):
    """Check ``fn(x, y, eps)``: ∂ cross_entropy / ∂ x for one example with label smoothing ε."""
    rng = np.random.default_rng(3)
    inputs = [
        ("C = 3, ε = 0.1", np.array([2.0, 1.0, 0.1]), 0, 0.1),
        ("C = 5, ε = 0 (no smoothing)", rng.normal(size=5), 3, 0.0),
        ("C = 4, ε = 1 (uniform target)", rng.normal(size=4), 1, 1.0),
        ("C = 27, ε = 0.2", rng.normal(size=27), 26, 0.2),
        ("huge logits (±1000)", np.array([1000.0, -1000.0, 0.0]), 1, 0.1),
    ]
    cases = [
        Case(
            label,
            (x, y, eps),
            gradients.cross_entropy_grad(x, y, label_smoothing=eps),
        )
        for label, x, y, eps in inputs
    ]

    def spread_over_others(x, y, eps):
        c = np.size(x)
        q = np.full(c, eps / (c - 1))
        q[y] = 1.0 - eps
        return prob.softmax(x, 0) - q

    mistakes = [
        Mistake(
            "you left out the smoothing: that is p − onehot(y). With label smoothing the target is "
            "q = (1 − ε)·onehot(y) + ε/C, and the gradient is p − q.",
            lambda x, y, eps: gradients.cross_entropy_grad(x, y),
        ),
        Mistake(
            "you spread ε over the C − 1 wrong classes only. PyTorch spreads it over all C classes, the "
            "true one included: q = (1 − ε)·onehot(y) + ε/C.",
            spread_over_others,
        ),
        Mistake(
            "the sign is flipped: the gradient is p − q, prediction minus target.",
            lambda x, y, eps: (
                -gradients.cross_entropy_grad(x, y, label_smoothing=eps)
            ),
        ),
    ]
    return run_check("smoothed_grad", fn, cases, mistakes)
