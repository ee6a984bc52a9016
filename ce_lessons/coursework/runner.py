"""What runs inside the sandbox: one submission's code, then its functions on the check cases.

``python -m ce_lessons.coursework.runner`` reads a job (JSON) on stdin and writes JSON lines on
stdout. In order:

1. drop to the sandbox's user and set the resource limits (when started as root);
2. point stdout and stderr at /dev/null (what the submission prints is never read) and keep a
   private copy of the original stdout for the messages;
3. **before any student code runs**, call each exercise's checker with stand-in functions and keep
   only the arguments of its cases (public, and hidden ones from the exercise's key), never their
   expected values;
4. run the submission's code cells in an IPython shell (no kernel), each under a time limit, all
   of them under the submission's budget; report how each ended;
5. call the student's functions on every case (a fresh copy of the arguments each time), record
   what they returned (:func:`ce_lessons.coursework.exchange.encode`), whether they changed an
   argument, and whether they called a ``ce_lessons`` function the exercise forbids.

Nothing here decides a score: the grader re-runs the checkers outside the sandbox and replays
these outputs through them (:mod:`ce_lessons.coursework.judge`).
"""

from __future__ import annotations

import ast
import json
import os
import signal
import sys
import threading
import time

from ce_lessons.checks._framework import changed as _changed
from ce_lessons.checks._framework import fresh as _fresh

MESSAGE_LIMIT = 8 << 20  # bytes of one message
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
    def __init__(self, job, out):
        self.job, self.out = job, out
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

        from .exchange import hidden_args, rng_for

        self.plans = []
        for exercise in self.job["exercises"]:
            proxies = {
                n: Proxy(n) for n in argument_names(exercise["check"])
            }
            runs = []

            def grader(
                name,
                fn,
                cases,
                mistakes,
                rtol,
                atol,
                hidden,
                exercise=exercise,
                runs=runs,
            ):
                public = [c.args for c in cases]
                if hidden is not None:
                    built = hidden(rng_for(exercise["key"], len(runs)))
                    secret = [c.args for c in built]
                else:
                    secret = hidden_args(public, exercise["key"])
                runs.append((fn, public, secret))
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
        encode, raised = self.encode, self.raised
        for exercise, proxies, runs, error, recorder in self.plans:
            missing = []
            for name, proxy in proxies.items():
                target = (
                    self.shell.user_ns.get(name) if self.shell else None
                )
                if not callable(target):
                    missing.append(name)
                proxy.target = target if callable(target) else None
            for proxy in proxies.values():
                proxy.recorder = recorder
            timed_out = False
            left = self.start + self.job["timeout"] - 5 - time.monotonic()
            signal.setitimer(
                signal.ITIMER_REAL,
                max(0.5, min(self.job["check_timeout"], left)),
            )
            # the record of calls stays on from the first call to the message
            # sent: a patched serializer calling the course's function is seen
            sys.setprofile(recorder.hook)
            threading.setprofile(recorder.hook)  # threads it starts too
            try:
                for number, (fn, public, secret) in enumerate(runs):
                    for part, cases in (("p", public), ("h", secret)):
                        for index, args in enumerate(cases):
                            recorder.key = f"{number}/{part}/{index}"
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
            calls = {
                key: [
                    {
                        "v": encode(v)
                        if not isinstance(v, Raise)
                        else raised(v.kind, v.text),
                        "mut": m,
                    }
                    for v, m in values
                ]
                for key, values in recorder.calls.items()
            }
            if sys.getprofile() is not recorder.hook:
                recorder.tampered = True
            sys.setprofile(None)
            threading.setprofile(None)
            self.send(
                m="exercise",
                label=exercise["label"],
                calls=calls,
                used=sorted(recorder.used),
                tampered=recorder.tampered,
                missing=missing,
                timeout=timed_out,
                error=error,
            )

    def run(self):
        from . import exchange

        self.shell = None
        # bound now, before any student code: patching the modules later
        # changes nothing here
        self.encode, self.raised = exchange.encode, exchange.raised
        self.capture()
        self.send(m="ready")
        self.run_cells()
        self.run_exercises()
        self.send(m="done")


class Raise:
    def __init__(self, kind, text):
        self.kind, self.text = kind, text


class Recorder:
    """Records each call's result, and calls to forbidden ``ce_lessons`` functions."""

    def __init__(self, forbidden):
        import importlib

        self.key, self.calls, self.used, self.tampered = (
            "",
            {},
            set(),
            False,
        )
        self.codes = {}
        self.hook = self._hook  # one bound method, compared by identity
        for name in forbidden:
            module, _, function = name.rpartition(".")
            try:
                fn = getattr(
                    importlib.import_module(f"ce_lessons.{module}"),
                    function,
                )
                code = fn.__code__
            except Exception:
                continue
            self.codes[(code.co_filename, code.co_name)] = name

    def _hook(self, frame, event, arg):
        if event == "call":
            code = frame.f_code
            name = self.codes.get((code.co_filename, code.co_name))
            if name:
                self.used.add(name)


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


def main():
    job = json.loads(sys.stdin.read(1 << 24))
    if os.getuid() == 0 and job.get("uid"):
        limit_resources(job.get("limits", {}))
        os.setgroups([])
        os.setgid(job["uid"])
        os.setuid(job["uid"])
    out = os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (for good)
    try:
        Runner(job, out).run()
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
