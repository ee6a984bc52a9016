"""Grading submitted notebooks: ``ce-grade``.

For each file in the folder of submissions:

1. **Sandbox.** The notebook's code cells run in a fresh bubblewrap sandbox of their own
   (:mod:`~ce_lessons.coursework.sandbox`): read-only system and course environment, a private
   empty working directory and ``/tmp``, no network, its own process tree, limits on memory,
   processes, file size and CPU, and ``--timeout`` for the whole run. Inside, the runner
   (:mod:`~ce_lessons.coursework.runner`) calls the exercise functions on the public and hidden
   cases and sends back only what they returned, as strict JSON, through a capped pipe.
2. **Judge.** Outside, in this process, the chapter's checkers run again and judge those
   outputs (:mod:`~ce_lessons.coursework.judge`): scores, hints, and a zero for an exercise whose
   answer called the course's own function for it.
3. **Journal.** Each result is appended to a journal (JSON lines) the moment it is known, and the
   CSV is rebuilt from it: a crash or Ctrl-C loses nothing; running again resumes (``--regrade``
   grades everything again).

Every file gets a row and a reason, hidden ones included; no CSV cell can start a formula.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import csv
import hashlib
import io
import json
import os
import queue
import re
import stat
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ce_lessons.checks._framework import reference_functions

from . import sandbox
from .assignments import exercises, tags
from .exchange import hidden_key
from .judge import judge_exercise
from .runner import argument_names, checker_name

MAX_NOTEBOOK_BYTES = 20 << 20  # a submission larger than this is not read
MAX_RERUNS = 3  # cells that may be left out because they ended the process
SANDBOX_FAILED = "not graded: the sandbox did not start"
DEFAULT_SEED = "ce-lessons"  # used only when the instructor gives none (with a warning)


@dataclass(frozen=True)
class Limits:
    """Time limits, in seconds, and how an exercise's cases make its score."""

    cell: int = 30  # one cell of the notebook
    notebook: int = (
        300  # the whole submission, checks and children included
    )
    check: int = 60  # one exercise's calls on its cases
    all_or_nothing: bool = False  # full points only when every case passes


@dataclass
class Grade:
    """The grade of one file: points per exercise, the reasons, and the full reports."""

    submission: str
    scores: dict
    notes: list = field(default_factory=list)
    reports: dict = field(default_factory=dict)
    written: dict = field(default_factory=dict)
    student: str = ""
    graded: bool = True
    counts: dict = field(
        default_factory=dict
    )  # label: public passed/total, hidden

    @property
    def total(self) -> float:
        return round(sum(self.scores.values()), 4)


# --- the chapter ----------------------------------------------------------------------------


class ChapterError(ValueError):
    pass


@dataclass
class Chapter:
    """A chapter notebook, as the grader needs it: exercises, solutions, written answers."""

    path: Path
    exercises: list
    cells: list  # the chapter's own code cells, for the reference run
    written: (
        list  # [(cell id, exercise label)] of cells tagged written-answer
    )
    digest: str

    @classmethod
    def load(cls, path) -> Chapter:
        import nbformat

        path = Path(path)
        if not path.is_file():
            raise ChapterError(f"no chapter notebook at {path}")
        data = path.read_bytes()
        try:
            nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        except Exception as error:
            raise ChapterError(
                f"{path} is not a notebook ({type(error).__name__})"
            ) from None
        try:
            found = exercises(nb)
        except Exception as error:
            raise ChapterError(
                f"{path}: its exercise cells cannot be read "
                f"({type(error).__name__}: {error})"
            ) from None
        if not found:
            raise ChapterError(f"{path} has no exercises to grade")
        stubs = [e.label for e in found if not _is_solution(e.solution)]
        if stubs:
            raise ChapterError(
                f"{path} looks like a student notebook, not the chapter: "
                f"exercise {', '.join(stubs)} has no solution. Pass the "
                "chapter itself (book/chN_….ipynb)"
            )
        written, label = [], None
        for cell in nb.cells:
            if "exercise" in tags(cell):
                label = _label(cell.source) or label
            if "written-answer" in tags(cell):
                written.append((cell.get("id"), label or "written"))
        cells = [
            c.source
            for c in nb.cells
            if c.cell_type == "code" and "self-check" not in tags(c)
        ]
        return cls(
            path, found, cells, written, hashlib.sha256(data).hexdigest()
        )

    @property
    def written_labels(self) -> list:
        return list(dict.fromkeys(label for _, label in self.written))


