"""What runs inside the sandbox: one submission's code, then its functions on the check cases.

``python -m ce_lessons.coursework.runner`` reads a job on stdin (its length, a newline, JSON) and
writes JSON lines on stdout. In order:

1. drop to the sandbox's user and set the resource limits (when started as root);
2. point stdout and stderr at /dev/null (what the submission prints is never read) and keep
   private copies of the original stdin and stdout for the grader's messages;
3. **before any student code runs**, call each exercise's checker with stand-in functions and keep
   only the arguments of its public cases and its hidden-case builder, never expected values;
4. run the submission's code cells in an IPython shell (no kernel), each under a time limit, all
   of them under the submission's budget; report how each ended;
5. end every other process of the sandbox; call the student's functions on every public case (a
   fresh copy of the arguments each time), record what they returned
   (:func:`ce_lessons.coursework.exchange.encode`), whether they changed an argument, and whether
   they ran a ``ce_lessons`` function the exercise forbids (:class:`Recorder`);
6. ask the grader for the hidden cases' keys (``hidden``): only now, with the cells done, do the
   hidden cases exist in this process; call the functions on them and send their results
   (``secret``). From the ``hidden`` message on, the grader reads nothing else: what an answer
   sees of a hidden case cannot come back as feedback.

The submission's code shares this process and can change anything in it: these records stop the
ordinary ways to reach the course's functions or the hidden cases (a copy, a thread, a process,
switching the record off, erasing it), not code written against this module's internals
(``tests/coursework/test_redteam.py`` lists what is caught).

Nothing here decides a score: the grader re-runs the checkers outside the sandbox and replays
these outputs through them (:mod:`ce_lessons.coursework.judge`).
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import signal
import sys
import threading
import time

from ce_lessons.checks._framework import changed as _changed
from ce_lessons.checks._framework import fresh as _fresh

MESSAGE_LIMIT = 8 << 20  # bytes of one message
CALLS_LIMIT = 6 << 20  # bytes of encoded results in one exercise's message
_dumps = json.dumps  # bound before any student code runs


class TimeUp(BaseException):
    """Raised by the alarm in the running cell or check."""


def _alarm(*_):
    raise TimeUp()


def checker_name(expression: str) -> str:
    """``softmax`` for ``checks.softmax(my_softmax)``."""
    node = ast.parse(expression, mode="eval").body
    func = node.func if isinstance(node, ast.Call) else None
    return func.attr if isinstance(func, ast.Attribute) else ""


def argument_names(expression: str) -> list:
    node = ast.parse(expression, mode="eval").body
    return sorted(
        {
            n.id
            for n in ast.walk(node)
            if isinstance(n, ast.Name) and n.id != "checks"
        }
    )


class Runner:
    def __init__(self, job, out, inp=None):
        self.job, self.out, self.inp = job, out, inp
        self.start = time.monotonic()

    def send(self, **message):
        line = _dumps(message)
        if len(line) > MESSAGE_LIMIT:
            line = _dumps(
                {
                    "m": message.get("m"),
                    "too_big": True,
                    **{
                        k: message[k]
                        for k in ("label", "i")
                        if k in message
                    },
                }
            )
        # a leading newline ends whatever the submission wrote to this pipe
        self.out.write("\n" + line + "\n")
        self.out.flush()

    # --- 3. the cases, before any student code -------------------------------------------

    def capture(self):
        from ce_lessons import checks
        from ce_lessons.checks import _framework

        self.plans = []
        for exercise in self.job["exercises"]:
            proxies = {
                n: Proxy(n) for n in argument_names(exercise["check"])
            }
            runs = []

            def grader(
                name, fn, cases, mistakes, rtol, atol, hidden, runs=runs
            ):
                # the arguments only; the hidden ones are built after the
                # cells, from a key the grader sends only then
                runs.append((fn, [c.args for c in cases], hidden))
                return _framework.CheckResult(name)

            _framework._GRADER = grader
            try:
                eval(exercise["check"], {"checks": checks, **proxies})
                error = ""
            except Exception as e:  # the chapter's own check is broken
                error = f"{type(e).__name__}: {str(e)[:200]}"
            finally:
                _framework._GRADER = None
            forbidden = _framework.reference_functions(
                checker_name(exercise["check"])
            )
            self.plans.append(
                (exercise, proxies, runs, error, Recorder(forbidden))
            )

    # --- 4. the cells --------------------------------------------------------------------

    def run_cells(self):
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config

        config = Config()
        config.HistoryManager.enabled = False
        self.shell = InteractiveShell.instance(config=config)
        shell = self.shell
        # exit() and quit() in a notebook: IPython's terminal would stop; here
        # the grader notes it and goes on (a notebook has no "rest of the file")
        shell.ask_exit = lambda: setattr(shell, "exit_now", True)
        self.shell.user_ns["__name__"] = "__main__"
        deadline = self.start + self.job["cell_budget"]
        signal.signal(signal.SIGALRM, _alarm)
        for cell in self.job["cells"]:
            left = deadline - time.monotonic()
            if left <= 0:
                self.send(m="budget", i=cell["i"])
                return
            limit = min(self.job["cell_timeout"], left)
            self.send(m="cell", i=cell["i"], e="start")
            signal.setitimer(signal.ITIMER_REAL, limit)
            try:
                result = self.shell.run_cell(cell["source"], silent=True)
            except TimeUp:
                result = None
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            self.report_cell(
                cell["i"], result, limit < self.job["cell_timeout"]
            )

    def report_cell(self, index, result, budget):
        error = (
            None
            if result is None
            else (result.error_in_exec or result.error_before_exec)
        )
        if result is None or isinstance(error, TimeUp):
            self.send(
                m="cell", i=index, e="budget" if budget else "timeout"
            )
        elif isinstance(error, SystemExit) or self.shell.exit_now:
            self.shell.exit_now = False
            self.send(m="cell", i=index, e="exit")
        elif error is not None:
            self.send(
                m="cell",
                i=index,
                e="error",
                kind=type(error).__name__[:60],
                text=str(error)[:200],
            )
        else:
            self.send(m="cell", i=index, e="ok")

    # --- 5. the functions on the cases ---------------------------------------------------

    def run_exercises(self):
        """Every exercise's public cases, then, with the keys the grader sends only now, the
        hidden ones. What is sent after the ``hidden`` message carries no free text the
        grader shows: what the answers see of a hidden case never reaches the feedback."""
        if self.job.get("pid_namespace"):
            # processes the notebook left running (a helper that would compute
            # the answers out of the record's sight) end here; kill(-1) reaches
            # only this sandbox's own PID namespace
            with contextlib.suppress(OSError):
                os.kill(-1, signal.SIGKILL)
        spent = {}
        for exercise, proxies, runs, error, recorder in self.plans:
            missing = []
            for name, proxy in proxies.items():
                target = (
                    self.shell.user_ns.get(name) if self.shell else None
                )
                if not callable(target):
                    missing.append(name)
                proxy.target = target if callable(target) else None
                proxy.recorder = recorder
            cases = [
                (f"{n}/p/{i}", fn, args)
                for n, (fn, public, _) in enumerate(runs)
                for i, args in enumerate(public)
            ]
            threads = self.active_threads() - 1
            started = time.monotonic()
            timed_out = self.call_all(
                exercise["label"],
                recorder,
                cases,
                self.job["check_timeout"],
            )
            spent[exercise["label"]] = time.monotonic() - started
            self.send(
                m="exercise",
                label=exercise["label"],
                missing=missing,
                error=error,
                threads=max(0, threads),
                timeout=timed_out,
                **recorder.report(self.encode, self.raised),
            )
        keys = self.ask_keys()
        secrets = [self.secret(plan, keys) for plan in self.plans]
        for (exercise, _, _, _, recorder), cases in zip(
            self.plans, secrets
        ):
            recorder.reset()
            left = self.job["check_timeout"] - spent.get(
                exercise["label"], 0
            )
            timed_out = self.call_all(
                exercise["label"], recorder, cases, left
            )
            self.send(
                m="secret",
                label=exercise["label"],
                timeout=timed_out,
                **recorder.report(self.encode, self.raised),
            )

    def active_threads(self) -> int:
        try:
            return len(self.listdir("/proc/self/task"))
        except OSError:
            return 1

    def ask_keys(self) -> dict:
        """The hidden cases' keys, sent by the grader when asked (never before the cells ran)."""
        self.send(m="hidden")
        signal.setitimer(signal.ITIMER_REAL, 10)
        try:
            keys = read_frame(self.inp)
        except (TimeUp, OSError, ValueError, EOFError):
            keys = {}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        return keys if isinstance(keys, dict) else {}

    def secret(self, plan, keys) -> list:
        """The hidden cases of one exercise: (key of the call, function, arguments)."""
        exercise, _, runs, _, _ = plan
        key = keys.get(exercise["label"])
        if not isinstance(key, str):
            return []
        cases = []
        for n, (fn, public, hidden) in enumerate(runs):
            try:
                if hidden is not None:
                    built = [c.args for c in hidden(self.rng_for(key, n))]
                else:
                    built = self.hidden_args(public, key)
            except (
                Exception
            ):  # a checker the notebook changed: no hidden case
                built = []
            cases += [
                (f"{n}/h/{j}", fn, args) for j, args in enumerate(built)
            ]
        return cases

    def call_all(self, label, recorder, cases, seconds) -> bool:
        """Call the answers on the cases under the record of calls; True if time ran out."""
        left = self.start + self.job["timeout"] - 5 - time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, max(0.5, min(seconds, left)))
        timed_out = False
        # the record of calls stays on from the first call to the message
        # sent: a patched serializer calling the course's function is seen
        recorder.notify = lambda name: self.send(
            m="used", label=label, name=name
        )
        recorder.start()
        sys.setprofile(recorder.hook)
        threading.setprofile(recorder.hook)  # threads it starts too
        try:
            for key, fn, args in cases:
                recorder.key = key
                try:
                    fn(*_fresh(args))
                except TimeUp:
                    raise
                except BaseException:  # recorded by the proxy
                    pass
        except TimeUp:
            timed_out = True
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        return timed_out

    def run(self):
        from . import exchange

        self.shell = None
        # bound now, before any student code: patching the modules later
        # changes nothing here
        self.encode, self.raised = exchange.encode, exchange.raised
        self.rng_for, self.hidden_args = (
            exchange.rng_for,
            exchange.hidden_args,
        )
        self.listdir = os.listdir
        self.capture()
        self.send(m="ready")
        self.run_cells()
        self.run_exercises()
        self.send(m="done")


