"""Self-checks of chapter 5, every option: weighted_cross_entropy, smoothed_target."""

from __future__ import annotations

import numpy as np

from .. import losses
from .. import probabilities as prob
from ._framework import Case, Mistake, run_check
from ._inputs import HUGE

__all__ = ["weighted_cross_entropy", "smoothed_target"]


def weighted_cross_entropy(fn):
    """Check ``fn(logits, target, weight, ignore_index)``: the default (mean) cross-entropy of (N, C)
    logits with per-class ``weight`` and targets equal to ``ignore_index`` left out."""
    x = np.array(
        [
            [2.0, 0.5, -1.0],
            [0.1, 0.2, 3.0],
            [-1.0, 1.0, 0.0],
            [0.3, -0.3, 0.9],
        ]
    )
    w = np.array([1.0, 2.0, 0.5])
    inputs = [
        (
            "4 examples, weights (1, 2, 0.5)",
            x,
            np.array([0, 2, 1, 1]),
            w,
            -100,
        ),
        (
            "one target ignored (-100)",
            x,
            np.array([0, -100, 1, 2]),
            w,
            -100,
        ),
        ("ignore_index = 1, a real class", x, np.array([0, 1, 1, 2]), w, 1),
        ("every target ignored", x, np.full(4, -100), w, -100),
        ("huge logits (±1000)", HUGE, np.array([0, 2]), w, -100),
    ]
    cases = [
        Case(
            label,
            (x_, y, w_, ii),
            np.asarray(
                losses.cross_entropy(x_, y, weight=w_, ignore_index=ii)
            ),
        )
        for label, x_, y, w_, ii in inputs
    ]

    def kept(y, ii):
        return np.asarray(y) != ii

    def weighted_sum(x_, y, w_, ii):
        return losses.cross_entropy(
            x_, y, weight=w_, ignore_index=ii, reduction="sum"
        )

    mistakes = [
        Mistake(
            "you divided by the number of targets; a weighted mean divides by the sum of the weights of "
            "the targets that count, Σ w[y_n].",
            lambda x_, y, w_, ii: (
                weighted_sum(x_, y, w_, ii) / kept(y, ii).sum()
                if kept(y, ii).any()
                else np.nan
            ),
        ),
        Mistake(
            "you divided by N, ignored targets included; divide by the sum of the weights of the targets "
            "that count, Σ w[y_n].",
            lambda x_, y, w_, ii: weighted_sum(x_, y, w_, ii) / np.size(y),
        ),
        Mistake(
            "the ignored targets still count: leave out every target equal to ignore_index, from the sum "
            "and from the weights it is divided by.",
            lambda x_, y, w_, ii: losses.cross_entropy(
                x_, np.where(kept(y, ii), y, 0), weight=w_
            ),
        ),
        Mistake(
            "you left the weights out: each example's −log p[y] is multiplied by w[y], and the mean "
            "divides by the sum of those weights.",
            lambda x_, y, w_, ii: losses.cross_entropy(
                x_, y, ignore_index=ii
            ),
        ),
    ]
    return run_check("weighted_cross_entropy", fn, cases, mistakes)


def smoothed_target(fn):
    """Check ``fn(target, C, eps)``: the (N, C) probability target that label smoothing ε turns class
    indices into, so that ``cross_entropy(x, fn(y, C, eps))`` equals ``cross_entropy(x, y, label_smoothing=eps)``."""
    inputs = [
        ("3 classes, ε = 0.1", np.array([0, 2, 1]), 3, 0.1),
        ("5 classes, ε = 0 (no smoothing)", np.array([4, 0]), 5, 0.0),
        ("4 classes, ε = 1 (uniform)", np.array([1]), 4, 1.0),
        ("27 classes, ε = 0.2", np.array([26, 3, 0]), 27, 0.2),
    ]

    def reference(y, c, eps):
        return (1.0 - eps) * prob.one_hot(y, c) + eps / c

    cases = [
        Case(label, (y, c, eps), reference(y, c, eps))
        for label, y, c, eps in inputs
    ]

    def over_others(y, c, eps):
        q = np.full((np.size(y), c), eps / (c - 1))
        q[np.arange(np.size(y)), y] = 1.0 - eps
        return q

    mistakes = [
        Mistake(
            "the true class keeps 1 − ε but the ε is not spread: the rows must still sum to 1, with ε/C "
            "added to every class.",
            lambda y, c, eps: (1.0 - eps) * prob.one_hot(y, c),
        ),
        Mistake(
            "you spread ε over the C − 1 wrong classes only; PyTorch spreads it over all C classes, so "
            "the true class gets 1 − ε + ε/C.",
            over_others,
        ),
        Mistake(
            "you added ε/C to every class without taking ε off the one-hot part, so the rows sum to 1 + ε.",
            lambda y, c, eps: prob.one_hot(y, c) + eps / c,
        ),
    ]
    return run_check("smoothed_target", fn, cases, mistakes)
