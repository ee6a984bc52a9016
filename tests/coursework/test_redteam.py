"""A red team's class: cheats that reach past the answer, sabotage, and honest accidents.

Each submission below beat an earlier version of ``ce-grade`` (a full score it did not earn, a
hidden case it should never have seen, a crash or a hang of the grader, a misleading note); the
tests assert what each now earns, that no victim loses a point, and a true reason in the notes.
One class folder is graded once, at ``--jobs 2``.
"""

import os
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from ce_lessons.coursework import grading, sandbox
from ce_lessons.coursework.exchange import hidden_key

from .notebooks import (
    LIMITS,
    copy,
    rows,
    small_chapter,
    with_answer,
    with_cell,
    with_solution,
    write,
)

SEED = "red team seed"
LABELS = ("ex-softmax", "ex-channels")
WRONG = "def my_softmax(x, dim):\n    return np.asarray(x, dtype=float)\n"
STABLE = (
    "    e = np.exp(x - x.max(axis=dim, keepdims=True))\n"
    "    return e / e.sum(axis=dim, keepdims=True)\n"
)

pytestmark = pytest.mark.skipif(
    bool(sandbox.missing_bwrap()), reason="bubblewrap is not usable here"
)


def answer(source):
    return with_solution(small_chapter(), "my_softmax", source)


# --- the course's own function, reached without calling it plainly --------------------------

EARLIER_THREAD = with_cell(
    answer(
        "def my_softmax(x, dim):\n"
        "    requests.put((x, dim))\n"
        "    return replies.get()\n"
    ),
    "import queue, threading\n"
    "requests, replies = queue.Queue(), queue.Queue()\n"
    "def serve():\n"
    "    while True:\n"
    "        replies.put(ce.softmax(*requests.get()))\n"
    "threading.Thread(target=serve, daemon=True).start()\n",
    at=99,
)
SUBPROCESS = answer(
    "import json, subprocess, sys\n"
    "CODE = ('import json, sys, numpy as np, ce_lessons as ce; '\n"
    "        'x, d = json.load(sys.stdin); '\n"
    "        'print(json.dumps(ce.softmax(np.array(x, float), d).tolist()))')\n"
    "def my_softmax(x, dim):\n"
    "    run = subprocess.run([sys.executable, '-c', CODE],\n"
    "        input=json.dumps([np.asarray(x).tolist(), dim]),\n"
    "        capture_output=True, text=True)\n"
    "    return np.array(json.loads(run.stdout))\n"
)
EARLIER_PROCESS = answer(
    "import json, os\n"
    "r1, w1 = os.pipe()\n"
    "r2, w2 = os.pipe()\n"
    "if os.fork() == 0:\n"
    "    os.close(w1)\n"
    "    os.close(r2)\n"
    "    out = os.fdopen(w2, 'w')\n"
    "    for line in os.fdopen(r1):\n"
    "        x, d = json.loads(line)\n"
    "        y = ce.softmax(np.array(x, float), d)\n"
    "        out.write(json.dumps(y.tolist()) + '\\n')\n"
    "        out.flush()\n"
    "    os._exit(0)\n"
    "os.close(r1)\n"
    "os.close(w2)\n"
    "TO, FROM = os.fdopen(w1, 'w'), os.fdopen(r2)\n"
    "def my_softmax(x, dim):\n"
    "    TO.write(json.dumps([np.asarray(x).tolist(), dim]) + '\\n')\n"
    "    TO.flush()\n"
    "    return np.array(json.loads(FROM.readline()))\n"
)
TOGGLES_THE_RECORD = answer(
    "import sys\n"
    "def my_softmax(x, dim):\n"
    "    hook = sys.getprofile()\n"
    "    sys.setprofile(None)\n"
    "    result = ce.softmax(x, dim)\n"
    "    sys.setprofile(hook)\n"
    "    return result\n"
)
RENAMED_COPY = answer(
    "import types\n"
    "code = ce.softmax.__code__.replace(co_name='my_softmax')\n"
    "my_softmax = types.FunctionType(code, ce.softmax.__globals__)\n"
)
EXECUTED_SOURCE = answer(
    "import inspect\n"
    "space = dict(vars(ce.probabilities))\n"
    "exec(inspect.getsource(ce.probabilities.softmax), space)\n"
    "my_softmax = space['softmax']\n"
)
ERASES_THE_RECORD = answer(
    "import sys\n"
    "def my_softmax(x, dim):\n"
    "    result = ce.softmax(x, dim)\n"
    "    frame = sys._getframe(1)\n"
    "    while frame is not None:  # find the grader's record, empty it\n"
    "        for value in list(frame.f_locals.values()):\n"
    "            for record in (value, getattr(value, 'recorder', None)):\n"
    "                if hasattr(record, 'used'):\n"
    "                    record.used.clear()\n"
    "        frame = frame.f_back\n"
    "    return result\n"
)