class Raise:
    def __init__(self, kind, text):
        self.kind, self.text = kind, text


def _code_key(code):
    """What a function's code is, whoever compiled it and under whatever name: the names it
    uses, its variables, its arguments and constants (not the docstring, not the bytecode,
    which differs between compilations of one source)."""
    consts = tuple(
        c
        for c in code.co_consts[1:]
        if isinstance(c, (str, bytes, int, float, complex, type(None)))
    )
    return (
        code.co_names,
        code.co_varnames,
        code.co_argcount,
        code.co_kwonlyargcount,
        repr(consts),
    )


_WRAPPER = (
    "def wrapper(*args, __ce_grade_real__=None, __ce_grade_seen__=None,"
    " **kwargs):\n"
    "    __ce_grade_seen__()\n"
    "    return __ce_grade_real__(*args, **kwargs)\n"
)


class Recorder:
    """Records each call's result, and calls to forbidden ``ce_lessons`` functions.

    A forbidden function is recognised by its code, not its name: the module's function, a
    reloaded copy, a copy of its ``__code__`` under another name and ``exec`` of its source all
    run the same bytecode. Two records: a profile hook (this thread and the threads the answers
    start), and, while the cases run, every function object in memory that holds that code
    made to note its own calls (so that a thread started earlier is seen too)."""

    def __init__(self, forbidden):
        import importlib
        import inspect
        import types

        self.key, self.calls, self.used, self.tampered = (
            "",
            {},
            set(),
            False,
        )
        self.spawned = False
        self.codes = {}
        self.hook = self._hook  # one bound method, compared by identity
        self._types = types
        for name in forbidden:
            module, _, function = name.rpartition(".")
            try:
                fn = getattr(
                    importlib.import_module(f"ce_lessons.{module}"),
                    function,
                )
                # its own code, not a decorator's that other functions share
                code = inspect.unwrap(fn).__code__
            except Exception:
                continue
            self.codes[_code_key(code)] = name
        self.names = {key[0] for key in self.codes}  # a quick first test
        self.notify = None
        self.swapped = []
        namespace = {}
        exec(_WRAPPER, namespace)  # noqa: S102 (the grader's own text)
        self.wrapper = namespace["wrapper"].__code__
        self.tamper = {sys.setprofile, sys.settrace}
        self.spawners = set()
        for module, names in (
            (
                "os",
                (
                    "fork",
                    "forkpty",
                    "posix_spawn",
                    "posix_spawnp",
                    "execv",
                    "execve",
                    "system",
                ),
            ),
            ("_posixsubprocess", ("fork_exec",)),
        ):
            with contextlib.suppress(ImportError):
                found = importlib.import_module(module)
                self.spawners |= {
                    getattr(found, n) for n in names if hasattr(found, n)
                }

    def reset(self):
        self.calls, self.used, self.tampered = {}, set(), False
        self.spawned = False

    def start(self):
        """Make every function object holding a forbidden code note its calls."""
        import gc

        if not self.codes:
            return
        FunctionType = self._types.FunctionType
        for obj in gc.get_objects():
            if type(obj) is not FunctionType:
                continue
            code = obj.__code__
            if code.co_names not in self.names:
                continue
            name = self.codes.get(_code_key(code))
            if name is None or code.co_freevars:
                continue
            real = FunctionType(
                code, obj.__globals__, obj.__name__, obj.__defaults__
            )
            real.__kwdefaults__ = obj.__kwdefaults__
            self.swapped.append((obj, code, obj.__kwdefaults__))
            obj.__code__ = self.wrapper
            obj.__kwdefaults__ = {
                "__ce_grade_real__": real,
                "__ce_grade_seen__": lambda name=name: self.seen(name),
            }

    def stop(self):
        for obj, code, kwdefaults in self.swapped:
            with contextlib.suppress(Exception):
                obj.__code__ = code
                obj.__kwdefaults__ = kwdefaults
        self.swapped = []

    def report(self, encode, raised) -> dict:
        """The calls' results and what the record saw, as JSON-able data (ends the record)."""
        calls, room = {}, CALLS_LIMIT
        for key, values in self.calls.items():
            entries = calls.setdefault(key, [])
            for v, m in values:
                if isinstance(v, Raise):
                    data = raised(v.kind, v.text)
                else:
                    data = encode(v)
                    size = len(data.get("data", "")) if data else 0
                    if size > room:  # too large to send: said, not lost
                        data = raised(
                            "ValueError",
                            "returned more numbers than the grader takes back"
                            f" ({CALLS_LIMIT >> 20} MB for all the cases of "
                            "one exercise); expected a result the size of "
                            "the case",
                        )
                        size = 0
                    room -= size
                entries.append({"v": data, "mut": m})
        tampered = self.tampered or sys.getprofile() is not self.hook
        found = {
            "calls": calls,
            "used": sorted(self.used),
            "tampered": tampered,
            "spawned": self.spawned,
        }
        sys.setprofile(None)
        threading.setprofile(None)
        self.stop()
        return found

    def seen(self, name):
        """A forbidden function ran: noted, and sent to the grader at once (for good)."""
        if name not in self.used:
            self.used.add(name)
            if self.notify is not None:
                with contextlib.suppress(Exception):
                    self.notify(name)

    def _hook(self, frame, event, arg):
        if event == "call":
            code = frame.f_code
            if code.co_names in self.names:
                name = self.codes.get(_code_key(code))
                if name:
                    self.seen(name)
        elif event == "c_call":
            if arg in self.tamper:
                self.tampered = True
            elif arg in self.spawners:
                self.spawned = True


