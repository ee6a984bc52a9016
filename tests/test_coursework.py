"""Coursework: student notebooks and grading, as an instructor relies on them.

- `ce-assign` removes every solution, keeps every self-check, and leaves no output behind.
- `ce-grade` gives the chapter itself full marks, the student notebook zero, a classic mistake
  partial marks with its hint, and every kind of bad submission a score and a reason, without
  stopping or changing the grading of the others.

Most tests use a small chapter made here (numpy only, so a kernel starts fast); the last ones
grade the book's real chapter 1.
"""

import csv
import json
from pathlib import Path

import nbformat
import pytest

from ce_lessons import coursework

ROOT = Path(__file__).resolve().parent.parent
CHAPTER_1 = ROOT / "book" / "ch1_probabilities_vs_logits.ipynb"

SOLUTIONS = {
    "softmax": "def my_softmax(x, dim):\n"
    "    e = np.exp(x - x.max(axis=dim, keepdims=True))\n"
    "    return e / e.sum(axis=dim, keepdims=True)\n",
    "channels": "def channels_first(x):\n    return np.moveaxis(x, -1, 1)\n",
}


def exercise_cells(label, title, solution, check):
    v4 = nbformat.v4
    return [
        v4.new_markdown_cell(f"```{{exercise}} {title}\n:label: {label}\n\nWrite it.\n```", metadata={"tags": ["exercise"]}),
        v4.new_markdown_cell(f"```{{solution-start}} {label}\n:class: dropdown\n```", metadata={"tags": ["solution-start"]}),
        v4.new_code_cell(solution, metadata={"tags": ["solution"]}),
        v4.new_markdown_cell("```{solution-end}\n```", metadata={"tags": ["solution-end"]}),
        v4.new_code_cell(check, metadata={"tags": ["self-check"]}),
    ]


def small_chapter():
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A small chapter"),
        nbformat.v4.new_code_cell("import numpy as np\nfrom ce_lessons import checks"),
        *exercise_cells("ex-softmax", "A stable softmax", SOLUTIONS["softmax"], "checks.softmax(my_softmax)"),
        *exercise_cells("ex-channels", "Classes into dim 1", SOLUTIONS["channels"], "checks.channels_first(channels_first)"),
    ]
    return nb


def with_solution(nb, function, source):
    """The notebook with the solution cell defining ``function`` replaced by ``source``."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in nb.cells:
        if f"def {function}(" in cell.source:
            cell.source = source
    return nb


def with_cell(nb, source, at=2):
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    nb.cells.insert(at, nbformat.v4.new_code_cell(source))
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade one folder holding every kind of submission; return the CSV rows by submission."""
    work = tmp_path_factory.mktemp("course")
    chapter = work / "chapter.ipynb"
    nbformat.write(small_chapter(), chapter)
    subs = work / "submissions"
    subs.mkdir()
    base = small_chapter()
    notebooks = {
        "solution": base,
        "student": coursework.student_notebook(base),
        "no_max_shift": with_solution(
            base, "my_softmax", "def my_softmax(x, dim):\n    return np.exp(x) / np.exp(x).sum(axis=dim, keepdims=True)\n"
        ),
        "reshape": with_solution(
            base, "channels_first", "def channels_first(x):\n    n, h, w, c = x.shape\n    return x.reshape(n, c, h, w)\n"
        ),
        "raises": with_cell(base, "raise ValueError('oops')"),
        "endless": with_solution(base, "my_softmax", "def my_softmax(x, dim):\n    while True:\n        pass\n"),
        "exits": with_cell(base, "import sys\nsys.exit(3)"),
        "kernel_dies": with_cell(base, "import os\nos._exit(0)"),
        "huge_output": with_cell(base, "for i in range(100_000):\n    print('spam', i)"),
        "cheats": with_cell(base, "import ce_lessons.checks\nce_lessons.checks.softmax = lambda fn: None", at=99),
    }
    for name, nb in notebooks.items():
        nbformat.write(nb, subs / f"{name}.ipynb")
    (subs / "not_json.ipynb").write_text("{ this is not a notebook")
    (subs / "wrong_name.py").write_text("def my_softmax(x, dim): ...")
    out = work / "scores.csv"
    coursework.grade_folder(chapter, subs, out, jobs=2, timeout=60, feedback=work / "feedback", cell_timeout=3)
    with open(out, newline="") as handle:
        rows = {row["submission"]: row for row in csv.DictReader(handle)}
    return rows, work


