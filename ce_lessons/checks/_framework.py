"""The self-check framework: run a learner's function on public cases, name the classic mistake.

Each chapter's module (``ch1`` … ``ch5``) builds its checkers from :func:`run_check`.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

import numpy as np

from .._validate import to_numpy

RTOL, ATOL = 1e-6, 1e-9


@dataclass(frozen=True)
class Case:
    """One public case: a label a learner understands, the arguments, the expected result."""

    label: str
    args: tuple
    expected: np.ndarray


@dataclass(frozen=True)
class Mistake:
    """A classic mistake: what the learner's function returns if they make it, and the hint."""

    hint: str
    wrong: object  # a function of the case's arguments


@dataclass
class CheckResult:
    """What a self-check found: which public cases passed, which failed, and why."""

    exercise: str
    passed_cases: list = field(default_factory=list)
    failed_cases: list = field(default_factory=list)
    message: str = ""

    @property
    def passed(self) -> bool:
        return not self.failed_cases

    @property
    def score(self) -> float:
        """The fraction of public cases passed, from 0 to 1."""
        total = len(self.passed_cases) + len(self.failed_cases)
        return len(self.passed_cases) / total if total else 0.0

    def __repr__(self) -> str:
        total = len(self.passed_cases) + len(self.failed_cases)
        if self.passed:
            head = f"{self.exercise}: all {total} public cases pass."
        else:
            head = f"{self.exercise}: {len(self.passed_cases)} of {total} public cases pass."
        lines = [head] + [f"  ok    {label}" for label in self.passed_cases]
        lines += [f"  FAIL  {label}" for label in self.failed_cases]
        if self.message:
            lines += textwrap.wrap(self.message, width=72)
        return "\n".join(lines)


def _outcome(fn, case):
    """The learner's result for one case as a float64 array, or the exception it raised."""
    try:
        return np.asarray(
            to_numpy(fn(*case.args), "your function's result"),
            dtype=np.float64,
        )
    except (
        Exception
    ) as error:  # a learner's bug must become feedback, not a traceback
        return error


def _matches(got, expected, rtol=RTOL, atol=ATOL) -> bool:
    return (
        isinstance(got, np.ndarray)
        and got.shape == np.shape(expected)
        and bool(
            np.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
        )
    )


def _difference(label, got, expected) -> str:
    """The learner-facing description of a mismatch that no known mistake explains."""
    if isinstance(got, Exception):
        return f"On '{label}' your function raised {type(got).__name__}: {str(got)[:200]}"
    if got.shape != np.shape(expected):
        return f"On '{label}' your function returned shape {got.shape}; expected shape {np.shape(expected)}."
    with np.errstate(invalid="ignore"):
        gap = np.where(
            np.isnan(got) != np.isnan(expected),
            np.inf,
            np.abs(np.nan_to_num(got - expected)),
        )
    where = (
        np.unravel_index(int(np.argmax(gap)), gap.shape) if gap.ndim else ()
    )
    index = f" at index {tuple(int(i) for i in where)}" if where else ""
    return (
        f"Does not match on '{label}': the largest difference is {float(gap[where]):.3g}{index} "
        f"(expected {float(np.asarray(expected)[where]):.6g}, got {float(got[where]):.6g})."
    )


def run_check(exercise, fn, cases, mistakes=(), rtol=RTOL, atol=ATOL):
    """Run ``fn`` on every case; on failure, name the classic mistake whose outputs it reproduces."""
    result = CheckResult(exercise)
    failures = []
    for case in cases:
        got = _outcome(fn, case)
        if _matches(got, case.expected, rtol, atol):
            result.passed_cases.append(case.label)
        else:
            result.failed_cases.append(case.label)
            failures.append((case, got))
    if failures:
        result.message = _diagnose(failures, mistakes)
    return result


def _diagnose(failures, mistakes):
    for mistake in mistakes:
        if all(
            _matches(got, _wrong_output(mistake, case))
            for case, got in failures
        ):
            return "Hint: " + mistake.hint
    case, got = failures[0]
    return _difference(case.label, got, case.expected)


def _wrong_output(mistake, case):
    try:
        with np.errstate(all="ignore"):
            return np.asarray(mistake.wrong(*case.args), dtype=np.float64)
    except Exception:
        return None
