"""Self-checks of chapter 7, cross-entropy as information: smoothing_floor,
kl_batchmean, distillation_loss, fit_temperature."""

from __future__ import annotations

import numpy as np

from .. import information as info
from .. import probabilities as prob
from ._framework import Case, Mistake, run_check

__all__ = [
    "distillation_loss",
    "fit_temperature",
    "kl_batchmean",
    "smoothing_floor",
]


def _smoothed(c, eps):
    """The smoothed target of class 0: (1 − ε) onehot + ε / C."""
    return (1.0 - eps) * prob.one_hot(0, c) + eps / c


def smoothing_floor(fn):
    """Check ``fn(C, eps)``: the lowest mean loss ``cross_entropy(x, y, label_smoothing=eps)`` can
    reach over C classes, in nats."""
    inputs = [
        ("10 classes, ε = 0.1", 10, 0.1),
        ("3 classes, ε = 0.2", 3, 0.2),
        ("27 classes, ε = 0.05", 27, 0.05),
        ("4 classes, ε = 1 (uniform target)", 4, 1.0),
        ("5 classes, ε = 0 (no smoothing)", 5, 0.0),
    ]
    cases = [
        Case(label, (c, eps), np.asarray(info.entropy(_smoothed(c, eps))))
        for label, c, eps in inputs
    ]

    def over_others(c, eps):
        q = np.full(c, eps / (c - 1))
        q[0] = 1.0 - eps
        return info.entropy(q)

    def true_term_only(c, eps):
        return -np.log(1.0 - eps + eps / c)

    mistakes = [
        Mistake(
            "your answer is in bits (log base 2); PyTorch's losses use the natural log, so the "
            "floor is in nats: multiply by ln 2, or use np.log.",
            lambda c, eps: info.entropy(_smoothed(c, eps)) / np.log(2.0),
        ),
        Mistake(
            "a smoothed loss cannot reach 0: its target q = (1 − ε) onehot + ε/C is never one-hot "
            "when ε > 0, and the lowest H(q, p) over p is H(q), reached at p = q.",
            lambda c, eps: 0.0,
        ),
        Mistake(
            "you spread ε over the C − 1 wrong classes only; PyTorch spreads it over all C classes, "
            "so the true class keeps 1 − ε + ε/C.",
            over_others,
        ),
        Mistake(
            "you kept only the true class's term, −log q_y. At p = q the loss is −Σ_c q_c log q_c: "
            "every class with q_c = ε/C adds its share too.",
            true_term_only,
        ),
    ]

    def hidden(rng):
        return [
            Case(
                f"hidden {i}",
                (c, eps),
                np.asarray(info.entropy(_smoothed(c, eps))),
            )
            for i, (c, eps) in enumerate(
                zip(
                    rng.integers(2, 60, size=4),
                    rng.uniform(0.01, 1.0, size=4),
                )
            )
        ]

    return run_check("smoothing_floor", fn, cases, mistakes, hidden=hidden)


