"""Self-checks for the exercises: run a learner's function on public cases and say what went wrong.

Each checker takes the learner's function, runs it on a few public cases (edge cases included:
huge logits, one class, a batch of one, ignored targets), compares each result with ``ce_lessons``,
and returns a :class:`CheckResult`. When a case fails, the checker compares the learner's outputs
with the outputs of the classic mistakes (no max shift, softmax over the wrong dimension, sum
where the mean was expected, …) and gives the matching hint, in a sentence or two, without the
solution. The same checkers grade submitted notebooks, so a learner's self-check and the
instructor's score never disagree.

>>> from ce_lessons import checks
>>> import numpy as np
>>> checks.softmax(lambda x, dim: x).passed  # returned the logits unchanged
False
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

import numpy as np

from . import gradients, logits, losses, probabilities as prob
from ._validate import to_numpy

RTOL, ATOL = 1e-6, 1e-9


@dataclass(frozen=True)
class Case:
    """One public case: a label a learner understands, the arguments, the expected result."""

    label: str
    args: tuple
    expected: np.ndarray


@dataclass(frozen=True)
class Mistake:
    """A classic mistake: what the learner's function returns if they make it, and the hint."""

    hint: str
    wrong: object  # a function of the case's arguments


@dataclass
class CheckResult:
    """What a self-check found: which public cases passed, which failed, and why."""

    exercise: str
    passed_cases: list = field(default_factory=list)
    failed_cases: list = field(default_factory=list)
    message: str = ""

    @property
    def passed(self) -> bool:
        return not self.failed_cases

    @property
    def score(self) -> float:
        """The fraction of public cases passed, from 0 to 1."""
        total = len(self.passed_cases) + len(self.failed_cases)
        return len(self.passed_cases) / total if total else 0.0

    def __repr__(self) -> str:
        total = len(self.passed_cases) + len(self.failed_cases)
        if self.passed:
            head = f"{self.exercise}: all {total} public cases pass."
        else:
            head = f"{self.exercise}: {len(self.passed_cases)} of {total} public cases pass."
        lines = [head] + [f"  ok    {label}" for label in self.passed_cases]
        lines += [f"  FAIL  {label}" for label in self.failed_cases]
        if self.message:
            lines += textwrap.wrap(self.message, width=72)
        return "\n".join(lines)


def _outcome(fn, case):
    """The learner's result for one case as a float64 array, or the exception it raised."""
    try:
        return np.asarray(to_numpy(fn(*case.args), "your function's result"), dtype=np.float64)
    except Exception as error:  # a learner's bug must become feedback, not a traceback
        return error


def _matches(got, expected, rtol=RTOL, atol=ATOL) -> bool:
    return (
        isinstance(got, np.ndarray)
        and got.shape == np.shape(expected)
        and bool(np.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True))
    )


def _difference(label, got, expected) -> str:
    """The learner-facing description of a mismatch that no known mistake explains."""
    if isinstance(got, Exception):
        return f"On '{label}' your function raised {type(got).__name__}: {str(got)[:200]}"
    if got.shape != np.shape(expected):
        return f"On '{label}' your function returned shape {got.shape}; expected shape {np.shape(expected)}."
    with np.errstate(invalid="ignore"):
        gap = np.where(np.isnan(got) != np.isnan(expected), np.inf, np.abs(np.nan_to_num(got - expected)))
    where = np.unravel_index(int(np.argmax(gap)), gap.shape) if gap.ndim else ()
    index = f" at index {tuple(int(i) for i in where)}" if where else ""
    return (
        f"Does not match on '{label}': the largest difference is {float(gap[where]):.3g}{index} "
        f"(expected {float(np.asarray(expected)[where]):.6g}, got {float(got[where]):.6g})."
    )


def run_check(exercise, fn, cases, mistakes=(), rtol=RTOL, atol=ATOL):
    """Run ``fn`` on every case; on failure, name the classic mistake whose outputs it reproduces."""
    result = CheckResult(exercise)
    failures = []
    for case in cases:
        got = _outcome(fn, case)
        if _matches(got, case.expected, rtol, atol):
            result.passed_cases.append(case.label)
        else:
            result.failed_cases.append(case.label)
            failures.append((case, got))
    if failures:
        result.message = _diagnose(failures, mistakes)
    return result


