"""`ce-assign` hands out the course without its solutions.

- The student bundle (`ce-assign BOOK OUT`) holds the student notebooks, a wheel of `ce_lessons`
  that holds the package only, pinned requirements and a README for students; no solution line
  of any chapter is in any of its files, the wheel included.
- A student notebook has no raw MyST markup left, no pointer to a solution the student does not
  have, needs no book tool (`myst_nb`), and says how it is graded (the instructor's mode, or both).
- The website without solutions (`ce-assign --site`) has the exercises and no solution code.
- The Gradescope zip (`ce-assign --gradescope`) has Gradescope's layout, and its `run_autograder`,
  run on a folder laid out like `/autograder`, writes a `results.json` per Gradescope's format.
"""

import ast
import html
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from ce_lessons.coursework import (
    assignments,
    bundle,
    gradescope_zip,
    website,
)
from tests.coursework.notebooks import CHANNELS, SOFTMAX, small_chapter

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
CHAPTERS = [
    c for c in sorted(BOOK.glob("*.ipynb")) if assignments.exercises(c)
]


PACKAGE_SOURCE = "\n".join(
    p.read_text() for p in (ROOT / "ce_lessons").rglob("*.py")
)


def solution_lines(chapters):
    """The lines of every solution cell that give something away: not blank, not a comment,
    and shown nowhere else (not in the package's public source, not in a cell of a chapter
    that is not a solution)."""
    public = PACKAGE_SOURCE + "\n".join(
        c.source
        for chapter in chapters
        for c in nbformat.read(chapter, as_version=4).cells
        if "solution" not in assignments.tags(c)
    )
    lines = set()
    for chapter in chapters:
        for exercise in assignments.exercises(chapter):
            for line in exercise.solution.splitlines():
                line = line.strip()
                if (
                    len(line) >= 8
                    and not line.startswith(("#", "def ", '"""'))
                    and line not in public
                ):
                    lines.add(line)
    return lines


def page_text(page: str) -> str:
    """What an HTML page shows: tags removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def leaks(folder, lines) -> dict:
    """Which of ``lines`` appear in which file under ``folder`` (wheels and zips opened)."""
    found = {}
    for path in Path(folder).rglob("*"):
        if not path.is_file():
            continue
        if path.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(path) as archive:
                texts = {
                    f"{path.name}/{n}": archive.read(n).decode(
                        errors="replace"
                    )
                    for n in archive.namelist()
                }
        elif path.suffix == ".html":  # code is highlighted: read the text
            texts = {str(path): page_text(path.read_text())}
        else:
            texts = {str(path): path.read_text(errors="replace")}
        for name, text in texts.items():
            hits = [line for line in lines if line in text]
            if hits:
                found[name] = hits
    return found


# --- the student bundle ------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The ce_lessons wheel, built once for the bundle and the Gradescope zip."""
    return bundle.build_wheel(tmp_path_factory.mktemp("wheel"), ROOT)


@pytest.fixture(scope="module")
def student_bundle(tmp_path_factory, wheel):
    out = tmp_path_factory.mktemp("bundle")
    written = bundle.write_bundle(
        BOOK, out, mode="all-or-nothing", wheel=wheel
    )
    return out, written


def test_the_bundle_holds_notebooks_wheel_requirements_readme_and_data(
    student_bundle,
):
    """Besides the notebooks, the wheel, the requirements and the README, the
    bundle holds the benchmark CSVs a chapter reads (chapter 8's table), where
    the notebooks look for them."""
    out, written = student_bundle
    names = sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()
    )
    results = sorted((ROOT / "benchmarks" / "results").glob("*.csv"))
    assert results, "no benchmark CSV to bundle"
    assert names == sorted(
        [c.name for c in CHAPTERS]
        + [
            "ce_lessons-0.1.0-py3-none-any.whl",
            "requirements.txt",
            "README.md",
        ]
        + [f"benchmarks/results/{r.name}" for r in results]
    )
    assert sorted(p.relative_to(out).as_posix() for p in written) == names


