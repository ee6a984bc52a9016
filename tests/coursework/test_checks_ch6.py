"""Chapter 6's self-checks: a right fix passes every case; each classic wrong fix gets its hint.

The three exercises start from a broken training snippet; the learner writes the fixed loss. A
right answer (in more than one correct form) must pass; each wrong fix that runs must fail with its
own hint; a fix that crashes must fail with the error named, never a traceback.
"""

import numpy as np
import pytest

import ce_lessons as ce
from ce_lessons import checks
from tests.coursework.checking import (
    assert_hidden_cases_tell_right_from_wrong,
    assert_named_mistake,
    assert_right_answer,
    each_mistake,
    each_right_answer,
)


def sequence_by_moveaxis(x, y):
    return ce.cross_entropy(np.moveaxis(x, -1, 1), y)


def sequence_by_flattening(x, y):
    c = x.shape[-1]
    return ce.cross_entropy(x.reshape(-1, c), y.reshape(-1))


def one_unit_bce(x, y):
    return ce.binary_cross_entropy_with_logits(x[:, 0], y.astype(float))


def one_unit_by_hand(x, y):
    z = x[:, 0]
    return float(np.mean((1 - y) * z - ce.log_sigmoid(z)))


def void_mask_ignored(x, mask):
    m = mask.astype(np.int64)
    return ce.cross_entropy(
        x, np.where(m == 255, 255, m - 1), ignore_index=255
    )


def void_mask_by_selection(x, mask):
    m = mask.astype(np.int64)
    keep = m != 255
    log_p = np.moveaxis(ce.log_softmax(x, dim=1), 1, -1)[keep]
    return float(-np.mean(log_p[np.arange(len(log_p)), m[keep] - 1]))


RIGHT = [
    (checks.sequence_logits_loss, sequence_by_moveaxis),
    (checks.sequence_logits_loss, sequence_by_flattening),
    (checks.one_unit_binary_loss, one_unit_bce),
    (checks.one_unit_binary_loss, one_unit_by_hand),
    (checks.void_mask_loss, void_mask_ignored),
    (checks.void_mask_loss, void_mask_by_selection),
]


@each_right_answer(RIGHT)
def test_a_right_fix_passes_every_public_case(check, answer):
    assert_right_answer(check, answer)


def reshaped(x, y):
    n, t, c = x.shape
    return ce.cross_entropy(x.reshape(n, c, t), y)


def naive_bce(x, y):
    p = 1 / (1 + np.exp(-x[:, 0]))
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


MISTAKES = [
    (
        "reshape instead of moveaxis",
        checks.sequence_logits_loss,
        reshaped,
        "reshape",
    ),
    (
        "padding counted as class 0",
        checks.sequence_logits_loss,
        lambda x, y: ce.cross_entropy(
            np.moveaxis(x, -1, 1), np.where(y < 0, 0, y)
        ),
        "padding counts as class 0",
    ),
    (
        "mean over every position",
        checks.sequence_logits_loss,
        lambda x, y: (
            ce.cross_entropy(np.moveaxis(x, -1, 1), y, reduction="sum")
            / y.size
        ),
        "averaged over every position",
    ),
    (
        "cross_entropy on one unit",
        checks.one_unit_binary_loss,
        # (N, 1) float targets: probabilities of one class, loss 0
        lambda x, y: ce.cross_entropy(x, y[:, None] * 0.0 + 1.0),
        "always 0",
    ),
    (
        "double sigmoid",
        checks.one_unit_binary_loss,
        lambda x, y: one_unit_bce(ce.sigmoid(x), y),
        "applied twice",
    ),
    (
        "log of sigmoid overflows",
        checks.one_unit_binary_loss,
        naive_bce,
        "overflow at large logits",
    ),
    (
        "void clipped into the last class",
        checks.void_mask_loss,
        lambda x, m: ce.cross_entropy(
            x, np.clip(m.astype(np.int64) - 1, 0, x.shape[1] - 1)
        ),
        "clipping",
    ),
    (
        "void as class 0",
        checks.void_mask_loss,
        lambda x, m: ce.cross_entropy(
            x,
            np.where(m == 255, 0, m.astype(np.int64) - 1),
        ),
        "became class 0",
    ),
]


@each_mistake(MISTAKES)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_classic_wrong_fix_fails_and_gets_its_hint(
    name, check, answer, hint
):
    assert_named_mistake(check, answer, hint)


@pytest.mark.parametrize(
    "check, broken, said",
    [
        (
            checks.sequence_logits_loss,
            lambda x, y: ce.cross_entropy(x, y),  # the snippet as it was
            "raised ValueError",
        ),
        (
            checks.void_mask_loss,
            lambda x, m: ce.cross_entropy(x, m),  # 1..C and 255 as given
            "raised ValueError",
        ),
        (
            checks.void_mask_loss,
            lambda x, m: ce.cross_entropy(x, m, ignore_index=255),
            "out of range",  # ignored the void, forgot the shift
        ),
    ],
)
def test_the_unfixed_snippet_fails_with_the_error_named(
    check, broken, said
):
    result = check(broken)
    assert not result.passed
    assert said in result.message, result.message


@each_right_answer(RIGHT)
@pytest.mark.parametrize("seed", [0, 2026])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_hidden_cases_pass_a_right_fix_and_fail_every_wrong_one(
    check, answer, seed, monkeypatch
):
    assert_hidden_cases_tell_right_from_wrong(
        check, answer, monkeypatch, seed
    )


def test_the_public_cases_are_the_same_on_every_call():
    first = checks.void_mask_loss(void_mask_ignored)
    again = checks.void_mask_loss(lambda x, m: void_mask_ignored(x, m))
    assert first.passed_cases == again.passed_cases
    labels = []

    def spy(x, m):
        labels.append((x.sum(), m.sum()))
        return void_mask_ignored(x, m)

    checks.void_mask_loss(spy)
    checks.void_mask_loss(spy)
    assert labels[: len(labels) // 2] == labels[len(labels) // 2 :]