def _label(source):
    for line in source.splitlines():
        if line.strip().startswith(":label:"):
            return line.split(":label:", 1)[1].strip()
    return None


def _is_solution(source: str) -> bool:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    return bool(functions) and "NotImplementedError" not in source


# --- one submission -------------------------------------------------------------------------


def _describe(position, source) -> str:
    first = next(
        (line.strip() for line in source.splitlines() if line.strip()), ""
    )
    return f"cell {position} (starting {first[:40]!r})"


def _is_check_call(node) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Attribute)
        and isinstance(node.value.func.value, ast.Name)
        and node.value.func.value.id == "checks"
    )


def code_cells(nb, notes) -> list:
    """The code cells grading runs, as [{"i", "source"}], with notes on self-check cells."""
    cells = []
    for position, cell in enumerate(nb.get("cells", []), start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(s) for s in source)
        source = original = str(source)
        cell_tags = (cell.get("metadata") or {}).get("tags") or []
        if "self-check" in cell_tags:
            try:
                body = ast.parse(source).body
            except SyntaxError:
                body = None
            if body is not None:
                rest = [n for n in body if not _is_check_call(n)]
                if not rest:
                    continue  # the self-check call only: not run
                source = ast.unparse(ast.Module(body=rest, type_ignores=[]))
                notes.append(
                    f"{_describe(position, original)} is "
                    "tagged self-check but holds other code too: that code "
                    "was run, the check call was left out"
                )
        cells.append({"i": position, "source": source})
    return cells


def _written(nb, chapter) -> dict:
    by_id = {cid: label for cid, label in chapter.written if cid}
    answers, order = {}, iter(chapter.written)
    for cell in nb.get("cells", []):
        if not isinstance(cell, dict):
            continue
        if "written-answer" not in (
            (cell.get("metadata") or {}).get("tags") or []
        ):
            continue
        label = by_id.get(cell.get("id"))
        if label is None:
            label = next(order, (None, "written"))[1]
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(s) for s in source)
        answers[label] = (
            answers.get(label, "") + "\n\n" + str(source)
        ).strip()[:20_000]
    return answers


def _job(cells, chapter, limits, seed) -> dict:
    reserve = min(
        limits.notebook * 0.3, len(chapter.exercises) * limits.check
    )
    return {
        "cells": cells,
        "exercises": [
            {"label": e.label, "check": e.check} for e in chapter.exercises
        ],
        "timeout": limits.notebook,
        "cell_budget": max(1.0, limits.notebook - reserve),
        "cell_timeout": limits.cell,
        "check_timeout": limits.check,
    }


