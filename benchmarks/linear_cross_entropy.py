"""Memory and time of the output layer's cross-entropy, forward + backward.

Three ways to compute cross_entropy(h Wᵀ, y) and its gradients for hidden
states h (N, D) and an output weight W (V, D), in float32 on the CPU:

* ``naive``: ``F.cross_entropy(h @ W.T, y)`` (autograd keeps the (N, V)
  logits, their log-softmax and their gradient);
* ``torch_chunked``: torch's ``F.linear_cross_entropy(h, W, y,
  options=torch.nn.LinearCrossEntropyOptions())``;
* ``ours``: ``ce_lessons.scale.chunked_linear_cross_entropy(h, W, y)``
  with the default chunk size of the full problem.

Each run of each method is a fresh Python process that makes the inputs,
makes a warm-up pass on 512 tokens, then computes the loss and its
gradients once, measured (``--runs`` of them): the peak resident memory above the
inputs (Linux's VmHWM, reset through /proc/self/clear_refs, minus VmRSS
just before the call; the gradients of h and W count, since they are the
floor no method can go below) and the wall time of the forward and
backward pass. The measured processes run with
MALLOC_MMAP_THRESHOLD_=65536 (see MALLOC below). The CSV gets the median
of the runs, one row per method and size; a text file next to it
describes the machine. MB here is 10**6 bytes.

    python benchmarks/linear_cross_entropy.py            # the full run
    python benchmarks/linear_cross_entropy.py --n 512 --v 8000 --runs 2 \
        --out /tmp/small.csv                             # a quick try

Chapter 8 draws its table and figure from the committed CSV,
benchmarks/results/linear_cross_entropy.csv.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "linear_cross_entropy.csv"
METHODS = ("naive", "torch_chunked", "ours")
COLUMNS = [
    "method",
    "n",
    "d",
    "v",
    "dtype",
    "threads",
    "runs",
    "peak_extra_mb",
    "seconds",
    "floor_mb",
    "logits_mb",
    "loss",
]
MB = 10**6
# glibc keeps freed blocks of up to 32 MB for reuse, so memory freed by the
# warm-up pass would be reused unseen; a fixed threshold returns every block
# over 64 KiB to the system when it is freed, and the peak is the method's.
MALLOC = {"MALLOC_MMAP_THRESHOLD_": "65536"}


# ------------------------------------------------------------------------
# One method in one process
# ------------------------------------------------------------------------


def _status_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak():
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # resets VmHWM to the current VmRSS


def _loss_function(method, n, d, v):
    import torch
    import torch.nn.functional as F

    if method == "naive":
        return lambda h, W, y: F.cross_entropy(h @ W.T, y)
    if method == "torch_chunked":
        options = torch.nn.LinearCrossEntropyOptions()
        return lambda h, W, y: F.linear_cross_entropy(
            h, W, y, options=options
        )
    if method == "ours":
        from ce_lessons import scale

        chunk = scale.default_chunk_size(n, d, v)  # the same in the warm-up
        return lambda h, W, y: scale.chunked_linear_cross_entropy(
            h, W, y, chunk_size=chunk
        )
    raise ValueError(f"method must be one of {METHODS}; got {method!r}")


def _warm_up(loss_fn, h, W, y, tokens=512):
    """A pass on the first 512 tokens first, so that what a process keeps
    after its first call (the kernels' code pages, the thread pools, MKL's
    buffers, which grow with the shapes: tens of MB) is not counted as the
    method's memory, and the time is that of a training step."""
    loss_fn(h[:tokens].detach().requires_grad_(), W, y[:tokens]).backward()
    W.grad = None


def measure(method, n, d, v, seed=0):
    """Peak extra MB and seconds of one forward+backward pass."""
    import torch

    loss_fn = _loss_function(method, n, d, v)
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, d, generator=g).requires_grad_()
    W = (torch.randn(v, d, generator=g) / d**0.5).requires_grad_()
    y = torch.randint(0, v, (n,), generator=g)
    _warm_up(loss_fn, h, W, y)
    gc.collect()
    _reset_peak()
    before = _status_kib("VmRSS")
    start = time.perf_counter()
    loss = loss_fn(h, W, y)
    loss.backward()
    seconds = time.perf_counter() - start
    extra = (_status_kib("VmHWM") - before) * 1024 / MB
    return {
        "peak_extra_mb": extra,
        "seconds": seconds,
        "loss": float(loss.detach()),
        "threads": torch.get_num_threads(),
    }


# ------------------------------------------------------------------------
# The whole benchmark: a fresh process per method and size
# ------------------------------------------------------------------------


def run_in_fresh_processes(method, n, d, v, runs, timeout):
    """``runs`` passes, each in a new process; the medians, as a CSV row."""
    command = [sys.executable, __file__, "--worker", method]
    command += ["--n", str(n), "--d", str(d), "--v", str(v)]
    results = []
    for _ in range(runs):
        done = subprocess.run(
            command,
            env=dict(os.environ, **MALLOC),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
            cwd=HERE.parent,
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))

    def median(key):
        return statistics.median(r[key] for r in results)

    return {
        "method": method,
        "n": n,
        "d": d,
        "v": v,
        "dtype": "float32",
        "threads": results[0]["threads"],
        "runs": runs,
        "peak_extra_mb": round(median("peak_extra_mb"), 1),
        "seconds": round(median("seconds"), 3),
        "floor_mb": round((n + v) * d * 4 / MB, 1),
        "logits_mb": round(n * v * 4 / MB, 1),
        "loss": round(median("loss"), 6),
    }


def describe_machine():
    import torch

    with open("/proc/cpuinfo") as cpuinfo:
        models = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo
            if line.startswith("model name")
        ]
    mem_gib = _meminfo_kib("MemTotal") / 2**20
    return "\n".join(
        [
            f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
            f"cpu: {models[0] if models else platform.processor()}",
            f"logical cpus: {os.cpu_count()}",
            f"memory: {mem_gib:.1f} GiB",
            f"load average before the run: {os.getloadavg()}",
            f"python: {platform.python_version()}",
            f"torch: {torch.__version__}, "
            f"{torch.get_num_threads()} threads",
            f"os: {platform.platform()}",
        ]
    )


def _meminfo_kib(field):
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--d", type=int, default=256)
    parser.add_argument("--v", type=int, nargs="+", default=[32000, 128256])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(args.worker, args.n, args.d, args.v[0])))
        return
    machine = describe_machine()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".machine.txt").write_text(
        machine + f"\ncommand: {' '.join(sys.argv)}\n"
    )
    rows = []
    for v in args.v:
        for method in args.methods:
            row = run_in_fresh_processes(
                method, args.n, args.d, v, args.runs, args.timeout
            )
            print(", ".join(f"{k}={row[k]}" for k in COLUMNS), flush=True)
            rows.append(row)
            _write_csv(args.out, rows)  # a stopped run keeps its rows


def _write_csv(path, rows):
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
