"""The public inputs the self-checks share: a vector, a batch, huge logits, one class, a batch of one, the forum thread's pixels."""

from __future__ import annotations

import numpy as np

from ._framework import Case

VECTOR = np.array([2.0, 1.0, 0.1])


BATCH = np.array([[1.0, 2.0, 3.0], [1.0, -1.0, 0.0]])


HUGE = np.array([[1000.0, 999.0, 0.0], [-1000.0, 0.0, 1000.0]])


ONE_CLASS = np.array([[0.3], [-2.0]])


ONE_ROW = np.array([[0.5, -0.5, 2.0, 0.0]])


PIXELS = np.array(
    [
        [
            [[0.1, 0.3], [0.4, 0.5]],
            [[0.2, 0.3], [0.4, 0.5]],
            [[0.7, 0.4], [0.2, 0.0]],
        ]
    ]
)


PIXEL_TARGET = np.array([[[2, 2], [0, 1]]])


def logit_cases(reference):
    """Cases for a function of (logits, dim), with their expected results from ``reference``."""
    inputs = [
        ("a vector of 3 logits", VECTOR, 0),
        ("a batch of 2 (classes in dim 1)", BATCH, 1),
        ("the same batch (classes in dim 0)", BATCH, 0),
        ("huge logits (±1000)", HUGE, 1),
        ("one class", ONE_CLASS, 1),
        ("a batch of one", ONE_ROW, 1),
    ]
    return [
        Case(label, (x, dim), reference(x, dim)) for label, x, dim in inputs
    ]


def ce_cases():
    targets_2 = np.array([2, 0])
    return [
        ("a batch of 2", BATCH, targets_2),
        ("huge logits (±1000)", HUGE, np.array([0, 2])),
        ("one class", ONE_CLASS, np.array([0, 0])),
        ("a batch of one", ONE_ROW, np.array([3])),
        ("per-pixel logits (1, 3, 2, 2)", PIXELS * 4.0, PIXEL_TARGET),
    ]


def other_dim(x, dim):
    return 1 - dim if np.ndim(x) == 2 else dim


def naive_softmax(x, dim):
    e = np.exp(x)
    return e / e.sum(axis=dim, keepdims=True)