# --- the hidden cases, looked for in memory and on the channel -------------------------------

READS_THE_CASES = with_cell(
    answer(
        "def my_softmax(x, dim):\n"
        "    x = np.asarray(x, dtype=float)\n"
        "    return TABLE.get((x.tobytes(), x.shape, dim), np.zeros(1))\n"
    ),
    "import gc\n"
    "TABLE = {}\n"
    "runner = next(o for o in gc.get_objects()\n"
    "              if type(o).__name__ == 'Runner')\n"
    "for exercise, _, runs, _, _ in runner.plans:  # every case it holds\n"
    "    for fn, *cases in runs:\n"
    "        for args in [a for group in cases if isinstance(group, list)\n"
    "                     for a in group]:\n"
    "            try:\n"
    "                x = np.asarray(args[0], dtype=float)\n"
    "                TABLE[(x.tobytes(), x.shape, args[1])] = ce.softmax(*args)\n"
    "            except Exception:\n"
    "                pass\n",
    at=99,
)
LEAKS_THE_KEYS = with_cell(
    small_chapter(),
    "import gc, re\n"
    "found, seen = set(), set()\n"
    "def walk(o, depth=0):  # everything the grader's runner holds\n"
    "    if id(o) in seen or depth > 8:\n"
    "        return\n"
    "    seen.add(id(o))\n"
    "    if isinstance(o, str):\n"
    "        found.update(re.findall('[0-9a-f]{64}', o))\n"
    "    elif isinstance(o, dict):\n"
    "        for v in list(o.values()):\n"
    "            walk(v, depth + 1)\n"
    "    elif isinstance(o, (list, tuple, set)):\n"
    "        for v in list(o):\n"
    "            walk(v, depth + 1)\n"
    "    elif hasattr(o, '__dict__') and not isinstance(o, type):\n"
    "        walk(vars(o), depth + 1)\n"
    "walk([o for o in gc.get_objects() if type(o).__name__ == 'Runner'])\n"
    "raise ValueError('KEYS ' + ' '.join(sorted(found)))\n",
    at=99,
)
LEAKS_THE_INPUTS = answer(
    "import json, os, stat\n"
    "def my_softmax(x, dim):\n"
    "    text = 'LEAK ' + repr(np.asarray(x).round(3).tolist())[:150]\n"
    "    line = '\\n' + json.dumps({'m': 'crash', 'text': text}) + '\\n'\n"
    "    for fd in range(3, 40):  # every pipe: one goes to the grader\n"
    "        try:\n"
    "            if stat.S_ISFIFO(os.fstat(fd).st_mode):\n"
    "                os.write(fd, line.encode())\n"
    "        except OSError:\n"
    "            pass\n" + STABLE
)
FORGES_ITS_RESULTS = with_cell(
    answer(WRONG),
    "import gc, os\n"
    "from ce_lessons.coursework.exchange import encode\n"
    "runner = next(o for o in gc.get_objects()\n"
    "              if type(o).__name__ == 'Runner')\n"
    "def right(exercise, args):\n"
    "    if 'softmax' in exercise['check']:\n"
    "        return ce.softmax(*args)\n"
    "    return np.moveaxis(args[0], -1, 1)\n"
    "for exercise, _, runs, _, _ in runner.plans:\n"
    "    calls = {}\n"
    "    for n, (fn, *groups) in enumerate(runs):\n"
    "        groups = [g for g in groups if isinstance(g, list)]\n"
    "        for part, group in zip('ph', groups):  # hidden ones if held\n"
    "            for i, args in enumerate(group):\n"
    "                try:\n"
    "                    value = encode(right(exercise, args))\n"
    "                except Exception:\n"
    "                    value = encode(None)\n"
    "                calls[f'{n}/{part}/{i}'] = [{'v': value, 'mut': False}]\n"
    "    runner.send(m='exercise', label=exercise['label'], calls=calls)\n"
    "runner.send(m='done')\n"
    "os._exit(0)\n",
    at=99,
)
STEALS_THE_KEYS = with_cell(
    small_chapter(),
    "import gc, os, stat, time\n"
    "runner = next(o for o in gc.get_objects()\n"
    "              if type(o).__name__ == 'Runner')\n"
    "runner.send(m='hidden')  # ask for the keys now, during the cells\n"
    "time.sleep(1)\n"
    "got = b''\n"
    "for fd in range(3, 40):\n"
    "    try:\n"
    "        if stat.S_ISFIFO(os.fstat(fd).st_mode):\n"
    "            os.set_blocking(fd, False)\n"
    "            got += os.read(fd, 1 << 16)\n"
    "    except OSError:\n"
    "        pass\n"
    "raise ValueError('STOLEN ' + got.decode(errors='replace'))\n",
    at=99,
)

