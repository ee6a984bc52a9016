"""The website without solutions: ``ce-assign --site DIR``.

The public site shows every exercise's solution (in a dropdown, and in each chapter's notebook
download). For a class, build a copy of the book whose notebooks have no solution: the cells
tagged ``solution-start``, ``solution`` and ``solution-end`` are removed, the self-checks' stored
outputs cleared, and any sentence that sends the reader to a hidden solution dropped. The copy is
built by ``jupyter-book build`` (warnings are errors) with execution off, so nothing is run and
nothing is fetched, and with the launch and repository buttons off: they would lead to the public
notebooks, solutions included. The HTML lands in DIR.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .assignments import drop_solution_pointers, read, tags

SOLUTION_TAGS = {"solution-start", "solution", "solution-end"}

# What is never copied into the build: caches, environments, earlier builds, tests.
NOT_COPIED = shutil.ignore_patterns(
    ".*",
    "_build",
    "dist",
    "build",
    "tests",
    "node_modules",
    "__pycache__",
    "*.egg-info",
    "*.pyc",
)


def without_solutions(notebook):
    """A chapter with its solutions removed (the tagged cells and anything between a
    ``solution-start`` and a ``solution-end`` gate), its self-checks' outputs cleared and no
    pointer to a hidden solution left in its text."""
    nb = copy.deepcopy(read(notebook))
    cells, inside = [], False
    for cell in nb.cells:
        cell_tags = set(tags(cell))
        if "solution-start" in cell_tags:
            inside = True
        if cell_tags & SOLUTION_TAGS or inside:  # all between the gates
            inside = inside and "solution-end" not in cell_tags
            continue
        if "self-check" in cell_tags:
            cell.outputs, cell.execution_count = [], None
        if cell.cell_type == "markdown":
            cell.source = drop_solution_pointers(cell.source)
        cells.append(cell)
    nb.cells = cells
    return nb


def _offline_config(path: Path) -> None:
    """The copy's ``_config.yml`` with execution off and no button that leads to the public
    notebooks."""
    import yaml

    config = yaml.safe_load(path.read_text()) or {}
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    html = config.setdefault("html", {})
    for button in (
        "use_repository_button",
        "use_edit_page_button",
        "use_issues_button",
    ):
        html[button] = False
    launch = config.setdefault("launch_buttons", {})
    for url in (
        "binderhub_url",
        "jupyterhub_url",
        "colab_url",
        "deepnote_url",
    ):
        launch[url] = ""
    launch["thebe"] = False
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def _jupyter_book() -> str:
    beside = Path(sys.executable).parent / "jupyter-book"
    found = str(beside) if beside.exists() else shutil.which("jupyter-book")
    if not found:
        raise RuntimeError(
            "jupyter-book is not installed (pip install -r requirements.txt)"
        )
    return found


def build_site(book="book", out="dist/site", *, timeout=1800) -> Path:
    """Build the website without solutions from the book around ``book`` (the folder of
    chapters; its parent holds ``_config.yml`` and ``_toc.yml``) into ``out``; return the path
    of its ``index.html``."""
    import nbformat

    book = Path(book).resolve()
    root = book.parent
    if not book.is_dir():
        raise FileNotFoundError(f"no folder of chapters at {book}")
    for name in ("_config.yml", "_toc.yml"):
        if not (root / name).is_file():
            raise FileNotFoundError(f"no {name} in {root}")
    out = Path(out).resolve()
    with tempfile.TemporaryDirectory(prefix="ce-site-") as work:
        copy = Path(work) / "book"
        shutil.copytree(root, copy, ignore=NOT_COPIED, symlinks=False)
        for notebook in copy.rglob("*.ipynb"):
            nbformat.write(without_solutions(notebook), str(notebook))
        _offline_config(copy / "_config.yml")
        command = [
            _jupyter_book(),
            "build",
            str(copy),
            "--builder",
            "html",
            "-W",
            "-n",
            "--keep-going",
            "--path-output",
            str(Path(work) / "output"),
        ]
        run = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        html = Path(work) / "output" / "_build" / "html"
        if run.returncode != 0 or not (html / "index.html").exists():
            raise RuntimeError(
                "jupyter-book build of the copy without solutions failed:\n"
                + (run.stdout + run.stderr)[-3000:]
            )
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(html, out)
    return out / "index.html"
