"""Self-checks of chapter 2, the NLL equivalence: log_softmax, cross_entropy, double_softmax_loss."""

from __future__ import annotations

import numpy as np

from .. import losses
from .. import probabilities as prob
from ._framework import Case, Mistake, run_check
from ._inputs import ce_cases, logit_cases, naive_softmax, other_dim

__all__ = ["log_softmax", "cross_entropy", "double_softmax_loss"]


LOG_SOFTMAX_MISTAKES = [
    Mistake(
        "log(softmax(x)) computed naively overflows or underflows at large logits (log 0 = −inf, inf/inf = nan). "
        "Use x − logsumexp(x), with the largest logit subtracted inside the logsumexp.",
        lambda x, dim: np.log(naive_softmax(x, dim)),
    ),
    Mistake(
        "log(softmax(x)) is exact for small logits but turns to −inf when a probability underflows to 0. "
        "Work in log space: x − logsumexp(x), never log of a softmax.",
        lambda x, dim: np.log(prob.softmax(x, dim)),
    ),
    Mistake(
        "you normalized over the wrong dimension: subtract the logsumexp over `dim`, the class dimension.",
        lambda x, dim: prob.log_softmax(x, other_dim(x, dim)),
    ),
    Mistake(
        "you returned probabilities; log_softmax returns their logarithms.",
        lambda x, dim: prob.softmax(x, dim),
    ),
    Mistake(
        "you subtracted the max but not the log of the sum: x − max(x) is only the first step of x − logsumexp(x).",
        lambda x, dim: x - np.max(x, axis=dim, keepdims=True),
    ),
]


def log_softmax(fn):
    """Check ``fn(x, dim)`` against ``ce_lessons.log_softmax``, huge logits included."""
    return run_check(
        "log_softmax",
        fn,
        logit_cases(prob.log_softmax),
        LOG_SOFTMAX_MISTAKES,
    )


def cross_entropy(fn):
    """Check ``fn(logits, target)``, a mean cross-entropy over class-index targets, classes in dim 1."""
    cases = [
        Case(label, (x, y), np.asarray(losses.cross_entropy(x, y)))
        for label, x, y in ce_cases()
    ]
    count = lambda y: np.asarray(y).size  # noqa: E731 (the N of the mean, spatial positions included)
    mistakes = [
        Mistake(
            "you applied a softmax to the logits and then cross_entropy applied another one (the double "
            "softmax): the loss expects raw logits.",
            lambda x, y: losses.cross_entropy(prob.softmax(x, 1), y),
        ),
        Mistake(
            "you took the log of the logits as if they were probabilities; the loss must turn logits into "
            "log-probabilities first (log_softmax over the class dimension).",
            lambda x, y: losses.nll_loss(np.log(x), y),
        ),
        Mistake(
            "your result is N times too large: that is the sum over the examples, and the default "
            "reduction is the mean.",
            lambda x, y: losses.cross_entropy(x, y, reduction="sum"),
        ),
        Mistake(
            "your result is N times too small: divide the summed loss by the number of targets once, not twice.",
            lambda x, y: losses.cross_entropy(x, y) / count(y),
        ),
        Mistake(
            "the sign is flipped: the loss is −log p of the true class, which is never negative.",
            lambda x, y: -losses.cross_entropy(x, y),
        ),
        Mistake(
            "your loss is C times too small: the mean ran over all N×C entries of one_hot × log p. Sum over "
            "the classes first, then average over the examples.",
            lambda x, y: losses.cross_entropy(x, y) / np.shape(x)[1],
        ),
        Mistake(
            "you normalized over the wrong dimension: the classes are dim 1.",
            lambda x, y: losses.nll_loss(prob.log_softmax(x, 0), y),
        ),
        Mistake(
            "at huge logits exp() overflows: compute log-probabilities as x − logsumexp(x) with the max shift.",
            lambda x, y: losses.nll_loss(np.log(naive_softmax(x, 1)), y),
        ),
    ]
    return run_check("cross_entropy", fn, cases, mistakes)


def double_softmax_loss(fn):
    """Check ``fn(C, m)``: the loss when softmax is applied twice to logits (m, 0, …, 0).

    The first class is the true one. Expected values are measured with
    ``cross_entropy`` of the softmax, for several C and margins m.
    """

    def measured(c, m):
        logits = np.zeros((1, c))
        logits[0, 0] = m
        return np.asarray(
            losses.cross_entropy(prob.softmax(logits, 1), [0])
        )

    pairs = [(2, 0.0), (3, 2.0), (3, -8.0), (10, 5.0), (27, 40.0)]
    cases = [
        Case(f"C = {c}, m = {m:g}", (c, m), measured(c, m))
        for c, m in pairs
    ]
    mistakes = [
        Mistake(
            "that is the loss of the right model, cross_entropy(x) with no second "
            "softmax. Apply softmax to the logits first, then the loss's own softmax.",
            lambda c, m: losses.cross_entropy(np.eye(1, c) * m, [0]),
        ),
        Mistake(
            "that is the floor log(1 + (C − 1)/e), reached only as m → ∞, when the "
            "first softmax is certain. For a finite m, work out q = softmax(x) first.",
            lambda c, m: np.log(1.0 + (c - 1) / np.e),
        ),
        Mistake(
            "the sign is flipped: a loss −log q is never negative.",
            lambda c, m: -measured(c, m),
        ),
    ]

    def hidden(rng):  # for grading: its inputs are numbers, not arrays
        return [
            Case(
                f"hidden {i}",
                (int(c), float(m)),
                measured(int(c), float(m)),
            )
            for i, (c, m) in enumerate(
                zip(
                    rng.integers(2, 40, 5), rng.uniform(-10, 30, 5).round(3)
                )
            )
        ]

    return run_check(
        "double_softmax_loss", fn, cases, mistakes, hidden=hidden
    )
