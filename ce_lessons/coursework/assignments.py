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
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ._source import without_docstring

GRADING_MODES = {
    "fractional": (
        "The score of an exercise is the fraction of its cases, public and "
        "hidden, that your functions pass."
    ),
    "all-or-nothing": (
        "An exercise earns its points only when your functions pass every one "
        "of its cases, public and hidden; one failed case gives 0 for that "
        "exercise."
    ),
    None: (
        "Your instructor chooses how cases become points, and the course "
        "supports two ways: *fractional* (an exercise scores the fraction of "
        "its cases, public and hidden, that pass) or *all-or-nothing* (an "
        "exercise earns its points only when every case passes). Ask which "
        "one applies to you."
    ),
}

HOW_IT_IS_GRADED = """\
**How this notebook is graded.** Write your code in the cells that say *Write your code here* and
keep the function names. Each exercise's self-check runs its **public cases only**: run it as often
as you like; passing it is a good sign, not a guarantee. For grading, the notebook is run top to
bottom in a fresh kernel, inside a sandbox (no network, no files but its own, limits on time and
memory), and each exercise's functions are then called on its public cases and on **hidden cases**
that you do not see, so a function that only handles the public inputs loses points. Calling the
`ce_lessons` function that an exercise asks you to write (for example `ce_lessons.softmax` for your
own softmax) earns nothing for that exercise. {mode} Leave no `exit()` or endless loop in the
notebook."""

WRITTEN_ANSWERS = (
    " Exercises that ask for a derivation or an explanation have an answer "
    "cell: write it there; it is read and graded by hand."
)


def grading_note(mode=None, note: str = "", written: bool = False) -> str:
    """The "How this notebook is graded" text for a grading ``mode`` ("fractional",
    "all-or-nothing", or None: say both), with the instructor's ``note`` appended."""
    if mode not in GRADING_MODES:
        raise ValueError(
            f"grading mode must be 'fractional', 'all-or-nothing' or None, "
            f"got {mode!r}"
        )
    text = HOW_IT_IS_GRADED.format(mode=GRADING_MODES[mode])
    if written:
        text += WRITTEN_ANSWERS
    if note.strip():
        text += "\n\n" + note.strip()
    return text


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
            label = re.search(r":label:\s*(\S+)", cell.source)
            title = re.search(r"```\{exercise\}\s*(.*)", cell.source)
            if label is None or title is None:  # a student notebook's
                current = None
                continue
            label, title = label.group(1), title.group(1).strip()
            current = {
                "label": label,
                "title": title,
                "points": float(cell.metadata.get("points", 1.0)),
            }
        elif "solution" in cell_tags and current is not None:
            # an exercise may spread its solution over several cells
            before = current.get("solution")
            current["solution"] = (
                f"{before}\n\n{cell.source}" if before else cell.source
            )
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


IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")


def glued_images(nb) -> dict:
    """Every figure a chapter glues: name -> (MIME type, stored data)."""
    images = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            name = (
                output.get("metadata", {}).get("scrapbook", {}).get("name")
            )
            data = output.get("data", {})
            for mime in IMAGE_TYPES:
                stored = data.get(
                    f"application/papermill.record/{mime}", data.get(mime)
                )
                if name and stored is not None:
                    images[name] = (mime, stored)
                    break
    return images


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


# A sentence (or a clause in parentheses) that sends the reader to a solution the student's
# notebook does not have: the website's hidden solutions.
SOLUTION_POINTER = re.compile(
    r"hidden\s+solutions?|solutions?\s+dropdown|"
    r"(?:open|see|read|compare\s+[\w ]{0,40}?\s*with)\s+the\s+(?:\w+\s+)?"
    r"solutions?\b|"
    r"the\s+(?:\w+\s+)?solutions?\s+(?:below|above)|"
    r"solutions?,?\s+which\s+the\s+(?:course\s+)?(?:website|site|book)\s+shows",
    re.IGNORECASE,
)

# What is left of MyST markup after the conversion: a role, a directive, a target.
RAW_MYST = re.compile(
    r"\{[a-z][\w:.-]*\}`|^\s*(?:```+|:::+)\s*\{[a-z][\w:.-]*\}|^\s*\([\w:.-]+\)=\s*$",
    re.MULTILINE,
)


def _markdown_sources(path: Path) -> list:
    """The markdown of a notebook (its markdown cells) or of a ``.md`` page."""
    try:
        if path.suffix == ".ipynb":
            return [
                c.source
                for c in read(path).cells
                if c.cell_type == "markdown"
            ]
        return [path.read_text()]
    except (OSError, ValueError):
        return []