def run_notebook(
    cells, chapter, limits, seed, isolation, slot, notes
) -> dict:
    """Run the cells in sandboxes (again without a cell that ended the process, at most
    MAX_RERUNS times); return the exercise messages by label, and add notes."""
    described = {c["i"]: _describe(c["i"], c["source"]) for c in cells}
    cells = list(cells)
    stalled = False  # a cell that outlived --timeout was left out once
    for attempt in range(MAX_RERUNS + 1):
        mark = len(notes)  # this attempt's notes start here
        run = sandbox.run(
            _job(cells, chapter, limits, seed),
            isolation,
            limits.notebook + 15,
            slot,
            keys={
                e.label: hidden_key(seed, e.label)
                for e in chapter.exercises
            },
        )
        messages = run.messages
        if not any(m.get("m") == "ready" for m in messages):
            why = run.stderr.strip().splitlines()[-1:] or [
                f"exit status {run.returncode}"
            ]
            notes.append(f"{SANDBOX_FAILED} ({why[0][:200]})")
            return {}
        started, ended = None, set()
        for m in messages:
            if m.get("m") == "cell" and isinstance(m.get("i"), int):
                if m.get("e") == "start":
                    started = m["i"]
                else:
                    ended.add(m["i"])
                    _cell_note(m, described, limits, notes)
            elif m.get("m") == "budget" and isinstance(m.get("i"), int):
                notes.append(
                    f"cells from {described.get(m['i'], m['i'])} on were not run: "
                    f"the notebook had used up its share of --timeout "
                    f"({limits.notebook} s); the exercises were checked with "
                    "the functions defined by then"
                )
            elif m.get("m") == "crash":
                notes.append(
                    f"the grader's runner failed: {str(m.get('text'))[:200]}"
                )
        found = _merged(messages)
        done = any(m.get("m") == "done" for m in messages)
        if run.out_of_turn:
            notes.append(
                f"{run.out_of_turn} message(s) reached the grader out of turn "
                "(before the cells had run, or after the hidden cases were "
                "asked for): the submission wrote to the grader's channel "
                "itself; they were not read"
            )
        if run.overflow:
            notes.append(
                "the submission sent more than "
                f"{sandbox.TOTAL_LIMIT >> 20} MB back to the grader, or more "
                f"values than it keeps ({sandbox.NODE_LIMIT:,}); its run was "
                "stopped there"
            )
            return found
        if done:
            return found
        culprit = (
            started
            if started is not None and started not in ended
            else None
        )
        if run.timed_out and culprit is not None and not stalled:
            # a cell stuck where its own time limit cannot stop it (C code,
            # a blocked alarm): once, the notebook runs again without it
            stalled = True
            if attempt < MAX_RERUNS:
                del notes[mark:]
                notes.append(
                    f"{described.get(culprit, culprit)} was still running at "
                    f"--timeout ({limits.notebook} s): its own time limit "
                    "could not stop it (code in C, or a blocked alarm); it "
                    "was left out and the notebook run again"
                )
                cells = [c for c in cells if c["i"] != culprit]
                continue
        if run.timed_out:
            where = (
                f" ({described.get(culprit, culprit)} was running)"
                if culprit
                else ""
            )
            notes.append(
                f"the submission was still running after --timeout "
                f"({limits.notebook} s) and was stopped{where}: a cell that "
                "does not stop when its time is up"
                + (
                    "; exercises checked by then are kept"
                    if found
                    else "; no exercise could be checked"
                )
            )
            return found
        if culprit is None:
            notes.append(
                "the Python process ended while the exercises were being "
                "checked (os._exit, a crash, or a limit); the checks it "
                "finished are kept"
            )
            return found
        if attempt == MAX_RERUNS:
            break
        del notes[mark:]  # the next run's notes replace this one's
        notes.append(
            f"{described.get(culprit, culprit)} ended the Python process (os._exit, a "
            "crash, or a resource limit); it was left out and the notebook "
            "run again"
        )
        cells = [c for c in cells if c["i"] != culprit]
    notes.append("not graded: too many cells ended the Python process")
    return {}


def _listed(value) -> list:
    return list(value) if isinstance(value, list) else []


def _merged(messages) -> dict:
    """label -> one exercise's results: the public cases' message (sent before the hidden
    cases' keys) with the hidden cases' results (sent after them) merged in."""
    found = {}
    for m in messages:
        if m.get("m") == "exercise" and isinstance(m.get("label"), str):
            calls = (
                m.get("calls") if isinstance(m.get("calls"), dict) else {}
            )
            found[m["label"]] = {
                **m,
                "calls": {
                    k: v for k, v in calls.items() if "/p/" in str(k)
                },
            }
    for m in messages:
        entry = found.get(m.get("label"))
        if entry is not None and m.get("m") == "used":
            entry["used"] = _listed(entry.get("used")) + [m.get("name")]
        if entry is None or m.get("m") != "secret":
            continue
        calls = m.get("calls") if isinstance(m.get("calls"), dict) else {}
        entry["calls"].update(
            {k: v for k, v in calls.items() if "/h/" in str(k)}
        )
        entry["used"] = _listed(entry.get("used")) + _listed(m.get("used"))
        for flag in ("tampered", "spawned", "timeout"):
            entry[flag] = entry.get(flag) is True or m.get(flag) is True
    return found


def _cell_note(m, described, limits, notes):
    where = described.get(m["i"], f"cell {m['i']}")
    event = m.get("e")
    if event == "error":
        notes.append(
            f"{where} raised {str(m.get('kind'))[:60]}: {str(m.get('text'))[:200]}"
        )
    elif event == "exit":
        notes.append(
            f"{where} called exit(), quit() or sys.exit(); grading ignored "
            "it and ran the rest of the notebook"
        )
    elif event == "timeout":
        notes.append(
            f"{where} took longer than {limits.cell} s (--cell-timeout) and "
            "was stopped; the rest of the notebook ran"
        )
    elif event == "budget":
        notes.append(
            f"{where} was stopped: the notebook had used up its share of "
            f"--timeout ({limits.notebook} s)"
        )