def test_no_solution_line_is_anywhere_in_the_bundle(student_bundle):
    out, _ = student_bundle
    lines = solution_lines(CHAPTERS)
    assert len(lines) >= 2 * len(
        CHAPTERS
    )  # the check has lines to look for
    assert leaks(BOOK, lines)  # and finds them where they are
    assert leaks(out, lines) == {}


def test_the_wheel_holds_the_package_and_nothing_else(student_bundle):
    out, _ = student_bundle
    names = bundle.wheel_files(out / "ce_lessons-0.1.0-py3-none-any.whl")
    assert {"ce_lessons/__init__.py", "ce_lessons/checks/ch1.py"} <= set(
        names
    )
    assert "ce_lessons/coursework/assignments.py" in names
    outside = [
        n
        for n in names
        if not n.startswith(("ce_lessons/", "ce_lessons-0.1.0.dist-info/"))
    ]
    assert outside == []
    assert not [n for n in names if n.endswith((".ipynb", ".md", ".pyc"))]
    assert not [n for n in names if "book/" in n or "tests/" in n]


def test_the_wheel_installs_alone_and_its_self_checks_run(
    student_bundle, tmp_path
):
    out, _ = student_bundle
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(out / "ce_lessons-0.1.0-py3-none-any.whl"),
        ],
        check=True,
    )
    script = (
        "import numpy as np, ce_lessons\n"
        "from ce_lessons import checks\n"
        "def my_softmax(x, dim):\n"
        "    e = np.exp(x - x.max(axis=dim, keepdims=True))\n"
        "    return e / e.sum(axis=dim, keepdims=True)\n"
        "print(ce_lessons.__file__)\n"
        "print(checks.softmax(my_softmax).passed)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        check=True,
    )
    where, passed = run.stdout.split()
    assert Path(where).is_relative_to(target) and passed == "True"


