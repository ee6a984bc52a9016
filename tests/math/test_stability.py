"""Numerical stability: huge logits give finite, correct results, not inf or nan.

The rule is torch's float64 behaviour: wherever torch's result is finite, ce_lessons' result is
finite and equal to it. Logits of ±1e4 and ±1e6 already overflow a naive exp (which overflows
past 709.8); ±1e300 leave almost no room at all (1e300 − (−1e300) is still finite, 2e300 − (−1e300)
would not be).
"""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ce_lessons as ce
from tests.helpers import assert_matches, t64, tlong

SCALES = [1e4, 1e6, 1e300]
SCALE_PARAMS = [pytest.param(scale, id=f"{scale:g}") for scale in SCALES]

# Logits in units of the scale: large gaps between classes, ties, and a row of equal logits.
PATTERN = np.array(
    [[1.0, -1.0, 0.5], [-1.0, -1.0, 1.0], [0.0, 1.0, -0.5], [1.0, 1.0, 1.0]]
)
TARGET = np.array(
    [1, 2, 0, 1]
)  # the first two targets are classes with very unlikely logits
WEIGHT = np.array([0.5, 2.0, 1.0])


def assert_finite_where_torch_is_and_equal(
    ours, theirs, rtol=1e-10, atol=1e-12
):
    torch_finite = np.isfinite(np.asarray(theirs.detach().numpy()))
    assert np.all(np.isfinite(ours)[torch_finite]), (
        f"ce_lessons not finite where torch is: {ours!r}"
    )
    assert_matches(ours, theirs, rtol=rtol, atol=atol)


def with_torch_grad(loss_fn, x, *args, **kwargs):
    xt = t64(x).requires_grad_()
    loss = loss_fn(xt, *args, **kwargs)
    loss.sum().backward()
    return loss.detach(), xt.grad


@pytest.mark.parametrize("scale", SCALES)
def test_logsumexp_softmax_sigmoid_at_extreme_logits_are_finite_and_equal_torch(
    scale,
):
    x = scale * PATTERN
    for dim in (0, 1, -1):
        assert_finite_where_torch_is_and_equal(
            ce.logsumexp(x, dim), torch.logsumexp(t64(x), dim)
        )
        assert_finite_where_torch_is_and_equal(
            ce.softmax(x, dim), torch.softmax(t64(x), dim)
        )
    assert_finite_where_torch_is_and_equal(
        ce.sigmoid(x), torch.sigmoid(t64(x))
    )
    assert_finite_where_torch_is_and_equal(
        ce.log_sigmoid(x), F.logsigmoid(t64(x))
    )
    jacobians = torch.stack(
        [
            torch.autograd.functional.jacobian(
                lambda v: torch.softmax(v, -1), t64(row)
            )
            for row in x
        ]
    )
    assert_finite_where_torch_is_and_equal(
        ce.softmax_jacobian(x), jacobians
    )


@pytest.mark.parametrize("scale", SCALE_PARAMS)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_log_softmax_at_extreme_logits_is_finite_and_equals_torch(
    scale, dim
):
    x = scale * PATTERN
    assert_finite_where_torch_is_and_equal(
        ce.log_softmax(x, dim), torch.log_softmax(t64(x), dim)
    )


@pytest.mark.parametrize(
    "scale, reduction",
    [
        pytest.param(scale, reduction, id=f"{scale:g}-{reduction}")
        for scale in SCALES
        for reduction in ("mean", "sum", "none")
    ],
)
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"weight": WEIGHT},
        {"label_smoothing": 0.1},
        {"ignore_index": 0},
        {"weight": WEIGHT, "label_smoothing": 0.3},
    ],
    ids=[
        "plain",
        "weight",
        "smoothing",
        "ignore_index",
        "weight+smoothing",
    ],
)
def test_cross_entropy_and_its_gradient_at_extreme_logits_are_finite_and_equal_torch(
    scale, reduction, options
):
    x = scale * PATTERN
    torch_options = {
        k: (t64(v) if isinstance(v, np.ndarray) else v)
        for k, v in options.items()
    }
    loss, grad = with_torch_grad(
        F.cross_entropy,
        x,
        tlong(TARGET),
        reduction=reduction,
        **torch_options,
    )
    assert torch.all(torch.isfinite(loss)) and torch.all(
        torch.isfinite(grad)
    )
    ours = ce.cross_entropy(x, TARGET, reduction=reduction, **options)
    assert_finite_where_torch_is_and_equal(ours, loss)
    assert_finite_where_torch_is_and_equal(
        ce.cross_entropy_grad(x, TARGET, reduction=reduction, **options),
        grad,
    )


