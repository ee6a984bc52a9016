"""Grading submitted notebooks: ``ce-grade``.

For each submission, in a temporary directory:

1. **Run** its code cells top to bottom in a fresh Jupyter kernel (``nbclient``), with a time limit
   per cell and per notebook, output capped, errors recorded. A cell that kills the kernel or
   outlives the time limit is left out and the notebook run again, so one bad cell costs only what
   depends on it. The learner's own self-check calls are not run.
2. **Export** the functions each exercise's self-check needs, pickled by value (``cloudpickle``).
3. **Check** each exercise in a separate, clean Python process (isolated mode, empty working
   directory, its own time limit): the functions are unpickled and the self-check expression
   **as written in the chapter** is evaluated with a fresh ``ce_lessons``. Whatever the submission
   did to numpy, ``ce_lessons`` or ``print`` in its kernel stays there.

Every failure becomes a score of 0 and a reason; no submission can stop the others. This protects
the grading of a class from accidents and the easy tricks, not your machine from hostile code: the
students' code runs with your rights (see the README).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .assignments import check_names, exercises, tags

MARK = (
    "CE_GRADE "  # the prefix of every line a grading child process reports
)
MAX_OUTPUT_CHARS = (
    200_000  # what one cell may print before the rest is dropped
)
MAX_RERUNS = 3  # cells that may be left out of one submission


@dataclass(frozen=True)
class Limits:
    """Time limits, in seconds, and how an exercise's public cases make its score."""

    cell: int = 30  # one cell of the notebook
    notebook: int = 300  # one run of the whole notebook
    check: int = 60  # one exercise's self-check
    all_or_nothing: bool = (
        False  # full points only when every public case passes
    )


@dataclass
class Grade:
    """The grade of one submission: points per exercise, the reasons, and the full reports."""

    submission: str
    scores: dict
    notes: list = field(default_factory=list)  # short reasons, for the CSV
    reports: dict = field(
        default_factory=dict
    )  # each self-check's report, for feedback

    @property
    def total(self) -> float:
        return round(sum(self.scores.values()), 4)


# --- in the children ------------------------------------------------------------------------


def _report(**fields) -> None:
    print(MARK + json.dumps(fields), flush=True)


def _execute(notebook: str, cell_timeout: int) -> None:
    """Child process: run a prepared notebook, reporting each cell as it starts and how it ended."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    printed = {}

    class CappedClient(NotebookClient):
        def output(
            self, outs, msg, display_id, cell_index
        ):  # keep at most MAX_OUTPUT_CHARS per cell
            printed[cell_index] = printed.get(cell_index, 0) + len(
                json.dumps(msg.get("content", {}))
            )
            if printed[cell_index] <= MAX_OUTPUT_CHARS:
                return super().output(outs, msg, display_id, cell_index)
            return None

    nb = nbformat.read(notebook, as_version=4)
    client = CappedClient(
        nb,
        timeout=cell_timeout,
        interrupt_on_timeout=True,
        allow_errors=True,
        record_timing=False,
        kernel_name="python3",
        resources={"metadata": {"path": str(Path(notebook).parent)}},
        on_cell_start=lambda cell, cell_index: _report(cell=cell_index),
    )
    try:
        client.execute()
    except DeadKernelError:
        _report(died=True)
        return
    for index, cell in enumerate(nb.cells):
        if printed.get(index, 0) > MAX_OUTPUT_CHARS:
            _report(
                note_cell=index, note="printed too much; its output was cut"
            )
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                _report(
                    note_cell=index,
                    note=f"raised {output.get('ename')}: {output.get('evalue', '')}"[
                        :200
                    ],
                )
    _report(done=True)


def _check(expression: str, exported: str) -> None:
    """Child process, clean and isolated: unpickle the learner's functions, run the self-check."""
    import cloudpickle

    from .. import checks

    env = {"checks": checks}
    for name in check_names(expression):
        path = Path(exported, name)
        if path.with_suffix(".err").exists():
            _report(
                score=0.0,
                summary=f"not graded: {path.with_suffix('.err').read_text()}",
            )
            return
        env[name] = cloudpickle.loads(path.with_suffix(".pkl").read_bytes())
    result = eval(expression, env)  # the chapter's own self-check call
    total = len(result.passed_cases) + len(result.failed_cases)
    summary = f"{len(result.passed_cases)} of {total} public cases pass. {result.message}".strip()
    _report(
        score=result.score,
        all=result.passed,
        summary=summary,
        report=repr(result),
    )


# --- in the parent --------------------------------------------------------------------------


def _run(command, cwd, timeout) -> tuple:
    """Run a child in its own session; return (reported lines as dicts, whether it timed out)."""
    child = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, _ = child.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(
            child.pid, signal.SIGKILL
        )  # the kernel too, not only the child
        stdout, _ = child.communicate()
        timed_out = True
    reports = []
    for line in stdout.splitlines():
        if line.startswith(MARK):
            try:
                reports.append(json.loads(line[len(MARK) :]))
            except json.JSONDecodeError:
                continue
    return [r for r in reports if isinstance(r, dict)], timed_out