def test_the_requirements_install_the_wheel_and_the_course_pins(
    student_bundle,
):
    out, _ = student_bundle
    lines = [
        line
        for line in (out / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "./ce_lessons-0.1.0-py3-none-any.whl"
    assert (out / lines[0]).is_file()
    pins = dict(line.split("==") for line in lines[1:])
    assert set(pins) == {"numpy", "torch", "matplotlib", "jupyterlab"}
    course = (ROOT / "requirements.txt").read_text()
    for name, version in pins.items():
        assert f"{name}=={version}" in course
    assert "-e" not in " ".join(lines)


def test_the_student_readme_says_how_to_install_work_and_hand_back(
    student_bundle,
):
    out, _ = student_bundle
    readme = (out / "README.md").read_text()
    for needed in [
        "python -m pip install -r requirements.txt",
        "jupyter lab",
        "public cases",
        "hidden cases",
        "## Hand back",
        "Restart Kernel and Run All Cells",
        "ch1_probabilities_vs_logits.ipynb",
        "only when your functions pass every one",  # the mode chosen
    ]:
        assert needed in readme, needed


def test_ce_assign_refuses_a_folder_without_chapters(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        assignments.main([str(tmp_path / "nowhere"), str(tmp_path / "out")])
    assert stop.value.code == 2
    assert "no folder of chapters" in capsys.readouterr().err


# --- the student notebooks ---------------------------------------------------------------


@pytest.fixture(scope="module")
def students():
    return {
        c.name: assignments.student_notebook(c, BOOK, bundled=CHAPTERS)
        for c in CHAPTERS
    }


def markdown(nb) -> str:
    return "\n".join(
        c.source for c in nb.cells if c.cell_type == "markdown"
    )


def test_no_raw_myst_markup_is_left_in_any_student_notebook(students):
    for name, nb in students.items():
        assert assignments.RAW_MYST.findall(markdown(nb)) == [], name


def test_the_raw_myst_check_finds_the_markup_in_the_chapters():
    for chapter in CHAPTERS:
        assert assignments.RAW_MYST.findall(
            markdown(nbformat.read(chapter, as_version=4))
        ), chapter.name


def test_cross_references_become_links_to_the_bundled_notebooks(students):
    links = 0
    for nb in students.values():
        for link in re.findall(r"\]\(([^)]+\.ipynb)\)", markdown(nb)):
            assert (BOOK / link) in CHAPTERS, link
            links += 1
    assert links >= len(CHAPTERS)  # the chapters do link to each other


def test_a_numbered_figure_reference_says_where_the_figure_is(tmp_path):
    nb = small_chapter(written_answer=False)
    figure = nbformat.v4.new_code_cell(
        "plt.plot([1, 2])",
        metadata={
            "mystnb": {"figure": {"name": "fig-line", "caption": "A line."}}
        },
    )
    nb.cells[1:1] = [
        nbformat.v4.new_markdown_cell("As {numref}`fig-line` shows:"),
        figure,
        nbformat.v4.new_markdown_cell(
            "{numref}`Figure %s <fig-line>` again."
        ),
    ]
    student = assignments.student_notebook(nb, BOOK)
    text = markdown(student)
    assert "As the figure below shows:" in text
    assert "the figure above again." in text


def test_no_student_notebook_points_to_a_hidden_solution(students):
    for name, nb in students.items():
        assert not assignments.SOLUTION_POINTER.search(markdown(nb)), name
    pointing = [
        chapter.name
        for chapter in CHAPTERS
        if assignments.SOLUTION_POINTER.search(
            markdown(nbformat.read(chapter, as_version=4))
        )
    ]
    # where a chapter points to its solution (today: ch3's derivation), the
    # rest of the sentence stays
    if "ch3_gradient.ipynb" in pointing:
        assert (
            "`checks.smoothed_grad(smoothed_grad)` (it checks the code"
            in (markdown(students["ch3_gradient.ipynb"]))
        )


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "Check it (it checks the code, so compare your derivation with "
            "the\nhidden solution).",
            "Check it (it checks the code).",
        ),
        (
            "Check it (it checks the code; compare your derivation with the "
            "worked\nsolution, which the course website shows below this "
            "exercise).",
            "Check it (it checks the code).",
        ),
        ("Write it (compare it with the hidden solution).", "Write it."),
        (
            "First. Then open the solution below. Last.",
            "First. Last.",
        ),
        ("Compare with the hidden solution.\n\nNext.", "\n\nNext."),
        ("No solution here: solve it.", "No solution here: solve it."),
    ],
)
def test_a_pointer_to_a_solution_is_dropped_and_the_rest_kept(
    text, expected
):
    assert assignments.drop_solution_pointers(text) == expected


@pytest.mark.parametrize(
    "source, expected",
    [
        ("see {ref}`the table <tab-x>`", "see the table"),
        ("a {term}`logit` is", "a logit is"),
        ("so {math}`p_y` is", "so $p_y$ is"),
        ("```{note}\nBe careful.\n```", "> **Note.**\n>\n> Be careful."),
        (
            ":::{admonition} Why\n:class: tip\nBecause.\n:::",
            "> **Why.**\n>\n> Because.",
        ),
        ("```{math}\n:label: eq-1\nx = 1\n```", "$$\nx = 1\n$$"),
        ("(sec-x)=\n## Title", "## Title"),
        ("{glue:text}`v:.2f` and {glue:text}`w`", "0.50 and a"),
    ],
)
def test_myst_markup_becomes_plain_markdown(source, expected):
    glued = {"v": "0.5", "w": "'a'"}
    assert assignments.plain_markdown(source, glued, BOOK) == expected


