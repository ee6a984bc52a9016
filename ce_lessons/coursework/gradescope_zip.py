"""A Gradescope autograder for one chapter: ``ce-assign --gradescope CHAPTER.ipynb ZIP``.

Gradescope's autograder format (https://gradescope-autograders.readthedocs.io/en/latest/specs/):
a zip with ``setup.sh`` and ``run_autograder`` at its root. Gradescope extracts the zip into
``/autograder/source``, runs ``setup.sh`` once as root on its Ubuntu image and copies
``run_autograder`` to ``/autograder/run_autograder``; then, for each submission, it puts the
student's files in ``/autograder/submission`` and runs ``run_autograder`` from ``/autograder``,
which must write ``/autograder/results/results.json``.

The zip holds, all at its root (so in ``/autograder/source``)::

    setup.sh          apt: python3-venv, bubblewrap; a venv in /opt/ce-lessons with the wheel
    run_autograder    python -m ce_lessons.coursework.gradescope source/CHAPTER --root ROOT
    CHAPTER.ipynb     the chapter, with its solutions (never visible inside the sandbox)
    ce_lessons-….whl  the package, built by ce-assign from its own files
    requirements.txt  the wheel, the grader's packages and the chapter's, pinned
    hidden_seed       the instructor's secret seed of the hidden cases (where the grader reads it)

``run_autograder`` reads ``CE_AUTOGRADER_ROOT`` (default ``/autograder``) and ``CE_PYTHON``
(default the venv's python), so that a test can run it on a temporary folder laid out like
``/autograder`` with the course's own environment (:func:`unpack` lays it out).
"""

from __future__ import annotations

import secrets
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path

from .assignments import exercises, read
from .bundle import (
    build_wheel,
    coursework_packages,
    package_root,
    pinned,
)

VENV = "/opt/ce-lessons"
SEED_FILE = (
    "hidden_seed"  # where gradescope.py reads it: ROOT/source/hidden_seed
)

# What a chapter's code needs when the grader runs a submission (besides ce_lessons).
CHAPTER_PACKAGES = ["numpy", "torch", "matplotlib"]

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, on its Ubuntu image, from /autograder/source.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SOURCE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"

apt-get update
apt-get install -y --no-install-recommends \\
    bubblewrap ca-certificates python3 python3-venv python3-pip

# numpy {numpy} needs Python 3.11 or newer; Ubuntu 22.04 ships 3.10, so add 3.11 there.
PYTHON=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    apt-get install -y --no-install-recommends python3.11 python3.11-venv
    PYTHON=python3.11
fi

"$PYTHON" -m venv {venv}
{venv}/bin/python -m pip install --upgrade pip
# PyTorch's CPU build: the default Linux wheel pulls several GB of CUDA libraries.
{venv}/bin/python -m pip install "torch=={torch}" \\
    --index-url https://download.pytorch.org/whl/cpu
cd "$SOURCE"
{venv}/bin/python -m pip install -r requirements.txt
{venv}/bin/python -c "import ce_lessons.coursework.gradescope"
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this from /autograder for each submission; it writes results/results.json.
# CE_AUTOGRADER_ROOT and CE_PYTHON let a local test run it on a folder laid out the same way.
set -uo pipefail
ROOT="${{CE_AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{CE_PYTHON:-{venv}/bin/python}}"
mkdir -p "$ROOT/results"
# The seed of the hidden cases, as ce-grade takes it (the sandbox clears the environment).
CE_HIDDEN_SEED="$(cat "$ROOT/source/{seed_file}")"
export CE_HIDDEN_SEED
exec "$PYTHON" -m ce_lessons.coursework.gradescope \\
    "$ROOT/source/{chapter}" --root "$ROOT"{options}
"""


def requirements_text(wheel_name: str, root) -> str:
    """The grader's requirements.txt: the wheel, the chapter's packages and the grader's."""
    names = CHAPTER_PACKAGES + [
        n for n in coursework_packages(root) if n not in CHAPTER_PACKAGES
    ]
    return "\n".join(
        [
            "# The grader's environment, installed by setup.sh from this folder.",
            f"./{wheel_name}",
            *pinned(names, root),
            "",
        ]
    )


def new_seed() -> str:
    """A fresh seed for the hidden cases: 128 random bits, as a decimal integer."""
    return str(secrets.randbits(128))


