"""Gradescope: the entry point writes results.json per Gradescope's autograder format.

Run against a temporary folder laid out like Gradescope's /autograder (submission/, source/,
results/), with the small chapter of the grading tests.
"""

import json
import subprocess
import sys

import nbformat
import pytest

from ce_lessons.coursework import sandbox

from .notebooks import NO_MAX_SHIFT, small_chapter, with_solution

pytestmark = pytest.mark.skipif(
    bool(sandbox.missing_bwrap()), reason="bubblewrap is not usable here"
)


def run(root, chapter, *extra):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ce_lessons.coursework.gradescope",
            str(chapter),
            "--root",
            str(root),
            "--timeout",
            "40",
            *extra,
        ],
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("autograder")
    chapter = root / "source" / "chapter.ipynb"
    chapter.parent.mkdir()
    nbformat.write(small_chapter(), chapter)
    (root / "source" / "hidden_seed").write_text("instructor secret\n")
    (root / "submission").mkdir()
    nbformat.write(
        with_solution(small_chapter(), "my_softmax", NO_MAX_SHIFT),
        root / "submission" / "homework.ipynb",
    )
    done = run(root, chapter)
    assert done.returncode == 0, done.stderr
    return json.loads((root / "results" / "results.json").read_text())


def test_results_json_has_gradescope_fields(results):
    assert isinstance(results["execution_time"], float)
    assert isinstance(results["output"], str)
    for test in results["tests"]:
        assert {
            "name",
            "score",
            "max_score",
            "output",
            "visibility",
        } <= set(test)
        assert 0 <= test["score"] <= test["max_score"]
    assert results["score"] == pytest.approx(
        sum(t["score"] for t in results["tests"])
    )
    assert sum(t["max_score"] for t in results["tests"]) == pytest.approx(
        2.0
    )


def test_public_cases_are_visible_and_hidden_ones_after_publishing(results):
    by_name = {t["name"]: t for t in results["tests"]}
    public = by_name["A stable softmax (ex-softmax): public cases"]
    hidden = by_name["A stable softmax (ex-softmax): hidden cases"]
    assert public["visibility"] == "visible"
    assert hidden["visibility"] == "after_published"
    assert "Subtract the largest logit" in public["output"]
    assert public["score"] < public["max_score"]
    channels = by_name["Classes into dim 1 (ex-channels): hidden cases"]
    assert channels["score"] == channels["max_score"] > 0


def test_no_notebook_or_two_notebooks_score_zero_with_a_reason(tmp_path):
    chapter = tmp_path / "chapter.ipynb"
    nbformat.write(small_chapter(), chapter)
    (tmp_path / "submission").mkdir()
    done = run(tmp_path, chapter)
    assert done.returncode == 0, done.stderr
    results = json.loads(
        (tmp_path / "results" / "results.json").read_text()
    )
    assert results["score"] == 0 and "No .ipynb" in results["output"]
