"""Self-checks of chapter 4, sigmoid versus softmax: bce_with_logits, two_class_as_binary."""

from __future__ import annotations

import numpy as np

from .. import losses
from .. import probabilities as prob
from ._framework import Case, Mistake, run_check

__all__ = ["bce_with_logits", "two_class_as_binary"]


def bce_with_logits(fn):
    """Check ``fn(x, y)``: the mean binary cross-entropy of logits ``x`` and targets ``y`` in [0, 1]."""
    inputs = [
        (
            "4 logits, hard targets",
            np.array([2.0, -1.0, 0.5, 0.0]),
            np.array([1.0, 0.0, 0.0, 1.0]),
        ),
        (
            "soft targets",
            np.array([[0.3, -2.0], [1.5, 4.0]]),
            np.array([[0.2, 0.5], [0.9, 1.0]]),
        ),
        (
            "huge logits (±1000)",
            np.array([1000.0, -1000.0, 1000.0]),
            np.array([0.0, 1.0, 1.0]),
        ),
        ("a batch of one", np.array([-0.7]), np.array([1.0])),
    ]
    cases = [
        Case(
            label,
            (x, y),
            np.asarray(losses.binary_cross_entropy_with_logits(x, y)),
        )
        for label, x, y in inputs
    ]

    def naive(x, y):
        p = 1.0 / (1.0 + np.exp(-x))
        return np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))

    mistakes = [
        Mistake(
            "σ(x) rounds to exactly 0 or 1 at large |x|, and log 0 = −inf. Write the loss with log σ(x) "
            "computed stably: log σ(x) = min(x, 0) − log(1 + e^{−|x|}), and log(1 − σ(x)) = log σ(x) − x.",
            naive,
        ),
        Mistake(
            "you clamped the logs at −100 as BCELoss does; with logits no clamp is needed, and the clamp "
            "under-counts confident mistakes. Use log σ(x) = min(x, 0) − log(1 + e^{−|x|}).",
            lambda x, y: losses.binary_cross_entropy(
                np.clip(prob.sigmoid(x), 0, 1), y
            ),
        ),
        Mistake(
            "your result is a sum; the default reduction is the mean over all elements.",
            lambda x, y: losses.binary_cross_entropy_with_logits(
                x, y, reduction="sum"
            ),
        ),
        Mistake(
            "you applied a sigmoid before a loss that applies its own: the input is already a logit.",
            lambda x, y: losses.binary_cross_entropy_with_logits(
                prob.sigmoid(x), y
            ),
        ),
        Mistake(
            "the sign is flipped: the loss is −[y log σ(x) + (1 − y) log(1 − σ(x))], never negative.",
            lambda x, y: -losses.binary_cross_entropy_with_logits(x, y),
        ),
    ]
    return run_check("bce_with_logits", fn, cases, mistakes)


def two_class_as_binary(fn):
    """Check ``fn(logits, target)`` → ``(z, t)``: one logit and a float target per example such that
    ``binary_cross_entropy_with_logits(z, t)`` equals ``cross_entropy(logits, target)`` example by example.
    """
    rng = np.random.default_rng(5)
    inputs = [
        (
            "a batch of 4",
            rng.normal(size=(4, 2)) * 2,
            np.array([0, 1, 1, 0]),
        ),
        (
            "confident logits",
            np.array([[12.0, -3.0], [-8.0, 9.0]]),
            np.array([1, 1]),
        ),
        ("a batch of one", np.array([[0.4, -0.4]]), np.array([0])),
    ]
    cases = [
        Case(
            label,
            (x, y),
            np.asarray(losses.cross_entropy(x, y, reduction="none")),
        )
        for label, x, y in inputs
    ]

    def as_loss(pair_fn):
        def run(x, y):
            z, t = pair_fn(x, y)
            return losses.binary_cross_entropy_with_logits(
                z, t, reduction="none"
            )

        return run

    mistakes = [
        Mistake(
            "your z gives the probability of class 0, not of class 1 (the positive class, target 1): flip its sign.",
            lambda x, y: losses.binary_cross_entropy_with_logits(
                x[:, 0] - x[:, 1], y.astype(float), reduction="none"
            ),
        ),
        Mistake(
            "σ of one logit ignores the other class, but the softmax depends on both: which single combination "
            "of x₀ and x₁ does a 2-class softmax depend on?",
            lambda x, y: losses.binary_cross_entropy_with_logits(
                x[:, 1], y.astype(float), reduction="none"
            ),
        ),
    ]
    return run_check("two_class_as_binary", as_loss(fn), cases, mistakes)
