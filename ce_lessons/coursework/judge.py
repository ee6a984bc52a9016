"""The judge side of grading, in the grader's own process: verdicts from recorded outputs.

The runner (in the sandbox) recorded what the student's functions returned on each case. Here the
chapter's checker runs again, with fresh ``ce_lessons`` code the submission never touched, on the
same cases; wherever it would call the student's function, a :class:`Replay` hands back the
recorded value instead. The checker's own post-processing, comparisons, hints and scores all
happen here. Hidden cases: the checker's own builder if it has one, otherwise the generic ones of
:func:`ce_lessons.coursework.exchange.hidden_args`, whose expected values are what the chapter's
solution returned on them (recorded the same way, from the chapter run in its own sandbox).
"""

from __future__ import annotations

import threading

from ce_lessons import checks
from ce_lessons.checks import _framework
from ce_lessons.checks._framework import Case, Raised

from .exchange import Failure, Invalid, decode, hidden_args, rng_for
from .runner import argument_names

_LOCK = threading.Lock()  # _framework._GRADER is one per process
MAX_CALLS = 16  # recorded calls of one case


class NotRun(Exception):
    pass


def recorded(message) -> dict:
    """The calls of one exercise message, decoded: key -> [(value, mutated)]."""
    calls = message.get("calls") if isinstance(message, dict) else None
    book = {}
    if not isinstance(calls, dict):
        return book
    for key, values in list(calls.items())[:10_000]:
        if not isinstance(key, str) or not isinstance(values, list):
            continue
        entries = []
        for entry in values[:MAX_CALLS]:
            try:
                value = (
                    decode(entry.get("v"))
                    if isinstance(entry, dict)
                    else None
                )
                mutated = bool(entry.get("mut")) is True
            except (Invalid, ValueError, TypeError):
                value = Failure(
                    "InvalidOutput", "its result could not be read"
                )
                mutated = False
            entries.append((value, mutated))
        book[key] = entries
    return book


class Session:
    def __init__(self):
        self.book, self.key, self.count = {}, "", 0


class Replay:
    """Stands for a student's function: returns what it returned in the sandbox."""

    def __init__(self, name, session):
        self.name, self.session = name, session

    def __call__(self, *args):
        s = self.session
        calls = s.book.get(s.key, [])
        if s.count >= len(calls):
            raise NotRun(
                f"{self.name} was not run on this case (the check stopped)"
            )
        value, _ = calls[s.count]
        s.count += 1
        if isinstance(value, Failure):
            raise value.exception()
        return value


def _outcome(fn, args, key, book, session):
    session.book, session.key, session.count = book, key, 0
    outcome, _ = _framework.call(fn, args)
    mutated = any(m for _, m in book.get(key, []))
    return outcome, mutated


def judge_exercise(exercise, key, student: dict, reference: dict | None):
    """The CheckResult of one exercise from its recorded calls (``student``), with hidden cases.

    ``reference`` holds the chapter's own recorded calls (the expected values of generic hidden
    cases); without it, an exercise whose checker has no hidden builder gets no hidden case.
    """
    session = Session()
    student_book = recorded(student)
    reference_book = recorded(reference) if reference else None
    replays = {
        n: Replay(n, session) for n in argument_names(exercise.check)
    }
    results = []

    def grader(name, fn, cases, mistakes, rtol, atol, hidden):
        number = len(results)
        cases = list(cases)
        outcomes = [
            _outcome(fn, c.args, f"{number}/p/{i}", student_book, session)
            for i, c in enumerate(cases)
        ]
        secret = []
        if hidden is not None:
            secret = list(enumerate(hidden(rng_for(key, number))))
        elif reference_book is not None:
            for j, args in enumerate(
                hidden_args([c.args for c in cases], key)
            ):
                expected, _ = _outcome(
                    fn, args, f"{number}/h/{j}", reference_book, session
                )
                if isinstance(expected, Raised):
                    continue  # the chapter's own solution refuses this input
                base = cases[j]
                secret.append(
                    (
                        j,
                        Case(
                            f"hidden {j}",
                            args,
                            expected,
                            base.rtol,
                            base.atol,
                        ),
                    )
                )
        secret_outcomes = [
            _outcome(fn, c.args, f"{number}/h/{j}", student_book, session)
            for j, c in secret
        ]
        result = _framework.judge(
            name,
            cases,
            outcomes,
            mistakes,
            rtol,
            atol,
            [c for _, c in secret],
            secret_outcomes,
        )
        results.append(result)
        return result

    with _LOCK:
        _framework._GRADER = grader
        try:
            eval(exercise.check, {"checks": checks, **replays})
        finally:
            _framework._GRADER = None
    if not results:
        raise ValueError(f"{exercise.check} ran no check")
    result = results[0]
    for extra in results[1:]:  # a checker that runs several checks
        result.passed_cases += extra.passed_cases
        result.failed_cases += extra.failed_cases
        result.hidden_passed += extra.hidden_passed
        result.hidden_failed += extra.hidden_failed
        result.message = result.message or extra.message
    return result
