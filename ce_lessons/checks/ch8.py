"""Self-checks of chapter 8, language models at scale.

causal_lm_loss (the shift of the labels) and accumulated_loss (the
normalization under gradient accumulation).
"""

from __future__ import annotations

import numpy as np

from .. import losses
from ._framework import Case, Mistake, run_check

__all__ = ["accumulated_loss", "causal_lm_loss"]


def _flat(logits, labels):
    """(N, T, V) logits and (N, T) labels as (N·T, V) and (N·T,)."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    return logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)


def _shifted(logits, labels, k):
    """Position t's logits against the label k places further on."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    t = logits.shape[1]
    return losses.cross_entropy(*_flat(logits[:, : t - k], labels[:, k:]))


def _lm_inputs():
    rng = np.random.default_rng(8)
    padded = rng.integers(0, 7, size=(3, 6))
    padded[1, 4:] = -100  # a shorter sequence, padded on the right
    padded[2, 2:] = -100
    left = rng.integers(0, 5, size=(2, 4))
    left[0, :2] = -100  # padded on the left
    return [
        (
            "one sequence of 5 tokens, V = 7",
            rng.normal(size=(1, 5, 7)),
            rng.integers(0, 7, size=(1, 5)),
        ),
        (
            "3 sequences, right padding (-100)",
            rng.normal(size=(3, 6, 7)),
            padded,
        ),
        ("2 sequences, left padding", rng.normal(size=(2, 4, 5)), left),
        (
            "huge logits (±1000)",
            1000.0 * rng.choice([-1.0, 1.0], (2, 3, 4)),
            rng.integers(0, 4, size=(2, 3)),
        ),
    ]


def causal_lm_loss(fn):
    """Check ``fn(logits, labels)``: the mean next-token cross-entropy.

    logits (N, T, V): position t's prediction of the token at t + 1;
    labels (N, T): the tokens, -100 at padding. The labels are not shifted
    yet: ``fn`` must pair logits[:, t] with labels[:, t + 1].
    """
    cases = [
        Case(label, (x, y), np.asarray(_shifted(x, y, 1)))
        for label, x, y in _lm_inputs()
    ]

    def padding_counted(x, y):
        x, y = np.asarray(x), np.asarray(y)
        total = losses.cross_entropy(
            *_flat(x[:, :-1], y[:, 1:]), reduction="sum"
        )
        return total / y[:, 1:].size

    mistakes = [
        Mistake(
            "you compared each position's logits with the token at the "
            "same position. Position t predicts the NEXT token: drop the "
            "last position's logits and the first label.",
            lambda x, y: _shifted(x, y, 0),
        ),
        Mistake(
            "you shifted twice, so position t is scored on the token at "
            "t + 2. Shift once, here or in the data pipeline (a library "
            "that takes labels=input_ids shifts them itself).",
            lambda x, y: _shifted(x, y, 2),
        ),
        Mistake(
            "you shifted the wrong way: logits[:, 1:] against "
            "labels[:, :-1] asks each position for the PREVIOUS token. "
            "Use logits[:, :-1] and labels[:, 1:].",
            lambda x, y: losses.cross_entropy(
                *_flat(np.asarray(x)[:, 1:], np.asarray(y)[:, :-1])
            ),
        ),
        Mistake(
            "you divided by every position, padding included. The mean is "
            "over the tokens that are not -100.",
            padding_counted,
        ),
    ]
    return run_check("causal_lm_loss", fn, cases, mistakes)


def _micro_batches():
    rng = np.random.default_rng(80)

    def batch(n, v, n_pad):
        y = rng.integers(0, v, size=n)
        y[rng.choice(n, n_pad, replace=False)] = -100
        return rng.normal(size=(n, v)), y

    return [
        (
            "2 micro-batches, 6 and 2 real tokens",
            [batch(8, 5, 2), batch(8, 5, 6)],
        ),
        (
            "3 micro-batches of different sizes",
            [batch(4, 6, 0), batch(9, 6, 3), batch(2, 6, 1)],
        ),
        ("one micro-batch", [batch(5, 4, 1)]),
    ]


def _token_mean(micro_batches):
    total = sum(
        losses.cross_entropy(x, y, reduction="sum")
        for x, y in micro_batches
    )
    count = sum(
        int(np.sum(np.asarray(y) != -100)) for _, y in micro_batches
    )
    return total / count


def accumulated_loss(fn):
    """Check ``fn(micro_batches)``: the loss to back-propagate under
    gradient accumulation, the sum over all micro-batches of the summed
    token losses divided by the total number of counted tokens (not
    -100), so that its gradient is the one of the whole batch. Each
    micro-batch is a pair (logits (n, V), targets (n,))."""
    cases = [
        Case(label, (batches,), np.asarray(_token_mean(batches)))
        for label, batches in _micro_batches()
    ]
    mistakes = [
        Mistake(
            "that is the mean of the micro-batches' means: each "
            "micro-batch weighs the same, whatever its number of real "
            "tokens. Add up the summed losses and divide once, by the "
            "total number of tokens that are not -100.",
            lambda batches: np.mean(
                [losses.cross_entropy(x, y) for x, y in batches]
            ),
        ),
        Mistake(
            "you added the micro-batches' mean losses without dividing: "
            "the loss (and the gradient) grows with the number of "
            "accumulation steps.",
            lambda batches: sum(
                losses.cross_entropy(x, y) for x, y in batches
            ),
        ),
        Mistake(
            "you divided by every position, padding (-100) included: "
            "count only the tokens that are not -100.",
            lambda batches: (
                sum(
                    losses.cross_entropy(x, y, reduction="sum")
                    for x, y in batches
                )
                / sum(np.size(y) for _, y in batches)
            ),
        ),
    ]
    return run_check("accumulated_loss", fn, cases, mistakes)
