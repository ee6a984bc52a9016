r"""Cross-entropy as information: entropy, KL, perplexity, temperature.

Notation of chapter 7: q is the target distribution, p = softmax(x) the
model's, logs are natural (nats) unless a name says bits.

.. math::
    H(q) = -\sum_c q_c \log q_c, \qquad
    H(q, p) = -\sum_c q_c \log p_c = H(q) + \mathrm{KL}(q \,\|\, p)

so the lowest loss any p can reach against a target q is H(q), at p = q.
Everything here is numpy only, in float64, and checked against torch where
torch has the function (``kl_div``, ``cross_entropy``, ``special.entr``).

Reading order: ``entropy``, ``kl_div``, ``nats_to_bits``, ``perplexity``,
``distillation_loss``, ``fit_temperature``, ``reliability_bins``,
``expected_calibration_error``.
"""

from __future__ import annotations

import math

import numpy as np

from ._validate import (
    _short,
    as_class_indices,
    as_float,
    check_dim,
    check_distribution,
    check_ignore_index,
    check_in_unit_interval,
    check_kl_reduction,
    check_log_probabilities,
    check_probabilities_and_target,
    check_temperature,
    class_dim,
    keyword_options,
)
from .losses import cross_entropy
from .probabilities import log_softmax, softmax

__all__ = [
    "distillation_loss",
    "entropy",
    "expected_calibration_error",
    "fit_temperature",
    "kl_div",
    "nats_to_bits",
    "perplexity",
    "reliability_bins",
]


def entropy(input, *, dim=-1):
    r"""The entropy of distributions along ``dim``, in nats.

    .. math:: H(q) = -\sum_c q_c \log q_c \qquad (0 \log 0 = 0)

    The lowest cross-entropy any model can reach against the target q:
    H(q, p) = H(q) + KL(q ‖ p) >= H(q). Divide by log 2 (``nats_to_bits``)
    for bits. Same as ``torch.special.entr(q).sum(dim)`` and
    ``torch.distributions.Categorical(probs=q).entropy()`` (dim=-1).

    Shapes: ``input`` of any shape with at least one dimension, holding
    probabilities that sum to 1 along ``dim``; the result drops ``dim``
    (a float for a single distribution). Chapter 7 explains this.

    >>> round(entropy([0.5, 0.25, 0.25]), 4)  # 1.5 bits = 1.0397 nats
    1.0397
    """
    q = as_float(input, "input")
    if q.ndim == 0:
        raise ValueError(
            "input must hold distributions along dim; got a scalar"
        )
    dim = check_dim(dim, q.ndim)
    check_distribution(q, "input (probabilities)", dim)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(q > 0, -q * np.log(q), 0.0)
    out = terms.sum(axis=dim)
    return float(out) if out.ndim == 0 else out