def kl_batchmean(fn):
    """Check ``fn(log_p, q)``: ``F.kl_div(log_p, q, reduction="batchmean")`` for (N, C)
    log-probabilities ``log_p`` and probabilities ``q``."""
    log_p = prob.log_softmax(
        np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]]), 1
    )
    q = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    rng = np.random.default_rng(7)
    log_p5 = prob.log_softmax(rng.normal(size=(4, 5)), 1)
    q5 = prob.softmax(2.0 * rng.normal(size=(4, 5)), 1)
    inputs = [
        ("a batch of 2, 3 classes", log_p, q),
        ("a batch of 4, 5 classes", log_p5, q5),
        ("a target with a zero", log_p, np.array([[0.5, 0.5, 0.0]] * 2)),
        ("a batch of one", log_p[:1], q[:1]),
        ("q = p: KL is 0", log_p5, np.exp(log_p5)),
    ]
    cases = [
        Case(
            label,
            (lp, q_),
            np.asarray(info.kl_div(lp, q_, reduction="batchmean")),
        )
        for label, lp, q_ in inputs
    ]

    def swapped(lp, q_):
        p = np.exp(lp)
        with np.errstate(divide="ignore"):
            terms = p * (lp - np.log(q_))
        return terms.sum() / len(lp)

    def naive(lp, q_):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sum(q_ * (np.log(q_) - lp)) / len(lp)

    mistakes = [
        Mistake(
            "your arguments are swapped: you computed KL(p ‖ q). kl_div(input, target) is "
            "KL(target ‖ input) = Σ q (log q − log p): the expectation is under the target q, and "
            "input is already log p.",
            swapped,
        ),
        Mistake(
            "that is reduction='mean': you divided by N·C, every element. 'batchmean' divides "
            "the sum by N only, which gives the KL divergence per distribution.",
            lambda lp, q_: info.kl_div(lp, q_, reduction="mean"),
        ),
        Mistake(
            "that is the sum over the whole batch; 'batchmean' divides it by N, the batch size "
            "(len of dim 0).",
            lambda lp, q_: info.kl_div(lp, q_, reduction="sum"),
        ),
        Mistake(
            "a target of 0 gives 0 · log 0 = nan in numpy; its term is 0 by convention (the limit "
            "of q log q). Compute q log q only where q > 0 (np.where, or scipy's xlogy).",
            naive,
        ),
        Mistake(
            "that is the cross-entropy H(q, p) = −Σ q log p per example; KL(q ‖ p) also adds "
            "Σ q log q (it subtracts the entropy H(q)).",
            lambda lp, q_: -np.sum(q_ * lp) / len(lp),
        ),
    ]

    def hidden(rng):
        found = []
        for i in range(4):
            n, c = rng.integers(1, 6), rng.integers(2, 7)
            lp = prob.log_softmax(rng.normal(size=(n, c)), 1)
            q_ = prob.softmax(2.0 * rng.normal(size=(n, c)), 1)
            q_[:, 0] = np.where(rng.random(n) < 0.5, 0.0, q_[:, 0])  # zeros
            q_ = q_ / q_.sum(axis=1, keepdims=True)
            expected = info.kl_div(lp, q_, reduction="batchmean")
            found.append(
                Case(f"hidden {i}", (lp, q_), np.asarray(expected))
            )
        return found

    return run_check("kl_batchmean", fn, cases, mistakes, hidden=hidden)


def distillation_loss(fn):
    """Check ``fn(student, teacher, T)``: Hinton et al.'s soft loss for (N, C) logits,
    T² · KL(softmax(teacher / T) ‖ softmax(student / T)) with 'batchmean'."""
    rng = np.random.default_rng(3)
    s, t = rng.normal(size=(2, 4, 5)) * 2.0
    inputs = [
        ("T = 2", s, t, 2.0),
        ("T = 4", s, t, 4.0),
        ("T = 0.5 (sharper)", s[:2], t[:2], 0.5),
        ("T = 1", s, t, 1.0),
        ("a batch of one, T = 3", s[:1], t[:1], 3.0),
    ]
    cases = [
        Case(
            label,
            (s_, t_, T),
            np.asarray(info.distillation_loss(s_, t_, temperature=T)),
        )
        for label, s_, t_, T in inputs
    ]

    def kl_at(s_, t_, T_student, T_teacher, reduction="batchmean"):
        return info.kl_div(
            prob.log_softmax(s_ / T_student, 1),
            prob.softmax(t_ / T_teacher, 1),
            reduction=reduction,
        )

    mistakes = [
        Mistake(
            "the T² is missing: at a high temperature the gradient of the KL of softened "
            "distributions shrinks like 1/T², so Hinton et al. multiply the loss by T² to keep "
            "it on the hard loss's scale.",
            lambda s_, t_, T: kl_at(s_, t_, T, T),
        ),
        Mistake(
            "you multiplied by T, not T²: at a high temperature the gradient shrinks like "
            "1/T², so the factor is T².",
            lambda s_, t_, T: T * kl_at(s_, t_, T, T),
        ),
        Mistake(
            "only the teacher is softened: divide the student's logits by the same T before the "
            "log_softmax.",
            lambda s_, t_, T: T**2 * kl_at(s_, t_, 1.0, T),
        ),
        Mistake(
            "student and teacher are swapped: the target distribution (the expectation) is the "
            "teacher's softmax(t / T); the input log-probabilities are the student's.",
            lambda s_, t_, T: T**2 * kl_at(t_, s_, T, T),
        ),
        Mistake(
            "that is reduction='mean' (divided by N·C); use 'batchmean', which divides by N.",
            lambda s_, t_, T: T**2 * kl_at(s_, t_, T, T, "mean"),
        ),
    ]

    def hidden(rng):
        found = []
        for i in range(4):
            n, c = rng.integers(1, 6), rng.integers(2, 7)
            s_, t_ = 2.0 * rng.normal(size=(2, n, c))
            T = float(rng.uniform(0.5, 8.0))
            expected = info.distillation_loss(s_, t_, temperature=T)
            found.append(
                Case(f"hidden {i}", (s_, t_, T), np.asarray(expected))
            )
        return found

    return run_check(
        "distillation_loss", fn, cases, mistakes, hidden=hidden
    )