def _diagnose(failures, mistakes):
    for mistake in mistakes:
        if all(_matches(got, _wrong_output(mistake, case)) for case, got in failures):
            return "Hint: " + mistake.hint
    case, got = failures[0]
    return _difference(case.label, got, case.expected)


def _wrong_output(mistake, case):
    try:
        with np.errstate(all="ignore"):
            return np.asarray(mistake.wrong(*case.args), dtype=np.float64)
    except Exception:
        return None


# --- the cases ------------------------------------------------------------------------------

VECTOR = np.array([2.0, 1.0, 0.1])
BATCH = np.array([[1.0, 2.0, 3.0], [1.0, -1.0, 0.0]])
HUGE = np.array([[1000.0, 999.0, 0.0], [-1000.0, 0.0, 1000.0]])
ONE_CLASS = np.array([[0.3], [-2.0]])
ONE_ROW = np.array([[0.5, -0.5, 2.0, 0.0]])
PIXELS = np.array([[[[0.1, 0.3], [0.4, 0.5]], [[0.2, 0.3], [0.4, 0.5]], [[0.7, 0.4], [0.2, 0.0]]]])
PIXEL_TARGET = np.array([[[2, 2], [0, 1]]])


def _logit_cases(reference):
    """Cases for a function of (logits, dim), with their expected results from ``reference``."""
    inputs = [
        ("a vector of 3 logits", VECTOR, 0),
        ("a batch of 2 (classes in dim 1)", BATCH, 1),
        ("the same batch (classes in dim 0)", BATCH, 0),
        ("huge logits (±1000)", HUGE, 1),
        ("one class", ONE_CLASS, 1),
        ("a batch of one", ONE_ROW, 1),
    ]
    return [Case(label, (x, dim), reference(x, dim)) for label, x, dim in inputs]


def _other_dim(x, dim):
    return 1 - dim if np.ndim(x) == 2 else dim


def _naive_softmax(x, dim):
    e = np.exp(x)
    return e / e.sum(axis=dim, keepdims=True)


SOFTMAX_MISTAKES = [
    Mistake(
        "at large logits exp() overflows to inf and inf/inf is nan. Subtract the largest logit first: "
        "softmax(x) = softmax(x − max x), which changes nothing mathematically.",
        _naive_softmax,
    ),
    Mistake(
        "your probabilities sum to 1 over the wrong dimension. Normalize along `dim`, the class dimension "
        "(keepdims=True keeps the shapes lined up).",
        lambda x, dim: prob.softmax(x, _other_dim(x, dim)),
    ),
    Mistake("your outputs do not sum to 1: divide the exponentials by their sum over `dim`.", lambda x, dim: np.exp(x)),
    Mistake(
        "you returned log-probabilities; softmax returns the probabilities themselves (exponentiate).",
        lambda x, dim: prob.log_softmax(x, dim),
    ),
]

LOG_SOFTMAX_MISTAKES = [
    Mistake(
        "log(softmax(x)) computed naively overflows or underflows at large logits (log 0 = −inf, inf/inf = nan). "
        "Use x − logsumexp(x), with the largest logit subtracted inside the logsumexp.",
        lambda x, dim: np.log(_naive_softmax(x, dim)),
    ),
    Mistake(
        "log(softmax(x)) is exact for small logits but turns to −inf when a probability underflows to 0. "
        "Work in log space: x − logsumexp(x), never log of a softmax.",
        lambda x, dim: np.log(prob.softmax(x, dim)),
    ),
    Mistake(
        "you normalized over the wrong dimension: subtract the logsumexp over `dim`, the class dimension.",
        lambda x, dim: prob.log_softmax(x, _other_dim(x, dim)),
    ),
    Mistake(
        "you returned probabilities; log_softmax returns their logarithms.",
        lambda x, dim: prob.softmax(x, dim),
    ),
    Mistake(
        "you subtracted the max but not the log of the sum: x − max(x) is only the first step of x − logsumexp(x).",
        lambda x, dim: x - np.max(x, axis=dim, keepdims=True),
    ),
]


