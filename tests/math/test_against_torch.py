"""ce_lessons gives torch.nn.functional's numbers, in float64, to a relative 1e-10.

Every property draws random (small) problems, hands the same numpy arrays to ce_lessons and, as
float64 / int64 tensors, to torch, and compares. Reduced losses must come back as Python floats
and 'none' losses as numpy arrays of torch's shape; where torch's answer is NaN (a 'mean' over
targets that are all ignored, or whose weights are all 0) ce_lessons must give NaN too.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import ce_lessons as ce
from tests.helpers import (
    assert_loss_matches,
    assert_matches,
    binary_cases,
    float_arrays,
    index_target_cases,
    probability_target_cases,
    small_shapes,
    t64,
    tlong,
)

logits_of_1_to_4_dims = small_shapes.flatmap(float_arrays)


def every_dim(x):
    """Each dim of ``x``, counted from the front and from the back."""
    return range(-x.ndim, x.ndim)


@given(logits_of_1_to_4_dims, st.booleans())
def test_logsumexp_matches_torch_for_every_dim(x, keepdim):
    for dim in every_dim(x):
        assert_matches(
            ce.logsumexp(x, dim, keepdim=keepdim),
            torch.logsumexp(t64(x), dim, keepdim=keepdim),
        )


@given(logits_of_1_to_4_dims)
def test_softmax_matches_torch_for_every_dim(x):
    for dim in every_dim(x):
        assert_matches(ce.softmax(x, dim), torch.softmax(t64(x), dim))


@given(logits_of_1_to_4_dims)
def test_log_softmax_matches_torch_for_every_dim(x):
    for dim in every_dim(x):
        assert_matches(
            ce.log_softmax(x, dim), torch.log_softmax(t64(x), dim)
        )


@given(
    small_shapes.flatmap(lambda shape: float_arrays(shape, -700.0, 700.0))
)
def test_sigmoid_and_log_sigmoid_match_torch(x):
    assert_matches(ce.sigmoid(x), torch.sigmoid(t64(x)))
    assert_matches(ce.log_sigmoid(x), F.logsigmoid(t64(x)))


@pytest.mark.parametrize("shape, dim", [((2, 0), 1), ((0, 3), 0)])
def test_logsumexp_over_an_empty_dim_is_minus_infinity_like_torch(
    shape, dim
):
    assert_matches(
        ce.logsumexp(np.zeros(shape), dim),
        torch.logsumexp(torch.zeros(shape, dtype=torch.float64), dim),
    )


@st.composite
def class_index_arrays(draw):
    """Class indices of 0 to 3 dimensions, and a num_classes of -1 (inferred) or large enough."""
    n_classes = draw(st.integers(1, 5))
    shape = draw(st.lists(st.integers(1, 3), max_size=3).map(tuple))
    labels = draw(
        arrays(np.int64, shape, elements=st.integers(0, n_classes - 1))
    )
    num_classes = draw(st.sampled_from([-1, n_classes, n_classes + 2]))
    return labels, num_classes


@given(class_index_arrays())
def test_one_hot_matches_torch(labels_num_classes):
    labels, num_classes = labels_num_classes
    ours = ce.one_hot(labels, num_classes=num_classes)
    theirs = F.one_hot(tlong(labels), num_classes=num_classes).numpy()
    assert ours.dtype == np.int64 and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


# --- cross_entropy and nll_loss -----------------------------------------------------------------


@given(index_target_cases())
def test_cross_entropy_with_class_indices_matches_torch(case):
    ours = ce.cross_entropy(case.input, case.target, **case.options)
    theirs = F.cross_entropy(
        t64(case.input), case.torch_target(), **case.torch_options()
    )
    assert_loss_matches(ours, theirs, case.reduction)


@given(probability_target_cases())
def test_cross_entropy_with_probability_targets_matches_torch(case):
    ours = ce.cross_entropy(case.input, case.target, **case.options)
    theirs = F.cross_entropy(
        t64(case.input), case.torch_target(), **case.torch_options()
    )
    assert_loss_matches(ours, theirs, case.reduction)


@given(index_target_cases(label_smoothing=False))
def test_nll_loss_matches_torch_on_arbitrary_floats(case):
    ours = ce.nll_loss(case.input, case.target, **case.options)
    theirs = F.nll_loss(
        t64(case.input), case.torch_target(), **case.torch_options()
    )
    assert_loss_matches(ours, theirs, case.reduction)


@given(index_target_cases(label_smoothing=False))
def test_cross_entropy_is_nll_loss_of_log_softmax(case):
    log_p = ce.log_softmax(case.input, dim=case.class_dim)
    expected = ce.nll_loss(log_p, case.target, **case.options)
    assert_matches(
        ce.cross_entropy(case.input, case.target, **case.options),
        expected,
        rtol=1e-12,
        atol=0,
    )


@pytest.mark.parametrize("weight", [None, [1.0, 2.0, 0.5]])
@pytest.mark.parametrize("ignore_index", [-100, 0])
def test_mean_over_targets_that_are_all_ignored_is_nan_like_torch(
    weight, ignore_index
):
    x = np.array([[0.3, -1.2, 2.0], [1.0, 0.0, -0.5]])
    target = np.full(2, ignore_index)
    options = {
        "ignore_index": ignore_index,
        "weight": None if weight is None else np.array(weight),
    }
    ours = ce.cross_entropy(x, target, **options)
    theirs = F.cross_entropy(
        t64(x),
        tlong(target),
        ignore_index=ignore_index,
        weight=None if weight is None else t64(weight),
    )
    assert math.isnan(ours)
    assert torch.isnan(theirs)
    assert math.isnan(ce.nll_loss(x, target, **options))
    assert math.isnan(
        ce.cross_entropy(x, target, label_smoothing=0.2, **options)
    )


def test_every_ignored_target_contributes_exactly_zero_to_a_none_reduction():
    x = np.array([[0.3, -1.2, 2.0], [1.0, 0.0, -0.5]])
    losses = ce.cross_entropy(
        x,
        [1, -100],
        reduction="none",
        label_smoothing=0.3,
        weight=[1.0, 2.0, 3.0],
    )
    assert losses[1] == 0.0 and losses[0] > 0.0


# --- binary cross-entropy -----------------------------------------------------------------------


@given(binary_cases(logits=False, pos_weight=False))
def test_binary_cross_entropy_matches_torch_including_probabilities_0_and_1(
    case,
):
    ours = ce.binary_cross_entropy(case.input, case.target, **case.options)
    theirs = F.binary_cross_entropy(
        t64(case.input), t64(case.target), **case.torch_options()
    )
    assert_loss_matches(ours, theirs, case.reduction)


@given(binary_cases())
def test_binary_cross_entropy_with_logits_matches_torch_with_weight_and_pos_weight(
    case,
):
    ours = ce.binary_cross_entropy_with_logits(
        case.input, case.target, **case.options
    )
    theirs = F.binary_cross_entropy_with_logits(
        t64(case.input), t64(case.target), **case.torch_options()
    )
    assert_loss_matches(ours, theirs, case.reduction)


@given(binary_cases())
def test_binary_cross_entropy_with_logits_is_binary_cross_entropy_of_the_sigmoid(
    case,
):
    options = {k: v for k, v in case.options.items() if k != "pos_weight"}
    x = np.clip(
        case.input, -20.0, 20.0
    )  # keep sigmoid(x) away from exactly 0 and 1 (the -100 clamp)
    expected = ce.binary_cross_entropy(
        ce.sigmoid(x), case.target, **options
    )
    assert_matches(
        ce.binary_cross_entropy_with_logits(x, case.target, **options),
        expected,
        rtol=1e-8,
        atol=1e-10,
    )


# --- what counts as an input --------------------------------------------------------------------


X = np.array([[1.5, -0.3, 0.2], [0.0, 2.2, -1.0], [0.7, 0.7, 0.7]])
TARGET = np.array([2, 1, -100])
WEIGHT = np.array([1.0, 0.5, 2.0])


@pytest.mark.parametrize("requires_grad", [False, True])
def test_torch_tensors_give_the_numbers_of_numpy_arrays(requires_grad):
    x = t64(X).requires_grad_(requires_grad)
    w = t64(WEIGHT)
    for reduction in ("mean", "sum"):
        assert ce.cross_entropy(
            x,
            tlong(TARGET),
            weight=w,
            reduction=reduction,
            label_smoothing=0.1,
        ) == ce.cross_entropy(
            X,
            TARGET,
            weight=WEIGHT,
            reduction=reduction,
            label_smoothing=0.1,
        )
    np.testing.assert_array_equal(
        ce.cross_entropy(x, tlong(TARGET), reduction="none"),
        ce.cross_entropy(X, TARGET, reduction="none"),
    )
    np.testing.assert_array_equal(
        ce.cross_entropy_grad(x, tlong(TARGET)),
        ce.cross_entropy_grad(X, TARGET),
    )
    np.testing.assert_array_equal(
        ce.softmax(x, dim=1), ce.softmax(X, dim=1)
    )
    probs = t64([[0.2, 0.9, 0.5]]).requires_grad_(requires_grad)
    y = t64([[1.0, 0.0, 0.5]])
    assert ce.binary_cross_entropy(probs, y) == ce.binary_cross_entropy(
        probs.detach().numpy(), y.numpy()
    )
    assert ce.binary_cross_entropy_with_logits(
        x, t64(np.eye(3)), pos_weight=w
    ) == ce.binary_cross_entropy_with_logits(
        X, np.eye(3), pos_weight=WEIGHT
    )


def test_torch_float32_tensors_are_computed_in_float64():
    x32 = torch.tensor(X, dtype=torch.float32)
    expected = ce.cross_entropy(x32.numpy().astype(np.float64), TARGET)
    assert ce.cross_entropy(x32, tlong(TARGET)) == expected
    assert ce.softmax(x32, dim=1).dtype == np.float64


def test_python_lists_give_the_numbers_of_numpy_arrays():
    assert ce.cross_entropy(
        X.tolist(), TARGET.tolist(), weight=WEIGHT.tolist()
    ) == ce.cross_entropy(X, TARGET, weight=WEIGHT)
    assert ce.nll_loss(
        X.tolist(), TARGET.tolist(), reduction="sum"
    ) == ce.nll_loss(X, TARGET, reduction="sum")
    np.testing.assert_array_equal(
        ce.log_softmax(X.tolist(), dim=0), ce.log_softmax(X, dim=0)
    )
    assert ce.binary_cross_entropy(
        [0.2, 0.9], [1.0, 0.0]
    ) == ce.binary_cross_entropy(np.array([0.2, 0.9]), np.array([1.0, 0.0]))


def test_reduced_losses_are_python_floats_and_none_losses_numpy_arrays():
    for loss in (
        ce.cross_entropy(X, TARGET),
        ce.nll_loss(X, TARGET, reduction="sum"),
        ce.binary_cross_entropy([0.5], [1.0]),
    ):
        assert type(loss) is float
    assert isinstance(
        ce.cross_entropy(X, TARGET, reduction="none"), np.ndarray
    )
    assert ce.cross_entropy(X, TARGET, reduction="none").shape == (3,)
    assert ce.binary_cross_entropy_with_logits(
        X, np.eye(3), reduction="none"
    ).shape == (3, 3)


def test_none_reduction_of_an_unbatched_input_is_a_0d_numpy_array():
    for loss in (
        ce.cross_entropy([0.5, 1.0, -1.0], 1, reduction="none"),
        ce.nll_loss([-0.5, -1.0], 0, reduction="none"),
        ce.cross_entropy([0.5, 1.0], [0.25, 0.75], reduction="none"),
    ):
        assert isinstance(loss, np.ndarray) and loss.shape == ()


@given(logits_of_1_to_4_dims, st.booleans())
def test_logsumexp_over_a_tuple_of_dims_matches_torch(x, keepdim):
    dims = tuple(range(x.ndim))[::2] or (0,)
    assert_matches(
        ce.logsumexp(x, dims, keepdim=keepdim),
        torch.logsumexp(t64(x), dims, keepdim=keepdim),
    )


def test_logsumexp_of_a_scalar_is_the_scalar_like_torch():
    assert_matches(ce.logsumexp(3.0, 0), torch.logsumexp(t64(3.0), 0))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_tensors_give_the_numbers_of_their_float32_values(
    dtype,
):
    """numpy has no bfloat16: the tensor is widened (exactly) first."""
    x = torch.tensor([[2.0, 1.0, 0.1]], dtype=dtype)
    expected = F.cross_entropy(x.float().double(), tlong([0]))
    assert_matches(ce.cross_entropy(x, [0]), expected)
