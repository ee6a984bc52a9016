"""Student notebooks from the chapters: ``ce-assign``.

The chapters are the single source. An exercise in a chapter is a run of tagged cells:

- ``exercise`` (markdown): the ``{exercise}`` statement, with its ``:label:``;
- ``solution-start`` / ``solution-end`` (markdown): the gates that hide the solution on the website;
- ``solution`` (code): the solution, between the gates;
- ``self-check`` (code): the call the learner runs, e.g. ``checks.softmax(my_softmax)``.

``ce-assign`` writes a student notebook per chapter: solutions replaced by stubs that raise
``NotImplementedError``, self-checks kept, outputs cleared, and the book-only markup (glued numbers,
included source, exercise directives, cross-references) turned into plain markdown that any Jupyter
shows. ``ce-grade`` (``ce_lessons.coursework.grading``) grades what students hand back.
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
from dataclasses import dataclass
from pathlib import Path

HOW_IT_IS_GRADED = """\
**How this notebook is graded.** Write your code in the cells that say *Write your code here* and
keep the function names. Run each exercise's self-check as often as you like. For grading, the
notebook is run top to bottom in a fresh kernel, with a time limit per cell, and each function is
checked on the same public cases as its self-check; the score of an exercise is the fraction of its
cases that pass. Leave no `exit()` or endless loop in the notebook."""


@dataclass(frozen=True)
class Exercise:
    """One exercise of a chapter, as its tagged cells describe it."""

    label: str
    title: str
    check: (
        str  # the self-check expression, e.g. "checks.softmax(my_softmax)"
    )
    solution: str
    points: float = 1.0

    @property
    def names(self) -> list:
        return check_names(self.check)


def check_names(expression: str) -> list:
    """The names a self-check takes from the learner's notebook: ["my_softmax"] for
    "checks.softmax(my_softmax)"."""
    call = ast.parse(expression, mode="eval").body
    return sorted(
        {
            n.id
            for n in ast.walk(call)
            if isinstance(n, ast.Name) and n.id != "checks"
        }
    )


def tags(cell) -> list:
    return cell.get("metadata", {}).get("tags", [])


def read(notebook):
    """A notebook given as a path, or already read."""
    import nbformat

    return (
        nbformat.read(str(notebook), as_version=4)
        if isinstance(notebook, (str, Path))
        else notebook
    )


def exercises(chapter) -> list[Exercise]:
    """The exercises of a chapter notebook, in order."""
    found, current = [], None
    for cell in read(chapter).cells:
        cell_tags = tags(cell)
        if "exercise" in cell_tags:
            label = re.search(r":label:\s*(\S+)", cell.source).group(1)
            title = (
                re.search(r"```\{exercise\}\s*(.*)", cell.source)
                .group(1)
                .strip()
            )
            current = {
                "label": label,
                "title": title,
                "points": float(cell.metadata.get("points", 1.0)),
            }
        elif "solution" in cell_tags and current is not None:
            current["solution"] = cell.source
        elif "self-check" in cell_tags and current is not None:
            found.append(
                Exercise(
                    check=cell.source.strip(),
                    solution=current.pop("solution", ""),
                    **current,
                )
            )
            current = None
    return found


def stub(exercise: Exercise) -> str:
    """The solution's functions with their bodies replaced by ``raise NotImplementedError``."""
    lines = [f"# Exercise: {exercise.title}. Write your code here."]
    for node in ast.parse(exercise.solution).body:
        if isinstance(node, ast.FunctionDef):
            lines += [
                "",
                f"def {node.name}({ast.unparse(node.args)}):",
                f'    raise NotImplementedError("{node.name}: your code here ({exercise.label})")',
            ]
    return "\n".join(lines)


def glued_values(nb) -> dict:
    """Every value a chapter glues, as its stored text (``repr`` of a number or a string)."""
    values = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            name = (
                output.get("metadata", {}).get("scrapbook", {}).get("name")
            )
            text = output.get("data", {}).get(
                "application/papermill.record/text/plain"
            )
            if name and text is not None:
                values[name] = text
    return values