class Proxy:
    """Stands for a student's function in the checker; records what the function returns."""

    def __init__(self, name):
        self.name, self.target, self.recorder = name, None, None

    def __call__(self, *args):
        recorder = self.recorder
        if recorder is None:  # during capture: the checker's own calls
            raise NameError(self.name)
        record = recorder.calls.setdefault(recorder.key, [])
        if self.target is None:
            record.append(
                (
                    Raise(
                        "NameError", f"name '{self.name}' is not defined"
                    ),
                    False,
                )
            )
            raise NameError(self.name)
        before = _fresh(args)
        try:
            value = self.target(*args)
        except TimeUp:
            raise
        except BaseException as error:
            record.append(
                (
                    Raise(type(error).__name__, str(error)),
                    _changed(before, args),
                )
            )
            raise
        finally:
            if sys.getprofile() is not recorder.hook:
                recorder.tampered = True
                sys.setprofile(recorder.hook)
        record.append((value, _changed(before, args)))
        return value


def limit_resources(limits):
    import resource

    for name, value in limits.items():
        which = getattr(resource, f"RLIMIT_{name.upper()}")
        resource.setrlimit(which, (value, value))


def read_frame(fd):
    """One message from the grader on ``fd``: its length, a newline, then JSON."""
    head = b""
    while not head.endswith(b"\n"):
        byte = os.read(fd, 1)
        if not byte or len(head) > 20:
            raise EOFError("no message")
        head += byte
    size, parts = int(head), []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError("message cut short")
        parts.append(chunk)
        size -= len(chunk)
    return json.loads(b"".join(parts))


def main():
    job = read_frame(0)
    # the first process the kernel's OOM killer takes
    with (
        contextlib.suppress(OSError),
        open("/proc/self/oom_score_adj", "w") as handle,
    ):
        handle.write("1000")
    if os.getuid() == 0 and job.get("uid"):
        limit_resources(job.get("limits", {}))
        os.setgroups([])
        os.setgid(job["uid"])
        os.setuid(job["uid"])
    out = os.fdopen(os.dup(1), "w")
    inp = os.dup(0)  # the hidden cases' keys come here, after the cells
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (for good)
    try:
        Runner(job, out, inp).run()
    except BaseException as error:
        try:
            out.write(
                json.dumps(
                    {
                        "m": "crash",
                        "text": f"{type(error).__name__}: {str(error)[:200]}",
                    }
                )
                + "\n"
            )
            out.flush()
        except BaseException:
            pass
    os._exit(0)


if __name__ == "__main__":
    main()