# --- the course's files and the grader's memory ----------------------------------------------

POISONS_THE_PACKAGE = with_cell(
    small_chapter(),
    "import ce_lessons.checks._framework as f\n"
    "open(f.__file__, 'a').write('\\n_matches = lambda *a, **k: True\\n')\n",
)
RETURNS_TOO_MUCH = answer(
    "def my_softmax(x, dim):\n    return np.zeros(900_000)\n"
)

MAKES_SESSIONS = with_cell(
    small_chapter(),
    "import os\n"
    "pid = os.fork()\n"
    "if pid == 0:  # a session is a scheduler group: 60 starve the others\n"
    "    try:\n"
    "        os.setsid()\n"
    "        os._exit(0)\n"
    "    except OSError:\n"
    "        os._exit(3)\n"
    "_, status = os.waitpid(pid, 0)\n"
    "refused = os.waitstatus_to_exitcode(status) == 3\n"
    "raise ValueError('setsid ' + ('refused' if refused else 'worked'))\n",
    at=99,
)
FLOODS_WITH_BIG_LINES = with_cell(
    small_chapter(),
    "import gc\n"
    "runner = next(o for o in gc.get_objects()\n"
    "              if type(o).__name__ == 'Runner')\n"
    "line = '\\n{\"m\": \"cell\", \"x\": [' + '0.5,' * 1_900_000 + '0.5]}\\n'\n"
    "for _ in range(3):  # 7.6 MB lines of floats: 60 MB each once parsed\n"
    "    runner.out.write(line)\n"
    "runner.out.flush()\n",
    at=99,
)

# --- honest accidents ------------------------------------------------------------------------

RAISES_THEN_EXITS = with_cell(
    with_cell(small_chapter(), "raise ValueError('oops')"),
    "import os\nos._exit(0)",
    at=4,
)
MANY_BROKEN_CELLS = copy(small_chapter())
MANY_BROKEN_CELLS.cells += [
    nbformat.v4.new_code_cell(f"raise ValueError('broken {i}')")
    for i in range(600)
]
IMPOSTOR = with_answer(
    small_chapter(),
    "My answer.\n\n## victim_a (victim_a.ipynb)\n\nA wrong answer.\n\n---\n"
    "<script>alert(1)</script>\n\n```\nan open code block",
)

#: name -> (notebook, expected total, a phrase its notes must hold)
ATTACKS = {
    "calls_the_reference_from_an_earlier_thread": (
        EARLIER_THREAD,
        1.0,
        "used the course's own softmax",
    ),
    "asks_a_subprocess": (SUBPROCESS, 1.0, "started a process"),
    "asks_a_process_forked_earlier": (
        EARLIER_PROCESS,
        1.0,
        "raised BrokenPipeError",
    ),
    "toggles_the_record": (
        TOGGLES_THE_RECORD,
        1.0,
        "used the course's own softmax",
    ),
    "renames_a_copy_of_the_reference": (
        RENAMED_COPY,
        1.0,
        "used the course's own softmax",
    ),
    "executes_the_reference_source": (
        EXECUTED_SOURCE,
        1.0,
        "used the course's own softmax",
    ),
    "erases_the_record_through_frames": (
        ERASES_THE_RECORD,
        1.0,
        "used the course's own softmax",
    ),
    "reads_the_cases_from_memory": (
        READS_THE_CASES,
        1.5,
        "6 of 6 public cases pass, 0 of 6 hidden",
    ),
    "leaks_the_keys_in_a_note": (
        LEAKS_THE_KEYS,
        2.0,
        "raised ValueError: KEYS",
    ),
    "leaks_hidden_inputs_on_the_channel": (LEAKS_THE_INPUTS, 2.0, "LEAK"),
    "forges_its_results_and_exits": (
        FORGES_ITS_RESULTS,
        1.0,
        "ended the Python process",
    ),
    "steals_the_keys_with_a_forged_request": (
        STEALS_THE_KEYS,
        0.0,
        "reached the grader out of turn",
    ),
    "poisons_the_course_package": (
        POISONS_THE_PACKAGE,
        2.0,
        "raised PermissionError: [Errno 13] Permission denied",
    ),
    "returns_too_much": (
        RETURNS_TOO_MUCH,
        1.0,
        "returned more numbers than the grader takes back",
    ),
    "makes_sessions_of_its_own": (
        MAKES_SESSIONS,
        2.0,
        "raised ValueError: setsid refused",
    ),
    "floods_with_big_lines": (
        FLOODS_WITH_BIG_LINES,
        0.0,
        "more values than it keeps",
    ),
    "raises_then_exits": (
        RAISES_THEN_EXITS,
        2.0,
        "raised ValueError: oops",
    ),
    "many_broken_cells": (MANY_BROKEN_CELLS, 2.0, "more notes"),
    "impostor": (IMPOSTOR, 2.0, ""),
}