def reference_outputs(chapter, limits, seed, isolation) -> dict:
    """The chapter's own solutions on the hidden cases (run in a sandbox like a submission)."""
    notes = []
    cells = [{"i": i, "source": s} for i, s in enumerate(chapter.cells, 1)]
    found = run_notebook(cells, chapter, limits, seed, isolation, 15, notes)
    return found


def _cached_reference(journal, chapter, limits, seed, isolation) -> dict:
    """The chapter's reference outputs, kept next to the journal for a resumed run."""
    cache = journal.path.with_suffix(".reference.json")
    try:
        saved = json.loads(cache.read_text(encoding="utf-8"))
        if saved.get("context") == journal.context:
            return saved["outputs"]
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    found = reference_outputs(chapter, limits, seed, isolation)
    if found:
        cache.write_text(
            json.dumps({"context": journal.context, "outputs": found}),
            encoding="utf-8",
        )
    return found


def grade_submission(
    path,
    chapter,
    limits: Limits = Limits(),
    *,
    isolation=sandbox.SANDBOXED,
    seed=DEFAULT_SEED,
    reference=None,
    slot=0,
) -> Grade:
    """Grade one submitted file; never raises: every failure becomes 0 points and a reason."""
    path = Path(path)
    if not isinstance(chapter, Chapter):
        chapter = Chapter.load(chapter)
    grade = Grade(path.name, {e.label: 0.0 for e in chapter.exercises})
    try:
        _grade(
            path, chapter, limits, isolation, seed, reference, slot, grade
        )
    except Exception as error:  # one submission must never stop the others
        grade.notes.append(
            f"not graded: {type(error).__name__}: {str(error)[:150]}"
        )
    return grade


def _read_notebook(path: Path, grade: Grade):
    if path.is_symlink():
        grade.notes.append(
            "not graded: a symbolic link, not a file (links are not followed)"
        )
        return None
    if not stat.S_ISREG(path.lstat().st_mode):
        grade.notes.append(
            "not graded: not a regular file (a pipe, socket or device)"
        )
        return None
    if path.suffix.lower() != ".ipynb":
        grade.notes.append(
            "not graded: not a notebook (expected a .ipynb file)"
        )
        return None
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        grade.notes.append(
            f"not graded: larger than {MAX_NOTEBOOK_BYTES >> 20} MB"
        )
        return None
    try:
        nb = json.loads(path.read_bytes())
        if not isinstance(nb, dict) or not isinstance(
            nb.get("cells"), list
        ):
            raise ValueError("no list of cells")
    except Exception as error:
        grade.notes.append(
            f"not graded: not a valid notebook ({type(error).__name__}: "
            f"{str(error)[:120]})"
        )
        return None
    return nb


def _grade(path, chapter, limits, isolation, seed, reference, slot, grade):
    nb = _read_notebook(path, grade)
    if nb is None:
        grade.graded = False
        return
    grade.written = _written(nb, chapter)
    cells = code_cells(nb, grade.notes)
    found = run_notebook(
        cells, chapter, limits, seed, isolation, slot, grade.notes
    )
    if not found and any(n.startswith("not graded") for n in grade.notes):
        grade.graded = False
        return
    missing_everywhere = True
    for exercise in chapter.exercises:
        message = found.get(exercise.label)
        if not isinstance(message, dict):
            grade.notes.append(
                f"{exercise.label}: not checked (no result of its checks reached "
                "the grader)"
            )
            grade.reports[exercise.label] = "not checked"
            continue
        missing = message.get("missing") or []
        if not missing:
            missing_everywhere = False
        _score(exercise, message, reference, seed, limits, grade)
    if missing_everywhere and chapter.exercises:
        grade.notes.append(
            "none of this chapter's functions is defined: is it a "
            "submission for another chapter?"
        )


