"""Chapter 8's self-checks: the right answer passes; each classic mistake
of a language model's loss gets its own hint."""

import numpy as np
import pytest

import ce_lessons as ce
from ce_lessons import checks


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


@pytest.mark.parametrize(
    "check, answer",
    [
        (checks.causal_lm_loss, causal_lm_loss),
        (checks.accumulated_loss, accumulated_loss),
    ],
)
def test_a_right_answer_passes_every_public_case(check, answer):
    result = check(answer)
    assert result.passed and result.score == 1.0
    assert f"all {len(result.passed_cases)} public cases pass" in repr(
        result
    )


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


@pytest.mark.parametrize(
    "name, check, answer, hint", MISTAKES, ids=[m[0] for m in MISTAKES]
)
def test_a_classic_mistake_fails_and_gets_its_hint(
    name, check, answer, hint
):
    result = check(answer)
    assert not result.passed and 0.0 <= result.score < 1.0
    assert result.message.startswith("Hint:") and hint in result.message, (
        result.message
    )
