"""Grading, as an instructor relies on it: scores, reasons, the CSV, honest accidents, resuming.

- `ce-grade` gives the chapter itself full marks (public and hidden cases), the student notebook
  zero, a classic mistake partial marks with its hint, and every file in the folder a row and a
  true reason, without one submission changing the grading of another.
- Honest accidents (quit() mid-notebook, a stalled cell, a notebook slower than --timeout, a
  process that ends, huge prints, code in a self-check cell) cost only what they break.
- Results are journaled one by one: a killed run resumes and loses nothing.

Most tests grade a small numpy-only chapter (fast sandboxes); one uses the book's chapter 1.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from ce_lessons.coursework import grading, sandbox

from .notebooks import (
    CHANNELS,
    LIMITS,
    NO_MAX_SHIFT,
    notes,
    rows,
    sandbox_processes,
    small_chapter,
    total,
    with_answer,
    with_cell,
    with_solution,
    write,
)

ROOT = Path(__file__).resolve().parents[2]
CHAPTER_1 = ROOT / "book" / "ch1_probabilities_vs_logits.ipynb"
STUB = 'def {0}(*args):\n    raise NotImplementedError("{0}")\n'

pytestmark = pytest.mark.skipif(
    bool(sandbox.missing_bwrap()), reason="bubblewrap is not usable here"
)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade one folder holding every kind of honest submission; return the rows and folder."""
    work = tmp_path_factory.mktemp("course")
    chapter = work / "chapter.ipynb"
    base = small_chapter()
    nbformat.write(base, chapter)
    subs = work / "submissions"
    self_check = with_solution(base, "channels_first", "pass")
    for cell in self_check.cells:
        if "self-check" in cell.metadata.get("tags", []) and (
            "channels_first" in cell.source
        ):
            cell.source = CHANNELS + "checks.channels_first(channels_first)"
    student = with_solution(
        with_solution(base, "my_softmax", STUB.format("my_softmax")),
        "channels_first",
        STUB.format("channels_first"),
    )
    write(
        subs,
        {
            "solution": with_answer(base, "exp(1000) is inf"),
            "alice/homework": base,
            "student": student,
            "no_max_shift": with_solution(base, "my_softmax", NO_MAX_SHIFT),
            "raises": with_cell(base, "raise ValueError('oops')"),
            "quits_midway": with_cell(base, "quit()", at=3),
            "sys_exit": with_cell(base, "import sys\nsys.exit(3)", at=3),
            "os_exit": with_cell(base, "import os\nos._exit(0)", at=3),
            "stalled_cell": with_cell(
                base, "import time\nwhile True:\n    time.sleep(0.1)", at=99
            ),
            "huge_output": with_cell(
                base, "for i in range(200):\n    print('spam' * 100_000)"
            ),
            "missing_function": with_solution(
                base, "channels_first", "pass"
            ),
            "self_check_code": self_check,
            "=cmd|calc": base,
        },
    )
    (subs / "not_json.ipynb").write_text("{ this is not a notebook")
    (subs / "wrong_name.py").write_text("def my_softmax(x, dim): ...")
    (subs / ".DS_Store").write_text("hidden files get a row too")
    (subs / ".ipynb_checkpoints").mkdir()
    nbformat.write(base, subs / ".ipynb_checkpoints" / "x-checkpoint.ipynb")
    out = work / "scores.csv"
    grading.grade_folder(
        chapter,
        subs,
        out,
        jobs=2,
        limits=LIMITS,
        feedback=work / "feedback",
        seed="test seed",
    )
    return rows(out), work


def test_every_file_gets_a_row_with_a_student_and_a_reason(graded):
    table, work = graded
    files = {
        p.relative_to(work / "submissions").as_posix()
        for p in (work / "submissions").rglob("*")
        if p.is_file()
    }
    escaped = {("'" + f if f[0] in "=+-@" else f) for f in files}
    assert set(table) == escaped
    assert table["alice/homework.ipynb"]["student"] == "alice"
    assert table["solution.ipynb"]["student"] == "solution"
    for name in (".DS_Store", ".ipynb_checkpoints/x-checkpoint.ipynb"):
        assert "not graded: a hidden file or folder" in table[name]["notes"]
    assert "not a notebook" in table["wrong_name.py"]["notes"]
    assert "not a valid notebook" in table["not_json.ipynb"]["notes"]


def test_no_csv_cell_starts_a_formula(graded):
    table, work = graded
    row = table["'=cmd|calc.ipynb"]
    assert row["student"] == "'=cmd|calc" and float(row["total"]) == 2.0
    text = (work / "scores.csv").read_text()
    for line in text.splitlines()[1:]:
        for cell in line.split(","):
            assert cell.strip('"')[:1] not in ("=", "+", "-", "@")


