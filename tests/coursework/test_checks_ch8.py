"""Chapter 8's self-checks: the right answer passes; each classic mistake
of a language model's loss gets its own hint."""

import numpy as np

import ce_lessons as ce
from ce_lessons import checks
from tests.coursework.checking import (
    assert_named_mistake,
    assert_right_answer,
    each_mistake,
    each_right_answer,
)


def causal_lm_loss(logits, labels):
    v = logits.shape[-1]
    return ce.cross_entropy(
        logits[:, :-1].reshape(-1, v), labels[:, 1:].reshape(-1)
    )


def accumulated_loss(micro_batches):
    total = sum(
        ce.cross_entropy(x, y, reduction="sum") for x, y in micro_batches
    )
    return total / sum(int((y != -100).sum()) for _, y in micro_batches)


def no_shift(logits, labels):
    v = logits.shape[-1]
    return ce.cross_entropy(logits.reshape(-1, v), labels.reshape(-1))


def double_shift(logits, labels):
    v = logits.shape[-1]
    return ce.cross_entropy(
        logits[:, :-2].reshape(-1, v), labels[:, 2:].reshape(-1)
    )


def backwards_shift(logits, labels):
    v = logits.shape[-1]
    return ce.cross_entropy(
        logits[:, 1:].reshape(-1, v), labels[:, :-1].reshape(-1)
    )


def padding_in_the_mean(logits, labels):
    v = logits.shape[-1]
    total = ce.cross_entropy(
        logits[:, :-1].reshape(-1, v),
        labels[:, 1:].reshape(-1),
        reduction="sum",
    )
    return total / labels[:, 1:].size


def mean_of_means(micro_batches):
    return np.mean([ce.cross_entropy(x, y) for x, y in micro_batches])


def sum_of_means(micro_batches):
    return sum(ce.cross_entropy(x, y) for x, y in micro_batches)


def every_position(micro_batches):
    total = sum(
        ce.cross_entropy(x, y, reduction="sum") for x, y in micro_batches
    )
    return total / sum(y.size for _, y in micro_batches)


RIGHT = [
    (checks.causal_lm_loss, causal_lm_loss),
    (checks.accumulated_loss, accumulated_loss),
]


@each_right_answer(RIGHT)
def test_a_right_answer_passes_every_public_case(check, answer):
    assert_right_answer(check, answer)


MISTAKES = [
    ("no shift", checks.causal_lm_loss, no_shift, "the NEXT token"),
    ("double shift", checks.causal_lm_loss, double_shift, "shifted twice"),
    (
        "shift the wrong way",
        checks.causal_lm_loss,
        backwards_shift,
        "shifted the wrong way",
    ),
    (
        "padding in the mean",
        checks.causal_lm_loss,
        padding_in_the_mean,
        "padding included",
    ),
    (
        "mean of micro-batch means",
        checks.accumulated_loss,
        mean_of_means,
        "mean of the micro-batches' means",
    ),
    (
        "sum of micro-batch means",
        checks.accumulated_loss,
        sum_of_means,
        "without dividing",
    ),
    (
        "padding counted",
        checks.accumulated_loss,
        every_position,
        "padding (-100) included",
    ),
]


@each_mistake(MISTAKES)
def test_a_classic_mistake_fails_and_gets_its_hint(
    name, check, answer, hint
):
    assert_named_mistake(check, answer, hint)