def chapter_with_a_spread_solution():
    """A chapter whose solution has two code cells and an untagged markdown cell (a worked
    derivation) between its gates."""
    nb = small_chapter(written_answer=False)
    at = next(
        i
        for i, c in enumerate(nb.cells)
        if "solution" in assignments.tags(c) and "my_softmax" in c.source
    )
    nb.cells.insert(
        at + 1,
        nbformat.v4.new_markdown_cell(
            "Derivation: shift by the max, SECRET."
        ),
    )
    nb.cells.insert(
        at + 2,
        nbformat.v4.new_code_cell(
            "def helper(x):\n    return x - x.max()  # SECRET\n",
            metadata={"tags": ["solution"]},
        ),
    )
    return nb


def test_a_solution_spread_over_cells_is_removed_whole():
    nb = chapter_with_a_spread_solution()
    student = assignments.student_notebook(nb, BOOK)
    text = "\n".join(c.source for c in student.cells)
    assert "SECRET" not in text and "x.max()" not in text
    answers = [c for c in student.cells if "answer" in assignments.tags(c)]
    assert len(answers) == 2  # one stub per exercise
    assert "def my_softmax(x, dim):" in answers[0].source
    assert "def helper(x):" in answers[0].source
    site = website.without_solutions(nb)
    assert "SECRET" not in "\n".join(c.source for c in site.cells)
    assert (
        len(site.cells) == len(nb.cells) - 8
    )  # 2 x (gates + solution), 2 more


def test_a_glued_figure_is_attached_to_the_markdown_that_shows_it():
    nb = small_chapter(written_answer=False)
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
    glue_cell = nbformat.v4.new_code_cell(
        'glue("fig-curve", fig, display=False)',
        metadata={"tags": ["remove-cell"]},
        outputs=[
            nbformat.v4.new_output(
                "display_data",
                data={
                    "application/papermill.record/image/png": png,
                    "application/papermill.record/text/plain": "<Figure>",
                },
                metadata={"scrapbook": {"name": "fig-curve"}},
            )
        ],
    )
    text = nbformat.v4.new_markdown_cell(
        "The curve:\n\n```{glue:figure} fig-curve\n:alt: A falling curve\n"
        ":name: fig-x\n\nThe loss of a logit.\n```"
    )
    nb.cells[2:2] = [glue_cell, text]
    student = assignments.student_notebook(nb, BOOK)
    shown = next(c for c in student.cells if "The curve:" in c.source)
    assert shown.source == (
        "The curve:\n\n![A falling curve](attachment:fig-curve.png)\n\n"
        "*The loss of a logit.*"
    )
    assert shown.attachments == {"fig-curve.png": {"image/png": png}}
    nbformat.validate(student)


