"""The self-checks: a right answer passes every public case; each classic mistake gets its hint.

A learner's function is run on public cases; when it fails, the checker must name the mistake it
reproduces (and nothing else), or else describe the largest difference. It never shows a traceback.
"""

import numpy as np
import pytest

import ce_lessons as ce
from ce_lessons import checks
from tests.coursework.checking import (
    assert_named_mistake,
    assert_right_answer,
    each_mistake,
    each_right_answer,
)


def stable_softmax(x, dim):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def naive_softmax(x, dim):
    return np.exp(x) / np.exp(x).sum(axis=dim, keepdims=True)


def stable_log_softmax(x, dim):
    return ce.log_softmax(x, dim)


def gather_mean(log_p, y):
    return -np.take_along_axis(log_p, np.expand_dims(y, 1), axis=1).mean()


def gather_sum(log_p, y):
    return -np.take_along_axis(log_p, np.expand_dims(y, 1), axis=1).sum()


def one_hot_over(y, c):
    return np.moveaxis(ce.one_hot(y, c), -1, 1)


def forward_difference(f, x, h=1e-5):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = h
        grad[i] = (f(x + step) - f(x)) / h
    return grad


def smoothing_over_others(x, y, eps):
    q = np.full(len(x), eps / (len(x) - 1))
    q[y] = 1 - eps
    return ce.softmax(x, 0) - q


def naive_bce(x, y):
    p = 1 / (1 + np.exp(-x))
    return np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))


RIGHT = [
    (checks.softmax, ce.softmax),
    (checks.log_softmax, stable_log_softmax),
    (checks.logits_from_probs, lambda p: ce.logits_from_probs(p, dim=1)),
    (checks.cross_entropy, lambda x, y: ce.cross_entropy(x, y)),
    (checks.cross_entropy_grad, lambda x, y: ce.cross_entropy_grad(x, y)),
    (checks.channels_first, lambda x: np.moveaxis(x, -1, 1)),
    (
        checks.double_softmax_loss,
        lambda c, m: ce.cross_entropy(ce.softmax(np.eye(1, c) * m, 1), [0]),
    ),
    (
        checks.finite_difference,
        lambda f, x: ce.finite_difference_grad(f, x, h=1e-5),
    ),
    (
        checks.smoothed_grad,
        lambda x, y, eps: ce.cross_entropy_grad(x, y, label_smoothing=eps),
    ),
    (
        checks.bce_with_logits,
        lambda x, y: ce.binary_cross_entropy_with_logits(x, y),
    ),
    (
        checks.two_class_as_binary,
        lambda x, y: (x[:, 1] - x[:, 0], y.astype(float)),
    ),
    (
        checks.weighted_cross_entropy,
        lambda x, y, w, ii: ce.cross_entropy(
            x, y, weight=w, ignore_index=ii
        ),
    ),
    (
        checks.smoothed_target,
        lambda y, c, eps: (1 - eps) * ce.one_hot(y, c) + eps / c,
    ),
]


@each_right_answer(RIGHT)
def test_a_right_answer_passes_every_public_case(check, answer):
    assert_right_answer(check, answer)


