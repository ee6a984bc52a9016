"""ce_lessons.imbalance: the focal loss against torch, and the class-weight helpers.

* ``focal_loss`` equals a torch computation of −w_y (1 − p_y)^γ log p_y for every shape, weight,
  ignore_index and reduction (hypothesis, float64); γ = 0 is exactly ``F.cross_entropy``; and one
  case is worked out by hand.
* ``inverse_frequency_weights`` and ``effective_number_weights`` (Cui et al. 2019) on hand-computed
  counts, their limits, and their errors.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import ce_lessons as ce
from tests.helpers import (
    assert_loss_matches,
    index_target_cases,
    t64,
    tlong,
)

gammas = st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0])


def torch_focal_loss(case, gamma):
    """The focal loss, computed with torch's log_softmax, gather and nll_loss."""
    x, y, dim = t64(case.input), tlong(case.target), case.class_dim
    options = dict(case.options)
    ignore = options.get("ignore_index", -100)
    weight = options.get("weight")
    reduction = options.get("reduction", "mean")
    log_p = torch.log_softmax(x, dim)
    kept = y != ignore
    safe = torch.where(kept, y, torch.zeros_like(y)).unsqueeze(dim)
    log_p_y = log_p.gather(dim, safe).squeeze(dim)
    w = t64(weight) if weight is not None else torch.ones(x.shape[dim])
    w_y = torch.where(kept, w.to(x.dtype)[safe.squeeze(dim)], 0.0)
    losses = -w_y * (1 - log_p_y.exp()) ** gamma * log_p_y
    losses = torch.where(kept, losses, 0.0)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / w_y.sum()


@given(index_target_cases(label_smoothing=False), gammas)
def test_focal_loss_matches_a_torch_computation(case, gamma):
    ours = ce.focal_loss(
        case.input, case.target, gamma=gamma, **case.options
    )
    reduction = case.options.get("reduction", "mean")
    assert_loss_matches(
        ours, torch_focal_loss(case, gamma), reduction, rtol=1e-9
    )


@given(index_target_cases(label_smoothing=False))
def test_focal_loss_with_gamma_0_is_cross_entropy(case):
    ours = ce.focal_loss(case.input, case.target, gamma=0.0, **case.options)
    options = {
        k: t64(v) if isinstance(v, np.ndarray) else v
        for k, v in case.options.items()
    }
    theirs = F.cross_entropy(t64(case.input), tlong(case.target), **options)
    reduction = case.options.get("reduction", "mean")
    assert_loss_matches(ours, theirs, reduction)


def test_focal_loss_on_a_case_computed_by_hand():
    # logits (0, log 3): p = (1/4, 3/4). Target 1: (1/4)^2 * -log(3/4);
    # target 0: (3/4)^2 * -log(1/4). Mean of the two.
    x = np.array([[0.0, math.log(3.0)], [0.0, math.log(3.0)]])
    by_hand = [
        (1 / 4) ** 2 * -math.log(3 / 4),
        (3 / 4) ** 2 * -math.log(1 / 4),
    ]
    none = ce.focal_loss(x, [1, 0], gamma=2.0, reduction="none")
    np.testing.assert_allclose(none, by_hand, rtol=1e-15)
    assert ce.focal_loss(x, [1, 0]) == pytest.approx(
        sum(by_hand) / 2, rel=1e-15
    )
    # weight 4 on class 1: the mean divides by the weights, 4 + 1
    weighted = ce.focal_loss(x, [1, 0], weight=[1.0, 4.0])
    assert weighted == pytest.approx(
        (4 * by_hand[0] + by_hand[1]) / 5, rel=1e-15
    )


def test_focal_loss_shrinks_the_easy_examples_most():
    x = np.array([[4.0, 0.0], [0.0, 4.0]])  # p_y = 0.98, then 0.018
    ce_losses = ce.cross_entropy(x, [0, 0], reduction="none")
    focal = ce.focal_loss(x, [0, 0], reduction="none")
    ratio = focal / ce_losses  # (1 - p_y)^2
    np.testing.assert_allclose(ratio, (1 - ce.softmax(x, 1)[:, 0]) ** 2)
    assert ratio[0] < 1e-3 < 0.9 < ratio[1]