def test_sections_exercises_and_citations_become_words(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    (tmp_path / "refs.bib").write_text(
        "@article{lin2017focal,\n  title = {Focal Loss},\n"
        "  author = {Lin, Tsung-Yi and Goyal, Priya and Girshick, Ross},\n"
        "  year = {2017}\n}\n"
    )
    (book / "other.md").write_text("# Other page\n\n(sec-a)=\n## Alpha\n")
    nbformat.write(
        small_chapter(written_answer=False), book / "chapter.ipynb"
    )
    context = assignments._Book(book, [book / "chapter.ipynb"])
    cases = {
        "see {ref}`sec-a`": "see “Alpha” in *Other page*",
        "the focal loss {cite}`lin2017focal`": "the focal loss (Lin et al. 2017)",
        "exercise {ref}`ex-softmax`": "exercise “A stable softmax”",
        "so {ref}`ex-softmax` asks": "so the exercise “A stable softmax” asks",
        "{doc}`chapter` and {doc}`other`": "[A small chapter](chapter.ipynb) "
        "and *Other page*",
    }
    for source, expected in cases.items():
        plain = assignments.plain_markdown(
            source, {}, context, chapter="chapter.ipynb"
        )
        assert plain == expected, source
    from_elsewhere = assignments.plain_markdown(
        "see {ref}`ex-softmax`", {}, context, chapter="other.ipynb"
    )
    assert from_elsewhere == (
        "see the exercise “A stable softmax” of [A small chapter](chapter.ipynb)"
    )


def test_no_student_notebook_needs_the_book_tools(students):
    for name, nb in students.items():
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    modules = [getattr(node, "module", None)] + [
                        a.name for a in node.names
                    ]
                    assert "myst_nb" not in modules, name
            if "remove-cell" in assignments.tags(cell):
                assert cell.metadata["jupyter"]["source_hidden"] is True


def test_the_glue_stand_in_does_nothing():
    namespace = {}
    exec(assignments.without_glue("from myst_nb import glue"), namespace)
    assert namespace["glue"]("x", 1.0, display=False) is None


@pytest.mark.parametrize(
    "mode, says, does_not_say",
    [
        (None, ["*fractional*", "*all-or-nothing*", "Ask which"], []),
        ("fractional", ["the fraction of its cases"], ["all-or-nothing"]),
        (
            "all-or-nothing",
            ["only when your functions pass every one"],
            ["fraction"],
        ),
    ],
)
def test_the_student_notebook_states_the_grading_mode(
    mode, says, does_not_say
):
    nb = assignments.student_notebook(
        BOOK / "ch1_probabilities_vs_logits.ipynb",
        mode=mode,
        note="Due Friday.",
    )
    # right after the chapter's title, which stays the first cell
    assert nb.cells[0].source.startswith("# ")
    assert nb.cells[1].id == "how-it-is-graded"
    first = nb.cells[1].source
    assert first.startswith("**How this notebook is graded.**")
    for text in says + ["public cases only", "hidden cases", "Due Friday."]:
        assert text in first
    for text in does_not_say:
        assert text not in first


def test_a_wrong_grading_mode_is_refused_by_name():
    with pytest.raises(ValueError, match="grading mode .* got 'half'"):
        assignments.grading_note("half")


# --- the website without solutions --------------------------------------------------------

SMALL_CONFIG = """\
title: "A small book"
author: "Tests"
only_build_toc_files: true
execute:
  execute_notebooks: "cache"
html:
  use_download_button: true
launch_buttons:
  notebook_interface: jupyterlab
  binderhub_url: "https://mybinder.org"
sphinx:
  extra_extensions:
    - sphinx_exercise
  config:
    exclude_patterns: [_build]
"""


@pytest.fixture(scope="module")
def small_book(tmp_path_factory):
    root = tmp_path_factory.mktemp("small-book")
    (root / "book").mkdir()
    (root / "_config.yml").write_text(SMALL_CONFIG)
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/chapter\n"
    )
    (root / "book" / "intro.md").write_text(
        "# A small book\n\nOne chapter.\n"
    )
    nb = small_chapter(written_answer=False)
    nb.cells.insert(
        1,
        nbformat.v4.new_markdown_cell(
            "Write both (compare them with the hidden solutions)."
        ),
    )
    nbformat.write(nb, root / "book" / "chapter.ipynb")
    return root


