"""What every chapter's self-check tests assert: a right answer passes, a
classic mistake gets its hint, and the hidden cases tell the two apart."""

import numpy as np
import pytest


def _name(value):
    return getattr(value, "__name__", "")


def each_right_answer(right):
    """Run a test once per ``(check, answer)`` pair, named by its functions."""
    return pytest.mark.parametrize("check, answer", right, ids=_name)


def each_mistake(mistakes):
    """Run a test once per ``(name, check, answer, hint)``, named by name."""
    return pytest.mark.parametrize(
        "name, check, answer, hint", mistakes, ids=[m[0] for m in mistakes]
    )


def assert_right_answer(check, answer):
    """``check(answer)`` passes every public case, scores 1, and its report
    says so."""
    result = check(answer)
    assert result.passed and result.score == 1.0, repr(result)
    assert f"all {len(result.passed_cases)} public cases pass" in repr(
        result
    )
    return result


def assert_named_mistake(check, answer, hint):
    """``check(answer)`` fails, scores below 1, and its message is the hint
    that names the mistake (``hint`` is a phrase of it), which the report a
    learner sees shows."""
    result = check(answer)
    assert not result.passed and 0.0 <= result.score < 1.0
    assert result.message.startswith("Hint:") and hint in result.message, (
        result.message
    )
    assert hint.split()[0] in repr(result)
    return result


def hidden_builder(check, monkeypatch):
    """What ``check`` hands the grader: its hidden-case builder, its
    tolerances and its classic mistakes."""
    from ce_lessons.checks import _framework

    seen = {}

    def grader(exercise, fn, cases, mistakes, rtol, atol, hidden):
        seen.update(hidden=hidden, rtol=rtol, atol=atol, mistakes=mistakes)

    monkeypatch.setattr(_framework, "_GRADER", grader)
    check(None)
    return seen


def assert_hidden_cases_tell_right_from_wrong(
    check, answer, monkeypatch, seed
):
    """The hidden cases ``check`` draws with ``seed`` exist, ``answer``
    passes every one, and each classic mistake fails at least one."""
    seen = hidden_builder(check, monkeypatch)
    cases = seen["hidden"](np.random.default_rng(seed))
    assert cases, "no hidden case"
    tol = dict(rtol=seen["rtol"], atol=seen["atol"], equal_nan=True)
    for case in cases:
        np.testing.assert_allclose(answer(*case.args), case.expected, **tol)
    for mistake in seen["mistakes"]:
        assert not all(
            np.allclose(mistake.wrong(*case.args), case.expected, **tol)
            for case in cases
        ), mistake.hint