def score(rows, name, column="total"):
    return float(rows[name][column])


def test_the_csv_has_one_row_per_submission_and_one_column_per_exercise(graded):
    rows, _ = graded
    assert len(rows) == 12
    assert list(next(iter(rows.values())).keys()) == ["submission", "ex-softmax", "ex-channels", "total", "out_of", "notes"]
    assert all(row["out_of"] == "2.0" for row in rows.values())


def test_the_solution_gets_full_marks_and_the_student_notebook_zero(graded):
    rows, _ = graded
    assert score(rows, "solution.ipynb") == 2.0 and rows["solution.ipynb"]["notes"] == ""
    assert score(rows, "student.ipynb") == 0.0
    assert "NotImplementedError" in rows["student.ipynb"]["notes"]


def test_a_classic_mistake_gets_partial_marks_and_its_hint(graded):
    rows, _ = graded
    assert score(rows, "no_max_shift.ipynb", "ex-softmax") == pytest.approx(5 / 6, abs=1e-4)
    assert score(rows, "no_max_shift.ipynb", "ex-channels") == 1.0
    assert "Subtract the largest logit" in rows["no_max_shift.ipynb"]["notes"]
    assert 0.0 < score(rows, "reshape.ipynb", "ex-channels") < 1.0
    assert "reshape keeps the numbers in memory order" in rows["reshape.ipynb"]["notes"]


@pytest.mark.parametrize(
    "name, total, reason",
    [
        ("raises.ipynb", 2.0, "code cell 2 raised ValueError: oops"),
        ("endless.ipynb", 1.0, "did not finish within the time limit"),
        ("exits.ipynb", 2.0, "raised SystemExit: 3"),
        ("kernel_dies.ipynb", 0.0, "the notebook stopped: DeadKernelError"),
        ("huge_output.ipynb", 2.0, "printed too much; its output was cut"),
        ("not_json.ipynb", 0.0, "not a valid notebook"),
        ("wrong_name.py", 0.0, "not a notebook (expected a .ipynb file)"),
    ],
)
def test_a_bad_submission_gets_a_score_and_a_reason(graded, name, total, reason):
    rows, _ = graded
    assert score(rows, name) == total
    assert reason in rows[name]["notes"]


def test_a_submission_cannot_replace_the_checks_it_is_graded_with(graded):
    rows, _ = graded
    assert score(rows, "cheats.ipynb") == 2.0  # graded with the real checks, which its answers pass


def test_each_submission_gets_a_feedback_file_with_every_report(graded):
    _, work = graded
    text = (work / "feedback" / "no_max_shift.ipynb.txt").read_text()
    assert "softmax: 5 of 6 public cases pass." in text and "FAIL  huge logits" in text
    assert "channels_first: all 4 public cases pass." in text


def test_the_student_notebook_has_no_solution_no_output_and_every_self_check():
    student = coursework.student_notebook(CHAPTER_1)
    source = "\n".join(c.source for c in student.cells)
    for exercise in coursework.exercises(CHAPTER_1):
        assert exercise.solution.strip() not in source
        assert exercise.check in source
        assert f"your code here ({exercise.label})" in source
    assert "{solution-start}" not in source and "{exercise}" not in source
    assert all(c.outputs == [] and c.execution_count is None for c in student.cells if c.cell_type == "code")


def test_assign_writes_a_student_notebook_for_every_chapter_with_exercises(tmp_path):
    written = coursework.assign(ROOT / "book", tmp_path)
    names = {p.name for p in written}
    assert "ch1_probabilities_vs_logits.ipynb" in names and "ch2_nll_equivalence.ipynb" in names
    assert "getting_started.ipynb" not in names  # no exercises there


def test_the_real_chapter_grades_to_full_marks_and_its_student_version_to_zero(tmp_path):
    subs = tmp_path / "submissions"
    subs.mkdir()
    nbformat.write(nbformat.read(CHAPTER_1, as_version=4), subs / "solution.ipynb")
    nbformat.write(coursework.student_notebook(CHAPTER_1), subs / "student.ipynb")
    grades = {g.submission: g for g in coursework.grade_folder(CHAPTER_1, subs, tmp_path / "scores.csv")}
    n_exercises = len(coursework.exercises(CHAPTER_1))
    assert grades["solution.ipynb"].total == n_exercises
    assert grades["student.ipynb"].total == 0.0