def _score(exercise, message, reference, seed, limits, grade):
    label = exercise.label
    ref = (reference or {}).get(label)
    result = judge_exercise(exercise, hidden_key(seed, label), message, ref)
    forbidden = reference_functions(checker_name(exercise.check))
    used = sorted(
        {u for u in (message.get("used") or []) if u in forbidden}
    )
    voided = []
    if used:
        names = ", ".join(f"ce_lessons.{u}" for u in used)
        short = ", ".join(u.rpartition(".")[2] for u in used)
        voided.append(
            f"the answer used the course's own {short} ({names}) instead "
            "of computing it"
        )
    if message.get("tampered") is True:
        voided.append(
            "the answer switched off the grader's record of calls "
            "(sys.setprofile)"
        )
    if message.get("spawned") is True:
        voided.append(
            "the answer started a process (subprocess, multiprocessing or "
            "os.fork) while it was checked: what another process computes "
            "is out of the grader's sight"
        )
    result.reference_used = "; ".join(voided)
    threads = message.get("threads")
    if (
        isinstance(threads, int)
        and not isinstance(threads, bool)
        and threads > 0
    ):
        grade.notes.append(
            f"{label}: {min(threads, 999)} other thread(s) (started by the "
            "notebook or a library it imported) were running while its "
            "answers were checked"
        )
    if message.get("timeout") is True:
        grade.notes.append(
            f"{label}: its functions ran past the {limits.check} s "
            "(--check-timeout) allowed for its cases; the cases not reached "
            "count as failed"
        )
    names = argument_names(exercise.check)
    missing = [n for n in (message.get("missing") or []) if n in names]
    if missing:
        grade.notes.append(f"{label}: {', '.join(missing)} is not defined")
    if message.get("error"):
        grade.notes.append(
            f"{label}: the chapter's check failed: {message['error']}"
        )
    fraction = min(max(float(result.score), 0.0), 1.0)
    if limits.all_or_nothing and fraction < 1.0:
        fraction = 0.0
    grade.scores[label] = round(exercise.points * fraction, 4)
    grade.reports[label] = repr(result)
    if fraction < 1.0:
        total = len(result.passed_cases) + len(result.failed_cases)
        hidden = result.hidden_passed + result.hidden_failed
        summary = f"{len(result.passed_cases)} of {total} public cases pass"
        if hidden:
            summary += f", {result.hidden_passed} of {hidden} hidden"
        if result.reference_used:
            summary = f"0 points: {result.reference_used}"
        elif result.message:
            summary += f". {result.message}"
        grade.notes.append(f"{label}: {summary[:500]}")
    grade.counts[label] = (
        len(result.passed_cases),
        len(result.passed_cases) + len(result.failed_cases),
        result.hidden_passed,
        result.hidden_passed + result.hidden_failed,
    )


# --- the folder, the journal, the CSV -------------------------------------------------------


def submissions(folder) -> list:
    """Every file under ``folder``, hidden ones and links included (each gets a row)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder of submissions at {folder}")
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in files + [d for d in dirs if Path(root, d).is_symlink()]:
            found.append(Path(root, name))
    return sorted(found)


def _is_hidden(relative: str) -> bool:
    return any(part.startswith(".") for part in Path(relative).parts)


def read_roster(path) -> dict:
    """A roster CSV with a ``student`` column and a ``submission`` (file or folder name) column."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "student" not in rows[0]:
        raise ValueError(f"{path}: a roster needs a 'student' column")
    key = next(
        (
            k
            for k in ("submission", "file", "folder", "name")
            if k in rows[0]
        ),
        None,
    )
    if key is None:
        raise ValueError(
            f"{path}: a roster needs a 'submission' column (the file or "
            "folder name) next to 'student'"
        )
    return {str(r[key]).strip(): str(r["student"]).strip() for r in rows}


def student_of(relative: str, roster: dict | None) -> str:
    parts = Path(relative).parts
    name = parts[0] if len(parts) > 1 else Path(relative).stem
    if roster:
        for key in (
            relative,
            parts[0],
            Path(relative).name,
            Path(relative).stem,
        ):
            if key in roster:
                return roster[key]
    return name


NOTES_LIMIT = 30_000  # characters of the CSV's notes cell (a spreadsheet cell holds 32,767)


def printable(text) -> str:
    """``text`` with bytes that are not UTF-8 (a file name from another system) and control
    characters (a terminal's escape sequences) written as backslash escapes."""
    text = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(
        c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text
    )


def csv_notes(notes) -> str:
    """The notes of one row, joined; cut to fit a spreadsheet cell, saying so."""
    joined = " | ".join(" ".join(str(n).split()) for n in notes)
    if len(joined) <= NOTES_LIMIT:
        return joined
    kept, size = [], 0
    for note in notes:
        note = " ".join(str(note).split())
        if size + len(note) + 3 > NOTES_LIMIT - 200:
            break
        kept.append(note)
        size += len(note) + 3
    return " | ".join(
        kept
        + [
            f"... and {len(notes) - len(kept)} more notes (all of them in "
            "the journal and the feedback files)"
        ]
    )


