"""The student bundle that ``ce-assign BOOK OUT`` writes: everything a class needs, no solution.

``OUT`` holds:

- the student notebooks (:func:`ce_lessons.coursework.assignments.assign`): solutions replaced by
  stubs, self-checks kept, outputs cleared, plain markdown, a note on how they are graded;
- a wheel of ``ce_lessons`` built from the package's own files only (``pyproject.toml``,
  ``README.md``, ``ce_lessons/``), so the chapters and their solutions cannot end up in it;
- ``requirements.txt``: that wheel plus numpy, torch, matplotlib and JupyterLab, pinned to the
  course's versions;
- ``README.md`` for students: how to install, open and check their work, what to hand back.

The package's self-checks hold the public cases and the classic mistakes, not the solutions. The
package does hold the reference implementations (``ce_lessons.softmax`` …): the grader records
their use and gives no points for it, and each student notebook says so.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .assignments import assign, exercises, grading_note

# What students need besides ce_lessons, pinned like the course's own environment.
STUDENT_PACKAGES = ["numpy", "torch", "matplotlib", "jupyterlab"]

# The files a wheel of ce_lessons is built from: nothing else is copied to the build.
PACKAGE_FILES = ["pyproject.toml", "README.md", "LICENSE"]


def package_root(book=None) -> Path:
    """The folder holding ``pyproject.toml`` and ``ce_lessons/``: the book's parent if it has
    them (a checkout), else where ``ce_lessons`` is installed from."""
    candidates = []
    if book is not None:
        candidates.append(Path(book).resolve().parent)
    candidates.append(Path(__file__).resolve().parents[2])
    for root in candidates:
        if (root / "pyproject.toml").is_file() and (
            root / "ce_lessons" / "__init__.py"
        ).is_file():
            return root
    raise FileNotFoundError(
        "no pyproject.toml next to ce_lessons/ to build the wheel from "
        f"(looked in {', '.join(str(c) for c in candidates)}); run "
        "ce-assign from a checkout of the course"
    )


def _setuptools_builds(root: Path) -> bool:
    """Whether the installed setuptools meets pyproject.toml's build requirement."""
    try:
        installed = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return False
    wanted = re.search(
        r"setuptools\s*>=\s*([\d.]+)", (root / "pyproject.toml").read_text()
    )
    if wanted is None:
        return True

    def version(text):
        return tuple(int(part) for part in re.findall(r"\d+", text)[:3])

    return version(installed) >= version(wanted.group(1))


def build_wheel(out, root=None) -> Path:
    """Build the ``ce_lessons`` wheel into ``out`` from a copy of the package's own files (so
    no chapter, test or build folder can slip in); return its path."""
    root = Path(root) if root else package_root()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ce-wheel-") as work:
        source = Path(work) / "source"
        source.mkdir()
        for name in PACKAGE_FILES:
            if (root / name).is_file():
                shutil.copy2(root / name, source / name)
        shutil.copytree(
            root / "ce_lessons",
            source / "ce_lessons",
            ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc", ".*", "*.egg-info"
            ),
        )
        built = Path(work) / "wheel"
        # With a recent setuptools here, build offline with it; else let pip fetch one.
        offline = (
            ["--no-build-isolation", "--no-index"]
            if _setuptools_builds(root)
            else []
        )
        command = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            *offline,
            "--quiet",
            "-w",
            str(built),
            str(source),
        ]
        run = subprocess.run(
            command, capture_output=True, text=True, check=False
        )
        wheels = sorted(built.glob("ce_lessons-*.whl"))
        if run.returncode != 0 or len(wheels) != 1:
            raise RuntimeError(
                "building the ce_lessons wheel failed (--notebooks-only "
                "writes the notebooks alone):\n"
                + (run.stderr or run.stdout)[-2000:]
            )
        target = out / wheels[0].name
        shutil.copy2(wheels[0], target)
    return target


def wheel_files(wheel) -> list:
    """The names of the files inside a wheel."""
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def _pins(root: Path) -> dict:
    """Pinned versions (lower-case name -> version) from the checkout's requirements and
    constraints files."""
    pins = {}
    for name in ("constraints.txt", "requirements.txt"):
        path = root / name
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            match = re.match(
                r"\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;#]+)", line
            )
            if match:
                pins[match.group(1).lower().replace("_", "-")] = (
                    match.group(2)
                )
    return pins


def pinned(names, root) -> list:
    """``name==version`` for each name: the checkout's pin, else the installed version."""
    pins = _pins(Path(root))
    lines = []
    for name in names:
        key = name.lower().replace("_", "-")
        version = pins.get(key)
        if version is None:
            try:
                version = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                raise RuntimeError(
                    f"no pinned version of {name}: pin it in requirements.txt"
                ) from None
        lines.append(f"{name}=={version}")
    return lines


