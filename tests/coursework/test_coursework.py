"""Coursework: student notebooks and grading, as an instructor relies on them.

- `ce-assign` removes every solution, keeps every self-check, leaves no output and no book-only
  markup behind.
- `ce-grade` gives the chapter itself full marks, the student notebook zero, a classic mistake
  partial marks with its hint, and every kind of bad submission a score and a reason, without
  stopping or changing the grading of the others; the easy ways to cheat earn nothing.

Most tests use a small chapter made here (numpy only, so kernels start fast); the last ones use the
book's real chapter 1.
"""

import csv
import json
from pathlib import Path

import nbformat
import pytest

from ce_lessons.coursework import assignments, grading

ROOT = Path(__file__).resolve().parents[2]
CHAPTER_1 = ROOT / "book" / "ch1_probabilities_vs_logits.ipynb"

SOFTMAX = (
    "def my_softmax(x, dim):\n"
    "    e = np.exp(x - x.max(axis=dim, keepdims=True))\n"
    "    return e / e.sum(axis=dim, keepdims=True)\n"
)
CHANNELS = "def channels_first(x):\n    return np.moveaxis(x, -1, 1)\n"


def exercise_cells(label, title, solution, check):
    v4 = nbformat.v4
    return [
        v4.new_markdown_cell(
            f"```{{exercise}} {title}\n:label: {label}\n\nWrite it.\n```",
            metadata={"tags": ["exercise"]},
        ),
        v4.new_markdown_cell(
            f"```{{solution-start}} {label}\n:class: dropdown\n```",
            metadata={"tags": ["solution-start"]},
        ),
        v4.new_code_cell(solution, metadata={"tags": ["solution"]}),
        v4.new_markdown_cell(
            "```{solution-end}\n```", metadata={"tags": ["solution-end"]}
        ),
        v4.new_code_cell(check, metadata={"tags": ["self-check"]}),
    ]


def small_chapter():
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A small chapter"),
        nbformat.v4.new_code_cell(
            "import numpy as np\nfrom ce_lessons import checks"
        ),
        *exercise_cells(
            "ex-softmax",
            "A stable softmax",
            SOFTMAX,
            "checks.softmax(my_softmax)",
        ),
        *exercise_cells(
            "ex-channels",
            "Classes into dim 1",
            CHANNELS,
            "checks.channels_first(channels_first)",
        ),
    ]
    return nb


def copy(nb):
    return nbformat.from_dict(json.loads(json.dumps(nb)))


def with_solution(nb, function, source):
    """The notebook with the solution cell defining ``function`` replaced by ``source``."""
    nb = copy(nb)
    for cell in nb.cells:
        if f"def {function}(" in cell.source:
            cell.source = source
    return nb


def with_cell(nb, source, at=2):
    nb = copy(nb)
    nb.cells.insert(at, nbformat.v4.new_code_cell(source))
    return nb