MISTAKES = [
    (
        "no max shift",
        checks.softmax,
        naive_softmax,
        "Subtract the largest logit",
    ),
    (
        "softmax over the wrong dim",
        checks.softmax,
        lambda x, dim: ce.softmax(x, 1 - dim if x.ndim == 2 else dim),
        "wrong dimension",
    ),
    (
        "not normalized",
        checks.softmax,
        lambda x, dim: np.exp(x),
        "do not sum to 1",
    ),
    (
        "log(softmax) underflows",
        checks.log_softmax,
        lambda x, dim: np.log(ce.softmax(x, dim)),
        "underflows to 0",
    ),
    (
        "max shift but no log-sum",
        checks.log_softmax,
        lambda x, dim: x - x.max(axis=dim, keepdims=True),
        "only the first step",
    ),
    (
        "sigmoid logit",
        checks.logits_from_probs,
        lambda p: np.log(p) - np.log1p(-p),
        "inverts a sigmoid",
    ),
    (
        "probabilities unchanged",
        checks.logits_from_probs,
        lambda p: p,
        "passed the probabilities through",
    ),
    (
        "double softmax",
        checks.cross_entropy,
        lambda x, y: ce.cross_entropy(ce.softmax(x, 1), y),
        "double",
    ),
    (
        "probabilities fed where logits belong",
        checks.cross_entropy,
        lambda x, y: gather_mean(np.log(x), y),
        "log of the logits",
    ),
    (
        "sum where mean was expected",
        checks.cross_entropy,
        lambda x, y: gather_sum(ce.log_softmax(x, 1), y),
        "N times too large",
    ),
    (
        "sign flipped",
        checks.cross_entropy,
        lambda x, y: -ce.cross_entropy(x, y),
        "sign is flipped",
    ),
    (
        "mean over the one-hot matrix",
        checks.cross_entropy,
        lambda x, y: (
            -(one_hot_over(y, x.shape[1]) * ce.log_softmax(x, 1)).mean()
        ),
        "C times too small",
    ),
    (
        "forgot the 1/N",
        checks.cross_entropy_grad,
        lambda x, y: ce.softmax(x, 1) - ce.one_hot(y, x.shape[1]),
        "N times too large",
    ),
    (
        "p - 1 for every class",
        checks.cross_entropy_grad,
        lambda x, y: (ce.softmax(x, 1) - 1) / len(x),
        "Only the true class gets p − 1",
    ),
    (
        "gradient sign flipped",
        checks.cross_entropy_grad,
        lambda x, y: (
            (ce.one_hot(y, x.shape[1]) - ce.softmax(x, 1)) / len(x)
        ),
        "not onehot(y) − p",
    ),
    (
        "reshape instead of moving the axis",
        checks.channels_first,
        lambda x: x.reshape(x.shape[0], x.shape[3], x.shape[1], x.shape[2]),
        "reshape keeps the numbers",
    ),
    (
        "H and W swapped",
        checks.channels_first,
        lambda x: np.transpose(x, (0, 3, 2, 1)),
        "H and W are swapped",
    ),
    (
        "the certain-softmax floor",
        checks.double_softmax_loss,
        lambda c, m: np.log(1 + (c - 1) / np.e),
        "reached only as m → ∞",
    ),
    (
        "divided by h, not 2h",
        checks.finite_difference,
        lambda f, x: 2 * ce.finite_difference_grad(f, x, h=1e-5),
        "divide by 2h",
    ),
    (
        "forward difference",
        checks.finite_difference,
        forward_difference,
        "forward difference",
    ),
    (
        "smoothing left out",
        checks.smoothed_grad,
        lambda x, y, eps: ce.cross_entropy_grad(x, y),
        "you left out the smoothing",
    ),
    (
        "smoothing over the wrong classes only",
        checks.smoothed_grad,
        smoothing_over_others,
        "C − 1 wrong classes",
    ),
    (
        "naive log of the sigmoid",
        checks.bce_with_logits,
        naive_bce,
        "rounds to exactly 0 or 1",
    ),
    (
        "BCELoss's clamp",
        checks.bce_with_logits,
        lambda x, y: ce.binary_cross_entropy(ce.sigmoid(x), y),
        "clamped the logs at −100",
    ),
    (
        "sigmoid before the loss",
        checks.bce_with_logits,
        lambda x, y: ce.binary_cross_entropy_with_logits(ce.sigmoid(x), y),
        "applied a sigmoid",
    ),
    (
        "sum instead of mean",
        checks.bce_with_logits,
        lambda x, y: ce.binary_cross_entropy_with_logits(
            x, y, reduction="sum"
        ),
        "is a sum",
    ),
    (
        "reversed logit difference",
        checks.two_class_as_binary,
        lambda x, y: (x[:, 0] - x[:, 1], y.astype(float)),
        "flip its sign",
    ),
    (
        "one logit alone",
        checks.two_class_as_binary,
        lambda x, y: (x[:, 1], y.astype(float)),
        "ignores the other class",
    ),
    (
        "weighted mean over N",
        checks.weighted_cross_entropy,
        lambda x, y, w, ii: (
            ce.cross_entropy(
                x, y, weight=w, ignore_index=ii, reduction="sum"
            )
            / len(y)
        ),
        "divided by N",
    ),
    (
        "weights left out",
        checks.weighted_cross_entropy,
        lambda x, y, w, ii: ce.cross_entropy(x, y, ignore_index=ii),
        "left the weights out",
    ),
    (
        "smoothing not spread",
        checks.smoothed_target,
        lambda y, c, eps: (1 - eps) * ce.one_hot(y, c),
        "not spread",
    ),
    (
        "smoothing added on top",
        checks.smoothed_target,
        lambda y, c, eps: ce.one_hot(y, c) + eps / c,
        "1 + ε",
    ),
]


@each_mistake(MISTAKES)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_classic_mistake_fails_and_gets_its_hint(
    name, check, answer, hint
):
    assert_named_mistake(check, answer, hint)