def softmax(fn):
    """Check ``fn(x, dim)`` against ``ce_lessons.softmax`` on vectors, batches, huge logits and one class."""
    return run_check("softmax", fn, _logit_cases(prob.softmax), SOFTMAX_MISTAKES)


def log_softmax(fn):
    """Check ``fn(x, dim)`` against ``ce_lessons.log_softmax``, huge logits included."""
    return run_check("log_softmax", fn, _logit_cases(prob.log_softmax), LOG_SOFTMAX_MISTAKES)


def logits_from_probs(fn):
    """Check ``fn(p)``: logits (classes in dim 1) whose ``cross_entropy`` equals the textbook loss of ``p``.

    Any x = log p + constant is right, so the check compares softmax(fn(p)) with p itself.
    """
    inputs = [
        ("the forum thread's probs1", PIXELS),
        ("a batch of 2", prob.softmax(BATCH, 1)),
        ("a batch of one", prob.softmax(ONE_ROW, 1)),
        ("a confident prediction", np.array([[0.98, 0.01, 0.01]])),
    ]
    cases = [Case(label, (p,), p) for label, p in inputs]
    mistakes = [
        Mistake(
            "log(p / (1 − p)) inverts a sigmoid, one probability at a time; softmax couples the classes. "
            "Which logits x give softmax(x) = p? Take the log of softmax(x)_c = e^{x_c} / Σ e^{x_k}.",
            lambda p: prob.softmax(logits.logit(p), 1),
        ),
        Mistake(
            "you passed the probabilities through unchanged; cross_entropy would apply a softmax to them "
            "(that is how the thread got its surprising number).",
            lambda p: prob.softmax(p, 1),
        ),
    ]
    return run_check("logits_from_probs", lambda p: prob.softmax(fn(p), 1), cases, mistakes)


def _ce_cases():
    targets_2 = np.array([2, 0])
    return [
        ("a batch of 2", BATCH, targets_2),
        ("huge logits (±1000)", HUGE, np.array([0, 2])),
        ("one class", ONE_CLASS, np.array([0, 0])),
        ("a batch of one", ONE_ROW, np.array([3])),
        ("per-pixel logits (1, 3, 2, 2)", PIXELS * 4.0, PIXEL_TARGET),
    ]


def cross_entropy(fn):
    """Check ``fn(logits, target)``, a mean cross-entropy over class-index targets, classes in dim 1."""
    cases = [Case(label, (x, y), np.asarray(losses.cross_entropy(x, y))) for label, x, y in _ce_cases()]
    count = lambda y: np.asarray(y).size  # noqa: E731 (the N of the mean, spatial positions included)
    mistakes = [
        Mistake(
            "you applied a softmax to the logits and then cross_entropy applied another one (the double "
            "softmax): the loss expects raw logits.",
            lambda x, y: losses.cross_entropy(prob.softmax(x, 1), y),
        ),
        Mistake(
            "you took the log of the logits as if they were probabilities; the loss must turn logits into "
            "log-probabilities first (log_softmax over the class dimension).",
            lambda x, y: losses.nll_loss(np.log(x), y),
        ),
        Mistake(
            "your result is N times too large: that is the sum over the examples, and the default "
            "reduction is the mean.",
            lambda x, y: losses.cross_entropy(x, y, reduction="sum"),
        ),
        Mistake(
            "your result is N times too small: divide the summed loss by the number of targets once, not twice.",
            lambda x, y: losses.cross_entropy(x, y) / count(y),
        ),
        Mistake("the sign is flipped: the loss is −log p of the true class, which is never negative.", lambda x, y: -losses.cross_entropy(x, y)),
        Mistake(
            "your loss is C times too small: the mean ran over all N×C entries of one_hot × log p. Sum over "
            "the classes first, then average over the examples.",
            lambda x, y: losses.cross_entropy(x, y) / np.shape(x)[1],
        ),
        Mistake(
            "you normalized over the wrong dimension: the classes are dim 1.",
            lambda x, y: losses.nll_loss(prob.log_softmax(x, 0), y),
        ),
        Mistake(
            "at huge logits exp() overflows: compute log-probabilities as x − logsumexp(x) with the max shift.",
            lambda x, y: losses.nll_loss(np.log(_naive_softmax(x, 1)), y),
        ),
    ]
    return run_check("cross_entropy", fn, cases, mistakes)


