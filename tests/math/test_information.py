"""Chapter 7's functions: entropy, kl_div, perplexity, distillation, temperature, calibration.

Where torch has the function (``F.kl_div``, ``torch.special.entr``, ``Categorical.entropy``,
``F.cross_entropy`` for perplexity), ce_lessons must give its numbers in float64 to a relative
1e-10 over random shapes and every option. Where it does not (the temperature fit, calibration),
the tests state what the result must satisfy (the NLL's slope is 0 at the fitted T; the bins of
a plain loop), and hand-computed cases pin the numbers. Then one test per error message.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import ce_lessons as ce
from tests.helpers import (
    assert_loss_matches,
    assert_matches,
    classification_shapes,
    float_arrays,
    floats_in,
    index_target_cases,
    probabilities,
    t64,
    tlong,
)

KL_REDUCTIONS = ("none", "batchmean", "sum", "mean")


@st.composite
def distributions(draw, min_dims=1, last=False):
    """Probabilities summing to 1 along a drawn dim (the last if ``last``);
    exact zeros included often."""
    shape = draw(
        array_shapes(min_dims=min_dims, max_dims=4, min_side=1, max_side=4)
    )
    dim = -1 if last else draw(st.integers(-len(shape), len(shape) - 1))
    raw = draw(
        arrays(
            np.float64,
            shape,
            elements=st.one_of(st.just(0.0), floats_in(0.0, 5.0)),
        )
    )
    raw = raw + (raw.sum(axis=dim, keepdims=True) == 0)  # no empty row
    return raw / raw.sum(axis=dim, keepdims=True), dim


# ---------------------------------------------------------------------------------------------
# entropy
# ---------------------------------------------------------------------------------------------


@given(distributions())
def test_entropy_matches_torch_special_entr_summed_over_dim(q_dim):
    q, dim = q_dim
    assert_matches(
        ce.entropy(q, dim=dim), torch.special.entr(t64(q)).sum(dim)
    )


@given(distributions(min_dims=2, last=True))
def test_entropy_over_the_last_dim_is_torch_categorical_entropy(q_dim):
    q = q_dim[0]
    expected = torch.distributions.Categorical(probs=t64(q)).entropy()
    assert_matches(ce.entropy(q), expected)


@pytest.mark.parametrize("n_classes", [1, 2, 10, 27])
def test_the_uniform_distribution_has_the_largest_entropy_log_c(n_classes):
    assert ce.entropy(np.full(n_classes, 1 / n_classes)) == pytest.approx(
        math.log(n_classes), rel=1e-14
    )
    assert ce.entropy(np.eye(n_classes)[0]) == 0.0


@given(
    classification_shapes().flatmap(
        lambda sd: st.tuples(
            float_arrays(sd[0]),
            float_arrays(sd[0], -5.0, 5.0),
            st.just(sd[1]),
        )
    )
)
def test_cross_entropy_is_entropy_plus_kl(x_z_dim):
    """H(q, p) = H(q) + KL(q || p) for every distribution of a batch."""
    x, z, dim = x_z_dim
    q = ce.softmax(z, dim)
    kl = ce.kl_div(ce.log_softmax(x, dim), q, reduction="none").sum(dim)
    ours = ce.entropy(q, dim=dim) + kl
    ce_none = ce.cross_entropy(x, q, reduction="none")
    np.testing.assert_allclose(ours, ce_none, rtol=1e-10, atol=1e-12)
    assert np.all(kl >= -1e-12)  # Gibbs' inequality: KL >= 0


# ---------------------------------------------------------------------------------------------
# kl_div
# ---------------------------------------------------------------------------------------------


@st.composite
def kl_cases(draw, log_target):
    shape = draw(
        array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)
    )
    log_p = draw(float_arrays(shape, -30.0, 0.0))
    if log_target:
        target = draw(float_arrays(shape, -30.0, 0.0))
    else:
        target = draw(arrays(np.float64, shape, elements=probabilities))
    reduction = draw(st.sampled_from(KL_REDUCTIONS))
    return log_p, target, reduction


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
@given(
    st.booleans().flatmap(lambda lt: st.tuples(kl_cases(lt), st.just(lt)))
)
def test_kl_div_matches_torch_for_every_reduction_and_log_target(case):
    (log_p, target, reduction), log_target = case
    ours = ce.kl_div(
        log_p, target, reduction=reduction, log_target=log_target
    )
    theirs = F.kl_div(
        t64(log_p), t64(target), reduction=reduction, log_target=log_target
    )
    assert_loss_matches(ours, theirs, "none" if reduction == "none" else "")


def test_batchmean_is_the_kl_per_distribution_and_mean_is_c_times_smaller():
    log_p = ce.log_softmax(np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]]), 1)
    q = np.array([[0.2, 0.5, 0.3], [1.0, 0.0, 0.0]])
    per_row = [ce.kl_div(log_p[n], q[n], reduction="sum") for n in range(2)]
    batchmean = ce.kl_div(log_p, q, reduction="batchmean")
    assert batchmean == pytest.approx(np.mean(per_row), rel=1e-15)
    assert ce.kl_div(log_p, q) == pytest.approx(batchmean / 3, rel=1e-15)


def test_kl_div_of_a_distribution_with_itself_is_zero_in_both_forms():
    q = np.array([[0.25, 0.75, 0.0]])
    with np.errstate(divide="ignore"):
        log_q = np.log(q)
    assert ce.kl_div(log_q, q, reduction="sum") == 0.0
    assert ce.kl_div(log_q, log_q, reduction="sum", log_target=True) == 0.0


def test_a_zero_target_term_is_zero_where_torch_gives_nan_for_0_times_inf():
    log_p = np.array([-np.inf, 0.0])
    q = np.array([0.0, 1.0])
    assert ce.kl_div(log_p, q, reduction="sum") == 0.0
    assert torch.isnan(F.kl_div(t64(log_p), t64(q), reduction="sum"))


def test_kl_div_options_are_keyword_only_since_torch_has_size_average_there():
    with pytest.raises(TypeError, match="deprecated size_average"):
        ce.kl_div([-1.0], [0.5], "batchmean")


# ---------------------------------------------------------------------------------------------
# bits and perplexity
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [0, 1, 3, 10])
def test_log_of_2_to_the_k_in_nats_is_k_bits(bits):
    assert ce.nats_to_bits(math.log(2**bits)) == pytest.approx(bits)


def test_nats_to_bits_keeps_an_array_shape():
    got = ce.nats_to_bits(np.log([[2.0, 4.0]]))
    np.testing.assert_allclose(got, [[1.0, 2.0]], rtol=1e-15)


@pytest.mark.parametrize("loss", [0.0, 0.5, 2.0, math.log(27)])
def test_perplexity_of_a_mean_loss_is_its_exp(loss):
    assert ce.perplexity(loss) == pytest.approx(math.exp(loss), rel=1e-15)
    assert ce.perplexity(ce.nats_to_bits(loss) * math.log(2)) == (
        pytest.approx(math.exp(loss), rel=1e-14)
    )


@given(index_target_cases(label_smoothing=False))
def test_perplexity_of_logits_is_exp_of_torchs_cross_entropy(case):
    ignore_index = case.options.get("ignore_index", -100)
    ours = ce.perplexity(case.input, case.target, ignore_index=ignore_index)
    theirs = torch.exp(
        F.cross_entropy(
            t64(case.input), tlong(case.target), ignore_index=ignore_index
        )
    )
    assert_loss_matches(ours, theirs, "mean")


@pytest.mark.parametrize("n_classes", [2, 10, 27])
def test_a_uniform_guess_among_c_classes_has_perplexity_c(n_classes):
    logits = np.zeros((5, n_classes))
    target = np.arange(5) % n_classes
    assert ce.perplexity(logits, target) == pytest.approx(
        n_classes, rel=1e-14
    )


def test_padding_does_not_count_in_the_perplexity_of_a_sequence_batch():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 7, 4))  # (N, V, T): 7 tokens, 4 steps
    target = np.array([[1, 2, 3, -100], [4, -100, -100, -100]])
    kept = target != -100
    per_token = ce.cross_entropy(logits, target, reduction="none")
    expected = math.exp(per_token[kept].mean())
    assert ce.perplexity(logits, target) == pytest.approx(expected, 1e-14)


# ---------------------------------------------------------------------------------------------
# distillation
# ---------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
@given(
    classification_shapes().flatmap(
        lambda sd: st.tuples(
            float_arrays(sd[0]),
            float_arrays(sd[0]),
            st.just(sd[1]),
            floats_in(0.1, 20.0),
            st.sampled_from(KL_REDUCTIONS),
        )
    )
)
def test_distillation_loss_is_t_squared_times_torchs_kl_div(case):
    s, t, dim, temperature, reduction = case
    ours = ce.distillation_loss(
        s, t, temperature=temperature, reduction=reduction
    )
    theirs = temperature**2 * F.kl_div(
        F.log_softmax(t64(s) / temperature, dim),
        F.softmax(t64(t) / temperature, dim),
        reduction=reduction,
    )
    assert_loss_matches(ours, theirs, "none" if reduction == "none" else "")


@pytest.mark.parametrize("temperature", [0.5, 1.0, 4.0, 20.0])
def test_distillation_gradient_is_t_times_p_minus_q_over_n(temperature):
    rng = np.random.default_rng(1)
    s, t = rng.normal(size=(2, 3, 5))
    s_t = t64(s).requires_grad_()
    loss = temperature**2 * F.kl_div(
        F.log_softmax(s_t / temperature, 1),
        F.softmax(t64(t) / temperature, 1),
        reduction="batchmean",
    )
    loss.backward()
    p, q = ce.softmax(s / temperature, 1), ce.softmax(t / temperature, 1)
    expected = temperature * (p - q) / 3
    np.testing.assert_allclose(s_t.grad.numpy(), expected, atol=1e-15)
    assert ce.distillation_loss(
        s, t, temperature=temperature
    ) == pytest.approx(loss.item(), rel=1e-12)


def test_at_high_temperature_the_t2_gradient_tends_to_centred_gap_over_cn():
    """Hinton et al.'s limit: T (p_T − q_T) / N → (s̃ − t̃) / (C N), with
    s̃, t̃ the logits minus their row mean; the error shrinks like 1/T."""
    rng = np.random.default_rng(2)
    s, t = 2.0 * rng.normal(size=(2, 8, 5))
    n, c = s.shape
    centred = (s - s.mean(1, keepdims=True)) - (
        t - t.mean(1, keepdims=True)
    )
    limit = centred / (c * n)
    errors = []
    for temperature in [10.0, 100.0, 1000.0]:
        p = ce.softmax(s / temperature, 1)
        q = ce.softmax(t / temperature, 1)
        grad = temperature * (p - q) / n  # d(T² KL)/ds, tested above
        errors.append(np.abs(grad - limit).max() / np.abs(limit).max())
    assert errors[2] < 2e-3
    assert errors[1] == pytest.approx(10 * errors[2], rel=0.05)
    assert errors[0] == pytest.approx(10 * errors[1], rel=0.3)


# ---------------------------------------------------------------------------------------------
# temperature scaling
# ---------------------------------------------------------------------------------------------


def torch_nll_slope(logits, target, temperature):
    """d NLL / d T at ``temperature``, by autograd."""
    t = torch.tensor(temperature, dtype=torch.float64, requires_grad=True)
    F.cross_entropy(t64(logits) / t, tlong(target)).backward()
    return t.grad.item()


def overconfident(seed, scale, n=200, n_classes=4):
    """Labels drawn from softmax(l): l is calibrated, scale * l is not."""
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(scale=2.0, size=(n, n_classes))
    p = ce.softmax(true_logits, 1)
    target = np.array([rng.choice(n_classes, p=row) for row in p])
    return scale * true_logits, target


@given(st.integers(0, 10**6), floats_in(0.3, 5.0))
def test_the_fitted_temperature_is_where_the_nll_is_flat(seed, scale):
    logits, target = overconfident(seed, scale)
    temperature = ce.fit_temperature(logits, target)
    slope = torch_nll_slope(logits, target, temperature)
    assert abs(slope) < 1e-9 * max(1.0, temperature)
    nll = [
        ce.cross_entropy(logits / (temperature * f), target)
        for f in (1.0, 1.001, 0.999)
    ]
    assert nll[0] < min(nll[1:])


def test_the_fit_undoes_an_overconfident_scale_on_a_large_sample():
    logits, target = overconfident(0, 3.0, n=4000)
    assert ce.fit_temperature(logits, target) == pytest.approx(3.0, 0.1)


@pytest.mark.parametrize("right, wrong, gap", [(3, 1, 2.0), (9, 1, 1.0)])
def test_a_two_class_fit_solves_sigmoid_of_gap_over_t_equal_accuracy(
    right, wrong, gap
):
    logits = np.array([[gap, 0.0]] * (right + wrong))
    target = np.array([0] * right + [1] * wrong)
    expected = gap / math.log(right / wrong)  # σ(gap / T) = right / N
    assert ce.fit_temperature(logits, target) == pytest.approx(
        expected, rel=1e-13
    )


def test_temperature_scaling_never_changes_the_predicted_class():
    logits, target = overconfident(3, 2.5)
    temperature = ce.fit_temperature(logits, target)
    assert np.array_equal(
        (logits / temperature).argmax(1), logits.argmax(1)
    )


# ---------------------------------------------------------------------------------------------
# calibration
# ---------------------------------------------------------------------------------------------


def loop_bins(p, y, n_bins):
    """The definition, one example at a time: bin b holds b/M < conf <= (b+1)/M."""
    total_conf, total_right, count = (np.zeros(n_bins) for _ in range(3))
    for row, label in zip(p, y):
        conf = row.max()
        b = max(math.ceil(conf * n_bins) - 1, 0)
        total_conf[b] += conf
        total_right[b] += row.argmax() == label
        count[b] += 1
    with np.errstate(invalid="ignore"):
        return total_conf / count, total_right / count, count


@given(
    st.integers(1, 30).flatmap(
        lambda n: st.tuples(
            float_arrays((n, 4), -5.0, 5.0),
            arrays(np.int64, (n,), elements=st.integers(0, 3)),
            st.integers(1, 20),
        )
    )
)
def test_reliability_bins_and_ece_follow_their_definition(case):
    z, y, n_bins = case
    p = ce.softmax(z, 1)
    got = ce.reliability_bins(p, y, n_bins=n_bins)
    for ours, expected in zip(got, loop_bins(p, y, n_bins)):
        np.testing.assert_allclose(ours, expected, rtol=1e-12)
    conf, acc, count = got
    full = count > 0
    ece = np.sum(count[full] * np.abs(acc[full] - conf[full])) / len(y)
    assert ce.expected_calibration_error(
        p, y, n_bins=n_bins
    ) == pytest.approx(ece, rel=1e-12, abs=1e-15)


def test_ece_by_hand():
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    y = np.array([0, 1, 1, 0])
    # 5 bins: 0.9 -> bin 4 (right); 0.8, 0.7 -> bin 3 (one right);
    # 0.6 -> bin 2 (right). |1-.9| + 2|.5-.75| + |1-.6| = 1.0, / 4
    assert ce.expected_calibration_error(p, y, n_bins=5) == pytest.approx(
        0.25, rel=1e-14
    )


def test_a_model_whose_confidence_is_its_accuracy_has_zero_ece():
    p = np.array([[0.75, 0.25]] * 4)
    assert ce.expected_calibration_error(p, [0, 0, 0, 1]) == 0.0


# ---------------------------------------------------------------------------------------------
# errors: one per message
# ---------------------------------------------------------------------------------------------

P = np.array([[0.5, 0.5], [0.9, 0.1]])
LOG_P = np.log(P)
Y = np.array([0, 1])

ERRORS = [
    (
        "entropy-not-summing-to-1",
        lambda: ce.entropy([[0.5, 0.6]]),
        ValueError,
        r"input \(probabilities\) must sum to 1 along dim 1; the "
        r"distribution at index \(0,\) sums to 1\.1",
    ),
    (
        "entropy-negative-probability",
        lambda: ce.entropy([0.5, 0.7, -0.2]),
        ValueError,
        r"input \(probabilities\) must be probabilities in \[0, 1\]; "
        r"got -0\.2 at index \(2,\)",
    ),
    (
        "entropy-of-a-scalar",
        lambda: ce.entropy(1.0),
        ValueError,
        "input must hold distributions along dim; got a scalar",
    ),
    (
        "entropy-dim-out-of-range",
        lambda: ce.entropy(P, dim=2),
        ValueError,
        r"dim=2 is out of range for an input with 2 dimension",
    ),
    (
        "kl_div-bad-reduction",
        lambda: ce.kl_div(LOG_P, P, reduction="batch_mean"),
        ValueError,
        r"reduction must be one of 'batchmean', 'sum', 'mean' or 'none'; "
        r"got 'batch_mean'",
    ),
    (
        "kl_div-probabilities-as-input",
        lambda: ce.kl_div(P, P),
        ValueError,
        r"input must hold log-probabilities \(<= 0\); got 0\.5 at index "
        r"\(0, 0\)\. Pass log_softmax",
    ),
    (
        "kl_div-log-probabilities-as-target",
        lambda: ce.kl_div(LOG_P, LOG_P),
        ValueError,
        r"target \(probabilities; pass log_target=True for log q\) must be "
        r"probabilities in \[0, 1\]; got -0\.69",
    ),
    (
        "kl_div-log_target-above-0",
        lambda: ce.kl_div(LOG_P, P, log_target=True),
        ValueError,
        r"target must hold log-probabilities \(<= 0\); got 0\.5 at index "
        r"\(0, 0\)\. With log_target=True, target is log q",
    ),
    (
        "kl_div-shape-mismatch",
        lambda: ce.kl_div(LOG_P, P[0]),
        ValueError,
        r"target must have the shape of input \(2, 2\); got shape \(2,\)",
    ),
    (
        "kl_div-log_target-not-bool",
        lambda: ce.kl_div(LOG_P, P, log_target="yes"),
        TypeError,
        "log_target must be a bool; got 'yes'",
    ),
    (
        "perplexity-of-a-negative-loss",
        lambda: ce.perplexity(-0.5),
        ValueError,
        r"input \(a mean loss in nats\) must be >= 0, as every "
        r"cross-entropy is; got -0\.5",
    ),
    (
        "perplexity-ignore_index-without-target",
        lambda: ce.perplexity(2.0, ignore_index=0),
        ValueError,
        "ignore_index only applies with logits and a target; got "
        "ignore_index=0",
    ),
    (
        "distillation-temperature-zero",
        lambda: ce.distillation_loss(P, P, temperature=0.0),
        ValueError,
        r"temperature must be a positive finite number \(T > 0\); got 0\.0",
    ),
    (
        "distillation-temperature-negative",
        lambda: ce.distillation_loss(P, P, temperature=-2),
        ValueError,
        r"temperature must be a positive finite number \(T > 0\); got -2",
    ),
    (
        "distillation-temperature-not-a-number",
        lambda: ce.distillation_loss(P, P, temperature="2"),
        TypeError,
        "temperature must be a positive number; got '2'",
    ),
    (
        "distillation-teacher-shape",
        lambda: ce.distillation_loss(P, P[:1]),
        ValueError,
        r"teacher must have the shape of input \(2, 2\); got shape \(1, 2\)",
    ),
    (
        "distillation-scalar-input",
        lambda: ce.distillation_loss(1.0, 1.0),
        ValueError,
        r"input must have shape \(C,\), \(N, C\) or \(N, C, d1, ..., dK\); "
        "got a scalar",
    ),
    (
        "fit_temperature-bound-at-zero",
        lambda: ce.fit_temperature(P, Y, bounds=(0.0, 10.0)),
        ValueError,
        r"bounds must be a positive finite number \(T > 0\); got 0\.0",
    ),
    (
        "fit_temperature-bounds-in-the-wrong-order",
        lambda: ce.fit_temperature(P, Y, bounds=(10.0, 1.0)),
        ValueError,
        r"bounds must be \(low, high\) with low < high; got \(10\.0, 1\.0\)",
    ),
    (
        "fit_temperature-separable",
        lambda: ce.fit_temperature([[2.0, 0.0], [0.0, 2.0]], Y),
        ValueError,
        r"the NLL keeps falling down to T = 0\.01 \(bounds\[0\]\)",
    ),
    (
        "fit_temperature-uninformative",
        lambda: ce.fit_temperature([[2.0, 0.0], [0.0, 2.0]], [1, 0]),
        ValueError,
        r"the NLL is lowest at T >= 100\.0 \(bounds\[1\]\)",
    ),
    (
        "fit_temperature-shapes",
        lambda: ce.fit_temperature(P, [0, 1, 1]),
        ValueError,
        r"input must be \(N, C\) logits and target \(N,\) class indices; "
        r"got shapes \(2, 2\) and \(3,\)",
    ),
    (
        "fit_temperature-class-out-of-range",
        lambda: ce.fit_temperature(P, [0, 2]),
        ValueError,
        r"target must hold classes 0 <= y < 2; got \[0 2\]",
    ),
    (
        "fit_temperature-infinite-logit",
        lambda: ce.fit_temperature([[np.inf, 0.0], [0.0, 1.0]], Y),
        ValueError,
        "input must be finite logits with N >= 1",
    ),
    (
        "ece-rows-not-summing-to-1",
        lambda: ce.expected_calibration_error([[0.5, 0.4], [0.9, 0.1]], Y),
        ValueError,
        r"input \(probabilities\) must sum to 1 along dim 1; the "
        r"distribution at index \(0,\) sums to 0\.9",
    ),
    (
        "ece-logits-instead-of-probabilities",
        lambda: ce.expected_calibration_error([[2.0, -1.0], [0.0, 1.0]], Y),
        ValueError,
        r"input \(probabilities\) must be probabilities in \[0, 1\]; "
        r"got 2\.0 at index \(0, 0\)",
    ),
    (
        "ece-zero-bins",
        lambda: ce.expected_calibration_error(P, Y, n_bins=0),
        ValueError,
        "n_bins must be a positive int; got 0",
    ),
    (
        "ece-float-bins",
        lambda: ce.reliability_bins(P, Y, n_bins=10.0),
        TypeError,
        r"n_bins must be a positive int; got 10\.0",
    ),
    (
        "ece-shapes",
        lambda: ce.reliability_bins(P, [0]),
        ValueError,
        r"input must be \(N, C\) probabilities with N >= 1 and target "
        r"\(N,\) class indices; got shapes \(2, 2\) and \(1,\)",
    ),
    (
        "ece-class-out-of-range",
        lambda: ce.reliability_bins(P, [0, -1]),
        ValueError,
        r"target must hold classes 0 <= y < 2; got \[ 0 -1\]",
    ),
]


@pytest.mark.parametrize(
    "call, error, match",
    [e[1:] for e in ERRORS],
    ids=[e[0] for e in ERRORS],
)
def test_a_meaningless_argument_is_refused_with_a_message_naming_it(
    call, error, match
):
    with pytest.raises(error, match=match):
        call()
