"""The book's own invariants: what every chapter notebook must satisfy to be published.

nbval (run by `pytest` over book/) re-executes each notebook and compares its outputs; the build
(`jupyter-book build . -W -n`) renders them. These tests check what neither of those does.
"""

import importlib
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(
    p
    for p in (ROOT / "book").rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)


def code_cells(path):
    return [
        c
        for c in json.loads(path.read_text())["cells"]
        if c["cell_type"] == "code"
    ]


def toc_files():
    return re.findall(
        r"(?:root|file):\s*(\S+)", (ROOT / "_toc.yml").read_text()
    )


def test_there_are_notebooks():
    assert NOTEBOOKS, "book/ holds no notebook"


def test_every_notebook_is_in_the_toc_and_every_toc_entry_exists():
    listed = set(toc_files())
    for path in NOTEBOOKS:
        assert (
            path.relative_to(ROOT).with_suffix("").as_posix() in listed
        ), f"{path.name} is not in _toc.yml"
    for entry in listed:
        assert any(
            (ROOT / entry).with_suffix(s).exists()
            for s in (".md", ".ipynb")
        ), f"_toc.yml lists {entry}, which does not exist"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_executed_in_order_without_errors(path):
    cells = code_cells(path)
    counts = [c["execution_count"] for c in cells if c["source"]]
    assert None not in counts, (
        "a code cell is stored without being run: nbval would not check its output"
    )
    assert counts == list(range(1, len(counts) + 1)), (
        f"cells were not run top to bottom in one session: {counts}"
    )
    errors = [
        o
        for c in cells
        for o in c["outputs"]
        if o["output_type"] == "error"
    ]
    assert not errors, "a stored output is an error"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_imports_ce_lessons_and_checks_it_against_torch(path):
    source = "\n".join("".join(c["source"]) for c in code_cells(path))
    assert "import ce_lessons" in source
    assert "import torch" in source
    assert re.search(r"assert_allclose|assert_equal|assert ", source), (
        "no visible check of ce_lessons against torch"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_output_is_only_ignored_with_a_reason(path):
    for cell in code_cells(path):
        source = "".join(cell["source"])
        if "NBVAL_IGNORE_OUTPUT" in source:
            first = source.splitlines()[0]
            assert re.search(
                r"NBVAL_IGNORE_OUTPUT\s*[-—:(]\s*\w+", first
            ), f"NBVAL_IGNORE_OUTPUT without a reason: {first!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_a_kernelspec_that_runs_after_the_readme_install(path):
    kernelspec = json.loads(path.read_text())["metadata"].get(
        "kernelspec", {}
    )
    assert kernelspec.get("name") == "python3"


def test_nbval_fails_when_a_stored_output_is_edited_by_hand(tmp_path):
    """The strict comparison can fail: change one digit of a stored output and nbval must say so."""
    source = ROOT / "book" / "getting_started.ipynb"
    notebook = json.loads(source.read_text())
    edited = False
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            if output.get("name") == "stdout" and any(
                "0.948831" in line for line in output["text"]
            ):
                output["text"] = [
                    line.replace("0.948831", "0.948832")
                    for line in output["text"]
                ]
                edited = True
    assert edited, (
        "the stdout line this test edits is gone from getting_started.ipynb"
    )
    (tmp_path / "tampered.ipynb").write_text(json.dumps(notebook))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "tampered.ipynb",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout[-2000:]
    assert "0.948832" in result.stdout and "0.948831" in result.stdout


WIDTH = 76  # characters of code that fit the book theme's column without a horizontal scroll bar


def too_wide(text):
    return [line for line in text.splitlines() if len(line) > WIDTH]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_and_its_text_output_fit_the_page_without_scrolling(path):
    for cell in code_cells(path):
        assert not too_wide("".join(cell["source"])), (
            "code line wider than the page"
        )
        for output in cell["outputs"]:
            text = output.get("text") or output.get("data", {}).get(
                "text/plain", ""
            )
            assert not too_wide("".join(text)), (
                "output line wider than the page"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_included_source_exists_and_fits_the_page(path):
    """`literalinclude` with `:pyobject:` shows tested ce_lessons code: it must exist and be readable."""
    cells = json.loads(path.read_text())["cells"]
    markdown = "\n".join(
        "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
    )
    for module, name in re.findall(
        r"literalinclude\}\s*\.\./ce_lessons/(\w+)\.py\s*\n:pyobject:\s*(\w+)",
        markdown,
    ):
        source = inspect.getsource(
            getattr(importlib.import_module(f"ce_lessons.{module}"), name)
        )
        assert not too_wide(source), (
            f"ce_lessons.{module}.{name} has lines wider than the page"
        )


def prose(markdown: str) -> str:
    """Markdown without code, inline code and math: the words a reader reads as claims."""
    for pattern in [r"```.*?```", r"`[^`]*`", r"\$\$.*?\$\$", r"\$[^$]*\$"]:
        markdown = re.sub(pattern, "", markdown, flags=re.S)
    return markdown


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_computed_looking_number_is_typed_into_the_prose(path):
    """Results are glued; a number with three or more decimals typed in the text is a result that
    will drift from the code (inputs such as p = (0.1, 0.7, 0.2) have fewer digits)."""
    cells = json.loads(path.read_text())["cells"]
    for cell in cells:
        if cell["cell_type"] == "markdown":
            typed = re.findall(
                r"(?<![\w.])\d+\.\d{3,}", prose("".join(cell["source"]))
            )
            assert not typed, f"typed numbers {typed}: glue them"


HIDDEN = {"remove-cell", "remove-input", "hide-input", "hide-cell"}
MAX_VISIBLE_LINES = 18  # "about 15": one job per visible cell


def visible(cell) -> bool:
    return not HIDDEN & set(cell.get("metadata", {}).get("tags", []))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_visible_cell_calls_glue(path):
    """Glue is build plumbing: it lives in cells the page does not show (tag `remove-cell`);
    nbval still checks every glued value, since those cells are executed and compared too."""
    for cell in filter(visible, code_cells(path)):
        source = "".join(cell["source"])
        assert "glue(" not in source and "myst_nb" not in source, (
            f"a visible cell calls glue:\n{source[:300]}"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_visible_code_cells_are_short(path):
    """A visible cell does one job and stays short; long set-up goes in a helper."""
    for cell in filter(visible, code_cells(path)):
        lines = [
            line
            for line in "".join(cell["source"]).splitlines()
            if line.strip()
        ]
        assert len(lines) <= MAX_VISIBLE_LINES, (
            f"a visible cell has {len(lines)} lines (at most "
            f"{MAX_VISIBLE_LINES}):\n" + "\n".join(lines[:4])
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_included_ce_lessons_source_shows_code_without_raw_markup(path):
    """A function included from ce_lessons shows its code (`:code-only:`): its docstring's
    reST math would appear as raw `.. math::` markup on the page."""
    cells = json.loads(path.read_text())["cells"]
    markdown = "\n".join(
        "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
    )
    blocks = re.findall(
        r"```\{literalinclude\}.*?```", markdown, flags=re.S
    )
    for block in blocks:
        if ":pyobject:" in block:
            assert ":code-only:" in block, f"no :code-only: in\n{block}"