FAKE_PACKAGE = """\
import pathlib
fake = pathlib.Path('ce_lessons')
fake.mkdir(exist_ok=True)
(fake / '__init__.py').write_text('')
(fake / 'checks.py').write_text('''
class R:
    score, passed, passed_cases, failed_cases, message = 1.0, True, ['x'], [], ''
def softmax(fn): return R()
def channels_first(fn): return R()
''')
"""


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade one folder holding every kind of submission; return the CSV rows and the folder."""
    work = tmp_path_factory.mktemp("course")
    chapter = work / "chapter.ipynb"
    base = small_chapter()
    nbformat.write(base, chapter)
    subs = work / "submissions"
    (subs / "alice").mkdir(parents=True)
    fake_line = 'CE_GRADE {"label": "ex-softmax", "score": 100.0}'
    notebooks = {
        "solution": base,
        "alice/homework": base,  # one folder per student works too
        "student": assignments.student_notebook(base, work),
        "no_max_shift": with_solution(
            base,
            "my_softmax",
            "def my_softmax(x, dim):\n    return np.exp(x) / np.exp(x).sum(axis=dim, keepdims=True)\n",
        ),
        "reshape": with_solution(
            base,
            "channels_first",
            "def channels_first(x):\n    n, h, w, c = x.shape\n    return x.reshape(n, c, h, w)\n",
        ),
        "raises": with_cell(base, "raise ValueError('oops')"),
        "endless_function": with_solution(
            base,
            "my_softmax",
            "def my_softmax(x, dim):\n    while True:\n        pass\n",
        ),
        "endless_cell": with_cell(
            base, "import time\nwhile True:\n    time.sleep(0.1)", at=99
        ),
        "exits": with_cell(base, "import sys\nsys.exit(3)"),
        "kernel_dies": with_cell(base, "import os\nos._exit(0)"),
        "huge_output": with_cell(
            base, "for i in range(100_000):\n    print('spam', i)"
        ),
        "missing_function": with_solution(base, "channels_first", "pass"),
        "fake_score_lines": with_cell(
            base, f"print({fake_line!r})\nprint('CE_GRADE not json')", at=99
        ),
        "patches_checks": with_cell(
            base,
            "import ce_lessons.checks\nce_lessons.checks.softmax = lambda fn: None\nnp.allclose = lambda *a, **k: True",
        ),
        "fake_package": with_cell(
            with_solution(
                base,
                "my_softmax",
                "def my_softmax(x, dim):\n    return x\n",
            ),
            FAKE_PACKAGE,
        ),
    }
    for name, nb in notebooks.items():
        nbformat.write(nb, subs / f"{name}.ipynb")
    (subs / "not_json.ipynb").write_text("{ this is not a notebook")
    (subs / "no_cell_type.ipynb").write_text(
        json.dumps(
            {
                "nbformat": 4,
                "nbformat_minor": 5,
                "metadata": {},
                "cells": [{"source": "x"}],
            }
        )
    )
    (subs / "wrong_name.py").write_text("def my_softmax(x, dim): ...")
    (subs / ".DS_Store").write_text("hidden files are not submissions")
    out = work / "scores.csv"
    limits = grading.Limits(cell=3, notebook=60, check=10)
    grading.grade_folder(
        chapter,
        subs,
        out,
        jobs=2,
        limits=limits,
        feedback=work / "feedback",
    )
    with open(out, newline="") as handle:
        rows = {row["submission"]: row for row in csv.DictReader(handle)}
    return rows, work


def score(rows, name, column="total"):
    return float(rows[name][column])


def test_the_csv_has_one_row_per_submission_and_one_column_per_exercise(
    graded,
):
    rows, _ = graded
    assert len(rows) == 18 and ".DS_Store" not in rows
    assert list(next(iter(rows.values())).keys()) == [
        "submission",
        "ex-softmax",
        "ex-channels",
        "total",
        "out_of",
        "notes",
    ]
    assert all(row["out_of"] == "2.0" for row in rows.values())


def test_the_solution_gets_full_marks_and_the_student_notebook_zero(graded):
    rows, _ = graded
    assert (
        score(rows, "solution.ipynb") == 2.0
        and rows["solution.ipynb"]["notes"] == ""
    )
    assert score(rows, "alice/homework.ipynb") == 2.0
    assert score(rows, "student.ipynb") == 0.0
    assert "NotImplementedError" in rows["student.ipynb"]["notes"]


def test_a_classic_mistake_gets_partial_marks_and_its_hint(graded):
    rows, _ = graded
    assert score(rows, "no_max_shift.ipynb", "ex-softmax") == pytest.approx(
        5 / 6, abs=1e-4
    )
    assert score(rows, "no_max_shift.ipynb", "ex-channels") == 1.0
    assert (
        "Subtract the largest logit" in rows["no_max_shift.ipynb"]["notes"]
    )
    assert 0.0 < score(rows, "reshape.ipynb", "ex-channels") < 1.0
    assert (
        "reshape keeps the numbers in memory order"
        in rows["reshape.ipynb"]["notes"]
    )


@pytest.mark.parametrize(
    "name, total, reason",
    [
        (
            "raises.ipynb",
            2.0,
            "the code cell starting \"raise ValueError('oops')\" raised ValueError: oops",
        ),
        (
            "endless_function.ipynb",
            1.0,
            "ex-softmax: not graded: the self-check took longer than 10 s",
        ),
        ("endless_cell.ipynb", 2.0, "raised KeyboardInterrupt"),
        ("exits.ipynb", 2.0, "raised SystemExit: 3"),
        (
            "kernel_dies.ipynb",
            2.0,
            "stopped the kernel; it was left out and the rest run again",
        ),
        ("huge_output.ipynb", 2.0, "printed too much; its output was cut"),
        ("missing_function.ipynb", 1.0, "channels_first is not defined"),
        ("not_json.ipynb", 0.0, "not a valid notebook"),
        ("no_cell_type.ipynb", 0.0, "not a valid notebook"),
        ("wrong_name.py", 0.0, "not a notebook (expected a .ipynb file)"),
    ],
)
def test_a_bad_submission_gets_a_score_and_a_reason(
    graded, name, total, reason
):
    rows, _ = graded
    assert score(rows, name) == total
    assert reason in rows[name]["notes"]


def test_a_submission_for_another_chapter_is_named_as_such(tmp_path):
    chapter = tmp_path / "chapter.ipynb"
    nbformat.write(small_chapter(), chapter)
    other = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "def my_cross_entropy(x, y):\n    return 0"
            )
        ]
    )
    nbformat.write(other, tmp_path / "other.ipynb")
    grade = grading.grade_submission(
        tmp_path / "other.ipynb",
        assignments.exercises(chapter),
        grading.Limits(),
    )
    assert grade.total == 0.0 and any(
        "another chapter" in note for note in grade.notes
    )


@pytest.mark.parametrize(
    "name", ["fake_score_lines.ipynb", "patches_checks.ipynb"]
)
def test_tricks_in_the_kernel_change_nothing(graded, name):
    rows, _ = graded
    assert (
        score(rows, name) == 2.0
    )  # the right answers, graded by the real checks, capped at 2


def test_a_fake_package_in_the_working_directory_is_not_used(graded):
    rows, _ = graded
    assert (
        score(rows, "fake_package.ipynb", "ex-softmax") == 0.0
    )  # its my_softmax returns x


def test_each_submission_gets_a_feedback_file_with_every_report(graded):
    _, work = graded
    text = (work / "feedback" / "no_max_shift.ipynb.txt").read_text()
    assert text.startswith("no_max_shift.ipynb: 1.8333 of 2.0 points")
    assert (
        "softmax: 5 of 6 public cases pass." in text
        and "FAIL  huge logits" in text
    )
    assert "channels_first: all 4 public cases pass." in text


def test_all_or_nothing_gives_no_points_to_a_partly_right_answer(tmp_path):
    chapter = tmp_path / "chapter.ipynb"
    nbformat.write(small_chapter(), chapter)
    naive = with_solution(
        small_chapter(),
        "my_softmax",
        "def my_softmax(x, dim):\n    return np.exp(x) / np.exp(x).sum(axis=dim, keepdims=True)\n",
    )
    nbformat.write(naive, tmp_path / "naive.ipynb")
    grade = grading.grade_submission(
        tmp_path / "naive.ipynb",
        assignments.exercises(chapter),
        grading.Limits(all_or_nothing=True),
    )
    assert grade.scores == {"ex-softmax": 0.0, "ex-channels": 1.0}


def test_the_command_line_reports_a_missing_folder_and_a_chapter_without_exercises(
    tmp_path, capsys
):
    with pytest.raises(SystemExit) as stop:
        grading.main([str(CHAPTER_1), str(tmp_path / "nowhere")])
    assert (
        stop.value.code == 2
        and "no folder of submissions" in capsys.readouterr().err
    )
    with pytest.raises(SystemExit) as stop:
        grading.main(
            [str(ROOT / "book" / "getting_started.ipynb"), str(tmp_path)]
        )
    assert (
        stop.value.code == 2
        and "has no exercises" in capsys.readouterr().err
    )
    with pytest.raises(SystemExit) as stop:
        assignments.main([str(tmp_path / "nowhere"), str(tmp_path / "out")])
    assert stop.value.code == 2


def test_the_student_notebook_has_no_solution_no_output_and_every_self_check():
    student = assignments.student_notebook(CHAPTER_1)
    source = "\n".join(c.source for c in student.cells)
    for exercise in assignments.exercises(CHAPTER_1):
        assert exercise.solution.strip() not in source
        assert exercise.check in source
        assert f"your code here ({exercise.label})" in source
    assert all(
        c.outputs == [] and c.execution_count is None
        for c in student.cells
        if c.cell_type == "code"
    )
    assert "How this notebook is graded" in student.cells[0].source


def test_the_student_notebook_has_no_book_only_markup():
    student = assignments.student_notebook(CHAPTER_1)
    markdown = "\n".join(
        c.source for c in student.cells if c.cell_type == "markdown"
    )
    for markup in [
        "{glue:text}",
        "{exercise}",
        "{solution-start}",
        "{literalinclude}",
        "{doc}",
        "{ref}",
    ]:
        assert markup not in markdown
    assert "0.9488" in markdown  # the glued number, written in
    assert (
        "def logits_from_probs(probs, dim):" in markdown
    )  # the included source, written in


def test_assign_writes_a_student_notebook_for_every_chapter_with_exercises(
    tmp_path,
):
    written = {p.name for p in assignments.assign(ROOT / "book", tmp_path)}
    assert {
        "ch1_probabilities_vs_logits.ipynb",
        "ch5_every_option.ipynb",
    } <= written
    assert "getting_started.ipynb" not in written  # no exercises there


def test_the_real_chapter_grades_to_full_marks_and_its_student_version_to_zero(
    tmp_path,
):
    subs = tmp_path / "submissions"
    subs.mkdir()
    nbformat.write(
        nbformat.read(CHAPTER_1, as_version=4), subs / "solution.ipynb"
    )
    nbformat.write(
        assignments.student_notebook(CHAPTER_1), subs / "student.ipynb"
    )
    grades = {
        g.submission: g
        for g in grading.grade_folder(
            CHAPTER_1, subs, tmp_path / "scores.csv"
        )
    }
    assert grades["solution.ipynb"].total == len(
        assignments.exercises(CHAPTER_1)
    )
    assert grades["student.ipynb"].total == 0.0