@keyword_options("input", "target")
def kl_div(input, target, *, reduction="mean", log_target=False):
    r"""``torch.nn.functional.kl_div``: KL(q ‖ p) term by term.

    ``input`` is log p (log-probabilities, e.g. ``log_softmax(x)``), NOT
    probabilities, and ``target`` is q, the distribution the expectation is
    taken under (or log q with ``log_target=True``):

    .. math::
        \ell = q\,(\log q - \log p), \qquad
        \text{batchmean} = \frac{1}{N}\sum \ell, \qquad
        \text{mean} = \frac{1}{\text{numel}}\sum \ell

    Only ``'batchmean'`` (divide the sum by N = input.shape[0]) gives the
    KL divergence per distribution for (N, C) input; ``'mean'``, the
    default kept for compatibility, also divides by C (torch warns about
    it). ``'sum'`` adds every term; ``'none'`` keeps them (input's shape).

    Shapes: input and target of the same shape; a 0-d input has no batch,
    so 'batchmean' returns the sum, as in torch. Options are keyword-only:
    torch's deprecated ``size_average`` and ``reduce`` still occupy its
    3rd and 4th positions, so ``F.kl_div(x, q, "batchmean")`` there is a
    mistake; pass ``reduction=`` by name.

    Stricter than torch: input must be <= 0 (log-probabilities), target in
    [0, 1] (<= 0 with ``log_target``), shapes equal (no broadcasting). A
    term with q = 0 is 0 even where log p = -inf (torch gives nan for
    0 · (-inf)). The sums are not checked: kl_div is pointwise and has no
    class dimension. Chapter 7 explains this.

    >>> import numpy as np
    >>> log_p = np.log([[0.5, 0.5]])
    >>> round(kl_div(log_p, [[0.9, 0.1]], reduction="batchmean"), 4)
    0.3681
    """
    log_p = as_float(input, "input")
    raw = as_float(target, "target")
    reduction = check_kl_reduction(reduction)
    if not isinstance(log_target, (bool, np.bool_)):
        raise TypeError(f"log_target must be a bool; got {log_target!r}")
    if raw.shape != log_p.shape:
        raise ValueError(
            f"target must have the shape of input {log_p.shape}; got "
            f"shape {raw.shape}"
        )
    check_log_probabilities(
        log_p,
        "input",
        "Pass log_softmax(logits), not probabilities or raw logits.",
    )
    if log_target:
        check_log_probabilities(
            raw, "target", "With log_target=True, target is log q."
        )
        q = np.exp(raw)
        log_q = raw
    else:
        q = check_in_unit_interval(
            raw,
            "target (probabilities; pass log_target=True for log q)",
        )
        with np.errstate(divide="ignore"):
            log_q = np.log(q)
    with np.errstate(invalid="ignore"):
        terms = np.where(q > 0, q * (log_q - log_p), 0.0)
    if reduction == "none":
        return terms
    total = float(terms.sum())
    if reduction == "sum" or (reduction == "batchmean" and terms.ndim == 0):
        return total
    if reduction == "batchmean":
        return total / terms.shape[0] if terms.shape[0] else float("nan")
    return total / terms.size if terms.size else float("nan")


def nats_to_bits(value):
    r"""A loss or entropy in nats, in bits: divide by log 2.

    .. math:: \text{bits} = \frac{\text{nats}}{\ln 2}

    A mean cross-entropy per token in bits is "bits per token"; the total
    loss in bits divided by the number of characters (or bytes) instead of
    tokens is bits per character (byte), which compares models with
    different tokenizers.

    Shapes: any; a float for a number. Chapter 7 explains this.

    >>> nats_to_bits(np.log(8.0))  # a uniform guess among 8: 3 bits
    3.0
    """
    nats = as_float(value, "value")
    bits = nats / np.log(2.0)
    return float(bits) if bits.ndim == 0 else bits


def perplexity(input, target=None, *, ignore_index=-100):
    r"""exp of the mean cross-entropy in nats: an "effective branching".

    .. math:: \mathrm{PPL} = \exp\Bigl(-\frac{1}{N}\sum_n \log p_{y_n}\Bigr)

    Two forms:

    - ``perplexity(loss)``: ``loss`` is a mean cross-entropy in nats (a
      number, or an array of them); the result is exp(loss). For a loss in
      bits use 2 ** bits instead.
    - ``perplexity(logits, target, ignore_index=-100)``: the perplexity of
      ``cross_entropy(logits, target, ignore_index=ignore_index)``, so
      padding targets equal to ``ignore_index`` do not count (NaN if
      every target is ignored, as torch's mean).

    A model that guesses uniformly among C classes has loss log C and
    perplexity C. Shapes: as ``cross_entropy`` with class-index targets.
    Chapter 7 explains this.

    >>> round(perplexity(2.0), 4)
    7.3891
    >>> perplexity([[0.0, 0.0, 0.0, 0.0]], [1])  # uniform over 4
    4.0
    """
    if target is None:
        if ignore_index != -100:
            raise ValueError(
                "ignore_index only applies with logits and a target; got "
                f"ignore_index={ignore_index!r} and a mean loss"
            )
        loss = as_float(input, "input (a mean loss in nats)")
        if not np.all(loss >= 0.0):
            raise ValueError(
                "input (a mean loss in nats) must be >= 0, as every "
                f"cross-entropy is; got {_short(loss)}"
            )
        out = np.exp(loss)
        return float(out) if out.ndim == 0 else out
    check_ignore_index(ignore_index)
    mean = cross_entropy(input, target, ignore_index=ignore_index)
    return float(np.exp(mean))