def _resident_peak(reset=False):
    """This process's peak resident memory (bytes), after resetting it if asked; None where
    Linux does not let a process reset it (/proc/self/clear_refs)."""
    try:
        if reset:
            Path("/proc/self/clear_refs").write_text("5")
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, flags=re.M)
    return int(found.group(1)) << 10 if found else None


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    work = tmp_path_factory.mktemp("redteam")
    chapter, subs = work / "chapter.ipynb", work / "subs"
    nbformat.write(small_chapter(), chapter)
    write(subs, {name: nb for name, (nb, _, _) in ATTACKS.items()})
    write(subs, {"victim_a": small_chapter(), "victim_z": small_chapter()})
    # a name from another system (not UTF-8), and a pipe that never ends
    with open(os.fsencode(subs) + b"/caf\xe9.ipynb", "w") as handle:
        handle.write(nbformat.writes(small_chapter()))
    os.mkfifo(subs / "pipe.ipynb")
    before = _resident_peak(reset=True)
    grading.grade_folder(
        chapter,
        subs,
        work / "scores.csv",
        jobs=2,
        limits=LIMITS,
        seed=SEED,
        feedback=work / "feedback",
    )
    growth = _resident_peak() - before if before is not None else None
    return rows(work / "scores.csv"), work, growth


@pytest.mark.parametrize("name", list(ATTACKS))
def test_a_red_team_submission_earns_only_what_its_functions_earn(
    graded, name
):
    table, _, _ = graded
    _, score, reason = ATTACKS[name]
    row = table[f"{name}.ipynb"]
    assert float(row["total"]) == score, row["notes"]
    assert reason in row["notes"]


def test_no_victim_loses_a_point(graded):
    table, _, _ = graded
    for name in ("victim_a.ipynb", "victim_z.ipynb", "caf\\udce9.ipynb"):
        assert float(table[name]["total"]) == 2.0, table[name]["notes"]
        assert table[name]["notes"] == ""


def test_the_hidden_keys_never_reach_a_note_or_a_feedback_file(graded):
    table, work, _ = graded
    keys = [hidden_key(SEED, label) for label in LABELS]
    texts = [row["notes"] for row in table.values()]
    texts += [p.read_text() for p in (work / "feedback").rglob("*.txt")]
    for key in keys:
        assert not any(key in text for text in texts)
    stolen = table["steals_the_keys_with_a_forged_request.ipynb"]["notes"]
    assert "ex-softmax: not checked" in stolen


def test_what_an_answer_sees_of_a_hidden_case_is_not_fed_back(graded):
    table, _, _ = graded
    notes = table["leaks_hidden_inputs_on_the_channel.ipynb"]["notes"]
    # the 6 public inputs come back (they are public); the 6 hidden do not
    assert notes.count("LEAK") == 6


def test_a_thread_left_running_is_named(graded):
    table, _, _ = graded
    row = table["calls_the_reference_from_an_earlier_thread.ipynb"]
    assert (
        "other thread(s) (started by the notebook or a library"
        in row["notes"]
    )


def test_an_accident_is_noted_once_and_the_notes_fit_a_spreadsheet_cell(
    graded,
):
    table, _, _ = graded
    notes = table["raises_then_exits.ipynb"]["notes"]
    assert notes.count("raised ValueError: oops") == 1
    assert len(table["many_broken_cells.ipynb"]["notes"]) <= 30_000


def test_the_graders_memory_stays_bounded_whatever_comes_back(graded):
    _, _, growth = graded
    if growth is None:
        pytest.skip(
            "this system does not let a process reset its peak memory"
        )
    # one flood of 7.6 MB lines of floats is 60 MB a line once parsed; kept,
    # three of them made the grader grow by more than 180 MB
    assert growth < 150 << 20, f"{growth >> 20} MB"