def safe_cell(value) -> object:
    """A CSV cell that no spreadsheet reads as a formula."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = printable(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


class Journal:
    """Results as JSON lines, appended and flushed one by one; the CSV is built from them."""

    def __init__(self, path, chapter, seed, limits):
        self.path = Path(path)
        self.context = hashlib.sha256(
            json.dumps(
                [chapter.digest, str(seed), asdict(limits)], sort_keys=True
            ).encode()
        ).hexdigest()[:16]
        self.lock = threading.Lock()
        self.entries = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut by a crash
                if (
                    isinstance(entry, dict)
                    and entry.get("context") == self.context
                ):
                    self.entries[entry.get("file")] = entry

    def done(self, relative, digest) -> bool:
        """Graded before, from the same file (a sandbox that failed to start is retried)."""
        entry = self.entries.get(relative)
        return (
            bool(entry)
            and entry.get("sha256") == digest
            and not any(SANDBOX_FAILED in n for n in entry.get("notes", []))
        )

    def add(self, relative, digest, grade: Grade):
        entry = {
            "context": self.context,
            "file": relative,
            "sha256": digest,
            "student": grade.student,
            "scores": grade.scores,
            "notes": grade.notes,
            "reports": grade.reports,
            "written": grade.written,
            "graded": grade.graded,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        with self.lock:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            self.entries[relative] = entry

    def grades(self, files) -> list:
        found = []
        for relative in files:
            entry = self.entries.get(relative)
            if entry:
                g = Grade(
                    relative,
                    entry["scores"],
                    entry["notes"],
                    entry["reports"],
                    entry.get("written", {}),
                    entry.get("student", ""),
                    entry.get("graded", True),
                )
                found.append(g)
        return found


def file_digest(path: Path) -> str:
    if path.is_symlink():
        return "link:" + os.readlink(path)
    mode = path.lstat().st_mode
    if not stat.S_ISREG(mode):  # a pipe would block a read for ever
        return f"special:{stat.S_IFMT(mode)}"
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_CSV_LOCK = threading.Lock()


def write_csv(grades, chapter, out) -> None:
    """The scores, one row per file, written to a temporary file and moved into place."""
    labels = [e.label for e in chapter.exercises]
    maximum = sum(e.points for e in chapter.exercises)
    manual = [f"{label} (manual)" for label in chapter.written_labels]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "student",
            "submission",
            *labels,
            "total",
            "out_of",
            *manual,
            "notes",
        ]
    )
    for g in grades:
        notes = csv_notes(g.notes)
        row = [
            g.student,
            g.submission,
            *(g.scores.get(k, 0.0) for k in labels),
            g.total,
            maximum,
            *([""] * len(manual)),
            notes,
        ]
        writer.writerow([safe_cell(v) for v in row])
    with _CSV_LOCK:
        tmp = Path(f"{out}.{os.getpid()}.tmp")
        tmp.write_text(
            buffer.getvalue(), encoding="utf-8", errors="replace"
        )
        os.replace(tmp, out)


def write_feedback(grades, chapter, folder) -> None:
    maximum = sum(e.points for e in chapter.exercises)
    for grade in grades:
        target = Path(folder) / f"{grade.submission}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        parts = [
            f"{grade.submission}: {grade.total} of {maximum} points",
            *grade.notes,
        ]
        parts += [f"--- {k}\n{v}" for k, v in grade.reports.items()]
        target.write_text(
            "\n\n".join(parts) + "\n", encoding="utf-8", errors="replace"
        )


_TAG = re.compile(r"<(?=[A-Za-z/!?])")
_RULE = re.compile(r"^\s{0,3}([-=*_]\s*){3,}$")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")


def quoted_answer(text: str) -> str:
    """A student's written answer, safe to put between the grader's own headings: its
    headings, rules and HTML are shown as text, and a code block it leaves open is closed,
    so that no answer can pose as another student's or hide the ones after it."""
    lines, fences = [], []
    for line in str(text).splitlines():
        fence = _FENCE.match(line)
        if fence:
            mark = fence.group(1)[0]
            if fences and fences[-1] == mark:
                fences.pop()
            elif not fences:
                fences.append(mark)
        elif not fences:
            if line.lstrip()[:1] == "#" or _RULE.match(line):
                line = "\\" + line.lstrip()
            line = _TAG.sub("&lt;", line)
        lines.append(line)
    lines += [fence * 3 for fence in reversed(fences)]
    return "\n".join(lines)


