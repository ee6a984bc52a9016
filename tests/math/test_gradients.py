"""The gradient functions are the derivatives of the losses: they equal torch's autograd.

cross_entropy_grad(args) is ∂ cross_entropy(args) / ∂ input, for every option; for reduction
'none' it is the gradient of the sum of the per-element losses. The headline of the chapter,
∂L/∂x = p − one_hot(y), is checked on the book's own numbers; finite differences check the
gradients independently of torch.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import ce_lessons as ce
from tests.helpers import (
    assert_matches,
    binary_cases,
    float_arrays,
    index_target_cases,
    probability_target_cases,
    t64,
    tlong,
)

GRAD_RTOL, GRAD_ATOL = 1e-9, 1e-12


def torch_grad(loss_fn, x, *args, **kwargs):
    """∂ loss_fn(x, ...) / ∂x by autograd, float64; a 'none' loss is summed first."""
    xt = t64(x).requires_grad_()
    loss = loss_fn(xt, *args, **kwargs)
    loss.sum().backward() if loss.ndim else loss.backward()
    return loss.detach(), xt.grad


def mean_denominator_is_zero(case):
    """True when a 'mean' over class indices divides by 0 (every target ignored or weighted 0)."""
    if case.reduction != "mean" or case.target.dtype.kind == "f":
        return False
    kept = case.target != case.options.get("ignore_index", -100)
    weight = case.options.get(
        "weight", np.ones(case.input.shape[case.class_dim])
    )
    return float(np.sum(weight[case.target[kept]])) == 0.0


# --- cross_entropy_grad against autograd --------------------------------------------------------


#: cross_entropy's two kinds of target, each with its own random cases
TARGETS = pytest.mark.parametrize(
    "cases",
    [
        pytest.param(index_target_cases, id="class indices"),
        pytest.param(probability_target_cases, id="probability targets"),
    ],
)


@TARGETS
@given(data=st.data())
def test_cross_entropy_grad_matches_autograd(cases, data):
    case = data.draw(cases(), label="case")
    loss, expected = torch_grad(
        F.cross_entropy,
        case.input,
        case.torch_target(),
        **case.torch_options(),
    )
    ours = ce.cross_entropy_grad(case.input, case.target, **case.options)
    assert ours.shape == case.input.shape
    if mean_denominator_is_zero(case):
        # The loss is 0/0 = nan on both sides; what each then calls its gradient differs
        # (see test_gradient_of_a_mean_over_only_ignored_targets_matches_autograd).
        assert torch.isnan(loss) and math.isnan(
            ce.cross_entropy(case.input, case.target, **case.options)
        )
    else:
        assert_matches(ours, expected, rtol=GRAD_RTOL, atol=GRAD_ATOL)


@pytest.mark.parametrize(
    "torch_loss, our_grad, cases",
    [
        pytest.param(
            F.binary_cross_entropy_with_logits,
            ce.binary_cross_entropy_with_logits_grad,
            binary_cases(),
            id="with logits",
        ),
        # torch's backward divides by max(p(1 - p), 1e-12): ours does the
        # same, also at p = 0 and p = 1, where the exact derivative is
        # infinite
        pytest.param(
            F.binary_cross_entropy,
            ce.binary_cross_entropy_grad,
            binary_cases(logits=False, pos_weight=False),
            id="probabilities, the cap included",
        ),
    ],
)
@given(data=st.data())
def test_binary_cross_entropy_grad_matches_autograd(
    torch_loss, our_grad, cases, data
):
    case = data.draw(cases, label="case")
    _, expected = torch_grad(
        torch_loss, case.input, t64(case.target), **case.torch_options()
    )
    ours = our_grad(case.input, case.target, **case.options)
    assert_matches(ours, expected, rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_gradient_of_a_mean_over_only_ignored_targets_matches_autograd():
    x = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 2.0]])
    target = np.array([-100, -100])
    _, expected = torch_grad(F.cross_entropy, x, tlong(target))
    assert_matches(ce.cross_entropy_grad(x, target), expected)


# --- against finite differences -----------------------------------------------------------------


@TARGETS
@settings(max_examples=25)
@given(data=st.data())
def test_cross_entropy_grad_matches_finite_differences(cases, data):
    case = data.draw(cases(low=-5.0, high=5.0), label="case")

    def loss(x):
        return float(
            np.sum(ce.cross_entropy(x, case.target, **case.options))
        )

    if mean_denominator_is_zero(case):
        assert math.isnan(loss(case.input))
        return
    expected = ce.finite_difference_grad(loss, case.input)
    np.testing.assert_allclose(
        ce.cross_entropy_grad(case.input, case.target, **case.options),
        expected,
        rtol=1e-6,
        atol=1e-8,
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_with_logits_grad_matches_finite_differences(
    reduction,
):
    x = np.array([[2.0, -1.0, 0.3], [-4.0, 0.0, 1.5]])
    y = np.array([[1.0, 0.0, 0.25], [1.0, 0.5, 0.0]])
    options = {
        "weight": np.array([0.5, 2.0, 1.0]),
        "pos_weight": np.array([3.0, 0.5, 1.0]),
        "reduction": reduction,
    }

    def loss(z):
        return float(
            np.sum(ce.binary_cross_entropy_with_logits(z, y, **options))
        )

    ours = ce.binary_cross_entropy_with_logits_grad(x, y, **options)
    np.testing.assert_allclose(
        ours, ce.finite_difference_grad(loss, x), rtol=1e-6, atol=1e-9
    )


# --- the chapter's closed forms -----------------------------------------------------------------


def test_chapter_example_gradient_is_p_minus_one_hot():
    p = np.array([0.1, 0.7, 0.2])
    x = np.log(p)  # logits whose softmax is p
    np.testing.assert_allclose(ce.softmax(x, dim=0), p, rtol=1e-15)
    grad = ce.cross_entropy_grad(x[None, :], [0], reduction="sum")
    np.testing.assert_allclose(
        grad, [[-0.9, 0.7, 0.2]], rtol=1e-12, atol=1e-15
    )
    np.testing.assert_allclose(
        ce.cross_entropy_grad(x, 0, reduction="sum"),
        [-0.9, 0.7, 0.2],
        rtol=1e-12,
        atol=1e-15,
    )


@st.composite
def batches_with_labels(draw):
    """A (N, C) batch of logits and N class indices (no weight, nothing ignored)."""
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    x = draw(float_arrays((n, c)))
    target = draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n))
    return x, target


@given(batches_with_labels())
def test_mean_gradient_over_a_batch_of_n_is_the_sum_gradient_divided_by_n(
    batch,
):
    x, target = batch
    mean = ce.cross_entropy_grad(x, target, reduction="mean")
    total = ce.cross_entropy_grad(x, target, reduction="sum")
    np.testing.assert_allclose(mean, total / x.shape[0], rtol=1e-14, atol=0)
    np.testing.assert_allclose(
        total,
        ce.softmax(x, dim=1) - np.eye(x.shape[1])[target],
        rtol=1e-14,
        atol=0,
    )


def test_none_gradient_is_the_gradient_of_the_sum_of_the_losses():
    x = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 2.0], [0.0, 0.0, 0.0]])
    target = [2, 0, -100]
    options = {"weight": [1.0, 0.5, 2.0], "label_smoothing": 0.2}
    np.testing.assert_array_equal(
        ce.cross_entropy_grad(x, target, reduction="none", **options),
        ce.cross_entropy_grad(x, target, reduction="sum", **options),
    )


def test_binary_gradient_without_pos_weight_is_sigmoid_minus_target():
    x = np.array([-2.0, 0.0, 3.0])
    y = np.array([1.0, 0.5, 0.0])
    np.testing.assert_allclose(
        ce.binary_cross_entropy_with_logits_grad(x, y, reduction="sum"),
        ce.sigmoid(x) - y,
        rtol=1e-15,
    )
    np.testing.assert_allclose(
        ce.binary_cross_entropy_with_logits_grad(x, y),
        (ce.sigmoid(x) - y) / 3,
        rtol=1e-15,
    )


# --- softmax_jacobian ---------------------------------------------------------------------------


@settings(max_examples=40)
@given(
    array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4).flatmap(
        float_arrays
    )
)
def test_softmax_jacobian_matches_autograd_jacobian_of_torch_softmax(x):
    rows = x.reshape(-1, x.shape[-1])
    expected = np.stack(
        [
            torch.autograd.functional.jacobian(
                lambda v: torch.softmax(v, dim=-1), t64(row)
            ).numpy()
            for row in rows
        ]
    ).reshape(x.shape + x.shape[-1:])
    ours = ce.softmax_jacobian(x)
    assert ours.shape == x.shape + x.shape[-1:]
    np.testing.assert_allclose(
        ours, expected, rtol=GRAD_RTOL, atol=GRAD_ATOL
    )


@given(
    array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4).flatmap(
        float_arrays
    )
)
def test_softmax_jacobian_rows_sum_to_zero_and_it_is_symmetric(x):
    jacobian = ce.softmax_jacobian(x)
    np.testing.assert_allclose(jacobian.sum(axis=-1), 0.0, atol=1e-15)
    np.testing.assert_array_equal(jacobian, np.swapaxes(jacobian, -1, -2))


def test_softmax_jacobian_is_diag_p_minus_p_p_transpose():
    x = np.array([0.5, -1.0, 2.0])
    p = ce.softmax(x, dim=0)
    np.testing.assert_allclose(
        ce.softmax_jacobian(x),
        np.diag(p) - np.outer(p, p),
        rtol=1e-15,
        atol=1e-17,
    )


# --- finite_difference_grad ---------------------------------------------------------------------


def test_finite_difference_grad_of_known_functions():
    x = np.array([[0.3, -1.2], [2.0, 0.0]])
    np.testing.assert_allclose(
        ce.finite_difference_grad(lambda v: np.sin(v).sum(), x),
        np.cos(x),
        rtol=1e-8,
        atol=1e-10,
    )
    np.testing.assert_allclose(
        ce.finite_difference_grad(lambda v: (v**3).sum(), x),
        3 * x**2,
        rtol=1e-8,
        atol=1e-9,
    )
    np.testing.assert_allclose(
        ce.finite_difference_grad(lambda v: ce.logsumexp(v, 0), x[0]),
        ce.softmax(x[0], 0),
        rtol=1e-8,
    )


def test_finite_difference_grad_keeps_shape_and_does_not_modify_its_input():
    x = np.array([[1.0, 2.0, 3.0]])
    before = x.copy()
    grad = ce.finite_difference_grad(
        lambda v: float(v[0, 1] * 5.0), x, h=1e-4
    )
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(grad, [[0.0, 5.0, 0.0]], atol=1e-9)


def test_bce_gradient_through_a_sigmoid_collapses_past_the_cap():
    """Chained through p = sigmoid(x), the capped gradient is p - y while
    p(1 - p) > 1e-12 and collapses beyond |x| of about 27.6 (y = 1, x < 0)."""
    x = np.array([-20.0, -28.0, -40.0])
    p = ce.sigmoid(x)
    through_sigmoid = ce.binary_cross_entropy_grad(
        p, np.ones(3), reduction="none"
    ) * (p * (1 - p))
    assert through_sigmoid[0] == pytest.approx(p[0] - 1.0, rel=1e-9)
    assert -0.75 < through_sigmoid[1] < -0.6  # already capped at x = -28
    assert abs(through_sigmoid[2]) < 1e-5  # the exact gradient is -1
