"""Gradescope's autograder entry point: one submission, graded like ``ce-grade`` grades a class.

``python -m ce_lessons.coursework.gradescope CHAPTER.ipynb [--root /autograder]`` grades the single
``.ipynb`` under ``ROOT/submission/`` (the same sandbox, runner and judge as ``ce-grade``) and
writes ``ROOT/results/results.json`` in Gradescope's format: per exercise one test for its public
cases (``visibility: visible``, the hint in ``output``) and one for its hidden cases
(``visibility: after_published``: students see it once the grades are published), a top-level
``score``, ``execution_time`` and ``output``.

The hidden cases' seed comes from ``--hidden-seed``, else the file ``ROOT/source/hidden_seed``
(``ce-assign --gradescope`` puts it there), else ``$CE_HIDDEN_SEED``. Where bubblewrap cannot run
(some containers do not allow namespaces) the submission is graded without it (``--sandbox
auto``, the default) and the output says so: Gradescope already gives every submission a
container of its own. Then, as root (Gradescope's case), the submission still runs as a user of
its own, and the chapter, the seed and the results are made readable by root alone
(:func:`hide_the_source`): a submission cannot read the solutions or the seed and send them back
in an error message. ``--sandbox bwrap`` refuses instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from . import grading, sandbox


def find_submission(folder: Path):
    """The one notebook under ``folder`` (hidden files aside), or (None, why)."""
    found = sorted(
        p
        for p in folder.rglob("*.ipynb")
        if p.is_file()
        and not any(
            part.startswith(".") for part in p.relative_to(folder).parts
        )
    )
    if not found:
        return None, "No .ipynb notebook was submitted."
    if len(found) > 1:
        names = ", ".join(p.name for p in found[:5])
        return None, (
            f"Submit exactly one notebook; found {len(found)} ({names})."
        )
    return found[0], ""


def read_seed(root: Path, given) -> str:
    if given:
        return given
    path = root / "source" / "hidden_seed"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    if os.environ.get("CE_HIDDEN_SEED"):
        return os.environ["CE_HIDDEN_SEED"]
    print(
        "gradescope: no hidden seed (--hidden-seed, source/hidden_seed or "
        "$CE_HIDDEN_SEED): using the default one",
        file=sys.stderr,
    )
    return grading.DEFAULT_SEED


def hide_the_source(root: Path, chapter: Path) -> list:
    """Without bubblewrap, as root: make the chapter (its solutions), the seed and the results
    readable by root alone; the submission runs as a user of its own and cannot read them.
    Not root: nothing can be hidden, and the output says so."""
    if os.getuid() != 0 or not sandbox.others_can_run_python():
        return [
            "Graded without a sandbox, as the grader's own user: the "
            "submission could read the autograder's files."
        ]
    for path, mode in (
        (root / "source", 0o700),
        (root / "source" / "hidden_seed", 0o600),
        (chapter, 0o600),
        (root / "results", 0o700),
    ):
        if path.exists():
            path.chmod(mode)
    return []


def gradescope_tests(grade, chapter) -> list:
    tests = []
    for number, exercise in enumerate(chapter.exercises, start=1):
        label = exercise.label
        pp, pt, hp, ht = grade.counts.get(label, (0, 0, 0, 0))
        total = pt + ht
        raw = exercise.points * (pp + hp) / total if total else 0.0
        factor = grade.scores.get(label, 0.0) / raw if raw else 0.0
        public_max = (
            exercise.points * pt / total if total else exercise.points
        )
        hidden_max = exercise.points - public_max
        report = grade.reports.get(label, "not checked")
        tests.append(
            {
                "name": f"{exercise.title} ({label}): public cases",
                "number": f"{number}.1",
                "score": round(exercise.points * pp / total * factor, 4)
                if total
                else 0.0,
                "max_score": round(public_max, 4),
                "status": "passed" if total and pp == pt else "failed",
                "output": report,
                "visibility": "visible",
            }
        )
        if ht or hidden_max:
            tests.append(
                {
                    "name": f"{exercise.title} ({label}): hidden cases",
                    "number": f"{number}.2",
                    "score": round(exercise.points * hp / total * factor, 4)
                    if total
                    else 0.0,
                    "max_score": round(hidden_max, 4),
                    "status": "passed" if hp == ht else "failed",
                    "output": f"{hp} of {ht} hidden cases pass.",
                    "visibility": "after_published",
                }
            )
    return tests


def grade(chapter_path, root, seed=None, limits=None, kind="auto"):
    """Grade ``ROOT/submission`` and write ``ROOT/results/results.json``; return the results."""
    started = time.monotonic()
    limits = limits or grading.Limits()
    root = Path(root)
    chapter = grading.Chapter.load(chapter_path)
    seed = read_seed(root, seed)
    notes = []
    if kind in ("auto", "bwrap"):
        why = sandbox.missing_bwrap()
        if why and kind == "bwrap":
            raise SystemExit(f"gradescope: {why}; refusing to grade")
        if why:
            print(f"gradescope: {why}; grading without it", file=sys.stderr)
            notes.append(
                "Graded without the bubblewrap sandbox (not available in "
                "this container)."
            )
        kind = "none" if why else "bwrap"
    isolation = sandbox.Isolation(kind)
    if kind == "none":
        notes += hide_the_source(root, Path(chapter_path))
    path, why = find_submission(root / "submission")
    maximum = sum(e.points for e in chapter.exercises)
    if path is None:
        results = {
            "score": 0.0,
            "output": why,
            "tests": [],
        }
    else:
        reference = grading.reference_outputs(
            chapter, limits, seed, isolation
        )
        result = grading.grade_submission(
            path,
            chapter,
            limits,
            isolation=isolation,
            seed=seed,
            reference=reference,
        )
        lines = [f"{result.total} of {maximum} points."]
        lines += [n for n in result.notes]
        lines += notes
        tests = gradescope_tests(result, chapter)
        results = {  # the tests' sum, so that Gradescope's page adds up
            "score": round(sum(t["score"] for t in tests), 4),
            "output": "\n".join(lines),
            "tests": tests,
        }
    results.update(
        {
            "execution_time": round(time.monotonic() - started, 2),
            "output_format": "text",
            "visibility": "visible",
            "stdout_visibility": "hidden",
        }
    )
    target = root / "results" / "results.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m ce_lessons.coursework.gradescope",
        description="Grade the one notebook under ROOT/submission/ and "
        "write ROOT/results/results.json for Gradescope.",
    )
    parser.add_argument(
        "chapter", help="the chapter notebook, with solutions"
    )
    parser.add_argument(
        "--root",
        default="/autograder",
        help="Gradescope's folder (default: /autograder)",
    )
    parser.add_argument(
        "--hidden-seed",
        help="seed of the hidden cases (default: ROOT/source/hidden_seed, "
        "then $CE_HIDDEN_SEED)",
    )
    parser.add_argument("--timeout", type=int, default=300)
    parser.add_argument("--cell-timeout", type=int, default=30)
    parser.add_argument("--check-timeout", type=int, default=60)
    parser.add_argument("--all-or-nothing", action="store_true")
    parser.add_argument(
        "--sandbox",
        choices=("auto", "bwrap", "none"),
        default="auto",
        help="auto (default): bubblewrap where it runs, else none, said in "
        "the output; bwrap: refuse without it; none: never",
    )
    args = parser.parse_args(argv)
    limits = grading.Limits(
        args.cell_timeout,
        args.timeout,
        args.check_timeout,
        args.all_or_nothing,
    )
    try:
        results = grade(
            args.chapter, args.root, args.hidden_seed, limits, args.sandbox
        )
    except grading.ChapterError as error:
        parser.exit(2, f"gradescope: {error}\n")
    print(
        f"score {results['score']}; wrote {Path(args.root) / 'results' / 'results.json'}"
    )


if __name__ == "__main__":
    sys.exit(main())
