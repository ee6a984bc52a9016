"""The forum thread's numbers: probabilities passed to CrossEntropyLoss, and the two 'fixes'.

The thread feeds softmax probabilities of shape (1, 3, 2, 2) (float32, as posted) straight into
``nn.CrossEntropyLoss`` and gets 0.9488; NLLLoss(sum) of their log gives 2.8824. Converting the
probabilities back to logits with log p (``logits_from_probs``) reproduces 2.8824; the sigmoid's
logit log(p / (1 − p)), also suggested in the thread, does not. ce_lessons computes in float64,
torch here in float32, hence a tolerance of 1e-6.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ce_lessons as ce

FLOAT32_RTOL = 1e-6


@pytest.fixture
def probs1():
    return torch.tensor(
        [
            [
                [[0.1, 0.3], [0.4, 0.5]],
                [[0.2, 0.3], [0.4, 0.5]],
                [[0.7, 0.4], [0.2, 0.0]],
            ]
        ]
    )


@pytest.fixture
def target():
    return torch.tensor([[[2, 2], [0, 1]]])


def test_the_thread_posts_float32_probabilities_that_sum_to_1_over_dim_1(
    probs1, target
):
    assert probs1.dtype == torch.float32 and probs1.shape == (1, 3, 2, 2)
    assert target.shape == (1, 2, 2)
    np.testing.assert_allclose(probs1.sum(dim=1).numpy(), 1.0, rtol=1e-6)


def test_cross_entropy_of_probabilities_gives_0_9488_like_torch(
    probs1, target
):
    ours = ce.cross_entropy(probs1, target)
    assert round(ours, 4) == 0.9488
    assert ours == pytest.approx(
        F.cross_entropy(probs1, target).item(), rel=FLOAT32_RTOL
    )
    assert ours == pytest.approx(
        torch.nn.CrossEntropyLoss()(probs1, target).item(), rel=FLOAT32_RTOL
    )


def test_nll_loss_sum_of_log_probabilities_gives_2_8824_like_torch(
    probs1, target
):
    ours = ce.nll_loss(
        ce.logits_from_probs(probs1, dim=1), target, reduction="sum"
    )
    assert round(ours, 4) == 2.8824
    theirs = torch.nn.NLLLoss(reduction="sum")(
        torch.log(probs1), target
    ).item()
    assert ours == pytest.approx(theirs, rel=FLOAT32_RTOL)


def test_cross_entropy_of_logits_from_probs_reproduces_2_8824(
    probs1, target
):
    logits = ce.logits_from_probs(probs1, dim=1)
    p = probs1.numpy().astype(np.float64)
    np.testing.assert_allclose(
        ce.softmax(logits, dim=1),
        p / p.sum(axis=1, keepdims=True),
        rtol=1e-15,
        atol=0,
    )
    ours = ce.cross_entropy(logits, target, reduction="sum")
    assert round(ours, 4) == 2.8824
    # equal up to the float32 rounding of the posted probabilities (their sums are 1 ± 1e-7)
    assert ours == pytest.approx(
        ce.nll_loss(logits, target, reduction="sum"), rel=FLOAT32_RTOL
    )
    assert ours == pytest.approx(
        F.cross_entropy(torch.log(probs1), target, reduction="sum").item(),
        rel=FLOAT32_RTOL,
    )
    assert ce.cross_entropy(logits, target) == pytest.approx(
        2.8824035 / 4, rel=FLOAT32_RTOL
    )  # 'mean' over 4 pixels


def test_cross_entropy_of_the_sigmoid_logit_is_not_2_8824_and_equals_torch_logit(
    probs1, target
):
    logits = ce.logit(probs1)
    np.testing.assert_allclose(
        logits, torch.logit(probs1).numpy(), rtol=FLOAT32_RTOL
    )
    ours = ce.cross_entropy(logits, target, reduction="sum")
    assert abs(ours - 2.8824) > 0.1
    assert ours == pytest.approx(
        F.cross_entropy(
            torch.logit(probs1), target, reduction="sum"
        ).item(),
        rel=FLOAT32_RTOL,
    )
    assert not np.allclose(
        ce.softmax(logits, dim=1), probs1.numpy(), atol=1e-3
    )  # it inverts a sigmoid, not a softmax
