"""Notebooks for the grading tests: a small numpy-only chapter, ways to
change its answers, and what grading leaves (the CSV's rows, processes)."""

import csv
import json
from pathlib import Path

import nbformat

from ce_lessons.coursework import grading, sandbox

SOFTMAX = (
    "def my_softmax(x, dim):\n"
    "    e = np.exp(x - x.max(axis=dim, keepdims=True))\n"
    "    return e / e.sum(axis=dim, keepdims=True)\n"
)
CHANNELS = "def channels_first(x):\n    return np.moveaxis(x, -1, 1)\n"
NO_MAX_SHIFT = (
    "def my_softmax(x, dim):\n"
    "    return np.exp(x) / np.exp(x).sum(axis=dim, keepdims=True)\n"
)
LIMITS = grading.Limits(cell=4, notebook=40, check=10)


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


def small_chapter(written_answer=True):
    """A chapter with two coded exercises, numpy only (its kernels start
    fast), and an exercise with a written answer unless told not to."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A small chapter"),
        nbformat.v4.new_code_cell(
            "import numpy as np\nimport ce_lessons as ce\n"
            "from ce_lessons import checks"
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
    if written_answer:
        nb.cells += [
            nbformat.v4.new_markdown_cell(
                "```{exercise} Why the max shift\n:label: ex-why\n\n"
                "Explain.\n```",
                metadata={"tags": ["exercise"]},
            ),
            nbformat.v4.new_markdown_cell(
                "Because exp overflows.",
                metadata={"tags": ["written-answer"]},
                id="why-answer",
            ),
        ]
    return nb


def copy(nb):
    return nbformat.from_dict(json.loads(json.dumps(nb)))


def with_solution(nb, function, source):
    """The notebook with the solution cell defining ``function`` replaced by ``source``."""
    nb = copy(nb)
    for cell in nb.cells:
        if f"def {function}(" in cell.source and cell.cell_type == "code":
            cell.source = source
    return nb


def with_cell(nb, source, at=2):
    nb = copy(nb)
    nb.cells.insert(at, nbformat.v4.new_code_cell(source))
    return nb


def with_answer(nb, text):
    nb = copy(nb)
    for cell in nb.cells:
        if "written-answer" in cell.metadata.get("tags", []):
            cell.source = text
    return nb


def write(folder, notebooks):
    folder.mkdir(parents=True, exist_ok=True)
    for name, nb in notebooks.items():
        target = folder / f"{name}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)


def rows(out):
    with open(out, newline="") as handle:
        return {row["submission"]: row for row in csv.DictReader(handle)}


def total(table, name):
    return float(table[f"{name}.ipynb"]["total"])


def notes(table, name):
    return table[f"{name}.ipynb"]["notes"]


def sandbox_processes():
    """The processes run by this process's sandbox users (other graders
    may be running): none should outlive a grading."""
    ours = {sandbox.sandbox_user(slot) for slot in range(16)}
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid in ours:
                    found.append(entry.name)
            except OSError:
                continue
    return found