def distillation_loss(
    input, teacher, *, temperature=1.0, reduction="batchmean"
):
    r"""Hinton et al.'s soft-target loss: T² · KL at temperature T.

    .. math::
        \ell = T^2\, \mathrm{KL}\bigl(\operatorname{softmax}(t / T)
        \,\big\|\, \operatorname{softmax}(s / T)\bigr)

    with student logits s (``input``) and teacher logits t (``teacher``).
    Its gradient with respect to s is T (p_T − q_T) / N for 'batchmean'
    (p_T, q_T: student and teacher softmax at T). For large T,
    p_T − q_T ≈ (s̃ − t̃) / (C T), where s̃ and t̃ are the logits minus
    their mean over the classes, so without the T² the gradient would
    shrink like 1/T²; with it, it tends to (s̃ − t̃) / (C N) (Hinton et
    al.'s "matching logits" limit) and stays on the scale of the
    hard-label loss it is usually added to. Near T = 1 the 1/T² does not
    hold yet. Computed as ``temperature ** 2`` times
    ``kl_div(log_softmax(s / T), softmax(t / T))``, with any of kl_div's
    reductions ('batchmean' by default).

    Shapes: input and teacher (C,), (N, C) or (N, C, d1, ..., dK), classes
    in dim 1 (dim 0 unbatched). Chapter 7 explains this.

    >>> s, t = [[1.0, 0.0]], [[0.0, 1.0]]
    >>> round(distillation_loss(s, t, temperature=2), 4)
    0.4898
    """
    s = as_float(input, "input")
    t = as_float(teacher, "teacher")
    temperature = check_temperature(temperature)
    dim = class_dim(s)
    if t.shape != s.shape:
        raise ValueError(
            f"teacher must have the shape of input {s.shape}; got shape "
            f"{t.shape}"
        )
    log_p = log_softmax(s / temperature, dim)
    q = softmax(t / temperature, dim)
    kl = kl_div(log_p, q, reduction=reduction)
    return temperature**2 * kl


def _nll_slope(logits, target, beta):
    r"""d/dβ of the mean NLL of softmax(β x): mean_n (E_p[x] − x_y)."""
    p = softmax(beta * logits, 1)
    expected = np.sum(p * logits, axis=1)
    true = np.take_along_axis(logits, target[:, None], axis=1)[:, 0]
    return float(np.mean(expected - true))


