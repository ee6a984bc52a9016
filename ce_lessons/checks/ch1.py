"""Self-checks of chapter 1, probabilities versus logits: softmax, logits_from_probs, channels_first."""

from __future__ import annotations

import numpy as np

from .. import logits
from .. import probabilities as prob
from ._framework import Case, Mistake, run_check
from ._inputs import (
    BATCH,
    ONE_ROW,
    PIXELS,
    logit_cases,
    naive_softmax,
    other_dim,
)

__all__ = ["softmax", "logits_from_probs", "channels_first"]


SOFTMAX_MISTAKES = [
    Mistake(
        "at large logits exp() overflows to inf and inf/inf is nan. Subtract the largest logit first: "
        "softmax(x) = softmax(x − max x), which changes nothing mathematically.",
        naive_softmax,
    ),
    Mistake(
        "your probabilities sum to 1 over the wrong dimension. Normalize along `dim`, the class dimension "
        "(keepdims=True keeps the shapes lined up).",
        lambda x, dim: prob.softmax(x, other_dim(x, dim)),
    ),
    Mistake(
        "your outputs do not sum to 1: divide the exponentials by their sum over `dim`.",
        lambda x, dim: np.exp(x),
    ),
    Mistake(
        "you returned log-probabilities; softmax returns the probabilities themselves (exponentiate).",
        lambda x, dim: prob.log_softmax(x, dim),
    ),
]


def softmax(fn):
    """Check ``fn(x, dim)`` against ``ce_lessons.softmax`` on vectors, batches, huge logits and one class."""
    return run_check(
        "softmax", fn, logit_cases(prob.softmax), SOFTMAX_MISTAKES
    )


def logits_from_probs(fn):
    """Check ``fn(p)``: logits (classes in dim 1) whose ``cross_entropy`` equals the textbook loss of ``p``.

    Any x = log p + constant is right, so the check compares softmax(fn(p)) with p itself.
    """
    inputs = [
        ("the forum thread's probs1", PIXELS),
        ("a batch of 2", prob.softmax(BATCH, 1)),
        ("a batch of one", prob.softmax(ONE_ROW, 1)),
        ("a confident prediction", np.array([[0.98, 0.01, 0.01]])),
    ]
    cases = [Case(label, (p,), p) for label, p in inputs]
    mistakes = [
        Mistake(
            "log(p / (1 − p)) inverts a sigmoid, one probability at a time; softmax couples the classes. "
            "Which logits x give softmax(x) = p? Take the log of softmax(x)_c = e^{x_c} / Σ e^{x_k}.",
            lambda p: prob.softmax(logits.logit(p), 1),
        ),
        Mistake(
            "you passed the probabilities through unchanged; cross_entropy would apply a softmax to them "
            "(that is how the thread got its surprising number).",
            lambda p: prob.softmax(p, 1),
        ),
    ]
    return run_check(
        "logits_from_probs",
        lambda p: prob.softmax(fn(p), 1),
        cases,
        mistakes,
    )


def channels_first(fn):
    """Check ``fn(x)``: channels-last logits (N, H, W, C) moved to (N, C, H, W).

    The cases include a square image whose side equals C, where a wrong
    reshape still gives the right shape and only the values betray it.
    """
    rng = np.random.default_rng(7)
    shapes = [(1, 2, 2, 3), (2, 3, 4, 5), (1, 3, 3, 3), (1, 1, 1, 4)]
    cases = []
    for n, h, w, c in shapes:
        x = rng.normal(size=(n, h, w, c)).round(3)
        label = f"(N, H, W, C) = {(n, h, w, c)}"
        cases.append(Case(label, (x,), np.moveaxis(x, -1, 1)))
    mistakes = [
        Mistake(
            "reshape keeps the numbers in memory order, so it gives the right shape "
            "but mixes pixels and classes. Move the class axis instead "
            "(np.moveaxis, np.transpose, or torch's permute).",
            lambda x: x.reshape(
                x.shape[0], x.shape[3], x.shape[1], x.shape[2]
            ),
        ),
        Mistake(
            "the classes are in dim 1 now, but H and W are swapped: the order "
            "of the other axes must stay (N, ·, H, W).",
            lambda x: np.transpose(x, (0, 3, 2, 1)),
        ),
    ]
    return run_check("channels_first", fn, cases, mistakes)
