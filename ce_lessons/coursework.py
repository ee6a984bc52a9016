"""Coursework: student notebooks from the chapters, and a grader for submitted notebooks.

The chapters are the single source. An exercise in a chapter is a run of tagged cells:

- ``exercise`` (markdown): the ``{exercise}`` statement, with its ``:label:``;
- ``solution-start`` / ``solution-end`` (markdown): the gates that hide the solution on the website;
- ``solution`` (code): the solution, between the gates;
- ``self-check`` (code): the call the learner runs, e.g. ``checks.softmax(my_softmax)``.

``ce-assign`` writes a student notebook per chapter: solutions replaced by stubs that raise
``NotImplementedError``, self-checks kept, outputs cleared. ``ce-grade`` runs every submitted
notebook in a fresh kernel, in a temporary directory, with time limits, then evaluates each
exercise's self-check expression **as written in the chapter** (not as found in the submission)
and writes a CSV: one row per submission, one column per exercise, the total, and the reasons.

Grading runs the students' code with your user's rights: the temporary directory and the time
limits protect the other submissions from a misbehaving one, not your machine from a hostile one.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import copy
import csv
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

MARK = "CE_GRADE "  # the prefix of a grading cell's one line of output
CELL_TIMEOUT = 30  # seconds for one cell of a submission
MAX_OUTPUT_CHARS = 200_000  # what a cell may print before the rest is dropped


@dataclass(frozen=True)
class Exercise:
    """One exercise of a chapter, as the tagged cells describe it."""

    label: str
    title: str
    check: str  # the self-check expression, e.g. "checks.softmax(my_softmax)"
    solution: str
    points: float = 1.0


def _tags(cell) -> list:
    return cell.get("metadata", {}).get("tags", [])


def _read(path):
    import nbformat

    return nbformat.read(str(path), as_version=4)


def exercises(chapter) -> list[Exercise]:
    """The exercises of a chapter notebook (a path or a notebook), in order."""
    nb = _read(chapter) if isinstance(chapter, (str, Path)) else chapter
    found, current = [], None
    for cell in nb.cells:
        tags = _tags(cell)
        if "exercise" in tags:
            label = re.search(r":label:\s*(\S+)", cell.source).group(1)
            title = re.search(r"```\{exercise\}\s*(.*)", cell.source).group(1).strip()
            current = {"label": label, "title": title, "points": cell.metadata.get("points", 1.0)}
        elif "solution" in tags and current is not None:
            current["solution"] = cell.source
        elif "self-check" in tags and current is not None:
            found.append(Exercise(check=cell.source.strip(), solution=current.pop("solution", ""), **current))
            current = None
    return found


# --- student notebooks --------------------------------------------------------------------------


def stub(solution: str, exercise: Exercise) -> str:
    """The solution's functions with their bodies replaced by ``raise NotImplementedError``."""
    lines = [f"# Exercise: {exercise.title}. Write your code here."]
    for node in ast.parse(solution).body:
        if isinstance(node, ast.FunctionDef):
            lines += [
                "",
                f"def {node.name}({ast.unparse(node.args)}):",
                f"    raise NotImplementedError(\"{node.name}: your code here ({exercise.label})\")",
            ]
    return "\n".join(lines)


def _plain_exercise(source: str) -> str:
    """The ``{exercise}`` directive as plain markdown, readable in any Jupyter."""
    title = re.search(r"```\{exercise\}\s*(.*)", source).group(1).strip()
    body = re.sub(r"```\{exercise\}.*\n", "", source)
    body = re.sub(r":label:.*\n", "", body).rstrip().removesuffix("```").strip()
    return f"### Exercise: {title}\n\n{body}"


def student_notebook(chapter):
    """The student version of a chapter: stubs for solutions, checks kept, no outputs."""
    import nbformat

    nb = copy.deepcopy(_read(chapter) if isinstance(chapter, (str, Path)) else chapter)
    by_solution = {e.solution: e for e in exercises(nb)}
    cells = []
    for cell in nb.cells:
        tags = _tags(cell)
        if "solution-start" in tags or "solution-end" in tags:
            continue
        if "solution" in tags:
            cell = nbformat.v4.new_code_cell(stub(cell.source, by_solution[cell.source]), id=cell.id)
            cell.metadata["tags"] = ["answer"]
        elif "exercise" in tags:
            cell = nbformat.v4.new_markdown_cell(_plain_exercise(cell.source), id=cell.id)
        elif cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    nb.cells = cells
    return nb


