"""Hostile submissions: each earns only what its own functions earn, and no victim loses a point.

One class folder holds two innocent victims (sorted before and after everyone else) and one
submission per attack. Each test asserts the attacker's score, the victims' full, unchanged
scores and files, and a true reason in the attacker's notes.
"""

import hashlib
import time
from pathlib import Path

import nbformat
import pytest

from ce_lessons.coursework import grading, sandbox

from .notebooks import (
    LIMITS,
    rows,
    sandbox_processes,
    small_chapter,
    with_cell,
    with_solution,
    write,
)

ROOT = Path(__file__).resolve().parents[2]
WRONG = "def my_softmax(x, dim):\n    return np.asarray(x, dtype=float)\n"

pytestmark = pytest.mark.skipif(
    bool(sandbox.missing_bwrap()), reason="bubblewrap is not usable here"
)


def attacks(subs: Path, chapter: Path, out: Path):
    """name -> (notebook, expected total, a phrase its notes must hold)."""
    base = small_chapter()
    wrong = with_solution(base, "my_softmax", WRONG)
    victim = subs / "victim_a.ipynb"
    return {
        "patches_the_checks": (
            with_cell(
                wrong,
                "import ce_lessons.checks, ce_lessons.checks._framework as f\n"
                "np.allclose = lambda *a, **k: True\n"
                "f._matches = lambda *a, **k: True\n"
                "f.judge = lambda *a, **k: None\n"
                "ce_lessons.checks.softmax = lambda fn: None\n",
            ),
            1.0,
            "ex-softmax: 0 of 6 public cases pass",
        ),
        "prints_fake_results": (
            with_cell(
                wrong,
                "import os, sys\n"
                'fake = \'{"m": "exercise", "label": "ex-softmax", \''
                '\'"calls": {}, "score": 100}\\n{"m": "done"}\\n\'\n'
                "print('CE_GRADE {\"score\": 100}'); print(fake)\n"
                "print(fake, file=sys.stderr)\n"
                "for fd in range(1, 20):\n"
                "    try:\n"
                "        os.write(fd, fake.encode())\n"
                "    except OSError:\n"
                "        pass\n",
                at=99,
            ),
            1.0,
            "ex-softmax: 0 of 6 public cases pass",
        ),
        "patches_the_serializer": (
            with_cell(
                wrong,
                "import json, ce_lessons.coursework.exchange as ex\n"
                "real = ex.encode\n"
                "ex.encode = lambda v, depth=0: real(ce.softmax(v, -1))\n"
                'json.dumps = lambda *a, **k: \'{"m": "done"}\'\n',
                at=99,
            ),
            1.0,
            "ex-softmax: 0 of 6 public cases pass",
        ),
        "calls_the_reference": (
            with_solution(
                base,
                "my_softmax",
                "def my_softmax(x, dim):\n    return ce.softmax(x, dim)\n",
            ),
            1.0,
            "used the course's own softmax (ce_lessons.probabilities.softmax)",
        ),
        "reloads_the_reference": (
            with_solution(
                base,
                "my_softmax",
                "import importlib, ce_lessons.probabilities as P\n"
                "fresh = importlib.reload(P).softmax  # not the one wrapped\n"
                "def my_softmax(x, dim):\n    return fresh(x, dim)\n",
            ),
            1.0,
            "used the course's own softmax",
        ),
        "calls_the_reference_in_a_thread": (
            with_solution(
                base,
                "my_softmax",
                "import threading\n"
                "def my_softmax(x, dim):\n"
                "    out = []\n"
                "    job = lambda: out.append(ce.softmax(x, dim))\n"
                "    worker = threading.Thread(target=job)\n"
                "    worker.start()\n"
                "    worker.join()\n"
                "    return out[0]\n",
            ),
            1.0,
            "used the course's own softmax",
        ),
        "switches_off_the_record": (
            with_solution(
                base,
                "my_softmax",
                "import sys\n"
                "def my_softmax(x, dim):\n"
                "    sys.setprofile(None)\n"
                "    return ce.softmax(x, dim)\n",
            ),
            1.0,
            "switched off the grader's record of calls",
        ),
        "plants_files_in_other_folders": (
            with_cell(
                base,
                f"open({str(subs / 'victim_z.ipynb')!r}, 'w').write('{{}}')",
            ),
            2.0,
            "raised FileNotFoundError",
        ),
        "rewrites_another_submission": (
            with_cell(base, f"open({str(victim)!r}, 'w').write('x')"),
            2.0,
            "raised FileNotFoundError",
        ),
        "reads_another_submission": (
            with_cell(base, f"stolen = open({str(victim)!r}).read()"),
            2.0,
            "raised FileNotFoundError",
        ),
        "reads_the_chapter": (
            with_cell(base, f"stolen = open({str(chapter)!r}).read()"),
            2.0,
            "raised FileNotFoundError",
        ),
        "reads_the_book_through_a_link": (
            with_cell(
                base,
                "import os\n"
                f"os.symlink({str(ROOT / 'book')!r}, 'book')\n"
                "stolen = os.listdir('book')",
            ),
            2.0,
            "raised FileNotFoundError",
        ),
        "reads_the_journal": (
            with_cell(
                base,
                f"stolen = open({str(out.with_suffix('.journal.jsonl'))!r}).read()",
            ),
            2.0,
            "raised FileNotFoundError",
        ),
        "forks_a_daemon": (
            with_cell(
                base,
                "import os, time\n"
                "if os.fork() == 0:\n"
                "    os.setsid()\n"
                "    while True:\n"
                "        for p in ('/tmp/x', 'x'):\n"
                "            open(p, 'w').write('zero them all')\n"
                "        time.sleep(0.05)\n",
            ),
            2.0,
            "",
        ),
        "fork_bomb": (
            with_cell(
                base,
                "import os, time\n"
                "for _ in range(100_000):\n"
                "    if os.fork() == 0:\n"
                "        time.sleep(60)\n"
                "        os._exit(0)\n",
            ),
            2.0,
            "raised BlockingIOError",
        ),
        "memory_hog": (
            with_cell(base, "hog = np.ones(10**10)"),
            2.0,
            "raised MemoryError",
        ),
        "returns_a_huge_array": (
            with_solution(
                base,
                "my_softmax",
                "def my_softmax(x, dim):\n    return np.zeros(2 * 10**7)\n",
            ),
            1.0,
            "more than 1000000",
        ),
        "floods_the_grader": (
            with_cell(
                base,
                "import os\n"
                "for fd in range(3, 12):\n"
                "    try:\n"
                "        for _ in range(100):\n"
                "            os.write(fd, b'x' * 2**20)\n"
                "    except OSError:\n"
                "        pass\n",
            ),
            0.0,
            "sent more than 64 MB back to the grader",
        ),
        "uses_the_network": (
            with_cell(
                base,
                "import socket\n"
                "socket.create_connection(('1.1.1.1', 80), timeout=3)",
            ),
            2.0,
            "raised OSError",
        ),
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    work = tmp_path_factory.mktemp("hostile")
    chapter, subs, out = (
        work / "chapter.ipynb",
        work / "subs",
        work / "scores.csv",
    )
    base = small_chapter()
    nbformat.write(base, chapter)
    table = attacks(subs, chapter, out)
    write(subs, {name: nb for name, (nb, _, _) in table.items()})
    write(subs, {"victim_a": base, "victim_z": base, "alice/victim": base})
    (subs / "link_to_the_chapter.ipynb").symlink_to(chapter)
    before = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in subs.glob("victim_*.ipynb")
    }
    grading.grade_folder(
        chapter, subs, out, jobs=2, limits=LIMITS, seed="s"
    )
    after = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in subs.glob("victim_*.ipynb")
    }
    return rows(out), table, before, after


ATTACKS = list(attacks(Path("/x"), Path("/x"), Path("/x.csv")))


@pytest.mark.parametrize("name", ATTACKS)
def test_an_attack_earns_only_what_its_functions_earn(graded, name):
    table, expected, _, _ = graded
    _, score, reason = expected[name]
    row = table[f"{name}.ipynb"]
    assert float(row["total"]) == score, row["notes"]
    assert reason in row["notes"]


def test_no_victim_loses_a_point_or_a_byte(graded):
    table, _, before, after = graded
    for name in ("victim_a.ipynb", "victim_z.ipynb", "alice/victim.ipynb"):
        assert float(table[name]["total"]) == 2.0, table[name]["notes"]
        assert table[name]["notes"] == ""
    assert before == after


def test_a_link_to_the_chapter_is_not_followed(graded):
    table, _, _, _ = graded
    row = table["link_to_the_chapter.ipynb"]
    assert float(row["total"]) == 0.0
    assert "not graded: a symbolic link" in row["notes"]


def test_no_process_outlives_its_grading(graded):
    time.sleep(0.5)
    assert sandbox_processes() == []
