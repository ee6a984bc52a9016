"""The self-check framework: run a learner's function on public cases, name the classic mistake.

Each chapter's module (``ch1`` … ``ch8``) builds its checkers from :func:`run_check`. A check has
two sides, kept apart so that grading can run them in different processes:

- the **student side**, :func:`collect`: call the learner's function on each case (a fresh copy of
  the arguments every time) and keep what it returned, or the exception it raised;
- the **judge side**, :func:`judge`: compare those outcomes with the expected values, name the
  classic mistake that explains the failures, and score.

A self-check in a notebook runs both in the learner's kernel, on the public cases only. The grader
(:mod:`ce_lessons.coursework`) runs the student side inside a sandbox and the judge side in its own
process, on the public cases and on hidden ones (see :data:`_GRADER`).
"""

from __future__ import annotations

import copy
import textwrap
from dataclasses import dataclass, field

import numpy as np

from .._validate import to_numpy

RTOL, ATOL = 1e-6, 1e-9


@dataclass(frozen=True)
class Case:
    """One case: a label a learner understands, the arguments, the expected result.

    ``rtol`` and ``atol`` override the checker's tolerance for this case only (for results whose
    right answers may differ by more than rounding, like a finite difference).
    """

    label: str
    args: tuple
    expected: np.ndarray
    rtol: float | None = None
    atol: float | None = None


@dataclass(frozen=True)
class Mistake:
    """A classic mistake: what the learner's function returns if they make it, and the hint."""

    hint: str
    wrong: object  # a function of the case's arguments


@dataclass
class CheckResult:
    """What a check found: which cases passed, which failed, and why.

    A self-check has public cases only; a graded check also has hidden cases, reported by count
    (their inputs stay secret), and may be voided by ``reference_used`` (the exercise's answer
    called the course's own function).
    """

    exercise: str
    passed_cases: list = field(default_factory=list)
    failed_cases: list = field(default_factory=list)
    message: str = ""
    hidden_passed: int = 0
    hidden_failed: int = 0
    reference_used: str = ""

    @property
    def passed(self) -> bool:
        return (
            not self.failed_cases
            and not self.hidden_failed
            and not self.reference_used
        )

    @property
    def score(self) -> float:
        """The fraction of cases passed (public and hidden), from 0 to 1."""
        good = len(self.passed_cases) + self.hidden_passed
        total = good + len(self.failed_cases) + self.hidden_failed
        if self.reference_used or not total:
            return 0.0
        return good / total

    def __repr__(self) -> str:
        total = len(self.passed_cases) + len(self.failed_cases)
        if not self.failed_cases:
            head = f"{self.exercise}: all {total} public cases pass."
        else:
            head = (
                f"{self.exercise}: {len(self.passed_cases)} of {total} "
                "public cases pass."
            )
        lines = [head] + [f"  ok    {label}" for label in self.passed_cases]
        lines += [f"  FAIL  {label}" for label in self.failed_cases]
        hidden = self.hidden_passed + self.hidden_failed
        if hidden:
            lines.append(
                f"Hidden cases: {self.hidden_passed} of {hidden} pass."
            )
        if self.reference_used:
            lines.append(f"Scored 0: {self.reference_used}.")
        if self.message:
            lines += textwrap.wrap(self.message, width=72)
        return "\n".join(lines)


# --- which course functions an exercise's answer must not call ---------------------------

#: For each checker (by its name in ``ce_lessons.checks``), the ``ce_lessons`` functions that
#: compute the exercise's answer: a graded answer that calls one of them scores 0 for that
#: exercise ("used the course's own softmax"). Names are ``module.function`` inside
#: ``ce_lessons``. A checker not listed here forbids the public ``ce_lessons`` function of its
#: own name, if there is one; chapters add theirs with :func:`forbid`.
REFERENCE_FUNCTIONS = {
    "softmax": ("probabilities.softmax", "probabilities.log_softmax"),
    "log_softmax": ("probabilities.log_softmax",),
    "logits_from_probs": ("logits.logits_from_probs",),
    "channels_first": (),
    "cross_entropy": ("losses.cross_entropy", "losses.nll_loss"),
    "double_softmax_loss": (),
    "cross_entropy_grad": ("gradients.cross_entropy_grad",),
    "smoothed_grad": ("gradients.cross_entropy_grad",),
    "finite_difference": ("gradients.finite_difference_grad",),
    "bce_with_logits": (
        "losses.binary_cross_entropy_with_logits",
        "losses.binary_cross_entropy",
    ),
    "two_class_as_binary": (),
    "weighted_cross_entropy": ("losses.cross_entropy", "losses.nll_loss"),
    "smoothed_target": (),
}


def forbid(check: str, *functions: str) -> None:
    """Declare the ``ce_lessons`` functions (``"module.function"``) a graded answer to ``check``
    must not call, e.g. ``forbid("focal_loss", "losses.cross_entropy")`` in a chapter's module."""
    REFERENCE_FUNCTIONS[check] = tuple(functions)


def reference_functions(check: str) -> tuple:
    """The ``module.function`` names forbidden in a graded answer to ``check``."""
    if check in REFERENCE_FUNCTIONS:
        return REFERENCE_FUNCTIONS[check]
    import ce_lessons

    own = getattr(ce_lessons, check, None)
    module = getattr(own, "__module__", "") or ""
    if callable(own) and module.startswith("ce_lessons."):
        return (f"{module.removeprefix('ce_lessons.')}.{check}",)
    return ()


# --- the student side ---------------------------------------------------------------------


@dataclass(frozen=True)
class Raised:
    """A learner's function raised: the exception's type name and message (no object kept)."""

    kind: str
    text: str


