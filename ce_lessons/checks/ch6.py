"""Self-checks of chapter 6, broken loss calls fixed: sequence_logits_loss, one_unit_binary_loss, void_mask_loss.

Each exercise starts from a training snippet that runs (or crashes) with the wrong number; the
learner writes the fixed loss, and the checker runs it on cases where the classic "fixes" go wrong.
"""

from __future__ import annotations

import numpy as np

from .. import losses
from .. import probabilities as prob
from ._framework import Case, Mistake, run_check

__all__ = ["one_unit_binary_loss", "void_mask_loss", "sequence_logits_loss"]


def _classes_first(x):
    return np.moveaxis(x, -1, 1)


def sequence_logits_loss(fn):
    """Check ``fn(logits, labels)``: the mean cross-entropy of a sequence model's (N, T, C) logits
    against (N, T) labels, where -100 marks padding that must not count."""
    rng = np.random.default_rng(6)  # the same public cases on every call
    padded = rng.integers(0, 3, size=(2, 5))
    padded[0, 3:] = -100
    padded[1, 4:] = -100
    inputs = [
        (
            "N = 2, T = 5, C = 3",
            rng.normal(size=(2, 5, 3)),
            rng.integers(0, 3, size=(2, 5)),
        ),
        (
            "T = C = 4 (torch raises nothing)",
            rng.normal(size=(3, 4, 4)),
            rng.integers(0, 4, size=(3, 4)),
        ),
        (
            "padding (-100) at the ends",
            rng.normal(size=(2, 5, 3)),
            padded,
        ),
        (
            "a batch of one, T = 1",
            rng.normal(size=(1, 1, 6)),
            np.array([[5]]),
        ),
    ]
    cases = [
        Case(label, (x, y), losses.cross_entropy(_classes_first(x), y))
        for label, x, y in inputs
    ]

    def reshaped(x, y):
        n, t, c = x.shape
        return losses.cross_entropy(x.reshape(n, c, t), y)

    def padding_as_class_0(x, y):
        return losses.cross_entropy(
            _classes_first(x), np.where(y < 0, 0, y)
        )

    def over_all_positions(x, y):
        total = losses.cross_entropy(_classes_first(x), y, reduction="sum")
        return total / np.size(y)

    mistakes = [
        Mistake(
            "reshape (or view) keeps the numbers in memory order, so each class's scores get "
            "mixed with other time steps; move the class axis instead: np.moveaxis(logits, -1, 1) "
            "(in torch, logits.permute(0, 2, 1)).",
            reshaped,
        ),
        Mistake(
            "the padding counts as class 0: leave targets equal to -100 out (cross_entropy's "
            "ignore_index does it).",
            padding_as_class_0,
        ),
        Mistake(
            "you averaged over every position, padding included; the mean divides by the number "
            "of targets that count.",
            over_all_positions,
        ),
    ]

    def hidden(rng):
        out = []
        for i in range(4):
            n, t = rng.integers(1, 4), rng.integers(1, 7)
            c = t if i == 0 else rng.integers(2, 7)  # one with T = C
            x = rng.normal(size=(n, t, c)) * 3
            y = rng.integers(0, c, size=(n, t))
            y[rng.uniform(size=(n, t)) < 0.3] = -100
            y[0, 0] = 0  # at least one target counts
            expected = losses.cross_entropy(_classes_first(x), y)
            out.append(Case(f"hidden {i}", (x, y), expected))
        return out

    return run_check(
        "sequence_logits_loss", fn, cases, mistakes, hidden=hidden
    )