@pytest.mark.parametrize("scale", SCALE_PARAMS)
def test_cross_entropy_with_probability_targets_at_extreme_logits(scale):
    x = scale * PATTERN
    q = np.array(
        [
            [0.2, 0.3, 0.5],
            [0.0, 1.0, 0.0],
            [1 / 3, 1 / 3, 1 / 3],
            [0.5, 0.0, 0.5],
        ]
    )
    for reduction in ("mean", "sum", "none"):
        loss, grad = with_torch_grad(
            F.cross_entropy,
            x,
            t64(q),
            weight=t64(WEIGHT),
            reduction=reduction,
        )
        assert_finite_where_torch_is_and_equal(
            ce.cross_entropy(x, q, weight=WEIGHT, reduction=reduction), loss
        )
        assert_finite_where_torch_is_and_equal(
            ce.cross_entropy_grad(x, q, weight=WEIGHT, reduction=reduction),
            grad,
        )


@pytest.mark.parametrize("scale", SCALES)
def test_binary_cross_entropy_with_logits_at_extreme_logits(scale):
    x = scale * PATTERN
    y = np.array(
        [
            [1.0, 0.0, 0.5],
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 1.0],
            [0.25, 1.0, 0.0],
        ]
    )
    options = {"weight": WEIGHT, "pos_weight": np.array([2.0, 0.5, 1.0])}
    torch_options = {k: t64(v) for k, v in options.items()}
    for reduction in ("mean", "sum", "none"):
        loss, grad = with_torch_grad(
            F.binary_cross_entropy_with_logits,
            x,
            t64(y),
            reduction=reduction,
            **torch_options,
        )
        ours = ce.binary_cross_entropy_with_logits(
            x, y, reduction=reduction, **options
        )
        assert_finite_where_torch_is_and_equal(ours, loss)
        assert_finite_where_torch_is_and_equal(
            ce.binary_cross_entropy_with_logits_grad(
                x, y, reduction=reduction, **options
            ),
            grad,
        )


# --- the contrast with the naive formulas -------------------------------------------------------


@pytest.mark.parametrize("scale", [1e3, 1e4, 1e6, 1e300])
def test_log_softmax_is_finite_where_the_naive_formula_is_not(scale):
    x = scale * np.array([1.0, 0.0, -1.0])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        naive = np.log(np.exp(x) / np.exp(x).sum())
    assert not np.all(
        np.isfinite(naive)
    )  # exp overflows to inf: inf / inf = nan, and log 0 = -inf
    ours = ce.log_softmax(x, dim=0)
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(
        ours, [0.0, -scale, -2 * scale], rtol=1e-15, atol=0
    )
    assert_matches(ours, torch.log_softmax(t64(x), 0))


@pytest.mark.parametrize(
    "scale",
    [
        pytest.param(s, id=f"{s:g}")
        for s in [1.0, 1e4, 1e6, 1e8, 1e17, 1e300]
    ],
)
def test_log_softmax_of_tied_logits_is_minus_log_c_at_any_size(scale):
    x = np.full(3, scale)
    expected = np.full(3, -np.log(3.0))
    assert_matches(ce.log_softmax(x, dim=0), torch.log_softmax(t64(x), 0))
    np.testing.assert_allclose(
        ce.log_softmax(x, dim=0), expected, rtol=1e-10
    )
    assert ce.cross_entropy(x, 0) == pytest.approx(np.log(3.0), rel=1e-10)


def test_logsumexp_of_two_equal_huge_logits_adds_log_2():
    assert float(ce.logsumexp([1e6, 1e6], 0)) == 1e6 + np.log(2.0)
    assert float(ce.logsumexp([-1e300, -1e300], 0)) == -1e300
    assert float(ce.logsumexp([1e300, 0.0], 0)) == 1e300