def test_the_solution_gets_full_marks_on_public_and_hidden_cases(graded):
    table, work = graded
    assert (
        total(table, "solution") == 2.0
        and total(table, "alice/homework") == 2.0
    )
    report = (work / "feedback" / "solution.ipynb.txt").read_text()
    assert "all 6 public cases pass" in report
    assert "Hidden cases: 6 of 6 pass" in report


def test_the_student_notebook_scores_zero(graded):
    table, _ = graded
    assert total(table, "student") == 0.0
    assert "raised NotImplementedError" in notes(table, "student")


def test_a_classic_mistake_gets_partial_marks_and_its_hint(graded):
    table, _ = graded
    row = table["no_max_shift.ipynb"]
    assert (
        0 < float(row["ex-softmax"]) < 1 and float(row["ex-channels"]) == 1
    )
    assert "Subtract the largest logit" in row["notes"]


@pytest.mark.parametrize(
    "name, reason",
    [
        ("raises", "raised ValueError: oops"),
        (
            "quits_midway",
            "called exit(), quit() or sys.exit(); grading ignored it",
        ),
        (
            "sys_exit",
            "called exit(), quit() or sys.exit(); grading ignored it",
        ),
        (
            "os_exit",
            "ended the Python process (os._exit, a crash, or a resource limit); it was left out",
        ),
        (
            "stalled_cell",
            "took longer than 4 s (--cell-timeout) and was stopped; the rest",
        ),
        (
            "self_check_code",
            "is tagged self-check but holds other code too",
        ),
    ],
)
def test_an_honest_accident_costs_nothing_and_is_named(
    graded, name, reason
):
    table, _ = graded
    assert total(table, name) == 2.0
    assert reason in notes(table, name)


def test_a_huge_output_is_ignored_and_costs_nothing(graded):
    table, _ = graded
    assert total(table, "huge_output") == 2.0


def test_a_missing_function_scores_zero_for_its_exercise_only(graded):
    table, _ = graded
    row = table["missing_function.ipynb"]
    assert float(row["ex-softmax"]) == 1 and float(row["ex-channels"]) == 0
    assert "channels_first is not defined" in row["notes"]


def test_written_answers_are_collected_per_exercise_with_a_manual_column(
    graded,
):
    table, work = graded
    assert table["solution.ipynb"]["ex-why (manual)"] == ""
    text = (work / "scores_written" / "ex-why.md").read_text()
    assert "## solution (solution.ipynb)\n\nexp(1000) is inf" in text
    assert (
        "## alice (alice/homework.ipynb)\n\nBecause exp overflows." in text
    )


def test_a_notebook_slower_than_the_timeout_is_graded_on_what_it_defined(
    tmp_path,
):
    base = small_chapter()
    nbformat.write(base, tmp_path / "chapter.ipynb")
    slow = with_cell(base, "import time\ntime.sleep(1.5)", at=99)
    for _ in range(5):
        slow = with_cell(slow, "time.sleep(1.5)", at=99)
    write(tmp_path / "subs", {"slow": slow})
    out = tmp_path / "scores.csv"
    grading.grade_folder(
        tmp_path / "chapter.ipynb",
        tmp_path / "subs",
        out,
        limits=grading.Limits(cell=2, notebook=7, check=5),
    )
    table = rows(out)
    assert total(table, "slow") == 2.0
    assert "share of --timeout (7 s)" in notes(table, "slow")


def test_a_student_notebook_passed_as_the_chapter_is_refused_clearly(
    tmp_path,
):
    student = with_solution(
        small_chapter(), "my_softmax", STUB.format("my_softmax")
    )
    nbformat.write(student, tmp_path / "student.ipynb")
    with pytest.raises(
        grading.ChapterError, match="looks like a student notebook"
    ):
        grading.Chapter.load(tmp_path / "student.ipynb")
    with pytest.raises(SystemExit) as stop:
        grading.main([str(tmp_path / "student.ipynb"), str(tmp_path)])
    assert stop.value.code == 2