@pytest.mark.parametrize("h", [1e-2, 1e-3, 1e-4, 1e-5, 1e-6])
def test_a_forward_difference_fails_the_gradient_check_at_a_usual_step(h):
    # at h ≈ 1e-7–1e-8 a forward difference is as accurate as the central
    # ones the check must accept, and nothing can tell them apart
    result = checks.finite_difference(
        lambda f, x: forward_difference(f, x, h)
    )
    assert not result.passed
    if h <= 1e-4:  # close enough to the mistake's own h = 1e-5 to be named
        assert "forward difference" in result.message


@pytest.mark.parametrize("h", [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8])
def test_a_central_difference_passes_the_gradient_check_for_any_sensible_step(
    h,
):
    result = checks.finite_difference(
        lambda f, x: ce.finite_difference_grad(f, x, h)
    )
    assert result.passed, result.message


def test_a_failure_message_prints_enough_digits_to_show_the_difference():
    result = checks.finite_difference(
        lambda f, x: ce.finite_difference_grad(f, x, 1e-5) + 3e-4
    )
    message = result.message
    expected = message.split("expected ")[1].split(",")[0]
    got = message.split("got ")[1].rstrip(").")
    assert expected != got, message


def shifting_in_place(x, dim):
    x -= x.max(axis=dim, keepdims=True)  # changes the caller's array
    e = np.exp(x)
    return e / e.sum(axis=dim, keepdims=True)


def test_a_function_that_changes_its_input_in_place_gets_its_own_hint():
    first = checks.softmax(shifting_in_place)
    assert not first.passed
    assert "changed an argument in place" in first.message
    assert repr(checks.softmax(shifting_in_place)) == repr(first)


def test_each_case_gets_a_fresh_copy_so_repeated_runs_agree():
    seen = []

    def remembers(x, dim):
        seen.append(x)
        return stable_softmax(x, dim)

    checks.softmax(remembers)
    checks.softmax(remembers)
    assert len({id(x) for x in seen}) == len(seen)
    assert checks.softmax(remembers).passed


def test_the_student_and_judge_sides_are_separate_functions():
    from ce_lessons.checks import _framework

    cases = [
        _framework.Case(
            "v", (np.array([1.0, 2.0]), 0), ce.softmax([1.0, 2.0], 0)
        )
    ]
    outcomes = _framework.collect(stable_softmax, cases)
    result = _framework.judge("softmax", cases, outcomes)
    assert result.passed and result.score == 1.0
    wrong = _framework.collect(lambda x, dim: x, cases)
    assert _framework.judge("softmax", cases, wrong).score == 0.0


def test_every_checker_names_the_course_functions_its_answer_must_not_call():
    from ce_lessons.checks import _framework

    assert _framework.reference_functions("softmax") == (
        "probabilities.softmax",
        "probabilities.log_softmax",
    )
    for name in checks.__all__:
        if name[0].islower() and name != "run_check":
            for dotted in _framework.reference_functions(name):
                module, _, function = dotted.rpartition(".")
                assert callable(getattr(getattr(ce, module), function))


def test_an_unknown_mistake_is_described_by_its_largest_difference():
    result = checks.softmax(lambda x, dim: stable_softmax(x, dim) + 0.01)
    assert result.message.startswith("Does not match on")
    assert "largest difference is 0.01" in result.message


def test_an_exception_becomes_one_line_of_feedback_not_a_traceback():
    result = checks.softmax(lambda x, dim: undefined_name)  # noqa: F821
    assert result.score == 0.0
    assert (
        "raised NameError: name 'undefined_name' is not defined"
        in result.message
    )
    assert "Traceback" not in repr(result)


def test_a_wrong_shape_is_named():
    result = checks.cross_entropy(lambda x, y: np.zeros(3))
    assert "returned shape (3,); expected shape ()" in result.message


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_the_score_counts_public_cases_and_the_report_lists_them():
    result = checks.softmax(naive_softmax)  # fails only the huge-logit case
    assert result.failed_cases == ["huge logits (±1000)"]
    assert result.score == pytest.approx(5 / 6)
    assert "5 of 6 public cases pass" in repr(
        result
    ) and "FAIL  huge logits" in repr(result)


def test_a_mistake_that_cannot_be_computed_names_no_hint_and_crashes_nothing():
    """A classic mistake whose wrong function raises on a case matches nothing:
    the report falls back to the largest difference."""

    def raises(x):
        raise RuntimeError("not defined here")

    case = checks.Case("a scalar", (1.0,), np.asarray(2.0))
    result = checks.run_check(
        "d", lambda x: 1.0, [case], [checks.Mistake("never", raises)]
    )
    assert not result.passed and "Hint" not in result.message
    assert "largest difference" in result.message