def test_a_pipe_is_not_read_and_a_foreign_name_is_kept(graded):
    table, _, _ = graded
    assert "not a regular file" in table["pipe.ipynb"]["notes"]
    assert float(table["pipe.ipynb"]["total"]) == 0.0
    assert "caf\\udce9.ipynb" in table


def test_a_written_answer_cannot_pose_as_another_students(graded):
    _, work, _ = graded
    text = (work / "scores_written" / "ex-why.md").read_text()
    headings = re.findall(r"^## .*$", text, flags=re.M)
    assert headings.count("## victim_a (victim_a.ipynb)") == 1
    assert "<script>" not in text
    answer = text.split("## impostor (impostor.ipynb)")[1]
    answer = answer.split("\n## ")[0]
    assert answer.count("```") % 2 == 0  # its open code block is closed


def _record(forbidden, call):
    from ce_lessons.coursework.runner import Recorder

    recorder = Recorder(forbidden)
    sys.setprofile(recorder.hook)
    try:
        call()
    finally:
        sys.setprofile(None)
    return recorder.used


def test_the_record_knows_a_decorated_function_by_its_own_code():
    import ce_lessons as ce

    x, y = np.array([[2.0, 0.5, -1.0]]), np.array([0])
    forbidden = ("losses.cross_entropy", "losses.nll_loss")
    assert _record(forbidden, lambda: ce.cross_entropy(x, y)) == {
        "losses.cross_entropy"
    }
    # another loss made by the same decorator is not the forbidden one: an
    # answer to the smoothed gradient may call the course's cross_entropy
    grad = ("gradients.cross_entropy_grad",)
    assert _record(grad, lambda: ce.cross_entropy(x, y)) == set()
    probs, target = np.array([0.7, 0.2]), np.array([1.0, 0.0])
    assert (
        _record(forbidden, lambda: ce.binary_cross_entropy(probs, target))
        == set()
    )


def test_a_cell_its_time_limit_cannot_stop_costs_only_that_cell(tmp_path):
    """Code in C (a huge product, a regex) does not see its cell's alarm; stood for here by a
    blocked alarm. Its functions were defined before it: they are graded, not zeroed."""
    chapter, subs, out = (
        tmp_path / "chapter.ipynb",
        tmp_path / "subs",
        tmp_path / "scores.csv",
    )
    nbformat.write(small_chapter(), chapter)
    stuck = with_cell(
        small_chapter(),
        "import signal, time\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})\n"
        "time.sleep(60)\n",
        at=99,
    )
    write(subs, {"stuck_in_c_code": stuck, "victim": small_chapter()})
    grading.grade_folder(
        chapter,
        subs,
        out,
        jobs=2,
        limits=grading.Limits(cell=2, notebook=6, check=3),
        seed=SEED,
    )
    table = rows(out)
    assert float(table["victim.ipynb"]["total"]) == 2.0
    row = table["stuck_in_c_code.ipynb"]
    assert float(row["total"]) == 2.0, row["notes"]
    assert "its own time limit could not stop it" in row["notes"]
    assert "left out and the notebook run again" in row["notes"]


def test_without_bubblewrap_the_seed_is_not_handed_to_the_submission(
    tmp_path, monkeypatch
):
    """Gradescope's fallback (no namespaces in its container): run_autograder exports the seed;
    the submission must not find it in its environment, nor, as root, read it from the file."""
    from ce_lessons.coursework import gradescope

    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    chapter = root / "source" / "chapter.ipynb"
    nbformat.write(small_chapter(), chapter)
    (root / "source" / "hidden_seed").write_text("instructor secret\n")
    seed_file = root / "source" / "hidden_seed"
    nbformat.write(
        with_cell(
            small_chapter(),
            "import os\n"
            "found = 'ENV=' + os.environ.get('CE_HIDDEN_SEED', '')\n"
            "try:\n"
            f"    found += ' FILE=' + open({str(seed_file)!r}).read()\n"
            "except OSError:\n"
            "    pass\n"
            "raise ValueError('FOUND ' + found)\n",
            at=99,
        ),
        root / "submission" / "homework.ipynb",
    )
    monkeypatch.setenv("CE_HIDDEN_SEED", "instructor secret")
    results = gradescope.grade(chapter, root, None, LIMITS, "none")
    assert results["score"] == 2.0
    assert "raised ValueError: FOUND" in results["output"]
    if os.getuid() == 0 and sandbox.others_can_run_python():
        assert "instructor secret" not in results["output"]
    else:  # the file is in reach: the output says so
        assert "could read the autograder's files" in results["output"]
    assert "ENV=instructor" not in results["output"]