def cross_entropy_grad(fn):
    """Check ``fn(logits, target)`` = ∂ mean cross_entropy / ∂ logits, for (N, C) logits and index targets."""
    cases = [
        Case(label, (x, y), gradients.cross_entropy_grad(x, y)) for label, x, y in _ce_cases() if np.ndim(x) == 2
    ]
    mistakes = [
        Mistake(
            "your gradient is N times too large: with the mean reduction every example's p − onehot(y) is "
            "divided by N.",
            lambda x, y: gradients.cross_entropy_grad(x, y, reduction="sum"),
        ),
        Mistake(
            "you subtracted 1 from every class. Only the true class gets p − 1; every other class gets p.",
            lambda x, y: (prob.softmax(x, 1) - 1.0) / np.shape(x)[0],
        ),
        Mistake(
            "the sign is flipped: the gradient is p − onehot(y), not onehot(y) − p.",
            lambda x, y: -gradients.cross_entropy_grad(x, y),
        ),
        Mistake(
            "you returned p − onehot(y) for probabilities computed over the wrong dimension: softmax over dim 1.",
            lambda x, y: (prob.softmax(x, 0) - prob.one_hot(y, np.shape(x)[1])) / np.shape(x)[0],
        ),
    ]
    return run_check("cross_entropy_grad", fn, cases, mistakes)


def channels_first(fn):
    """Check ``fn(x)``: channels-last logits (N, H, W, C) moved to (N, C, H, W).

    The cases include a square image whose side equals C, where a wrong
    reshape still gives the right shape and only the values betray it.
    """
    rng = np.random.default_rng(7)
    shapes = [(1, 2, 2, 3), (2, 3, 4, 5), (1, 3, 3, 3), (1, 1, 1, 4)]
    cases = []
    for n, h, w, c in shapes:
        x = rng.normal(size=(n, h, w, c)).round(3)
        label = f"(N, H, W, C) = {(n, h, w, c)}"
        cases.append(Case(label, (x,), np.moveaxis(x, -1, 1)))
    mistakes = [
        Mistake(
            "reshape keeps the numbers in memory order, so it gives the right shape "
            "but mixes pixels and classes. Move the class axis instead "
            "(np.moveaxis, np.transpose, or torch's permute).",
            lambda x: x.reshape(x.shape[0], x.shape[3], x.shape[1], x.shape[2]),
        ),
        Mistake(
            "the classes are in dim 1 now, but H and W are swapped: the order "
            "of the other axes must stay (N, ·, H, W).",
            lambda x: np.transpose(x, (0, 3, 2, 1)),
        ),
    ]
    return run_check("channels_first", fn, cases, mistakes)


def double_softmax_loss(fn):
    """Check ``fn(C, m)``: the loss when softmax is applied twice to logits (m, 0, …, 0).

    The first class is the true one. Expected values are measured with
    ``cross_entropy`` of the softmax, for several C and margins m.
    """

    def measured(c, m):
        logits = np.zeros((1, c))
        logits[0, 0] = m
        return np.asarray(losses.cross_entropy(prob.softmax(logits, 1), [0]))

    pairs = [(2, 0.0), (3, 2.0), (3, -8.0), (10, 5.0), (27, 40.0)]
    cases = [Case(f"C = {c}, m = {m:g}", (c, m), measured(c, m)) for c, m in pairs]
    mistakes = [
        Mistake(
            "that is the loss of the right model, cross_entropy(x) with no second "
            "softmax. Apply softmax to the logits first, then the loss's own softmax.",
            lambda c, m: losses.cross_entropy(np.eye(1, c) * m, [0]),
        ),
        Mistake(
            "that is the floor log(1 + (C − 1)/e), reached only as m → ∞, when the "
            "first softmax is certain. For a finite m, work out q = softmax(x) first.",
            lambda c, m: np.log(1.0 + (c - 1) / np.e),
        ),
        Mistake(
            "the sign is flipped: a loss −log q is never negative.",
            lambda c, m: -measured(c, m),
        ),
    ]
    return run_check("double_softmax_loss", fn, cases, mistakes)