def write_written(grades, chapter, folder) -> list:
    """One markdown file per written-answer exercise, every student's answer in it."""
    labels = list(
        dict.fromkeys(
            chapter.written_labels + [k for g in grades for k in g.written]
        )
    )
    written = []
    for label in labels:
        lines = [f"# Written answers: {label}", ""]
        lines.append(
            f"Score each answer in the CSV column `{label} (manual)`.\n"
        )
        for g in grades:
            if not g.graded:
                continue
            answer = quoted_answer(g.written.get(label, "").strip())
            who = _TAG.sub(
                "&lt;", printable(f"{g.student} ({g.submission})")
            )
            lines += [
                f"## {who}",
                "",
                answer or "*(no answer)*",
                "",
                "---",
                "",
            ]
        target = Path(folder) / f"{label}.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            "\n".join(lines), encoding="utf-8", errors="replace"
        )
        written.append(target)
    return written


def grade_folder(
    chapter,
    folder,
    out="scores.csv",
    jobs=2,
    limits: Limits = Limits(),
    feedback=None,
    *,
    isolation=sandbox.SANDBOXED,
    seed=DEFAULT_SEED,
    regrade=False,
    roster=None,
    journal=None,
    written=None,
    progress=None,
) -> list:
    """Grade every file under ``folder`` against ``chapter``; journal each result as it comes,
    write the CSV (and feedback, written answers); return the grades, in file order."""
    chapter = (
        chapter if isinstance(chapter, Chapter) else Chapter.load(chapter)
    )
    folder = Path(folder)
    roster = read_roster(roster) if roster else None
    files = submissions(folder)
    relatives = [p.relative_to(folder).as_posix() for p in files]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    if journal:
        Path(journal).parent.mkdir(parents=True, exist_ok=True)
    journal = Journal(
        journal or Path(out).with_suffix(".journal.jsonl"),
        chapter,
        seed,
        limits,
    )
    if regrade:
        journal.entries = {}
    digests = {r: file_digest(p) for r, p in zip(relatives, files)}
    todo = [
        (r, p)
        for r, p in zip(relatives, files)
        if not journal.done(r, digests[r])
    ]
    reference = None
    slots = queue.Queue()
    for slot in range(max(1, jobs)):
        slots.put(slot)

    def one(relative, path):
        grade = Grade(relative, {e.label: 0.0 for e in chapter.exercises})
        if _is_hidden(relative):
            grade.notes.append(
                "not graded: a hidden file or folder (its name starts with "
                "'.', like .ipynb_checkpoints or .DS_Store)"
            )
            grade.graded = False
        else:
            slot = slots.get()
            try:
                grade = grade_submission(
                    path,
                    chapter,
                    limits,
                    isolation=isolation,
                    seed=seed,
                    reference=reference,
                    slot=slot,
                )
            finally:
                slots.put(slot)
        grade.submission = relative
        grade.student = student_of(relative, roster)
        listed = roster is None or any(
            k in roster
            for k in (
                relative,
                Path(relative).parts[0],
                Path(relative).stem,
            )
        )
        if not listed:
            grade.notes.append("not in the roster")
        journal.add(relative, digests[relative], grade)
        write_csv(journal.grades(relatives), chapter, out)
        if progress:
            progress(grade)
        return grade

    if any(not _is_hidden(r) for r, _ in todo):
        reference = _cached_reference(
            journal, chapter, limits, seed, isolation
        )
        lacking = [
            e.label for e in chapter.exercises if e.label not in reference
        ]
        if lacking:
            print(
                "ce-grade: the chapter's own run did not check "
                f"{', '.join(lacking)}: those exercises get only the hidden "
                "cases their checker builds itself",
                file=sys.stderr,
            )
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        futures = [pool.submit(one, r, p) for r, p in todo]
        for future in concurrent.futures.as_completed(futures):
            future.result()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        grades = journal.grades(relatives)
        write_csv(grades, chapter, out)
        if feedback:
            write_feedback(grades, chapter, feedback)
        if chapter.written_labels or any(g.written for g in grades):
            write_written(
                grades,
                chapter,
                written or Path(out).with_name(Path(out).stem + "_written"),
            )
    return grades