def _code_cells(nb) -> list:
    """The submission's code cells that grading runs: all but the self-check calls."""
    return [
        c
        for c in nb.cells
        if c.get("cell_type") == "code" and "self-check" not in tags(c)
    ]


def _export_cell(names, folder):
    import nbformat

    return nbformat.v4.new_code_cell(
        "import cloudpickle as _ce_pickle, pathlib as _ce_path\n"
        f"for _ce_name in {names!r}:\n"
        f"    _ce_file = _ce_path.Path({str(folder)!r}, _ce_name)\n"
        "    try:\n"
        "        _ce_file.with_suffix('.pkl').write_bytes(_ce_pickle.dumps(globals()[_ce_name]))\n"
        "    except BaseException as _ce_error:\n"
        "        _ce_file.with_suffix('.err').write_text(\n"
        "            f'{_ce_name} is not defined' if isinstance(_ce_error, KeyError)\n"
        "            else f'{_ce_name} could not be exported ({type(_ce_error).__name__})')\n"
    )


def _describe(cell) -> str:
    first = next(
        (
            line
            for line in str(cell.get("source", "")).splitlines()
            if line.strip()
        ),
        "",
    )
    return f"the code cell starting {first.strip()[:40]!r}"


def _run_notebook(
    cells, export_cell, work: Path, limits: Limits, grade: Grade
) -> None:
    """Run the cells and the export cell; leave out any cell that kills or stalls the kernel."""
    import nbformat

    cells = list(cells)
    for _ in range(MAX_RERUNS + 1):
        nb = nbformat.v4.new_notebook(cells=[*cells, export_cell])
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        run = work / "run"
        run.mkdir(exist_ok=True)
        nbformat.write(nb, str(run / "submission.ipynb"))
        command = [
            sys.executable,
            "-m",
            "ce_lessons.coursework.grading",
            "_execute",
            "submission.ipynb",
            str(limits.cell),
        ]
        reports, timed_out = _run(command, run, limits.notebook)
        for r in reports:
            if (
                "note" in r
                and isinstance(r.get("note_cell"), int)
                and r["note_cell"] < len(cells)
            ):
                grade.notes.append(
                    f"{_describe(cells[r['note_cell']])} {r['note']}"
                )
        if any(r.get("done") for r in reports):
            return
        started = [
            r["cell"] for r in reports if isinstance(r.get("cell"), int)
        ]
        culprit = started[-1] if started else None
        why = (
            f"took longer than {limits.notebook} s"
            if timed_out
            else "stopped the kernel"
        )
        if culprit is None or culprit >= len(cells):
            grade.notes.append(f"not graded: the notebook {why}")
            return
        grade.notes.append(
            f"{_describe(cells[culprit])} {why}; it was left out and the rest run again"
        )
        del cells[culprit]
    grade.notes.append("not graded: too many cells had to be left out")


def grade_submission(
    path, chapter_exercises, limits: Limits = Limits()
) -> Grade:
    """Grade one submitted file; never raises: every failure becomes 0 points and a reason."""
    path = Path(path)
    grade = Grade(path.name, {e.label: 0.0 for e in chapter_exercises})
    try:
        _grade(path, chapter_exercises, limits, grade)
    except (
        Exception
    ) as error:  # a submission must never stop the grading of the others
        grade.notes.append(
            f"not graded: {type(error).__name__}: {str(error)[:150]}"
        )
    return grade


def _grade(path, chapter_exercises, limits, grade):
    import nbformat

    if path.suffix.lower() != ".ipynb":
        grade.notes.append(
            "not graded: not a notebook (expected a .ipynb file)"
        )
        return
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as error:
        grade.notes.append(
            f"not graded: not a valid notebook ({type(error).__name__}: {str(error)[:120]})"
        )
        return
    cells = [
        nbformat.v4.new_code_cell(str(c.get("source", "")))
        for c in _code_cells(nb)
    ]
    names = sorted({n for e in chapter_exercises for n in e.names})
    with tempfile.TemporaryDirectory(prefix="ce-grade-") as tmp:
        work = Path(tmp)
        (work / "export").mkdir()
        _run_notebook(
            cells, _export_cell(names, work / "export"), work, limits, grade
        )
        for exercise in chapter_exercises:
            _grade_exercise(exercise, work, limits, grade)
    if all(
        any(f"{n} is not defined" in note for note in grade.notes)
        for n in names
    ):
        grade.notes.append(
            "none of this chapter's functions is defined: is it a submission for another chapter?"
        )


