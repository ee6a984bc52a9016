"""One sandbox per submission: bubblewrap, resource limits, and a capped channel back.

The sandbox (``bwrap``, the tool Flatpak uses) sees:

- the system (``/usr``, ``/etc``), Python and the course's environment, and the ``ce_lessons``
  package, all **read-only**; nothing else of the machine: not the chapters (``book/``), not the
  other submissions, not the grader's files;
- a private, size-capped, writable working directory holding nothing but what the submission
  writes (its notebook reaches the runner through a pipe), and a private size-capped ``/tmp``;
- no network (its own empty network namespace), its own PID namespace (every process it starts
  dies with it), its own IPC and hostname;
- limits: address space (``--memory``), processes, file size, CPU seconds; ``--timeout`` bounds
  the whole run, children included. When the grader runs as root the submission runs as a user
  of its own (one per parallel slot), so that its process limit is its own.
- no ``setsid`` (a seccomp filter): where the kernel shares the CPU between sessions (its
  autogroups, on by default, outside a CPU cgroup), one per sandbox, a submission's busy
  processes cannot starve one graded beside it (a cgroup per sandbox would be stronger);
- not the grader's environment (``CE_HIDDEN_SEED`` stays out, with or without bwrap). Without
  bwrap, as root, the runner still switches to its own user where Python is readable by others.

The runner's messages come back on a pipe, read with caps on bytes and on values kept: the
grader's memory stays bounded whatever the submission prints or returns.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import stat
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePath

TOTAL_LIMIT = 64 << 20  # bytes the grader reads from one run
LINE_LIMIT = 16 << 20  # bytes of one line, read
MESSAGE_LIMIT = (
    8 << 20
) + 4096  # bytes of one message, parsed (the runner's limit)
NODE_LIMIT = 500_000  # JSON values kept from one run (a chapter's run: some thousands)
KINDS = {
    "ready",
    "cell",
    "budget",
    "crash",
    "exercise",
    "used",
    "hidden",
    "secret",
    "done",
}  # the runner's messages; no other is kept


@dataclass(frozen=True)
class Isolation:
    """How a submission is isolated: ``bwrap`` (the default) or ``none`` (``--no-sandbox``)."""

    kind: str = "bwrap"
    memory_mb: int = 4096  # address space of each process
    processes: int = 64  # processes and threads
    file_mb: int = 64  # largest file it may write
    tmp_mb: int = 256  # its /tmp and its working directory, each


SANDBOXED = Isolation()  # the default


@dataclass
class Run:
    """What came back from one run."""

    messages: list = field(default_factory=list)
    timed_out: bool = False
    overflow: bool = False
    seconds: float = 0.0
    stderr: str = ""
    returncode: int | None = None
    out_of_turn: int = 0  # messages that came when none of their kind could


def missing_bwrap() -> str:
    """Why the sandbox cannot be used here, or "" when it can."""
    if sys.platform != "linux":
        return f"bubblewrap needs Linux; this is {sys.platform}"
    if not shutil.which("bwrap"):
        return (
            "bubblewrap (bwrap) is not installed: on Debian or Ubuntu, "
            "apt-get install bubblewrap"
        )
    probe = subprocess.run(
        _bwrap_prefix(Isolation(), uid=None) + ["true"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode != 0:
        return (
            f"bubblewrap does not work here: {probe.stderr.strip()[:200]}"
        )
    return ""


def _read_only_paths() -> list:
    import ce_lessons

    paths = {
        sys.base_prefix,
        sys.prefix,
        str(Path(ce_lessons.__file__).parent),
    }
    executable = Path(sys.executable)
    paths.add(str(executable.parent))
    return sorted(p for p in paths if p and Path(p).exists())


def _bwrap_prefix(isolation: Isolation, uid) -> list:
    cmd = [
        "bwrap",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
    ]
    if (
        uid is not None
    ):  # only so that the runner can switch user; it drops them at once
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    for top in ("usr", "etc"):
        cmd += ["--ro-bind", f"/{top}", f"/{top}"]
    for top in ("bin", "lib", "lib32", "lib64", "sbin"):
        path = Path("/", top)
        if path.is_symlink():
            cmd += ["--symlink", os.readlink(path), str(path)]
        elif path.exists():
            cmd += ["--ro-bind", str(path), str(path)]
    binds = [p for p in _read_only_paths() if not p.startswith("/usr/")]
    parents = sorted(
        {
            str(a)
            for p in binds
            for a in PurePath(p).parents
            if str(a) != "/"
        }
    )
    tmp = str(isolation.tmp_mb << 20)
    # the private /tmp first: a Python or venv that lives under /tmp (a CI
    # run's throw-away venv) is then bound on top of it, not hidden by it
    cmd += ["--perms", "1777", "--size", tmp, "--tmpfs", "/tmp"]
    for d in parents:
        cmd += ["--perms", "0755", "--dir", d]
    for p in binds:
        cmd += ["--ro-bind", p, p]
    cmd += ["--proc", "/proc", "--dev", "/dev"]
    cmd += ["--perms", "1777", "--size", tmp, "--tmpfs", "/submission"]
    cmd += ["--chdir", "/submission"]
    return cmd


def _environment(home) -> dict:
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": home,
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": f"{home}/.matplotlib",
        "IPYTHONDIR": f"{home}/.ipython",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "LANG": "C.UTF-8",
    }


def _user_processes() -> int:
    uid, count = os.getuid(), 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(list((entry / "task").iterdir()))
            except OSError:
                continue
    return count


def limits(isolation: Isolation, seconds: float, own_user: bool) -> dict:
    found = {
        "as": isolation.memory_mb << 20,
        "fsize": isolation.file_mb << 20,
        "cpu": int(seconds) + 10,
    }
    if own_user:
        found["nproc"] = isolation.processes
    elif os.getuid() != 0:  # shared with the instructor's own processes
        found["nproc"] = _user_processes() + isolation.processes
    return found


def sandbox_user(slot: int) -> int | None:
    """The user a submission runs as: one per grader process and slot (root only)."""
    if os.getuid() != 0:
        return None
    return 200_000 + (os.getpid() % 100_000) * 16 + slot % 16


def no_new_sessions() -> bytes:
    """A seccomp filter (classic BPF) that refuses ``setsid`` with EPERM, else allows all.

    The kernel shares the CPU fairly between sessions (its "autogroups"): one sandbox is one
    session (``--new-session``), so 60 busy processes in one sandbox share one slot, and a
    submission graded at the same time keeps its share. A process that could call setsid
    would be a slot of its own, 60 of them would starve the other submission into its time
    limits. x86-64 (and its x32 numbers) and arm64; other machines get no filter."""

    def stmt(code, k):
        return struct.pack("HBBI", code, 0, 0, k)

    def jump(k, jt, jf):
        return struct.pack("HBBI", 0x15, jt, jf, k)  # JMP|JEQ|K

    load, ret = 0x20, 0x06  # LD|W|ABS, RET|K
    allow, refuse = 0x7FFF0000, 0x00050000 | 1  # ALLOW, ERRNO(EPERM)
    return b"".join(
        [
            stmt(load, 4),  # 0: the architecture
            jump(0xC000003E, 0, 3),  # 1: x86-64? else 5
            stmt(load, 0),  # 2: the system call's number
            jump(112, 5, 0),  # 3: setsid -> 9
            jump(0x40000000 | 112, 4, 3),  # 4: x32 setsid -> 9, else 8
            jump(0xC00000B7, 0, 2),  # 5: arm64? else 8
            stmt(load, 0),  # 6
            jump(157, 1, 0),  # 7: setsid -> 9
            stmt(ret, allow),  # 8
            stmt(ret, refuse),  # 9
        ]
    )


def command(isolation: Isolation, uid, seccomp_fd=None) -> tuple:
    """The command that starts the runner, and its environment."""
    runner = [sys.executable, "-m", "ce_lessons.coursework.runner"]
    if isolation.kind == "none":
        return runner, _environment("/tmp")
    cmd = _bwrap_prefix(isolation, uid) + ["--clearenv"]
    if seccomp_fd is not None:
        cmd += ["--seccomp", str(seccomp_fd)]
    for key, value in _environment("/tmp").items():
        cmd += ["--setenv", key, value]
    return cmd + runner, None


def frame(data) -> bytes:
    """One message to the runner: its length, a newline, then JSON."""
    body = json.dumps(data).encode()
    return b"%d\n" % len(body) + body


def run(
    job: dict,
    isolation: Isolation,
    seconds: float,
    slot: int = 0,
    keys: dict | None = None,
) -> Run:
    """Run one job in a fresh sandbox for at most ``seconds``; never raises for the job's sake.

    ``keys`` (the hidden cases' keys) go to the runner only when it asks for them, after the
    notebook's cells: the notebook's code never has them in reach."""
    # a user of its own when the grader is root, with bwrap or without it
    # (--no-sandbox in a container): files only root may read stay unread
    uid = sandbox_user(slot)
    if isolation.kind == "none" and not others_can_run_python():
        uid = None
    rl = limits(isolation, seconds, own_user=uid is not None)
    job = {
        **job,
        "uid": uid,
        "limits": rl if uid is not None else {},
        "pid_namespace": isolation.kind == "bwrap",
    }
    seccomp = os.pipe() if isolation.kind == "bwrap" else None
    if seccomp:
        os.write(seccomp[1], no_new_sessions())
        os.close(seccomp[1])
    cmd, env = command(isolation, uid, seccomp[0] if seccomp else None)
    if env is None:  # bwrap's own environment: not the grader's (its seed)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
        }
    cwd = None
    if isolation.kind == "none":
        import tempfile

        cwd = tempfile.mkdtemp(prefix="ce-grade-")
        if uid is not None:
            os.chown(cwd, uid, uid)
        env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith("CE_HIDDEN")
            },
            **env,
            "HOME": cwd,
            "MPLCONFIGDIR": f"{cwd}/.mpl",
            "IPYTHONDIR": f"{cwd}/.ipython",
        }

    def preexec():
        import ctypes
        import resource

        # the runner dies with the grader, even without bwrap
        with contextlib.suppress(Exception):
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

        if uid is None:
            for name, value in rl.items():
                resource.setrlimit(
                    getattr(resource, f"RLIMIT_{name.upper()}"),
                    (value, value),
                )

    result = Run()
    started = time.monotonic()
    child = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=preexec,
        cwd=cwd,
        env=env,
        pass_fds=(seccomp[0],) if seccomp else (),
    )
    if seccomp:
        os.close(seccomp[0])
    stderr = []
    answer = frame(keys or {})
    readers = [
        threading.Thread(
            target=_read_messages, args=(child, result, answer)
        ),
        threading.Thread(target=_read_tail, args=(child.stderr, stderr)),
    ]
    for reader in readers:
        reader.daemon = True
        reader.start()
    try:
        child.stdin.write(frame(job))
        child.stdin.flush()
    except OSError:
        pass
    try:
        child.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        result.timed_out = True
    _kill(child)
    with contextlib.suppress(OSError):
        child.stdin.close()
    for reader in readers:
        reader.join(timeout=10)
    result.returncode = child.returncode
    result.seconds = time.monotonic() - started
    result.stderr = b"".join(stderr).decode("utf-8", "replace")[-2000:]
    if uid is not None and isolation.kind == "none":
        end_user_processes(uid)  # no PID namespace: what it left running
    if cwd:
        shutil.rmtree(cwd, ignore_errors=True)
    return result


@functools.lru_cache(maxsize=1)
def others_can_run_python() -> bool:
    """Whether a user of no group can read Python and the course's environment (without
    bwrap the sandbox's own user needs that; Python under a private /root is not)."""
    for found in _read_only_paths():
        path = Path(found)
        for folder in [*path.parents, path]:
            try:
                mode = folder.stat().st_mode
            except OSError:
                return False
            if not mode & stat.S_IXOTH:
                return False
        if not path.stat().st_mode & stat.S_IROTH:
            return False
    return True


def end_user_processes(uid: int) -> None:
    """Kill every process of ``uid`` (a sandbox's own user): kill(-1) sent as that user."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            [
                sys.executable,
                "-S",
                "-c",
                "import os, signal; os.kill(-1, signal.SIGKILL)",
            ],
            user=uid,
            group=uid,
            extra_groups=[],
            capture_output=True,
            timeout=30,
        )


def _kill(child):
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


#: The messages the grader takes after the runner asked for the hidden cases' keys: the
#: hidden cases' results, and the end (and, before and after, ``used``: which forbidden
#: function an answer called, sent the moment it is called). Nothing else (no cell errors, no crash text) is read
#: from then on: what an answer saw of a hidden case cannot come back as feedback.
AFTER_KEYS = ("secret", "done")


def _answer(child, answer):
    with contextlib.suppress(OSError, ValueError):
        child.stdin.write(answer)
        child.stdin.close()


def _read_messages(child, result: Run, answer: bytes = b""):
    """Read JSON lines from the runner, at most TOTAL_LIMIT bytes; stop the run past that.

    The first ``hidden`` message is answered with ``answer``; from then on only
    :data:`AFTER_KEYS` messages are kept (before it, none of them)."""
    pending, total, asked = bytearray(), 0, False
    nodes = NODE_LIMIT
    stream = child.stdout
    while True:
        chunk = stream.read1(1 << 16)
        if not chunk:
            break
        total += len(chunk)
        if total > TOTAL_LIMIT:
            result.overflow = True
            _kill(child)
            break
        start = len(pending)
        pending += chunk
        if b"\n" not in chunk:
            if len(pending) > LINE_LIMIT:
                result.overflow = True
                _kill(child)
                break
            continue
        end = pending.rindex(b"\n", start)
        for line in bytes(pending[:end]).split(b"\n"):
            if not line.strip() or len(line) > MESSAGE_LIMIT:
                continue  # the runner never sends more in one message
            if (
                line.count(b",") >= nodes
            ):  # more values than are left to keep
                nodes = -1
                result.overflow = True
                _kill(child)
                break
            try:
                message = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if not isinstance(message, dict):
                continue
            kind = message.get("m")
            if kind not in KINDS:
                continue
            nodes -= _nodes(message, nodes)
            if nodes < 0:  # the runner's own messages are far smaller
                result.overflow = True
                _kill(child)
                break
            if not asked and kind == "hidden":
                asked = True
                result.messages.append({"m": "hidden"})
                threading.Thread(
                    target=_answer, args=(child, answer), daemon=True
                ).start()
            elif kind == "used" or (kind in AFTER_KEYS) == asked:
                result.messages.append(message)
            else:
                result.out_of_turn += 1
        del pending[: end + 1]
    stream.close()


def _nodes(data, limit) -> int:
    """How many values (numbers, strings, lists, dicts) ``data`` holds, counted up to ``limit``
    (and past it by one when it holds more)."""
    count, stack = 0, [data]
    while stack and count <= limit:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def _read_tail(stream, sink):
    kept = 0
    while True:
        chunk = stream.read1(1 << 16)
        if not chunk:
            break
        if kept < 8192:
            sink.append(chunk[: 8192 - kept])
            kept += len(sink[-1])
    stream.close()