def seed_kept_for(zip_path) -> Path:
    """Where a new seed is kept, next to the zip: ``ZIP_STEM.hidden-seed.txt``."""
    zip_path = Path(zip_path)
    return zip_path.with_name(zip_path.stem + ".hidden-seed.txt")


def write_autograder(
    chapter, zip_path, *, mode=None, seed=None, book=None, wheel=None
) -> Path:
    """Write the Gradescope autograder zip for ``chapter``; return its path. ``mode`` is the
    grading mode ("all-or-nothing" or "fractional", the default); ``seed`` the instructor's
    secret for the hidden cases, as ``ce-grade --hidden-seed`` takes it (without one, a new
    seed is made and kept next to the zip, for ``ce-grade``); ``wheel``: a ce_lessons wheel
    already built by :func:`~ce_lessons.coursework.bundle.build_wheel` (else one is built)."""
    chapter, zip_path = Path(chapter), Path(zip_path)
    if not chapter.is_file():
        raise FileNotFoundError(f"no chapter notebook at {chapter}")
    nb = read(chapter)
    all_tags = {t for c in nb.cells for t in _tags(c)}
    if "solution" not in all_tags and all_tags & {"answer", "self-check"}:
        raise ValueError(
            f"{chapter} looks like a student notebook (no solution cells): "
            "pass the chapter from the book"
        )
    if not exercises(nb):
        raise ValueError(f"{chapter} has no exercises to grade")
    if mode not in (None, "fractional", "all-or-nothing"):
        raise ValueError(
            "grading mode must be 'fractional' or 'all-or-nothing', "
            f"got {mode!r}"
        )
    root = package_root(book or chapter.parent)
    if seed is None:
        seed = new_seed()
        kept = seed_kept_for(zip_path)
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_text(seed + "\n")
    seed = str(seed)
    if not seed.strip() or "\n" in seed.strip():
        raise ValueError(
            f"the hidden seed must be one non-empty line, got {seed!r}"
        )
    options = ""
    if mode == "all-or-nothing":
        options += " \\\n    --all-or-nothing"
    with tempfile.TemporaryDirectory(prefix="ce-gradescope-") as work:
        wheel = Path(wheel) if wheel else build_wheel(Path(work), root)
        numpy, torch = (
            p.split("==")[1] for p in pinned(["numpy", "torch"], root)
        )
        files = {
            "setup.sh": SETUP_SH.format(
                venv=VENV, numpy=numpy, torch=torch
            ),
            "run_autograder": RUN_AUTOGRADER.format(
                venv=VENV,
                chapter=chapter.name,
                options=options,
                seed_file=SEED_FILE,
            ),
            "requirements.txt": requirements_text(wheel.name, root),
            SEED_FILE: seed.strip(),
        }
        zip_path.parent.mkdir(parents=True, exist_ok=True)
        partial = zip_path.with_name(zip_path.name + ".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, text in files.items():
                _add(
                    archive,
                    name,
                    text.encode(),
                    executable=name in _SCRIPTS,
                )
            _add(
                archive,
                chapter.name,
                chapter.read_bytes(),
                executable=False,
            )
            _add(
                archive,
                wheel.name,
                wheel.read_bytes(),
                executable=False,
            )
        shutil.move(partial, zip_path)
    return zip_path


_SCRIPTS = {"setup.sh", "run_autograder"}


def _tags(cell) -> list:
    return cell.get("metadata", {}).get("tags", [])


def _add(archive, name: str, data: bytes, *, executable: bool) -> None:
    """One file in the zip, with Unix permissions (scripts executable)."""
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    mode = 0o755 if executable else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16
    archive.writestr(info, data)


def unpack(zip_path, root) -> Path:
    """Unpack an autograder zip the way Gradescope does: ``ROOT/source/`` holds the zip's
    files, ``ROOT/run_autograder`` is a copy of the script, ``ROOT/submission/`` and
    ``ROOT/results/`` exist. Returns ``ROOT/run_autograder``."""
    root = Path(root)
    source = root / "source"
    source.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            target = source / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(info))
            target.chmod((info.external_attr >> 16) & 0o777 or 0o644)
    (root / "submission").mkdir(exist_ok=True)
    (root / "results").mkdir(exist_ok=True)
    script = root / "run_autograder"
    shutil.copy2(source / "run_autograder", script)
    return script