def finite_difference(fn):
    """Check ``fn(f, x)``: the gradient of a scalar function ``f`` at ``x`` by finite differences.

    The cases are functions whose gradient is known exactly: a sum of squares, logsumexp (its
    gradient is the softmax) and a cross-entropy as a function of its logits.
    """
    x = np.array([[0.5, -1.0, 2.0], [0.0, 0.3, -0.7]])
    y = np.array([2, 0])
    functions = [
        ("sum of squares", lambda z: float(np.sum(z**2)), np.array([1.0, -2.0, 0.5]), lambda z: 2 * z),
        ("logsumexp", lambda z: float(prob.logsumexp(z, 0)), x[0], lambda z: prob.softmax(z, 0)),
        (
            "cross_entropy of (2, 3) logits",
            lambda z: losses.cross_entropy(z, y),
            x,
            lambda z: gradients.cross_entropy_grad(z, y),
        ),
    ]
    cases = [Case(label, (f, z.copy()), exact(z)) for label, f, z, exact in functions]

    def forward(f, z, h=1e-5):
        return np.array([(f(z + h * e) - f(z)) / h for e in np.eye(z.size).reshape(-1, *z.shape)]).reshape(z.shape)

    mistakes = [
        Mistake(
            "your gradient is twice the right one: a central difference spans 2h, from x − h to x + h, "
            "so divide by 2h.",
            lambda f, z: 2.0 * gradients.finite_difference_grad(f, z, h=1e-5),
        ),
        Mistake("the sign is flipped: it is f(x + h) − f(x − h), over 2h.", lambda f, z: -gradients.finite_difference_grad(f, z, h=1e-5)),
        Mistake(
            "that is a forward difference, whose error shrinks only like h: use the central difference "
            "(f(x + h) − f(x − h)) / 2h, whose error shrinks like h².",
            forward,
        ),
    ]
    # tight enough that only a central difference passes, whatever step h it uses
    return run_check("finite_difference", fn, cases, mistakes, rtol=1e-8, atol=1e-10)


def smoothed_grad(fn):
    """Check ``fn(x, y, eps)``: ∂ cross_entropy / ∂ x for one example with label smoothing ε."""
    rng = np.random.default_rng(3)
    inputs = [
        ("C = 3, ε = 0.1", np.array([2.0, 1.0, 0.1]), 0, 0.1),
        ("C = 5, ε = 0 (no smoothing)", rng.normal(size=5), 3, 0.0),
        ("C = 4, ε = 1 (uniform target)", rng.normal(size=4), 1, 1.0),
        ("C = 27, ε = 0.2", rng.normal(size=27), 26, 0.2),
        ("huge logits (±1000)", np.array([1000.0, -1000.0, 0.0]), 1, 0.1),
    ]
    cases = [
        Case(label, (x, y, eps), gradients.cross_entropy_grad(x, y, label_smoothing=eps))
        for label, x, y, eps in inputs
    ]

    def spread_over_others(x, y, eps):
        c = np.size(x)
        q = np.full(c, eps / (c - 1))
        q[y] = 1.0 - eps
        return prob.softmax(x, 0) - q

    mistakes = [
        Mistake(
            "you left out the smoothing: that is p − onehot(y). With label smoothing the target is "
            "q = (1 − ε)·onehot(y) + ε/C, and the gradient is p − q.",
            lambda x, y, eps: gradients.cross_entropy_grad(x, y),
        ),
        Mistake(
            "you spread ε over the C − 1 wrong classes only. PyTorch spreads it over all C classes, the "
            "true one included: q = (1 − ε)·onehot(y) + ε/C.",
            spread_over_others,
        ),
        Mistake(
            "the sign is flipped: the gradient is p − q, prediction minus target.",
            lambda x, y, eps: -gradients.cross_entropy_grad(x, y, label_smoothing=eps),
        ),
    ]
    return run_check("smoothed_grad", fn, cases, mistakes)