@pytest.fixture(scope="module")
def site(small_book, tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "html"
    index = website.build_site(small_book / "book", out)
    return out, index


def test_the_site_has_the_exercises_and_no_solution(small_book, site):
    out, index = site
    assert index == out / "index.html" and index.is_file()
    page = page_text((out / "book" / "chapter.html").read_text())
    assert "A stable softmax" in page and "Classes into dim 1" in page
    # code on the page is found (the self-checks stay) ...
    assert leaks(out, {"checks.softmax(my_softmax)"})
    lines = {
        line.strip()
        for line in (SOFTMAX + CHANNELS).splitlines()
        if not line.startswith("def ")
    }
    assert leaks(small_book, lines)  # ... the book has the solutions ...
    assert leaks(out, lines) == {}  # ... the site, downloads included, not
    assert "hidden solution" not in page
    assert (out / "_sources" / "book" / "chapter.ipynb").is_file()


def test_the_site_is_built_offline_without_buttons_to_the_public_notebooks(
    small_book, tmp_path
):
    import yaml

    config = tmp_path / "_config.yml"
    config.write_text((small_book / "_config.yml").read_text())
    website._offline_config(config)
    read = yaml.safe_load(config.read_text())
    assert read["execute"]["execute_notebooks"] == "off"  # was "cache"
    assert read["launch_buttons"]["binderhub_url"] == ""
    assert read["html"]["use_repository_button"] is False
    assert read["sphinx"]["extra_extensions"] == ["sphinx_exercise"]


def test_without_solutions_drops_the_solution_cells_of_a_real_chapter():
    chapter = BOOK / "ch3_gradient.ipynb"
    nb = website.without_solutions(chapter)
    all_tags = {t for c in nb.cells for t in assignments.tags(c)}
    assert not all_tags & website.SOLUTION_TAGS
    assert "exercise" in all_tags and "self-check" in all_tags
    assert all(
        c.outputs == []
        for c in nb.cells
        if "self-check" in assignments.tags(c)
    )
    source = "\n".join(c.source for c in nb.cells)
    for exercise in assignments.exercises(chapter):
        assert exercise.solution.strip() not in source


# --- the Gradescope autograder -------------------------------------------------------------


@pytest.fixture(scope="module")
def autograder(small_book, tmp_path_factory, wheel):
    out = tmp_path_factory.mktemp("gradescope")
    zip_path = gradescope_zip.write_autograder(
        small_book / "book" / "chapter.ipynb",
        out / "chapter.zip",
        mode="all-or-nothing",
        book=BOOK,  # the checkout the package comes from
        wheel=wheel,
    )
    return zip_path


def test_the_zip_has_gradescope_layout(autograder):
    with zipfile.ZipFile(autograder) as archive:
        infos = {i.filename: i for i in archive.infolist()}
        names = set(infos)
        assert (
            {  # at the root: Gradescope extracts it into /autograder/source
                "setup.sh",
                "run_autograder",
                "chapter.ipynb",
                "requirements.txt",
                "hidden_seed",
                "ce_lessons-0.1.0-py3-none-any.whl",
            }
            == names
        )
        for script in ["setup.sh", "run_autograder"]:
            mode = infos[script].external_attr >> 16
            assert mode & 0o111 == 0o111, script
            assert archive.read(script).startswith(b"#!/usr/bin/env bash\n")
        setup = archive.read("setup.sh").decode()
        run = archive.read("run_autograder").decode()
        requirements = archive.read("requirements.txt").decode()
        seed = archive.read("hidden_seed").decode()
    assert "apt-get install" in setup and "bubblewrap" in setup
    assert (
        "python3-venv" in setup
        and "pip install -r requirements.txt" in setup
    )
    assert (
        "-m ce_lessons.coursework.gradescope" in run
        and '"$ROOT/source/chapter.ipynb" --root "$ROOT"' in run
        and "--all-or-nothing" in run
        and "${CE_AUTOGRADER_ROOT:-/autograder}" in run
    )
    assert "./ce_lessons-0.1.0-py3-none-any.whl" in requirements
    for name in ["numpy", "torch", *bundle.coursework_packages(ROOT)]:
        assert f"\n{name}==" in requirements, name  # pinned
    assert int(seed) > 2**64  # a fresh random seed ...
    kept = gradescope_zip.seed_kept_for(autograder)
    assert kept.read_text().strip() == seed  # ... kept for the instructor
    assert 'CE_HIDDEN_SEED="$(cat "$ROOT/source/hidden_seed")"' in run


def test_the_zip_refuses_a_seed_of_several_lines(small_book, tmp_path):
    with pytest.raises(
        ValueError, match=r"hidden seed must be one .* 'a\\nb'"
    ):
        gradescope_zip.write_autograder(
            small_book / "book" / "chapter.ipynb",
            tmp_path / "a.zip",
            seed="a\nb",
            book=BOOK,
        )


def test_the_zip_scripts_are_valid_bash(autograder, tmp_path):
    gradescope_zip.unpack(autograder, tmp_path)
    for script in [
        tmp_path / "source" / "setup.sh",
        tmp_path / "run_autograder",
    ]:
        subprocess.run(["bash", "-n", str(script)], check=True)


def test_the_zip_refuses_a_student_notebook_as_chapter(
    small_book, tmp_path
):
    student = tmp_path / "student.ipynb"
    nbformat.write(
        assignments.student_notebook(small_book / "book" / "chapter.ipynb"),
        student,
    )
    with pytest.raises(ValueError, match="a student notebook"):
        gradescope_zip.write_autograder(
            student, tmp_path / "a.zip", book=BOOK
        )


def test_run_autograder_writes_results_json(
    autograder, small_book, tmp_path
):
    # Laid out as Gradescope's /autograder; setup.sh is not run here (it needs root, apt and
    # the network): CE_PYTHON points run_autograder at this checkout's environment instead.
    script = gradescope_zip.unpack(autograder, tmp_path)
    chapter = nbformat.read(
        small_book / "book" / "chapter.ipynb", as_version=4
    )
    for cell in chapter.cells:
        if "def channels_first(" in cell.source:  # right on 1 case in 4
            cell.source = (
                "def channels_first(x):\n"
                "    n, h, w, c = x.shape\n"
                "    return x.reshape(n, c, h, w)\n"
            )
    nbformat.write(chapter, tmp_path / "submission" / "homework.ipynb")
    env = {
        **os.environ,
        "CE_AUTOGRADER_ROOT": str(tmp_path),
        "CE_PYTHON": sys.executable,
    }
    run = subprocess.run(
        [str(script)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads(
        (tmp_path / "results" / "results.json").read_text()
    )
    tests = results["tests"]
    assert all(
        {"score", "max_score", "name", "output"} <= set(t) for t in tests
    )
    assert {t.get("visibility", "visible") for t in tests} == {
        "visible",  # the public cases
        "after_published",  # the hidden ones
    }
    by_name = {}
    for t in tests:
        by_name.setdefault(
            "softmax" if "softmax" in t["name"].lower() else "channels", []
        ).append(t)
    assert sum(t["score"] for t in by_name["softmax"]) == sum(
        t["max_score"] for t in by_name["softmax"]
    )
    # all-or-nothing (from ce-assign --grading): 1 case in 4 right earns 0
    assert sum(t["score"] for t in by_name["channels"]) == 0
    assert any("reshape" in t["output"] for t in by_name["channels"])
    total = results.get("score", sum(t["score"] for t in tests))
    assert total == sum(t["score"] for t in by_name["softmax"])


# --- the command line ----------------------------------------------------------------------


def test_ce_assign_notebooks_only_states_the_chosen_mode(
    small_book, tmp_path
):
    out = tmp_path / "out"
    code = assignments.main(
        [
            str(small_book / "book"),
            str(out),
            "--notebooks-only",
            "--grading",
            "fractional",
            "--grading-note",
            "Due Friday.",
        ]
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["chapter.ipynb"]
    first = nbformat.read(out / "chapter.ipynb", as_version=4).cells[1]
    assert "the fraction of its cases" in first.source
    assert first.source.endswith("Due Friday.")


def test_ce_assign_gradescope_refuses_a_student_notebook(
    small_book, tmp_path, capsys
):
    student = tmp_path / "student.ipynb"
    nbformat.write(
        assignments.student_notebook(small_book / "book" / "chapter.ipynb"),
        student,
    )
    with pytest.raises(SystemExit) as stop:
        assignments.main(
            ["--gradescope", str(student), str(tmp_path / "a.zip")]
        )
    assert stop.value.code == 2
    assert "looks like a student notebook" in capsys.readouterr().err
    assert not (tmp_path / "a.zip").exists()