def _bibliography(root: Path) -> dict:
    """key -> "Author et al. Year" for each entry of the book's ``.bib`` files."""
    cited = {}
    for bib in sorted(root.glob("*.bib")) + sorted(root.glob("*/*.bib")):
        try:
            text = bib.read_text()
        except OSError:
            continue
        for entry in re.split(r"(?m)^@", text)[1:]:
            key = re.match(r"\w+\s*\{\s*([^,\s]+)\s*,", entry)
            if not key:
                continue
            author = re.search(
                r"\bauthor\s*=\s*\{(.*)\},?\s*$", entry, re.M
            )
            year = re.search(r"\byear\s*=\s*\{?(\d{4})", entry)
            names = [
                n.strip().strip("{}")
                for n in re.split(
                    r"\s+and\s+", author.group(1) if author else ""
                )
                if n.strip()
            ]
            last = [
                n.split(",")[0].strip() if "," in n else n.split()[-1]
                for n in names
            ]
            who = (
                f"{last[0]} et al."
                if len(last) > 2
                else " and ".join(last) or key.group(1)
            )
            cited[key.group(1)] = f"{who} {year.group(1)}" if year else who
    return cited


class _Book:
    """What the conversion needs to know about the book around one chapter: its documents'
    titles, its exercises' and sections' labels, its bibliography, and which chapters the
    student bundle holds."""

    def __init__(self, book: Path, bundled=None):
        self.folder = Path(book)
        documents = sorted(self.folder.glob("*.ipynb")) + sorted(
            self.folder.glob("*.md")
        )
        self.paths = {d.stem: d for d in documents}
        self.titles, self.sections = {}, {}  # label -> (heading, path)
        for document in documents:
            sources = _markdown_sources(document)
            for source in sources:
                heading = re.search(r"^#\s+(.+)$", source, re.M)
                if heading and document.stem not in self.titles:
                    self.titles[document.stem] = heading.group(1).strip()
                for label, title in re.findall(
                    r"^\(([\w:.-]+)\)=[ \t]*\n+#+[ \t]+(.+)$", source, re.M
                ):
                    self.sections[label] = (title.strip(), document)
        self.exercises = {}  # label -> (title, chapter path)
        for chapter in self.folder.glob("*.ipynb"):
            try:
                for exercise in exercises(chapter):
                    self.exercises[exercise.label] = (
                        exercise.title,
                        chapter,
                    )
            except (OSError, ValueError, AttributeError):
                continue
        self.citations = _bibliography(self.folder.parent)
        self.citations.update(_bibliography(self.folder))
        self.bundled = (
            {Path(c).name for c in bundled}
            if bundled is not None
            else {chapter.name for _, chapter in self.exercises.values()}
        )

    def link(self, stem: str, text: str = "") -> str:
        """A link to a document of the book: to its notebook if the bundle holds it, else its
        title in italics (it is a page of the website)."""
        stem = Path(stem).stem
        path = self.paths.get(stem)
        text = text or self.titles.get(stem, stem.replace("_", " "))
        if path is not None and path.name in self.bundled:
            return f"[{text}]({path.name})"
        return f"*{text}*"


def _split_role(content: str) -> tuple:
    """``text <target>`` -> ("text", "target"); ``target`` -> ("", "target")."""
    match = re.fullmatch(r"\s*(.*?)\s*<([^<>]+)>\s*", content, re.DOTALL)
    return (match.group(1), match.group(2)) if match else ("", content)


def _roles(
    source: str, glued: dict, book: _Book, figures=None, chapter=""
) -> str:
    """Every MyST role in ``source`` written as plain markdown. ``figures`` says where each
    labelled figure of the ``chapter`` is: label -> "above" or "below"."""
    figures = figures or {}

    def role(match):
        name, content = match.group(1), match.group(2)
        text, target = _split_role(content)
        if name.startswith("glue"):
            key, _, spec = target.partition(":")
            return _format_glue(glued.get(key, key), spec)
        if name == "doc":
            return book.link(target, text)
        if name.startswith("cite"):
            keys = [k.strip() for k in target.split(",") if k.strip()]
            found = "; ".join(book.citations.get(k, k) for k in keys)
            return found if name == "cite:t" else f"({found})"
        if name in ("ref", "numref", "eq"):
            before = match.string[: match.start()]
            if target in book.exercises:
                title, where = book.exercises[target]
                said = re.search(r"(?i)\bexercises?\s*$", before)
                label = text.replace("%s", "").strip() or (
                    f"“{title}”" if said else f"the exercise “{title}”"
                )
                if where.name != chapter:
                    return f"{label} of {book.link(where.stem)}"
                return label
            if target in book.sections:
                title, where = book.sections[target]
                label = text or f"“{title}”"
                if where.name != chapter:
                    return f"{label} in {book.link(where.stem)}"
                return label
            if target in figures:
                kind = "equation" if name == "eq" else "figure"
                return f"the {kind} {figures[target]}"
            return text.replace("%s", "").strip() or target.replace(
                "-", " "
            )
        if name == "math":
            return f"${content}$"
        if name in ("code", "literal", "samp", "file", "kbd"):
            return f"`{content}`"
        if name == "sub":
            return content
        return text or content

    return re.sub(r"\{([a-z][\w:.-]*)\}`([^`]*)`", role, source)