@pytest.mark.parametrize("x", [1e4, -1e4])
@pytest.mark.parametrize("y", [0.0, 1.0, 0.5])
def test_binary_cross_entropy_with_logits_at_1e4_is_finite_and_exact(x, y):
    expected = (1 - y) * max(x, 0.0) + y * max(
        -x, 0.0
    )  # the loss is linear in x this far out
    ours = ce.binary_cross_entropy_with_logits([x], [y])
    assert np.isfinite(ours)
    assert ours == pytest.approx(expected, rel=1e-15, abs=0)
    assert ours == pytest.approx(
        F.binary_cross_entropy_with_logits(t64([x]), t64([y])).item(),
        rel=1e-10,
    )
    grad = ce.binary_cross_entropy_with_logits_grad([x], [y])
    np.testing.assert_array_equal(grad, [(1.0 if x > 0 else 0.0) - y])


def test_sigmoid_and_log_sigmoid_do_not_overflow():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning either
        np.testing.assert_array_equal(
            ce.sigmoid([-1e300, 1e300]), [0.0, 1.0]
        )
        np.testing.assert_array_equal(
            ce.log_sigmoid([-1e300, 1e300]), [-1e300, 0.0]
        )


# --- binary_cross_entropy's clamp ---------------------------------------------------------------


def test_binary_cross_entropy_clamps_the_log_at_minus_100():
    p = np.zeros(3)
    y = np.ones(3)
    np.testing.assert_array_equal(
        ce.binary_cross_entropy(p, y, reduction="none"),
        [100.0, 100.0, 100.0],
    )
    assert ce.binary_cross_entropy(p, y, reduction="sum") == 300.0
    assert ce.binary_cross_entropy(p, y) == 100.0
    assert (
        ce.binary_cross_entropy([1.0], [0.0]) == 100.0
    )  # log(1 - p) is clamped the same way
    assert (
        ce.binary_cross_entropy([0.0, 1.0], [0.0, 1.0]) == 0.0
    )  # certain and right: no loss
    assert (
        ce.binary_cross_entropy(p, y)
        == F.binary_cross_entropy(t64(p), t64(y)).item()
    )


def test_binary_cross_entropy_clamp_with_weight_scales_the_100():
    losses = ce.binary_cross_entropy(
        [0.0, 0.0], [1.0, 0.5], weight=[2.0, 1.0], reduction="none"
    )
    np.testing.assert_array_equal(losses, [200.0, 50.0])
    np.testing.assert_array_equal(
        losses,
        F.binary_cross_entropy(
            t64([0.0, 0.0]),
            t64([1.0, 0.5]),
            weight=t64([2.0, 1.0]),
            reduction="none",
        ),
    )


# --- infinite logits (the log of a probability 0) -----------------------------------------------


def test_cross_entropy_of_logits_with_minus_infinity_is_finite_without_smoothing():
    x = ce.logits_from_probs(
        [[0.5, 0.5, 0.0], [0.2, 0.8, 0.0]], dim=1
    )  # log 0 = -inf
    target = np.array([0, 1])
    for reduction in ("mean", "sum", "none"):
        ours = ce.cross_entropy(x, target, reduction=reduction)
        assert np.all(np.isfinite(ours))
        assert_matches(
            ours,
            F.cross_entropy(t64(x), tlong(target), reduction=reduction),
        )


@pytest.mark.filterwarnings(
    "ignore:invalid value encountered:RuntimeWarning"
)
def test_ignored_target_with_minus_infinity_logit_and_label_smoothing_contributes_zero():
    x = ce.logits_from_probs([[0.5, 0.5, 0.0], [0.2, 0.8, 0.0]], dim=1)
    target = np.array([0, -100])
    theirs = F.cross_entropy(
        t64(x), tlong(target), label_smoothing=0.1, reduction="none"
    )
    assert theirs[1].item() == 0.0
    assert_matches(
        ce.cross_entropy(x, target, label_smoothing=0.1, reduction="none"),
        theirs,
    )