def _grade_exercise(
    exercise, work: Path, limits: Limits, grade: Grade
) -> None:
    clean = work / f"check-{exercise.label}"
    clean.mkdir()
    command = [
        sys.executable,
        "-I",
        "-m",
        "ce_lessons.coursework.grading",
        "_check",
        exercise.check,
        str(work / "export"),
    ]
    reports, timed_out = _run(command, clean, limits.check)
    result = next((r for r in reversed(reports) if "score" in r), None)
    if result is None:
        reason = (
            f"took longer than {limits.check} s"
            if timed_out
            else "stopped before it reported"
        )
        result = {
            "score": 0.0,
            "summary": f"not graded: the self-check {reason}",
        }
    try:
        fraction = min(max(float(result["score"]), 0.0), 1.0)
    except (TypeError, ValueError):
        fraction = 0.0
    if limits.all_or_nothing and fraction < 1.0:
        fraction = 0.0
    grade.scores[exercise.label] = round(exercise.points * fraction, 4)
    grade.reports[exercise.label] = str(
        result.get("report", result.get("summary", ""))
    )
    if fraction < 1.0:
        grade.notes.append(
            f"{exercise.label}: {str(result.get('summary', ''))[:400]}"
        )


def submissions(folder) -> list:
    """Every file under ``folder``, sub-folders included, but hidden files and checkpoints."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder of submissions at {folder}")
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and not any(
            part.startswith(".") for part in p.relative_to(folder).parts
        )
    )


def grade_folder(
    chapter,
    folder,
    out="scores.csv",
    jobs=2,
    limits: Limits = Limits(),
    feedback=None,
) -> list:
    """Grade every submission under ``folder`` against ``chapter``; write the CSV; return the grades."""
    chapter_exercises = exercises(chapter)
    if not chapter_exercises:
        raise ValueError(f"{chapter} has no exercises to grade")
    files = submissions(folder)
    with concurrent.futures.ThreadPoolExecutor(
        max_workers=max(1, jobs)
    ) as pool:
        grades = list(
            pool.map(
                lambda p: grade_submission(p, chapter_exercises, limits),
                files,
            )
        )
    for grade, path in zip(grades, files):
        grade.submission = path.relative_to(folder).as_posix()
    write_csv(grades, chapter_exercises, out)
    if feedback:
        write_feedback(grades, chapter_exercises, feedback)
    return grades


def write_csv(grades, chapter_exercises, out) -> None:
    labels = [e.label for e in chapter_exercises]
    maximum = sum(e.points for e in chapter_exercises)
    with open(out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", *labels, "total", "out_of", "notes"])
        for g in grades:
            notes = " | ".join(" ".join(n.split()) for n in g.notes)
            writer.writerow(
                [
                    g.submission,
                    *(g.scores[k] for k in labels),
                    g.total,
                    maximum,
                    notes,
                ]
            )


def write_feedback(grades, chapter_exercises, folder) -> None:
    maximum = sum(e.points for e in chapter_exercises)
    for grade in grades:
        target = Path(folder) / f"{grade.submission}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        parts = [
            f"{grade.submission}: {grade.total} of {maximum} points",
            *grade.notes,
        ]
        parts += [
            f"--- {label}\n{report}"
            for label, report in grade.reports.items()
        ]
        target.write_text("\n\n".join(parts) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="ce-grade",
        description="Grade submitted notebooks against a chapter.",
    )
    parser.add_argument(
        "chapter",
        help="the chapter the submissions answer, e.g. book/ch1_probabilities_vs_logits.ipynb",
    )
    parser.add_argument(
        "submissions",
        help="folder of submissions (sub-folders too), one .ipynb each",
    )
    parser.add_argument(
        "--out",
        default="scores.csv",
        help="the CSV to write (default: scores.csv)",
    )
    parser.add_argument(
        "--feedback", help="folder for one feedback .txt per submission"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="submissions graded at once (default: 2)",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=300,
        help="seconds for one run of a notebook (default: 300)",
    )
    parser.add_argument(
        "--cell-timeout",
        type=int,
        default=30,
        help="seconds for one cell (default: 30)",
    )
    parser.add_argument(
        "--check-timeout",
        type=int,
        default=60,
        help="seconds for one self-check (default: 60)",
    )
    parser.add_argument(
        "--all-or-nothing",
        action="store_true",
        help="an exercise scores its points only if every case passes",
    )
    args = parser.parse_args(argv)
    limits = Limits(
        args.cell_timeout,
        args.timeout,
        args.check_timeout,
        args.all_or_nothing,
    )
    try:
        grades = grade_folder(
            args.chapter,
            args.submissions,
            args.out,
            args.jobs,
            limits,
            args.feedback,
        )
    except (FileNotFoundError, ValueError) as error:
        parser.exit(2, f"ce-grade: {error}\n")
    print(f"graded {len(grades)} submission(s) into {args.out}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["_execute"]:
        _execute(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1:2] == ["_check"]:
        _check(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
