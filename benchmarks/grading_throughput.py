"""Grading throughput: K copies of chapter 1's solution notebook, sandboxed, at --jobs 2.

Measures the wall time of ``ce-grade`` (the command line, so the figure includes everything an
instructor waits for: the chapter's reference run, one bubblewrap sandbox per submission, the
judge, the journal and the CSV) and appends a row to
``benchmarks/results/grading_throughput.csv``: submissions, seconds, seconds per submission,
and the time 300 submissions would take at that rate.

    .venv/bin/python benchmarks/grading_throughput.py --copies 40 --jobs 2

Run it on a quiet machine: the figure is only as good as the cores it had to itself.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "ch1_probabilities_vs_logits.ipynb"
RESULTS = ROOT / "benchmarks" / "results" / "grading_throughput.csv"
FIELDS = [
    "date",
    "submissions",
    "jobs",
    "cores",
    "seconds",
    "seconds_per_submission",
    "extrapolated_300_minutes",
    "load_average_before",
    "all_full_marks",
]


def measure(copies: int, jobs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ce-bench-") as tmp:
        subs = Path(tmp, "subs")
        subs.mkdir()
        for i in range(copies):
            shutil.copy(CHAPTER, subs / f"student{i:03d}.ipynb")
        out = Path(tmp, "scores.csv")
        load = os.getloadavg()[0]
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ce_lessons.coursework.grading",
                str(CHAPTER),
                str(subs),
                "--out",
                str(out),
                "--jobs",
                str(jobs),
                "--hidden-seed",
                "benchmark",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - started
        with open(out, newline="") as handle:
            rows = list(csv.DictReader(handle))
        full = all(r["total"] == r["out_of"] for r in rows)
    per = seconds / copies
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "submissions": copies,
        "jobs": jobs,
        "cores": os.cpu_count(),
        "seconds": round(seconds, 1),
        "seconds_per_submission": round(per, 2),
        "extrapolated_300_minutes": round(300 * per / 60, 1),
        "load_average_before": round(load, 2),
        "all_full_marks": full,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    row = measure(args.copies, args.jobs)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    new = not RESULTS.exists()
    with open(RESULTS, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)
    print(row)


if __name__ == "__main__":
    main()