def test_focal_loss_of_every_target_ignored_is_nan_like_torch():
    assert math.isnan(ce.focal_loss([[1.0, 2.0]], [-100]))


@pytest.mark.parametrize("gamma", [-1.0, float("nan"), True])
def test_focal_loss_refuses_a_bad_gamma(gamma):
    with pytest.raises(ValueError, match="gamma must be a number >= 0"):
        ce.focal_loss([[1.0, 2.0]], [0], gamma=gamma)


def test_focal_loss_options_are_keyword_only():
    with pytest.raises(TypeError):
        ce.focal_loss([[1.0, 2.0]], [0], 2.0)


def test_focal_loss_refuses_probability_targets():
    with pytest.raises((TypeError, ValueError), match="target"):
        ce.focal_loss([[1.0, 2.0]], [[0.5, 0.5]])


# ----------------------------------------------------------------------
# Class weights
# ----------------------------------------------------------------------


def test_class_counts_counts_each_class_and_skips_ignored_targets():
    counts = ce.class_counts(
        np.array([[0, 2], [2, 255]]), 4, ignore_index=255
    )
    np.testing.assert_array_equal(counts, [1, 0, 2, 0])


def test_class_counts_refuses_a_label_out_of_range():
    with pytest.raises(ValueError, match="outside 0..2"):
        ce.class_counts([0, 3], 3)


def test_inverse_frequency_weights_by_hand():
    # 1/90 and 1/10, normalized to sum to C = 2: 2 * (1/90) / (1/90 + 1/10)
    w = ce.inverse_frequency_weights([90, 10])
    np.testing.assert_allclose(w, [0.2, 1.8], rtol=1e-15)
    assert w[1] / w[0] == pytest.approx(9.0)


@given(st.lists(st.integers(1, 10_000), min_size=1, max_size=8))
def test_inverse_frequency_weights_sum_to_c_and_are_inverse_to_counts(
    counts,
):
    w = ce.inverse_frequency_weights(counts)
    assert w.sum() == pytest.approx(len(counts))
    products = w * np.array(counts)  # w_c n_c is the same for every class
    np.testing.assert_allclose(products, products[0], rtol=1e-12)


def test_balanced_counts_get_weight_one():
    np.testing.assert_allclose(ce.inverse_frequency_weights([7, 7, 7]), 1)
    np.testing.assert_allclose(ce.effective_number_weights([7, 7, 7]), 1)


def test_effective_number_weights_by_hand():
    # E_c = (1 - beta^n_c) / (1 - beta); weights 1/E_c, normalized to C
    beta, counts = 0.99, np.array([500, 20, 3])
    effective = (1 - beta**counts) / (1 - beta)
    expected = 3 * (1 / effective) / (1 / effective).sum()
    w = ce.effective_number_weights(counts, beta=beta)
    np.testing.assert_allclose(w, expected, rtol=1e-13)
    assert effective[0] == pytest.approx(100.0, rel=1e-2)  # saturated


def test_effective_number_weights_between_equal_and_inverse_frequency():
    counts = [1000, 50, 5]
    np.testing.assert_allclose(
        ce.effective_number_weights(counts, beta=0.0), 1.0
    )
    np.testing.assert_allclose(
        ce.effective_number_weights(counts, beta=1 - 1e-9),
        ce.inverse_frequency_weights(counts),
        rtol=1e-5,
    )


@pytest.mark.parametrize(
    "helper", [ce.inverse_frequency_weights, ce.effective_number_weights]
)
def test_a_class_with_no_example_is_refused_by_name(helper):
    with pytest.raises(ValueError, match="class 1 has 0.0 examples"):
        helper([5, 0, 3])


@pytest.mark.parametrize("beta", [1.0, -0.1, 2.0])
def test_beta_outside_0_1_is_refused(beta):
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\)"):
        ce.effective_number_weights([5, 3], beta=beta)


def test_weights_plug_into_cross_entropy_and_match_torch():
    rng = np.random.default_rng(0)
    y = np.array([0] * 18 + [1] * 2)
    x = rng.normal(size=(20, 2))
    w = ce.inverse_frequency_weights(ce.class_counts(y, 2))
    theirs = F.cross_entropy(t64(x), tlong(y), weight=t64(w))
    assert ce.cross_entropy(x, y, weight=w) == pytest.approx(
        theirs.item(), rel=1e-12
    )