def _format_glue(text: str, spec: str) -> str:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return format(value, spec) if spec else str(value)


def _included_source(path: Path, name: str) -> str:
    tree = ast.parse(path.read_text())
    node = next(n for n in tree.body if getattr(n, "name", None) == name)
    return "\n".join(
        path.read_text().splitlines()[node.lineno - 1 : node.end_lineno]
    )


def plain_markdown(source: str, glued: dict, book: Path) -> str:
    """A chapter's markdown with the book-only markup turned into plain markdown."""

    def glue(match):
        return _format_glue(
            glued.get(match.group(1), match.group(0)), match.group(2) or ""
        )

    source = re.sub(r"\{glue:text\}`([^`:]+)(?::([^`]*))?`", glue, source)
    source = re.sub(r"\{(?:doc|ref)\}`([^`]+)`", r"*\1*", source)

    def include(match):
        path = (book / match.group(1)).resolve()
        return f"```python\n{_included_source(path, match.group(2))}\n```"

    source = re.sub(
        r"```\{literalinclude\}\s*(\S+)\s*\n:pyobject:\s*(\w+)\s*\n```",
        include,
        source,
    )
    if "```{exercise}" in source:
        title = (
            re.search(r"```\{exercise\}\s*(.*)", source).group(1).strip()
        )
        body = re.sub(r"```\{exercise\}.*\n", "", source)
        body = (
            re.sub(r":label:.*\n", "", body)
            .rstrip()
            .removesuffix("```")
            .strip()
        )
        source = f"### Exercise: {title}\n\n{body}"
    return source


def student_notebook(chapter, book=None):
    """The student version of a chapter: stubs for solutions, checks kept, no outputs."""
    import nbformat

    nb = copy.deepcopy(read(chapter))
    book = (
        Path(book)
        if book
        else (
            Path(chapter).parent
            if isinstance(chapter, (str, Path))
            else Path("book")
        )
    )
    by_solution = {e.solution: e for e in exercises(nb)}
    glued = glued_values(nb)
    cells = [
        nbformat.v4.new_markdown_cell(
            HOW_IT_IS_GRADED, id="how-it-is-graded"
        )
    ]
    for cell in nb.cells:
        cell_tags = tags(cell)
        if "solution-start" in cell_tags or "solution-end" in cell_tags:
            continue
        if "solution" in cell_tags:
            cell = nbformat.v4.new_code_cell(
                stub(by_solution[cell.source]), id=cell.id
            )
            cell.metadata["tags"] = ["answer"]
        elif cell.cell_type == "markdown":
            cell.source = plain_markdown(cell.source, glued, book)
        elif cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
        cells.append(cell)
    nb.cells = cells
    return nb


def assign(book="book", out="dist/student") -> list:
    """Write the student notebook of every chapter with exercises; return their paths."""
    import nbformat

    book = Path(book)
    if not book.is_dir():
        raise FileNotFoundError(f"no folder of chapters at {book}")
    written = []
    Path(out).mkdir(parents=True, exist_ok=True)
    for chapter in sorted(book.glob("*.ipynb")):
        if exercises(chapter):
            target = Path(out) / chapter.name
            nbformat.write(student_notebook(chapter, book), str(target))
            written.append(target)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="ce-assign",
        description="Write student notebooks: solutions removed, self-checks kept.",
    )
    parser.add_argument(
        "book",
        nargs="?",
        default="book",
        help="folder of chapter notebooks (default: book)",
    )
    parser.add_argument(
        "out",
        nargs="?",
        default="dist/student",
        help="where to write (default: dist/student)",
    )
    args = parser.parse_args(argv)
    try:
        written = assign(args.book, args.out)
    except FileNotFoundError as error:
        parser.exit(2, f"ce-assign: {error}\n")
    if not written:
        parser.exit(
            1, f"ce-assign: no chapter with exercises in {args.book}\n"
        )
    for path in written:
        print(
            f"wrote {path} ({len(exercises(Path(args.book) / path.name))} exercises)"
        )


if __name__ == "__main__":
    sys.exit(main())