NO_SANDBOX_RISK = (
    "run submissions WITHOUT the bubblewrap sandbox (macOS, Windows, or a "
    "machine without bwrap). RISK: the students' code then runs with your "
    "rights: it can read and change your files (the chapters with their "
    "solutions, the other submissions, the scores), use the network, and "
    "leave processes behind. Verdicts are still computed outside the "
    "submission's process. Use it only for code you trust, or inside a "
    "throw-away container or VM"
)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="ce-grade",
        description=(
            "Grade submitted notebooks against a chapter, each in its own "
            "bubblewrap sandbox, on public and hidden cases."
        ),
    )
    parser.add_argument(
        "chapter",
        help="the chapter the submissions answer (with its solutions), "
        "e.g. book/ch1_probabilities_vs_logits.ipynb",
    )
    parser.add_argument(
        "submissions", help="folder of submissions (sub-folders too)"
    )
    parser.add_argument(
        "--out",
        default="scores.csv",
        help="the CSV to write (default: scores.csv)",
    )
    parser.add_argument(
        "--journal",
        help="the journal of results (default: the CSV's name with "
        ".journal.jsonl); a re-run resumes from it",
    )
    parser.add_argument(
        "--regrade",
        action="store_true",
        help="grade every submission again, even those in the journal",
    )
    parser.add_argument(
        "--feedback", help="folder for one feedback .txt per submission"
    )
    parser.add_argument(
        "--written",
        help="folder for the written answers, one .md per exercise "
        "(default: the CSV's name with _written)",
    )
    parser.add_argument(
        "--roster",
        help="CSV with columns 'submission' (file or folder name) and "
        "'student': the CSV's student column",
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
        help="seconds for one whole submission, its checks and child "
        "processes included (default: 300)",
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
        help="seconds for one exercise's functions on all its cases (default: 60)",
    )
    parser.add_argument(
        "--memory",
        type=int,
        default=4096,
        help="MB of address space per process (default: 4096)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=64,
        help="processes and threads per submission (default: 64)",
    )
    parser.add_argument(
        "--file-size",
        type=int,
        default=64,
        help="MB of the largest file a submission may write (default: 64)",
    )
    parser.add_argument(
        "--hidden-seed",
        help="the instructor's secret from which the hidden cases are "
        "derived (default: $CE_HIDDEN_SEED); keep it out of the students' reach",
    )
    parser.add_argument(
        "--all-or-nothing",
        action="store_true",
        help="an exercise scores its points only if every case passes",
    )
    parser.add_argument(
        "--no-sandbox", action="store_true", help=NO_SANDBOX_RISK
    )
    args = parser.parse_args(argv)
    limits = Limits(
        args.cell_timeout,
        args.timeout,
        args.check_timeout,
        args.all_or_nothing,
    )
    isolation = sandbox.Isolation(
        "none" if args.no_sandbox else "bwrap",
        args.memory,
        args.processes,
        args.file_size,
    )
    if not args.no_sandbox:
        why = sandbox.missing_bwrap()
        if why:
            parser.exit(
                2,
                f"ce-grade: {why}.\nce-grade runs each submission in a "
                "bubblewrap sandbox and refuses to grade without it. "
                "--no-sandbox grades anyway, with the risks its help "
                "describes (ce-grade --help).\n",
            )
    seed = args.hidden_seed or os.environ.get("CE_HIDDEN_SEED")
    if not seed:
        print(
            "ce-grade: no --hidden-seed (or $CE_HIDDEN_SEED): the hidden "
            "cases come from the default seed, which anyone with the course "
            "can reproduce",
            file=sys.stderr,
        )
        seed = DEFAULT_SEED
    count = [0]

    def progress(grade):
        count[0] += 1
        print(
            f"[{count[0]}] {printable(grade.submission)}: {grade.total}",
            flush=True,
        )

    try:
        grades = grade_folder(
            args.chapter,
            args.submissions,
            args.out,
            args.jobs,
            limits,
            args.feedback,
            isolation=isolation,
            seed=seed,
            regrade=args.regrade,
            roster=args.roster,
            journal=args.journal,
            written=args.written,
            progress=progress,
        )
    except (FileNotFoundError, ValueError) as error:
        parser.exit(2, f"ce-grade: {error}\n")
    except KeyboardInterrupt:
        parser.exit(
            130,
            f"ce-grade: interrupted; {count[0]} result(s) of this run are in "
            "the journal and the CSV: run the same command again to resume\n",
        )
    print(f"graded {len(grades)} file(s) into {args.out}")


if __name__ == "__main__":
    sys.exit(main())