def bce_with_logits(fn):
    """Check ``fn(x, y)``: the mean binary cross-entropy of logits ``x`` and targets ``y`` in [0, 1]."""
    inputs = [
        ("4 logits, hard targets", np.array([2.0, -1.0, 0.5, 0.0]), np.array([1.0, 0.0, 0.0, 1.0])),
        ("soft targets", np.array([[0.3, -2.0], [1.5, 4.0]]), np.array([[0.2, 0.5], [0.9, 1.0]])),
        ("huge logits (±1000)", np.array([1000.0, -1000.0, 1000.0]), np.array([0.0, 1.0, 1.0])),
        ("a batch of one", np.array([-0.7]), np.array([1.0])),
    ]
    cases = [Case(label, (x, y), np.asarray(losses.binary_cross_entropy_with_logits(x, y))) for label, x, y in inputs]

    def naive(x, y):
        p = 1.0 / (1.0 + np.exp(-x))
        return np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))

    mistakes = [
        Mistake(
            "σ(x) rounds to exactly 0 or 1 at large |x|, and log 0 = −inf. Write the loss with log σ(x) "
            "computed stably: log σ(x) = min(x, 0) − log(1 + e^{−|x|}), and log(1 − σ(x)) = log σ(x) − x.",
            naive,
        ),
        Mistake(
            "you clamped the logs at −100 as BCELoss does; with logits no clamp is needed, and the clamp "
            "under-counts confident mistakes. Use log σ(x) = min(x, 0) − log(1 + e^{−|x|}).",
            lambda x, y: losses.binary_cross_entropy(np.clip(prob.sigmoid(x), 0, 1), y),
        ),
        Mistake(
            "your result is a sum; the default reduction is the mean over all elements.",
            lambda x, y: losses.binary_cross_entropy_with_logits(x, y, reduction="sum"),
        ),
        Mistake(
            "you applied a sigmoid before a loss that applies its own: the input is already a logit.",
            lambda x, y: losses.binary_cross_entropy_with_logits(prob.sigmoid(x), y),
        ),
        Mistake(
            "the sign is flipped: the loss is −[y log σ(x) + (1 − y) log(1 − σ(x))], never negative.",
            lambda x, y: -losses.binary_cross_entropy_with_logits(x, y),
        ),
    ]
    return run_check("bce_with_logits", fn, cases, mistakes)


def two_class_as_binary(fn):
    """Check ``fn(logits, target)`` → ``(z, t)``: one logit and a float target per example such that
    ``binary_cross_entropy_with_logits(z, t)`` equals ``cross_entropy(logits, target)`` example by example.
    """
    rng = np.random.default_rng(5)
    inputs = [
        ("a batch of 4", rng.normal(size=(4, 2)) * 2, np.array([0, 1, 1, 0])),
        ("confident logits", np.array([[12.0, -3.0], [-8.0, 9.0]]), np.array([1, 1])),
        ("a batch of one", np.array([[0.4, -0.4]]), np.array([0])),
    ]
    cases = [
        Case(label, (x, y), np.asarray(losses.cross_entropy(x, y, reduction="none"))) for label, x, y in inputs
    ]

    def as_loss(pair_fn):
        def run(x, y):
            z, t = pair_fn(x, y)
            return losses.binary_cross_entropy_with_logits(z, t, reduction="none")

        return run

    mistakes = [
        Mistake(
            "your z gives the probability of class 0, not of class 1 (the positive class, target 1): flip its sign.",
            lambda x, y: losses.binary_cross_entropy_with_logits(
                x[:, 0] - x[:, 1], y.astype(float), reduction="none"
            ),
        ),
        Mistake(
            "σ of one logit ignores the other class, but the softmax depends on both: which single combination "
            "of x₀ and x₁ does a 2-class softmax depend on?",
            lambda x, y: losses.binary_cross_entropy_with_logits(x[:, 1], y.astype(float), reduction="none"),
        ),
    ]
    return run_check("two_class_as_binary", as_loss(fn), cases, mistakes)