def _calibrated_sample(seed, n, n_classes, scale):
    """Labels drawn from softmax(l): logits scale · l are miscalibrated by ``scale``."""
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(scale=2.0, size=(n, n_classes))
    p = prob.softmax(true_logits, 1)
    u = rng.random(n)[:, None]
    target = np.minimum(
        (u > np.cumsum(p, axis=1)).sum(axis=1), n_classes - 1
    )
    return scale * true_logits, target


def fit_temperature(fn):
    """Check ``fn(logits, target)``: the temperature T > 0 that minimizes the mean NLL of
    ``cross_entropy(logits / T, target)``, to a relative 1e-4."""
    two_class = np.array([[2.0, 0.0]] * 4)
    inputs = [
        ("3 of 4 right, logit gap 2", two_class, np.array([0, 0, 0, 1])),
        (
            "overconfident (×3), 300 examples",
            *_calibrated_sample(0, 300, 5, 3.0),
        ),
        (
            "underconfident (×0.5), 300 examples",
            *_calibrated_sample(1, 300, 5, 0.5),
        ),
        ("10 classes, ×2", *_calibrated_sample(2, 200, 10, 2.0)),
    ]
    cases = [
        Case(label, (x, y), np.asarray(info.fit_temperature(x, y)))
        for label, x, y in inputs
    ]
    mistakes = [
        Mistake(
            "you returned 1/T: the logits are divided by T (softmax(x / T)); a factor that "
            "multiplies them is 1/T.",
            lambda x, y: 1.0 / info.fit_temperature(x, y),
        ),
        Mistake(
            "you returned log T: if you searched over log T (a good idea, it keeps T > 0), "
            "return exp of the best value.",
            lambda x, y: np.log(info.fit_temperature(x, y)),
        ),
        Mistake(
            "your T does not change the loss it should minimize: T = 1 is the model as it is. "
            "Minimize the mean NLL of cross_entropy(logits / T, target) over T.",
            lambda x, y: 1.0,
        ),
    ]

    def hidden(rng):
        found = []
        for i in range(3):
            seed, scale = (
                int(rng.integers(2**31)),
                float(rng.uniform(0.4, 3.0)),
            )
            x, y = _calibrated_sample(
                seed, 300, int(rng.integers(3, 8)), scale
            )
            expected = info.fit_temperature(x, y)
            found.append(Case(f"hidden {i}", (x, y), np.asarray(expected)))
        return found

    return run_check(
        "fit_temperature",
        fn,
        cases,
        mistakes,
        rtol=1e-4,
        atol=0.0,
        hidden=hidden,
    )