def _directives(
    source: str, glued=None, images=None, attachments=None
) -> str:
    """The MyST directives left in a markdown cell, as plain markdown: math as ``$$``, code as
    a fenced block, a glued figure as an image attached to the cell (added to
    ``attachments``), admonitions as a quoted block with their title."""
    glued, images = glued or {}, images or {}
    attachments = {} if attachments is None else attachments
    fence = re.compile(
        r"^(?P<fence>```+|:::+)\s*\{(?P<name>[a-z][\w:.-]*)\}[ \t]*(?P<arg>[^\n]*)\n"
        r"(?P<body>.*?)^(?P=fence)[ \t]*$",
        re.MULTILINE | re.DOTALL,
    )

    def convert(match):
        name, arg = match.group("name"), match.group("arg").strip()
        options = dict(
            re.findall(r"^:([\w-]+):[ \t]*(.*)$", match.group("body"), re.M)
        )
        body = re.sub(
            r"^:[\w-]+:.*\n?", "", match.group("body"), flags=re.M
        )
        body = body.strip()
        caption = f"\n\n*{body}*" if body else ""
        if name in ("math", "equation"):
            return f"$$\n{body}\n$$"
        if name in ("code", "code-block", "code-cell", "sourcecode"):
            return f"```{arg or 'python'}\n{body}\n```"
        if name.startswith("glue") and arg in images:
            mime, data = images[arg]
            extension = {"image/svg+xml": "svg", "image/jpeg": "jpg"}.get(
                mime, "png"
            )
            attachment = f"{arg}.{extension}"
            attachments[attachment] = {mime: data}
            alt = options.get("alt", body or arg).strip()
            return f"![{alt}](attachment:{attachment}){caption}"
        if name.startswith("glue") and arg in glued:
            return _format_glue(glued[arg], "") + caption
        if name in ("figure", "image"):
            alt = options.get("alt", body or arg).strip()
            return f"![{alt}]({arg}){caption}"
        title = arg or name.capitalize()
        quoted = "\n".join(
            f"> {line}" if line else ">" for line in body.splitlines()
        )
        return f"> **{title}.**\n>\n{quoted}" if body else f"> **{title}.**"

    previous = None
    while previous != source:  # nested directives, outermost last
        previous, source = source, fence.sub(convert, source)
    return source


def drop_solution_pointers(source: str) -> str:
    """``source`` without the sentences (or parenthesized clauses) that send the reader to a
    solution: the student's notebook has none to compare with.

    >>> drop_solution_pointers(
    ...     "Check it (it checks the code; compare it with the hidden solution)."
    ... )
    'Check it (it checks the code).'
    >>> drop_solution_pointers("Try it. Then open the solution below. Next.")
    'Try it. Next.'
    """
    while True:
        match = SOLUTION_POINTER.search(source)
        if match is None:
            return source
        start, end = match.start(), match.end()
        opening = source.rfind("(", 0, start)
        closing = source.find(")", end)
        if (
            opening != -1
            and closing != -1
            and ")" not in source[opening:start]
            and "(" not in source[end:closing]
        ):
            # inside a parenthesis: drop the clause that points, and what follows it
            boundary = max(
                source.rfind(",", opening, start),
                source.rfind(";", opening, start),
            )
            if boundary == -1:
                source = (
                    source[:opening].rstrip(" \n") + source[closing + 1 :]
                )
            else:
                source = source[:boundary] + source[closing:]
            continue
        # otherwise the whole sentence goes
        before = max(
            source.rfind(". ", 0, start),
            source.rfind(".\n", 0, start),
            source.rfind("\n\n", 0, start),
        )
        before = 0 if before == -1 else before + 1
        after = re.compile(r"[.!?](?=\s|$)").search(source, end)
        after = len(source) if after is None else after.end()
        rest = source[after:]
        if before == 0 or source[before - 1] == "\n":
            rest = rest.lstrip(" ")
        source = source[:before] + rest