def weighted_cross_entropy(fn):
    """Check ``fn(logits, target, weight, ignore_index)``: the default (mean) cross-entropy of (N, C)
    logits with per-class ``weight`` and targets equal to ``ignore_index`` left out."""
    x = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0], [-1.0, 1.0, 0.0], [0.3, -0.3, 0.9]])
    w = np.array([1.0, 2.0, 0.5])
    inputs = [
        ("4 examples, weights (1, 2, 0.5)", x, np.array([0, 2, 1, 1]), w, -100),
        ("one target ignored (-100)", x, np.array([0, -100, 1, 2]), w, -100),
        ("ignore_index = 1, a real class", x, np.array([0, 1, 1, 2]), w, 1),
        ("every target ignored", x, np.full(4, -100), w, -100),
        ("huge logits (±1000)", HUGE, np.array([0, 2]), w, -100),
    ]
    cases = [
        Case(label, (x_, y, w_, ii), np.asarray(losses.cross_entropy(x_, y, weight=w_, ignore_index=ii)))
        for label, x_, y, w_, ii in inputs
    ]

    def kept(y, ii):
        return np.asarray(y) != ii

    def weighted_sum(x_, y, w_, ii):
        return losses.cross_entropy(x_, y, weight=w_, ignore_index=ii, reduction="sum")

    mistakes = [
        Mistake(
            "you divided by the number of targets; a weighted mean divides by the sum of the weights of "
            "the targets that count, Σ w[y_n].",
            lambda x_, y, w_, ii: weighted_sum(x_, y, w_, ii) / kept(y, ii).sum() if kept(y, ii).any() else np.nan,
        ),
        Mistake(
            "you divided by N, ignored targets included; divide by the sum of the weights of the targets "
            "that count, Σ w[y_n].",
            lambda x_, y, w_, ii: weighted_sum(x_, y, w_, ii) / np.size(y),
        ),
        Mistake(
            "the ignored targets still count: leave out every target equal to ignore_index, from the sum "
            "and from the weights it is divided by.",
            lambda x_, y, w_, ii: losses.cross_entropy(x_, np.where(kept(y, ii), y, 0), weight=w_),
        ),
        Mistake(
            "you left the weights out: each example's −log p[y] is multiplied by w[y], and the mean "
            "divides by the sum of those weights.",
            lambda x_, y, w_, ii: losses.cross_entropy(x_, y, ignore_index=ii),
        ),
    ]
    return run_check("weighted_cross_entropy", fn, cases, mistakes)


def smoothed_target(fn):
    """Check ``fn(target, C, eps)``: the (N, C) probability target that label smoothing ε turns class
    indices into, so that ``cross_entropy(x, fn(y, C, eps))`` equals ``cross_entropy(x, y, label_smoothing=eps)``."""
    inputs = [
        ("3 classes, ε = 0.1", np.array([0, 2, 1]), 3, 0.1),
        ("5 classes, ε = 0 (no smoothing)", np.array([4, 0]), 5, 0.0),
        ("4 classes, ε = 1 (uniform)", np.array([1]), 4, 1.0),
        ("27 classes, ε = 0.2", np.array([26, 3, 0]), 27, 0.2),
    ]

    def reference(y, c, eps):
        return (1.0 - eps) * prob.one_hot(y, c) + eps / c

    cases = [Case(label, (y, c, eps), reference(y, c, eps)) for label, y, c, eps in inputs]

    def over_others(y, c, eps):
        q = np.full((np.size(y), c), eps / (c - 1))
        q[np.arange(np.size(y)), y] = 1.0 - eps
        return q

    mistakes = [
        Mistake(
            "the true class keeps 1 − ε but the ε is not spread: the rows must still sum to 1, with ε/C "
            "added to every class.",
            lambda y, c, eps: (1.0 - eps) * prob.one_hot(y, c),
        ),
        Mistake(
            "you spread ε over the C − 1 wrong classes only; PyTorch spreads it over all C classes, so "
            "the true class gets 1 − ε + ε/C.",
            over_others,
        ),
        Mistake(
            "you added ε/C to every class without taking ε off the one-hot part, so the rows sum to 1 + ε.",
            lambda y, c, eps: prob.one_hot(y, c) + eps / c,
        ),
    ]
    return run_check("smoothed_target", fn, cases, mistakes)