def fit_temperature(input, target, *, bounds=(0.01, 100.0)):
    r"""The temperature T that minimizes the NLL of held-out logits.

    .. math::
        T^* = \arg\min_{T > 0} \frac{1}{N}\sum_n
        -\log \operatorname{softmax}(x_n / T)_{y_n}

    Temperature scaling (Guo et al., 2017) divides every logit by one
    number fitted on a validation set; the predicted class never changes,
    only the confidence. In β = 1/T the NLL is convex with slope
    mean_n(E_p[x_n] − x_{n,y_n}), increasing in β: the fit brackets the
    zero of the slope between 1/bounds[1] and 1/bounds[0] and bisects (in
    log β) until the bracket is as narrow as float64 allows. T > 1 means
    the model was overconfident.

    Shapes: input (N, C) logits, target (N,) class indices. Raises if the
    best T lies outside ``bounds``: for example, when every example is
    already classified right, the NLL keeps falling as T → 0.
    Chapter 7 explains this.

    >>> x = [[2.0, 0.0], [2.0, 0.0], [2.0, 0.0], [0.0, 2.0]]
    >>> round(fit_temperature(x, [0, 0, 0, 0]), 4)  # σ(2 / T) = 3/4
    1.8205
    """
    x = as_float(input, "input")
    y = as_class_indices(target, "target")
    if x.ndim != 2 or y.shape != x.shape[:1]:
        raise ValueError(
            "input must be (N, C) logits and target (N,) class indices; "
            f"got shapes {x.shape} and {y.shape}"
        )
    if x.shape[0] == 0 or not np.all(np.isfinite(x)):
        raise ValueError(
            f"input must be finite logits with N >= 1; got {_short(x)}"
        )
    if y.min() < 0 or y.max() >= x.shape[1]:
        raise ValueError(
            f"target must hold classes 0 <= y < {x.shape[1]}; got "
            f"{_short(y)}"
        )
    low, high = (check_temperature(b, "bounds") for b in bounds)
    if not low < high:
        raise ValueError(
            f"bounds must be (low, high) with low < high; got {bounds!r}"
        )
    beta_lo, beta_hi = 1.0 / high, 1.0 / low
    if _nll_slope(x, y, beta_lo) >= 0:
        raise ValueError(
            f"the NLL is lowest at T >= {high} (bounds[1]): the logits "
            "carry no usable information about the target (or point away "
            "from it)"
        )
    if _nll_slope(x, y, beta_hi) <= 0:
        raise ValueError(
            f"the NLL keeps falling down to T = {low} (bounds[0]): the "
            "logits already separate the classes, so no finite T is best"
        )
    while beta_hi / beta_lo - 1.0 > 4 * np.finfo(float).eps:
        beta = math.sqrt(beta_lo * beta_hi)
        if _nll_slope(x, y, beta) < 0:
            beta_lo = beta
        else:
            beta_hi = beta
    return float(2.0 / (beta_lo + beta_hi))


def reliability_bins(input, target, *, n_bins=15):
    r"""Confidence versus accuracy in equal-width confidence bins.

    The confidence of example n is max_c p_{n,c}; it falls in bin
    b = 0, ..., n_bins − 1 when b / n_bins < conf <= (b + 1) / n_bins.
    Per bin: the mean confidence, the accuracy (the fraction of its
    examples whose argmax is the target) and the count. A calibrated
    model has accuracy = confidence in every bin.

    Shapes: input (N, C) probabilities (rows summing to 1), target (N,)
    class indices; returns three arrays of shape (n_bins,): confidence,
    accuracy (NaN for empty bins) and count. Chapter 7 explains this.

    >>> conf, acc, count = reliability_bins(
    ...     [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]], [0, 1, 1], n_bins=5
    ... )
    >>> count.tolist(), acc[3:].tolist()
    ([0, 0, 0, 2, 1], [0.5, 1.0])
    """
    p, y = check_probabilities_and_target(input, target)
    if isinstance(n_bins, bool) or not isinstance(
        n_bins, (int, np.integer)
    ):
        raise TypeError(f"n_bins must be a positive int; got {n_bins!r}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be a positive int; got {n_bins!r}")
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, None)
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore"):
        mean_conf = np.bincount(bins, confidence, n_bins) / count
        accuracy = np.bincount(bins, correct, n_bins) / count
    return mean_conf, accuracy, count


def expected_calibration_error(input, target, *, n_bins=15):
    r"""ECE: the gap between confidence and accuracy, weighted by bin size.

    .. math::
        \mathrm{ECE} = \sum_b \frac{|B_b|}{N}\,
        \bigl|\operatorname{acc}(B_b) - \operatorname{conf}(B_b)\bigr|

    over the equal-width bins of ``reliability_bins`` (empty bins add 0).
    0 for a perfectly calibrated model; it depends on ``n_bins``.

    Shapes: input (N, C) probabilities, target (N,) class indices; returns
    a float. Chapter 7 explains this.

    >>> p = [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]]
    >>> round(expected_calibration_error(p, [0, 1, 1], n_bins=5), 4)
    0.2
    """
    conf, acc, count = reliability_bins(input, target, n_bins=n_bins)
    full = count > 0
    gaps = np.abs(acc[full] - conf[full]) * count[full]
    return float(gaps.sum() / count.sum())