def plain_markdown(
    source: str,
    glued: dict,
    book,
    figures=None,
    chapter: str = "",
    *,
    images=None,
    attachments=None,
) -> str:
    """A chapter's markdown with the book-only markup turned into plain markdown: glued values
    written in, included source copied, exercise directives as headings, cross-references as
    links or plain words, directives as plain blocks, no pointer to a hidden solution."""
    book = book if isinstance(book, _Book) else _Book(Path(book))

    def include(match):
        path = (book.folder / match.group(1)).resolve()
        options = dict(
            re.findall(r"^:([\w-]+):[ \t]*(.*)$", match.group(2), re.M)
        )
        if "pyobject" in options:
            code = _included_source(path, options["pyobject"].strip())
        else:
            code = path.read_text().rstrip("\n")
        if "code-only" in options:
            code = without_docstring(code)
        return f"```python\n{code}\n```"

    source = re.sub(
        r"^```\{literalinclude\}[ \t]*(\S+)[ \t]*\n((?::[\w-]+:.*\n)*)```",
        include,
        source,
        flags=re.M,
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
    source = re.sub(r"^\s*\([\w:.-]+\)=\s*\n", "", source, flags=re.M)
    source = _directives(source, glued, images, attachments)
    source = _roles(source, glued, book, figures, chapter)
    return drop_solution_pointers(source)


def _labelled_outputs(cells) -> dict:
    """Where each labelled figure (myst-nb ``figure.name`` metadata) of a chapter is, by the
    index of its cell."""
    found = {}
    for index, cell in enumerate(cells):
        figure = (
            cell.get("metadata", {}).get("mystnb", {}).get("figure", {})
        )
        if figure.get("name"):
            found[figure["name"]] = index
    return found


GLUE_IMPORT = re.compile(r"^([ \t]*)from myst_nb import glue[ \t]*$", re.M)
GLUE_STAND_IN = (
    "def glue(name, value, display=True):\n"
    '    """The website writes this value into its text; here: nothing."""'
)


def without_glue(source: str) -> str:
    """A code cell that needs no ``myst_nb``: its ``glue`` import (the book's way to write
    computed numbers into the text, which the student notebook already has written in)
    becomes a stand-in that does nothing, so students need not install the book's tools."""

    def stand_in(match):
        indent = match.group(1)
        return "\n".join(
            indent + line for line in GLUE_STAND_IN.splitlines()
        )

    return GLUE_IMPORT.sub(stand_in, source)


def student_notebook(
    chapter, book=None, *, mode=None, note: str = "", bundled=None
):
    """The student version of a chapter: stubs for solutions, checks kept, no outputs, plain
    markdown (``book``: the folder of chapters, by default the chapter's; ``bundled``: the
    chapters the student has, for links), and a first cell that says how it is graded (``mode``: "fractional",
    "all-or-nothing", or None to say both; ``note``: the instructor's own words)."""
    import nbformat

    nb = copy.deepcopy(read(chapter))
    folder = (
        Path(getattr(book, "folder", book))
        if book
        else (
            Path(chapter).parent
            if isinstance(chapter, (str, Path))
            else Path("book")
        )
    )
    context = book if isinstance(book, _Book) else _Book(folder, bundled)
    name = Path(chapter).name if isinstance(chapter, (str, Path)) else ""
    by_label = {e.label: e for e in exercises(nb)}
    glued, images = glued_values(nb), glued_images(nb)
    figures = _labelled_outputs(nb.cells)
    written = any("written-answer" in tags(c) for c in nb.cells)
    cells = []
    current, stubbed, inside = None, False, False
    for index, cell in enumerate(nb.cells):
        cell_tags = tags(cell)
        if "exercise" in cell_tags:
            label = re.search(r":label:\s*(\S+)", cell.source)
            current = by_label.get(label.group(1)) if label else None
            stubbed = False
        if "solution-start" in cell_tags or "solution-end" in cell_tags:
            inside = "solution-start" in cell_tags
            continue
        if "solution" in cell_tags:
            if current is None or stubbed:  # its stub is already written
                continue
            cell = nbformat.v4.new_code_cell(stub(current), id=cell.id)
            cell.metadata["tags"] = ["answer"]
            stubbed = True
        elif inside:  # whatever else sits between the gates is solution too
            continue
        elif cell.cell_type == "markdown":
            where = {
                label: "below" if at > index else "above"
                for label, at in figures.items()
            }
            attachments = {}
            cell.source = plain_markdown(
                cell.source,
                glued,
                context,
                where,
                name,
                images=images,
                attachments=attachments,
            )
            if attachments:  # glued figures, shown by any Jupyter
                cell["attachments"] = {
                    **cell.get("attachments", {}),
                    **attachments,
                }
        elif cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
            cell.source = without_glue(cell.source)
            if (
                "remove-cell" in cell_tags
            ):  # the book hides it; so does Jupyter
                cell.metadata.setdefault("jupyter", {})["source_hidden"] = (
                    True
                )
        cells.append(cell)
    # How it is graded: right after the title, so the chapter's own first cell stays first
    # (a chapter may read it, e.g. to check a table against what the page computed).
    at = (
        1
        if cells
        and cells[0].cell_type == "markdown"
        and cells[0].source.lstrip().startswith("# ")
        else 0
    )
    cells.insert(
        at,
        nbformat.v4.new_markdown_cell(
            grading_note(mode, note, written), id="how-it-is-graded"
        ),
    )
    nb.cells = cells
    return nb


def assign(
    book="book", out="dist/student", *, mode=None, note: str = ""
) -> list:
    """Write the student notebook of every chapter with exercises; return their paths."""
    import nbformat

    book = Path(book)
    if not book.is_dir():
        raise FileNotFoundError(f"no folder of chapters at {book}")
    chapters = [c for c in sorted(book.glob("*.ipynb")) if exercises(c)]
    context = _Book(book, chapters)  # read once for every chapter
    written = []
    Path(out).mkdir(parents=True, exist_ok=True)
    for chapter in chapters:
        target = Path(out) / chapter.name
        student = student_notebook(chapter, context, mode=mode, note=note)
        nbformat.write(student, str(target))
        written.append(target)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="ce-assign",
        description=(
            "Hand out the course without its solutions. `ce-assign [BOOK] "
            "[OUT]` writes the student bundle (student notebooks, a wheel of "
            "ce_lessons, requirements.txt, README.md); --site builds the "
            "website without solutions; --gradescope writes a Gradescope "
            "autograder zip for one chapter."
        ),
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
        help="where to write the student bundle (default: dist/student)",
    )
    parser.add_argument(
        "--grading",
        choices=["fractional", "all-or-nothing"],
        default=None,
        help=(
            "how cases become points, stated in every student notebook "
            "(and passed to the Gradescope grader); without it the notebooks "
            "describe both and tell students to ask"
        ),
    )
    parser.add_argument(
        "--grading-note",
        default="",
        metavar="TEXT",
        help="your own words, appended to each notebook's grading note",
    )
    parser.add_argument(
        "--notebooks-only",
        action="store_true",
        help="write only the student notebooks (no wheel, no README)",
    )
    parser.add_argument(
        "--site",
        metavar="DIR",
        help=(
            "build the website without solutions into DIR (jupyter-book, "
            "offline) instead of the bundle"
        ),
    )
    parser.add_argument(
        "--gradescope",
        nargs=2,
        metavar=("CHAPTER.ipynb", "ZIP"),
        help="write a Gradescope autograder zip for CHAPTER instead",
    )
    parser.add_argument(
        "--hidden-seed",
        metavar="SEED",
        help=(
            "with --gradescope: the secret the hidden cases come from, as "
            "ce-grade takes it (default: $CE_HIDDEN_SEED, else a new random "
            "one, kept next to the zip)"
        ),
    )
    args = parser.parse_args(argv)
    try:
        if args.site:
            from .website import build_site

            index = build_site(args.book, args.site)
            print(f"built the website without solutions: {index}")
            return 0
        if args.gradescope:
            from .gradescope_zip import seed_kept_for, write_autograder

            chapter, zip_path = args.gradescope
            seed = args.hidden_seed or os.environ.get("CE_HIDDEN_SEED")
            written = write_autograder(
                chapter, zip_path, mode=args.grading, seed=seed
            )
            print(f"wrote {written}")
            if not seed:
                print(
                    f"wrote {seed_kept_for(written)}: the secret seed of the "
                    "hidden cases; grade with the same cases locally with "
                    f'ce-grade --hidden-seed "$(cat {seed_kept_for(written)})"'
                )
            return 0
        if args.notebooks_only:
            written = assign(
                args.book,
                args.out,
                mode=args.grading,
                note=args.grading_note,
            )
        else:
            from .bundle import write_bundle

            written = write_bundle(
                args.book,
                args.out,
                mode=args.grading,
                note=args.grading_note,
            )
    except (FileNotFoundError, ValueError) as error:
        parser.exit(2, f"ce-assign: {error}\n")
    except RuntimeError as error:
        parser.exit(1, f"ce-assign: {error}\n")
    if not written:
        parser.exit(
            1, f"ce-assign: no chapter with exercises in {args.book}\n"
        )
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