def one_unit_binary_loss(fn):
    """Check ``fn(logits, labels)``: the mean binary cross-entropy of a one-unit model's (N, 1)
    logits against (N,) integer labels 0/1."""
    inputs = [
        (
            "4 examples",
            np.array([[0.3], [-1.2], [2.0], [0.0]]),
            np.array([1, 0, 1, 0]),
        ),
        (
            "all positive",
            np.array([[1.5], [-0.5], [0.2]]),
            np.array([1, 1, 1]),
        ),
        (
            "huge logits (±50)",
            np.array([[50.0], [-50.0], [50.0]]),
            np.array([0, 1, 1]),
        ),
        ("a batch of one", np.array([[-0.7]]), np.array([1])),
    ]

    def reference(x, y):
        return losses.binary_cross_entropy_with_logits(
            x[:, 0], y.astype(np.float64)
        )

    cases = [Case(label, (x, y), reference(x, y)) for label, x, y in inputs]

    def naive(x, y):
        p = prob.sigmoid(x[:, 0])
        with np.errstate(divide="ignore"):
            return float(
                np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))
            )

    mistakes = [
        Mistake(
            "your loss is 0 on every case: cross_entropy over a single output unit is always 0, "
            "since the softmax of one logit is 1. Use the binary cross-entropy with logits on the "
            "one unit.",
            lambda x, y: losses.cross_entropy(x, np.ones_like(x)),
        ),
        Mistake(
            "the sigmoid is applied twice: binary_cross_entropy_with_logits applies it itself, so "
            "pass it the logits.",
            lambda x, y: reference(prob.sigmoid(x), y),
        ),
        Mistake(
            "log(sigmoid(x)) and log(1 - sigmoid(x)) overflow at large logits: 1 - sigmoid(50) is "
            "exactly 0 in floating point. Compute with log_sigmoid, or call "
            "binary_cross_entropy_with_logits.",
            naive,
        ),
    ]

    def hidden(rng):
        out = []
        for i in range(4):
            n = rng.integers(1, 9)
            scale = (1.0, 10.0, 60.0, 60.0)[i]  # large logits in two cases
            x = rng.normal(size=(n, 1)) * scale
            y = rng.integers(0, 2, size=n)
            out.append(Case(f"hidden {i}", (x, y), reference(x, y)))
        return out

    return run_check(
        "one_unit_binary_loss", fn, cases, mistakes, hidden=hidden
    )


def void_mask_loss(fn):
    """Check ``fn(logits, mask)``: the mean cross-entropy of (N, C, H, W) logits against a uint8
    (N, H, W) mask whose classes are numbered 1..C and whose 'void' pixels are 255 (left out)."""
    rng = np.random.default_rng(6)
    inputs = []
    for label, shape, n_void in [
        ("2 images 3 x 3, C = 4, 3 void pixels", (2, 4, 3, 3), 3),
        ("1 image 2 x 4, C = 2, no void pixel", (1, 2, 2, 4), 0),
        ("1 image 4 x 4, C = 3, half void", (1, 3, 4, 4), 8),
    ]:
        n, c, h, w = shape
        mask = rng.integers(1, c + 1, size=(n, h, w)).astype(np.uint8)
        mask.reshape(-1)[:n_void] = 255
        inputs.append((label, rng.normal(size=shape) * 2, mask))

    def shifted(mask):
        m = mask.astype(np.int64)
        return np.where(m == 255, 255, m - 1)

    cases = [
        Case(
            label,
            (x, mask),
            losses.cross_entropy(x, shifted(mask), ignore_index=255),
        )
        for label, x, mask in inputs
    ]

    def void_clipped(x, mask):
        c = x.shape[1]
        return losses.cross_entropy(
            x, np.clip(mask.astype(np.int64) - 1, 0, c - 1)
        )

    def void_as_class_0(x, mask):
        m = mask.astype(np.int64)
        return losses.cross_entropy(x, np.where(m == 255, 0, m - 1))

    mistakes = [
        Mistake(
            "clipping the labels puts the void pixels (255) into the last class; leave them out "
            "with ignore_index=255 and shift only the real labels.",
            void_clipped,
        ),
        Mistake(
            "the void pixels became class 0; they must not count at all: keep them at 255 and "
            "pass ignore_index=255.",
            void_as_class_0,
        ),
    ]

    def hidden(rng):
        out = []
        for i in range(3):
            n, c, h, w = (int(v) for v in rng.integers(1, 5, size=4))
            c += 1  # C >= 2
            mask = rng.integers(1, c + 1, size=(n, h, w)).astype(np.uint8)
            mask[rng.uniform(size=(n, h, w)) < 0.3] = 255
            mask[0, 0, 0] = 1  # at least one labelled pixel
            x = rng.normal(size=(n, c, h, w)) * 2
            expected = losses.cross_entropy(
                x, shifted(mask), ignore_index=255
            )
            out.append(Case(f"hidden {i}", (x, mask), expected))
        return out

    return run_check("void_mask_loss", fn, cases, mistakes, hidden=hidden)