def coursework_packages(root) -> list:
    """The names of the packages ``ce_lessons[coursework]`` needs (from pyproject.toml)."""
    import tomllib  # Python 3.11+, like the course; imported here, where it is needed

    project = tomllib.loads((Path(root) / "pyproject.toml").read_text())
    extras = project["project"].get("optional-dependencies", {})
    return [
        re.match(r"[A-Za-z0-9_.-]+", spec).group(0)
        for spec in extras.get("coursework", [])
    ]


def requirements_text(wheel_name: str, root) -> str:
    """The students' requirements.txt: the wheel (a path relative to the bundle folder) and the
    pinned packages."""
    return "\n".join(
        [
            "# Install from this folder: python -m pip install -r requirements.txt",
            "# The course's package, built for this class (no chapters, no solutions).",
            f"./{wheel_name}",
            "# Numerics, plots and JupyterLab, pinned to the course's versions.",
            *pinned(STUDENT_PACKAGES, root),
            "",
        ]
    )


STUDENT_README = """\
# {title}: your notebooks

This folder is everything you need for the exercises: one notebook per chapter, the course's
package `ce_lessons` (the wheel `{wheel}`) and the list of what to install.

## Install (once)

You need Python 3.11 or newer. In a terminal, inside this folder:

```bash
python3 -m venv .venv
.venv/bin/python -m pip install -r requirements.txt
```

On Windows, use `.venv\\Scripts\\python` instead of `.venv/bin/python`. On Linux, pip downloads
PyTorch with its GPU libraries (several GB); to get the much smaller CPU build, run
`.venv/bin/python -m pip install torch=={torch} --index-url https://download.pytorch.org/whl/cpu`
first, then the command above.

## Work

```bash
.venv/bin/jupyter lab
```

opens JupyterLab here; open a chapter's notebook ({chapters}). Read it top to bottom and run its
cells. Each exercise gives you a cell that says *Write your code here*: write your function there,
keeping its name, then run the exercise's self-check cell below it (`checks.NAME(your_function)`).

**What the self-checks check.** A self-check runs your function on the exercise's **public cases**
and, when one fails, names the classic mistake it looks like. It does not show a solution, and
passing it is a good sign, not a guarantee: grading also uses **hidden cases** you do not see.

## Hand back

The notebook(s) you worked in (`.ipynb`), as your instructor asks. Before you do, restart the
kernel and run all cells (*Kernel → Restart Kernel and Run All Cells*): the grader runs your
notebook the same way, top to bottom in a fresh kernel.

## How it is graded

{grading}
"""


def student_readme(notebooks, wheel: Path, root, mode=None, note="") -> str:
    """The README.md of the student bundle."""
    torch = pinned(["torch"], root)[0].split("==")[1]
    return STUDENT_README.format(
        title="Cross-Entropy, Under the Hood",
        wheel=wheel.name,
        torch=torch,
        chapters=", ".join(f"`{Path(n).name}`" for n in notebooks),
        grading=grading_note(mode, note).replace(
            "**How this notebook is graded.** ", ""
        ),
    )


def write_bundle(
    book="book", out="dist/student", *, mode=None, note="", wheel=None
):
    """Write the student bundle into ``out``; return the paths written (notebooks first).
    ``wheel``: a ce_lessons wheel already built by :func:`build_wheel` (else one is built)."""
    book, out = Path(book), Path(out)
    if not book.is_dir():
        raise FileNotFoundError(f"no folder of chapters at {book}")
    if not any(exercises(c) for c in book.glob("*.ipynb")):
        return []
    root = package_root(book)
    notebooks = assign(book, out, mode=mode, note=note)
    for old in out.glob("ce_lessons-*.whl"):
        old.unlink()
    if wheel is None:
        wheel = build_wheel(out, root)
    else:
        wheel = Path(shutil.copy2(wheel, out / Path(wheel).name))
    requirements = out / "requirements.txt"
    requirements.write_text(requirements_text(wheel.name, root))
    readme = out / "README.md"
    readme.write_text(student_readme(notebooks, wheel, root, mode, note))
    return [
        *notebooks,
        wheel,
        requirements,
        readme,
        *copy_results(root, out),
    ]


def copy_results(root, out) -> list:
    """The benchmark CSVs the chapters read (chapter 8's table), copied to
    ``out/benchmarks/results/`` where the student notebooks look for them."""
    written = []
    for csv in sorted(
        (Path(root) / "benchmarks" / "results").glob("*.csv")
    ):
        target = out / "benchmarks" / "results" / csv.name
        target.parent.mkdir(parents=True, exist_ok=True)
        written.append(Path(shutil.copy2(csv, target)))
    return written