MUTATED = (
    "changed an argument in place (for example x -= x.max(...)); the caller's "
    "array must stay as it was: work on a copy (x = x - x.max(...))"
)


def fresh(args):
    """A deep copy of a case's arguments: every call gets its own, untouched inputs."""
    return copy.deepcopy(args)


def changed(before, after) -> bool:
    """Whether any array argument differs from its copy taken before the call."""
    for a, b in zip(before, after):
        both = isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
        if both and (
            a.shape != b.shape or not np.array_equal(a, b, equal_nan=True)
        ):
            return True
    return False


def as_outcome(value):
    """A returned value as a float64 array, or the Raised that converting it gave."""
    try:
        return np.asarray(
            to_numpy(value, "your function's result"), dtype=np.float64
        )
    except Exception as error:  # a learner's bug must become feedback
        return Raised(type(error).__name__, str(error)[:300])


def call(fn, args):
    """Call ``fn`` on a fresh copy of ``args``: (its outcome, whether it changed an argument)."""
    given = fresh(args)
    try:
        value = fn(*given)
    except Exception as error:  # a learner's bug must become feedback
        return Raised(type(error).__name__, str(error)[:300]), changed(
            args, given
        )
    return as_outcome(value), changed(args, given)


def collect(fn, cases) -> list:
    """The student side: ``fn``'s outcome on every case, as (outcome, mutated) pairs."""
    return [call(fn, case.args) for case in cases]


# --- the judge side -----------------------------------------------------------------------


def _tolerance(case, rtol, atol):
    return (
        rtol if case.rtol is None else case.rtol,
        atol if case.atol is None else case.atol,
    )


def _matches(got, expected, rtol=RTOL, atol=ATOL) -> bool:
    """``got`` is an array equal to ``expected`` (None, a mistake that could
    not be computed, matches nothing)."""
    return (
        isinstance(got, np.ndarray)
        and expected is not None
        and got.shape == np.shape(expected)
        and bool(
            np.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
        )
    )


def _difference(label, got, expected) -> str:
    """The learner-facing description of a mismatch that no known mistake explains."""
    if isinstance(got, Raised):
        return f"On '{label}' your function raised {got.kind}: {got.text[:200]}"
    if got.shape != np.shape(expected):
        return (
            f"On '{label}' your function returned shape {got.shape}; "
            f"expected shape {np.shape(expected)}."
        )
    expected = np.asarray(expected, dtype=np.float64)
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
        f"Does not match on '{label}': the largest difference is "
        f"{float(gap[where]):.3g}{index} (expected "
        f"{float(expected[where]):.12g}, got {float(got[where]):.12g})."
    )


def _wrong_output(mistake, case):
    try:
        with np.errstate(all="ignore"):
            return np.asarray(mistake.wrong(*case.args), dtype=np.float64)
    except Exception:
        return None


def _diagnose(failures, mistakes, rtol, atol):
    if any(mutated for _, _, mutated in failures):
        case = next(c for c, _, mutated in failures if mutated)
        return f"Hint: on '{case.label}' your function {MUTATED}."
    for mistake in mistakes:
        if all(
            _matches(got, _wrong_output(mistake, case), rtol, atol)
            for case, got, _ in failures
        ):
            return "Hint: " + mistake.hint
    case, got, _ = failures[0]
    return _difference(case.label, got, case.expected)


def judge(
    exercise,
    cases,
    outcomes,
    mistakes=(),
    rtol=RTOL,
    atol=ATOL,
    hidden=(),
    hidden_outcomes=(),
) -> CheckResult:
    """The judge side: score ``outcomes`` (from :func:`collect`) against ``cases``.

    Hidden cases count like public ones but are reported by number only; their failures are
    explained (by a mistake's hint) only when no public case failed.
    """
    result = CheckResult(exercise)
    failures, hidden_failures = [], []
    for case, (got, mutated) in zip(cases, outcomes):
        if not mutated and _matches(
            got, case.expected, *_tolerance(case, rtol, atol)
        ):
            result.passed_cases.append(case.label)
        else:
            result.failed_cases.append(case.label)
            failures.append((case, got, mutated))
    for case, (got, mutated) in zip(hidden, hidden_outcomes):
        if not mutated and _matches(
            got, case.expected, *_tolerance(case, rtol, atol)
        ):
            result.hidden_passed += 1
        else:
            result.hidden_failed += 1
            hidden_failures.append((case, got, mutated))
    if failures:
        result.message = _diagnose(failures, mistakes, rtol, atol)
    elif hidden_failures:
        hint = _diagnose(hidden_failures, mistakes, rtol, atol)
        result.message = (
            "Every public case passes but some hidden ones fail"
            + (
                f". {hint}"
                if hint.startswith("Hint:")
                else ": does your "
                "function depend on the public inputs themselves?"
            )
        )
    return result


#: Set by the grader (``ce_lessons.coursework``) while it grades: a function with the signature
#: of :func:`run_check` that runs the student side in the sandbox or the judge side outside it.
_GRADER = None


def run_check(
    exercise, fn, cases, mistakes=(), rtol=RTOL, atol=ATOL, *, hidden=None
):
    """Run ``fn`` on every case; on failure, name the classic mistake whose outputs it reproduces.

    ``hidden``, optional, is a function of a ``numpy.random.Generator`` returning more cases for
    grading only (never run by a self-check); without it the grader derives hidden cases from
    the public ones.
    """
    if _GRADER is not None:
        return _GRADER(exercise, fn, cases, mistakes, rtol, atol, hidden)
    cases = list(cases)
    return judge(exercise, cases, collect(fn, cases), mistakes, rtol, atol)
