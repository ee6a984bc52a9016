"""Chapter 7's self-checks: a right answer passes every public case; each classic mistake gets
its hint (KL arguments swapped, 'mean' where 'batchmean' was meant, the missing T², bits where
nats were meant, ...), and the hint appears in the report a learner sees."""

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


def floor(c, eps):
    q = (1 - eps) * ce.one_hot(0, c) + eps / c
    return ce.entropy(q)


def kl_batchmean(log_p, q):
    terms = np.where(q > 0, q * (np.log(np.where(q > 0, q, 1)) - log_p), 0)
    return terms.sum() / len(log_p)


def distill(s, t, temperature):
    log_p = ce.log_softmax(s / temperature, 1)
    q = ce.softmax(t / temperature, 1)
    return temperature**2 * kl_batchmean(log_p, q)


def golden_section_fit(x, y):
    """A learner's fit: golden-section search of the NLL over log T."""
    nll = lambda log_t: ce.cross_entropy(x / np.exp(log_t), y)
    a, b = np.log(0.05), np.log(20.0)
    g = (np.sqrt(5) - 1) / 2
    while b - a > 1e-9:
        c, d = b - g * (b - a), a + g * (b - a)
        if nll(c) < nll(d):
            b = d
        else:
            a = c
    return np.exp((a + b) / 2)


RIGHT = [
    (checks.smoothing_floor, floor),
    (checks.kl_batchmean, kl_batchmean),
    (checks.distillation_loss, distill),
    (checks.fit_temperature, golden_section_fit),
    (checks.fit_temperature, lambda x, y: ce.fit_temperature(x, y)),
]


@each_right_answer(RIGHT)
def test_a_right_answer_passes_every_public_case(check, answer):
    assert_right_answer(check, answer)


def naive_kl(log_p, q):
    return np.sum(q * (np.log(q) - log_p)) / len(log_p)


def smoothing_over_others(c, eps):
    q = np.full(c, eps / (c - 1))
    q[0] = 1 - eps
    return ce.entropy(q)


MISTAKES = [
    (
        "floor in bits",
        checks.smoothing_floor,
        lambda c, eps: floor(c, eps) / np.log(2),
        "in bits (log base 2)",
    ),
    (
        "floor of 0",
        checks.smoothing_floor,
        lambda c, eps: 0.0,
        "cannot reach 0",
    ),
    (
        "ε over the C − 1 wrong classes",
        checks.smoothing_floor,
        smoothing_over_others,
        "C − 1 wrong classes",
    ),
    (
        "only the true class's term",
        checks.smoothing_floor,
        lambda c, eps: -np.log(1 - eps + eps / c),
        "only the true class's term",
    ),
    (
        "KL arguments swapped",
        checks.kl_batchmean,
        lambda log_p, q: (
            np.sum(np.exp(log_p) * (log_p - np.log(q))) / len(q)
        ),
        "arguments are swapped",
    ),
    (
        "mean where batchmean was meant",
        checks.kl_batchmean,
        lambda log_p, q: kl_batchmean(log_p, q) / q.shape[1],
        "that is reduction='mean'",
    ),
    (
        "sum, not divided by N",
        checks.kl_batchmean,
        lambda log_p, q: kl_batchmean(log_p, q) * len(q),
        "sum over the whole batch",
    ),
    (
        "0 log 0 left as nan",
        checks.kl_batchmean,
        naive_kl,
        "0 · log 0 = nan",
    ),
    (
        "cross-entropy instead of KL",
        checks.kl_batchmean,
        lambda log_p, q: -np.sum(q * log_p) / len(q),
        "that is the cross-entropy",
    ),
    (
        "missing T²",
        checks.distillation_loss,
        lambda s, t, T: distill(s, t, T) / T**2,
        "T² is missing",
    ),
    (
        "T instead of T²",
        checks.distillation_loss,
        lambda s, t, T: distill(s, t, T) / T,
        "not T²",
    ),
    (
        "student not softened",
        checks.distillation_loss,
        lambda s, t, T: (
            T**2 * kl_batchmean(ce.log_softmax(s, 1), ce.softmax(t / T, 1))
        ),
        "only the teacher is softened",
    ),
    (
        "student and teacher swapped",
        checks.distillation_loss,
        lambda s, t, T: distill(t, s, T),
        "student and teacher are swapped",
    ),
    (
        "distillation with mean",
        checks.distillation_loss,
        lambda s, t, T: distill(s, t, T) / s.shape[1],
        "reduction='mean'",
    ),
    (
        "1/T returned",
        checks.fit_temperature,
        lambda x, y: 1 / golden_section_fit(x, y),
        "you returned 1/T",
    ),
    (
        "log T returned",
        checks.fit_temperature,
        lambda x, y: np.log(golden_section_fit(x, y)),
        "you returned log T",
    ),
    (
        "T = 1, nothing fitted",
        checks.fit_temperature,
        lambda x, y: 1.0,
        "T = 1 is the model as it is",
    ),
]


@each_mistake(MISTAKES)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_classic_mistake_fails_and_gets_its_hint(
    name, check, answer, hint
):
    assert_named_mistake(check, answer, hint)


def test_a_fit_that_is_too_coarse_is_described_not_mislabelled():
    """A grid with steps of 0.1 is no named mistake: the report gives the largest difference."""
    grid = np.arange(0.1, 10.0, 0.1)

    def coarse(x, y):
        return grid[np.argmin([ce.cross_entropy(x / t, y) for t in grid])]

    result = checks.fit_temperature(coarse)
    assert not result.passed and result.message.startswith("Does not match")


@each_right_answer(RIGHT)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_hidden_cases_pass_a_right_answer_and_fail_every_mistake(
    check, answer, monkeypatch
):
    assert_hidden_cases_tell_right_from_wrong(
        check, answer, monkeypatch, seed=2026
    )