def assign(book="book", out="dist/student"):
    """Write the student notebook of every chapter with exercises; return their paths."""
    import nbformat

    written = []
    Path(out).mkdir(parents=True, exist_ok=True)
    for chapter in sorted(Path(book).glob("*.ipynb")):
        if exercises(chapter):
            target = Path(out) / chapter.name
            nbformat.write(student_notebook(chapter), str(target))
            written.append(target)
    return written


# --- grading ------------------------------------------------------------------------------------


def grade_cell(label: str, expression: str, namespace: dict) -> None:
    """Run inside the submission's kernel: evaluate one self-check and print its result as JSON.

    ``ce_lessons.checks`` is reloaded first, so a submission cannot change what is checked.
    """
    from . import checks

    env = dict(namespace, checks=importlib.reload(checks))
    try:
        result = eval(expression, env)  # the chapter's own self-check call
        total = len(result.passed_cases) + len(result.failed_cases)
        summary = f"{len(result.passed_cases)} of {total} public cases pass. {result.message}"
        outcome = {"score": result.score, "summary": summary.strip(), "report": repr(result)}
    except KeyboardInterrupt:  # the cell time limit interrupted the learner's function
        message = "not graded: the function did not finish within the time limit"
        outcome = {"score": 0.0, "summary": message, "report": message}
    except BaseException as error:  # NameError, SystemExit, anything the learner's code raises
        message = f"not graded: {type(error).__name__}: {str(error)[:300]}"
        outcome = {"score": 0.0, "summary": message, "report": message}
    print(MARK + json.dumps({"label": label, **outcome}))


def grading_cells(chapter_exercises):
    """One code cell per exercise, appended to a submission to grade it."""
    import nbformat

    return [
        nbformat.v4.new_code_cell(
            "import ce_lessons.coursework as _ce_coursework\n"
            f"_ce_coursework.grade_cell({e.label!r}, {e.check!r}, globals())"
        )
        for e in chapter_exercises
    ]


def _execute(notebook_path: str, cell_timeout: int) -> None:
    """The child process: execute a prepared notebook; print each grading line it produced."""
    import nbformat
    from nbclient import NotebookClient

    class CappedClient(NotebookClient):
        """A client that keeps at most MAX_OUTPUT_CHARS of output per cell."""

        printed: dict = {}

        def output(self, outs, msg, display_id, cell_index):
            size = self.printed.get(cell_index, 0) + len(json.dumps(msg.get("content", {})))
            self.printed[cell_index] = size
            if size <= MAX_OUTPUT_CHARS or MARK in str(msg.get("content", {}).get("text", "")):
                return super().output(outs, msg, display_id, cell_index)
            return None

    nb = nbformat.read(notebook_path, as_version=4)
    client = CappedClient(
        nb,
        timeout=cell_timeout,
        interrupt_on_timeout=True,
        allow_errors=True,
        record_timing=False,
        kernel_name="python3",
        resources={"metadata": {"path": str(Path(notebook_path).parent)}},
    )
    try:
        client.execute()
    except Exception as error:  # a kernel that died (os._exit, a crash): report what was graded
        print(MARK + json.dumps({"note": f"the notebook stopped: {type(error).__name__}: {str(error)[:200]}"}))
    for index, cell in enumerate(nb.cells):
        if client.printed.get(index, 0) > MAX_OUTPUT_CHARS:
            print(MARK + json.dumps({"note": f"code cell {index + 1} printed too much; its output was cut"}))
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                error = f"{output.get('ename')}: {output.get('evalue', '')}"[:200]
                print(MARK + json.dumps({"note": f"code cell {index + 1} raised {error}"}))
            for line in str(output.get("text", "")).splitlines():
                if line.startswith(MARK):
                    print(line)


@dataclass
class Grade:
    """The grade of one submission: a score per exercise (in points) and the reasons."""

    submission: str
    scores: dict
    notes: list = field(default_factory=list)  # short reasons, for the CSV
    reports: dict = field(default_factory=dict)  # each self-check's full report, for feedback

    @property
    def total(self) -> float:
        return sum(self.scores.values())


def grade_submission(path, chapter_exercises, timeout=300, cell_timeout=CELL_TIMEOUT) -> Grade:
    """Grade one submitted file; never raises: every failure becomes a score of 0 and a reason."""
    import nbformat

    path = Path(path)
    grade = Grade(path.name, {e.label: 0.0 for e in chapter_exercises})
    if path.suffix != ".ipynb":
        grade.notes.append("not graded: not a notebook (expected a .ipynb file)")
        return grade
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as error:
        grade.notes.append(f"not graded: not a valid notebook ({type(error).__name__}: {str(error)[:120]})")
        return grade
    nb.cells = [c for c in nb.cells if c.cell_type == "code"] + grading_cells(chapter_exercises)
    for cell in nb.cells:
        cell.outputs, cell.execution_count = [], None
    with tempfile.TemporaryDirectory(prefix="ce-grade-") as work:
        prepared = Path(work) / "submission.ipynb"
        nbformat.write(nb, str(prepared))
        lines = _run_child(prepared, work, timeout, cell_timeout, grade)
    _record(lines, chapter_exercises, grade)
    return grade