def test_without_bubblewrap_the_grader_refuses_unless_told(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(
        sandbox, "missing_bwrap", lambda: "bwrap is not installed"
    )
    nbformat.write(small_chapter(), tmp_path / "chapter.ipynb")
    (tmp_path / "subs").mkdir()
    with pytest.raises(SystemExit) as stop:
        grading.main(
            [str(tmp_path / "chapter.ipynb"), str(tmp_path / "subs")]
        )
    assert stop.value.code == 2
    assert "--no-sandbox" in capsys.readouterr().err
    help_text = subprocess.run(
        [sys.executable, "-m", "ce_lessons.coursework.grading", "--help"],
        capture_output=True,
        text=True,
    ).stdout
    assert "RISK" in help_text and "solutions" in help_text


def test_a_roster_names_the_students_in_a_csv_whose_folder_is_made(
    tmp_path,
):
    base = small_chapter()
    nbformat.write(base, tmp_path / "chapter.ipynb")
    write(tmp_path / "subs", {"a123/hw": base, "b456": base})
    (tmp_path / "roster.csv").write_text(
        "submission,student\na123,Ada Lovelace\nb456,@Bob\n"
    )
    out = (
        tmp_path / "results" / "scores.csv"
    )  # a folder that does not exist yet
    grading.grade_folder(
        tmp_path / "chapter.ipynb",
        tmp_path / "subs",
        out,
        limits=LIMITS,
        roster=tmp_path / "roster.csv",
    )
    table = rows(out)
    assert table["a123/hw.ipynb"]["student"] == "Ada Lovelace"
    assert table["b456.ipynb"]["student"] == "'@Bob"


def test_a_killed_run_resumes_and_loses_nothing(tmp_path):
    base = small_chapter()
    nbformat.write(base, tmp_path / "chapter.ipynb")
    names = [f"s{i}" for i in range(3)]
    write(tmp_path / "subs", {n: base for n in names})
    out, journal = (
        tmp_path / "scores.csv",
        tmp_path / "scores.journal.jsonl",
    )
    command = [
        sys.executable,
        "-m",
        "ce_lessons.coursework.grading",
        str(tmp_path / "chapter.ipynb"),
        str(tmp_path / "subs"),
        "--out",
        str(out),
        "--jobs",
        "1",
        "--hidden-seed",
        "x",
    ]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    for line in child.stdout:  # kill it as soon as one result is reported
        if line.startswith("[1]"):
            child.send_signal(signal.SIGKILL)
            break
    child.wait()
    before = journal.read_text().splitlines()
    assert 1 <= len(before) < 3
    assert len(rows(out)) == len(before)  # the CSV holds what was graded
    finished = subprocess.run(command, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    after = journal.read_text().splitlines()
    assert after[: len(before)] == before  # nothing graded twice
    assert len(after) == 3
    assert all(total(rows(out), n) == 2.0 for n in names)
    regraded = subprocess.run(
        command + ["--regrade"], capture_output=True, text=True
    )
    assert (
        regraded.returncode == 0
        and len(journal.read_text().splitlines()) == 6
    )


def test_no_process_or_kernel_file_is_left_behind(graded):
    time.sleep(0.5)
    assert sandbox_processes() == []
    leftovers = list(Path("/tmp").glob("ce-grade-*")) + list(
        Path(os.path.expanduser("~/.local/share/jupyter/runtime")).glob(
            "kernel-*.json"
        )
    )
    assert not [
        p for p in leftovers if p.stat().st_mtime > time.time() - 600
    ]


@pytest.fixture(scope="module")
def chapter_1(tmp_path_factory):
    work = tmp_path_factory.mktemp("chapter1")
    nb = nbformat.read(CHAPTER_1, as_version=4)
    hard_coded = with_solution(
        nb,
        "my_softmax",
        "_known = {}\n"
        "def my_softmax(x, dim):\n"
        "    x = np.asarray(x, dtype=float)\n"
        "    key = (x.tobytes(), dim)\n"
        "    if key not in _known:  # the public cases, as seen in a self-check\n"
        "        e = np.exp(x - x.max(axis=dim, keepdims=True))\n"
        "        _known[key] = e / e.sum(axis=dim, keepdims=True)\n"
        "    return _known[key] if len(_known) <= 6 else np.zeros_like(x)\n",
    )
    write(work / "subs", {"solution": nb, "hard_coded": hard_coded})
    out = work / "scores.csv"
    grading.grade_folder(
        CHAPTER_1,
        work / "subs",
        out,
        jobs=2,
        feedback=work / "feedback",
        seed="term seed",
    )
    return rows(out), work


def test_the_book_chapter_grades_to_full_marks_on_public_and_hidden_cases(
    chapter_1,
):
    table, work = chapter_1
    points = len(grading.Chapter.load(CHAPTER_1).exercises)
    assert total(table, "solution") == points
    assert (
        "Hidden cases: 6 of 6 pass"
        in (work / "feedback" / "solution.ipynb.txt").read_text()
    )


def test_a_function_that_knows_only_the_public_cases_fails_the_hidden_ones(
    chapter_1,
):
    table, _ = chapter_1
    row = table["hard_coded.ipynb"]
    assert float(row["ch1-ex-softmax"]) == pytest.approx(0.5)
    assert "6 of 6 public cases pass, 0 of 6 hidden" in row["notes"]


def test_the_course_environment_is_bound_over_the_private_tmp():
    """A venv under /tmp (CI's throw-away venv) must stay visible in the
    sandbox: its read-only bind comes after the private /tmp, not before."""
    cmd = sandbox._bwrap_prefix(sandbox.SANDBOXED, None)
    tmp = next(
        i
        for i, a in enumerate(cmd)
        if cmd[i : i + 2] == ["--tmpfs", "/tmp"]
    )
    venv = next(
        i
        for i, a in enumerate(cmd)
        if a == "--ro-bind" and cmd[i + 1] == sys.prefix
    )
    assert tmp < venv