def _run_child(prepared, work, timeout, cell_timeout, grade) -> list:
    """Execute the prepared notebook in a child process (its own session, so that a timeout
    ends the kernel too); return the grading lines it printed."""
    command = [sys.executable, "-m", "ce_lessons.coursework", "_execute", str(prepared), str(cell_timeout)]
    child = subprocess.Popen(
        command, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True
    )
    try:
        stdout, _ = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        grade.notes.append(f"not graded: the whole notebook took longer than {timeout} s")
        return []
    return [line[len(MARK) :] for line in stdout.splitlines() if line.startswith(MARK)]


def _record(lines, chapter_exercises, grade):
    points = {e.label: e.points for e in chapter_exercises}
    for line in lines:
        result = json.loads(line)
        if "note" in result:
            grade.notes.append(result["note"])
            continue
        label = result["label"]
        grade.scores[label] = round(points[label] * result["score"], 4)
        grade.reports[label] = result["report"]
        if result["score"] < 1.0:
            grade.notes.append(f"{label}: {result['summary']}")
    stopped = any(n.startswith(("not graded", "the notebook stopped")) for n in grade.notes)
    for label in points:
        if label not in grade.reports:
            reason = "not graded" + (", see above" if stopped else "")
            grade.reports[label] = reason
            if not stopped:
                grade.notes.append(f"{label}: {reason}")


def grade_folder(
    chapter, submissions, out="scores.csv", jobs=2, timeout=300, feedback=None, cell_timeout=CELL_TIMEOUT
):
    """Grade every file in ``submissions`` against ``chapter``; write the CSV; return the grades."""
    chapter_exercises = exercises(chapter)
    files = sorted(p for p in Path(submissions).iterdir() if p.is_file())
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        grades = list(pool.map(lambda p: grade_submission(p, chapter_exercises, timeout, cell_timeout), files))
    write_csv(grades, chapter_exercises, out)
    if feedback:
        Path(feedback).mkdir(parents=True, exist_ok=True)
        for grade in grades:
            parts = [f"{grade.submission}: {round(grade.total, 4)} points", *grade.notes]
            parts += [f"--- {label}\n{report}" for label, report in grade.reports.items()]
            (Path(feedback) / f"{grade.submission}.txt").write_text("\n\n".join(parts) + "\n")
    return grades


def write_csv(grades, chapter_exercises, out):
    labels = [e.label for e in chapter_exercises]
    maximum = sum(e.points for e in chapter_exercises)
    with open(out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", *labels, "total", "out_of", "notes"])
        for g in grades:
            notes = " | ".join(" ".join(n.split()) for n in g.notes)
            writer.writerow([g.submission, *(g.scores[k] for k in labels), round(g.total, 4), maximum, notes])


# --- command line -------------------------------------------------------------------------------


def assign_main(argv=None):
    parser = argparse.ArgumentParser(
        prog="ce-assign", description="Write student notebooks (solutions removed, self-checks kept)."
    )
    parser.add_argument("book", nargs="?", default="book", help="folder of chapter notebooks (default: book)")
    parser.add_argument("out", nargs="?", default="dist/student", help="where to write (default: dist/student)")
    args = parser.parse_args(argv)
    for path in assign(args.book, args.out):
        print(f"wrote {path}")


def grade_main(argv=None):
    parser = argparse.ArgumentParser(
        prog="ce-grade", description="Grade a folder of submitted notebooks against a chapter."
    )
    parser.add_argument("chapter", help="the chapter notebook the submissions answer, e.g. book/ch1_....ipynb")
    parser.add_argument("submissions", help="folder with one file per submission")
    parser.add_argument("--out", default="scores.csv", help="the CSV to write (default: scores.csv)")
    parser.add_argument("--feedback", help="folder for one feedback .txt per submission")
    parser.add_argument("--jobs", type=int, default=2, help="submissions graded at once (default: 2)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per submission (default: 300)")
    args = parser.parse_args(argv)
    grades = grade_folder(args.chapter, args.submissions, args.out, args.jobs, args.timeout, args.feedback)
    print(f"graded {len(grades)} submission(s) into {args.out}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["_execute"]:
        _execute(sys.argv[2], int(sys.argv[3]))
