"""Meaningless arguments are refused, with a message that names the argument and the bad value.

One case per error. Each asserts the exception type and, by ``match``, that the message names
the argument and the value it got. Where torch refuses the same call too, that is checked as
well; where torch silently computes a number (probability targets that do not sum to 1, a
negative weight, label_smoothing = -0.1, ...) ce_lessons is deliberately stricter and only its
error is checked.
"""

import numpy as np
import pytest
import torch.nn.functional as F

import ce_lessons as ce
from tests.helpers import t64, tlong

X = np.zeros((2, 3))  # a batch of N = 2 examples, C = 3 classes
X4 = np.zeros((2, 3, 2, 2))  # (N, C, d1, d2)
UNIFORM = np.full((2, 3), 1 / 3)  # probability targets for X
TORCH_ERRORS = (RuntimeError, ValueError, IndexError, TypeError)
FLOAT = r"(np\.float64\()?"  # numpy 2 reprs a float64 as np.float64(...)


def case(id, call, error, match, torch_call=None, marks=()):
    return pytest.param(call, error, match, torch_call, id=id, marks=marks)


CASES = [
    # --- class-index targets -------------------------------------------------------------------
    case(
        "target-class-out-of-range",
        lambda: ce.cross_entropy(X, [0, 3]),
        ValueError,
        r"target holds a class out of range, 3 at index \(1,\); expected 0 <= target < 3",
        lambda: F.cross_entropy(t64(X), tlong([0, 3])),
    ),
    case(
        "target-negative-class-that-is-not-ignore_index",
        lambda: ce.cross_entropy(X, [-1, 0]),
        ValueError,
        r"target holds a negative class, -1 at index \(0,\).*ignore_index \(-100\)",
        lambda: F.cross_entropy(t64(X), tlong([-1, 0])),
    ),
    case(
        "batch-size-mismatch",
        lambda: ce.cross_entropy(X, [0, 1, 2]),
        ValueError,
        r"target has shape \(3,\), but input of shape \(2, 3\) needs class indices of shape \(2,\)",
        lambda: F.cross_entropy(t64(X), tlong([0, 1, 2])),
    ),
    case(
        "spatial-size-mismatch",
        lambda: ce.cross_entropy(X4, np.zeros((2, 2, 3), dtype=np.int64)),
        ValueError,
        r"target has shape \(2, 2, 3\), but input of shape \(2, 3, 2, 2\) needs class indices of shape \(2, 2, 2\)",
        lambda: F.cross_entropy(t64(X4), tlong(np.zeros((2, 2, 3)))),
    ),
    case(
        # floats with as many dimensions as the input: probabilities of the wrong shape
        "probability-target-of-another-shape",
        lambda: ce.cross_entropy(X, np.full((2, 2), 0.5)),
        ValueError,
        r"target has shape \(2, 2\) and floating dtype, so it reads as class probabilities, "
        r"which need the input's shape \(2, 3\)",
        lambda: F.cross_entropy(t64(X), t64(np.full((2, 2), 0.5))),
    ),
    case(
        "float-class-indices",
        lambda: ce.cross_entropy(X, np.array([0.0, 1.0])),
        TypeError,
        r"target holds class indices, so it must be an integer array; got dtype float64 \(\[0\. 1\.\]\)",
        lambda: F.cross_entropy(t64(X), t64([0.0, 1.0])),
    ),
    # --- probability targets -------------------------------------------------------------------
    case(
        "probability-target-not-summing-to-1",
        lambda: ce.cross_entropy(X, np.full((2, 3), 0.25)),
        ValueError,
        rf"target holds class probabilities, so it must sum to 1 .*index \(0,\) sums to {FLOAT}0\.75",
    ),
    case(
        "probability-target-outside-0-1",
        lambda: ce.cross_entropy(
            X, np.array([[1.5, -0.5, 0.0], [1.0, 0.0, 0.0]])
        ),
        ValueError,
        rf"target \(class probabilities\) must be probabilities in \[0, 1\]; got {FLOAT}1\.5\)? at index \(0, 0\)",
    ),
    case(
        "ignore_index-with-probability-targets",
        lambda: ce.cross_entropy(X, UNIFORM, ignore_index=0),
        ValueError,
        r"ignore_index=0 only applies to class-index targets",
        lambda: F.cross_entropy(t64(X), t64(UNIFORM), ignore_index=0),
    ),
    # --- options -------------------------------------------------------------------------------
    case(
        "weight-of-the-wrong-length",
        lambda: ce.cross_entropy(X, [0, 1], weight=[1.0, 1.0]),
        ValueError,
        r"weight must have shape \(3,\), one entry per class; got shape \(2,\)",
        lambda: F.cross_entropy(
            t64(X), tlong([0, 1]), weight=t64([1.0, 1.0])
        ),
    ),
    case(
        "negative-weight",
        lambda: ce.cross_entropy(X, [0, 1], weight=[1.0, -1.0, 1.0]),
        ValueError,
        r"weight must be finite and non-negative; got \[ ?1\. +-1\. +1\.\]",
    ),
    case(
        "unknown-reduction",
        lambda: ce.cross_entropy(X, [0, 1], reduction="avg"),
        ValueError,
        r"reduction must be one of 'mean', 'sum' or 'none'; got 'avg'",
        lambda: F.cross_entropy(t64(X), tlong([0, 1]), reduction="avg"),
    ),
    case(
        "label_smoothing-negative",
        lambda: ce.cross_entropy(X, [0, 1], label_smoothing=-0.1),
        ValueError,
        r"label_smoothing must be in \[0, 1\]; got -0\.1",
    ),
    case(
        "label_smoothing-above-1",
        lambda: ce.cross_entropy(X, [0, 1], label_smoothing=1.5),
        ValueError,
        r"label_smoothing must be in \[0, 1\]; got 1\.5",
        lambda: F.cross_entropy(t64(X), tlong([0, 1]), label_smoothing=1.5),
    ),
    # --- input ---------------------------------------------------------------------------------
    case(
        "empty-class-dimension",
        lambda: ce.cross_entropy(np.zeros((2, 0)), [0, 0]),
        ValueError,
        r"input has an empty class dimension \(dim 1 of shape \(2, 0\)\); expected C >= 1",
        lambda: F.cross_entropy(t64(np.zeros((2, 0))), tlong([0, 0])),
    ),
    case(
        "scalar-input-to-cross_entropy",
        lambda: ce.cross_entropy(2.5, 0),
        ValueError,
        r"input must have shape \(C,\), \(N, C\) or \(N, C, d1, \.\.\., dK\); got a scalar",
        lambda: F.cross_entropy(t64(2.5), tlong(0)),
    ),
    case(
        "string-input",
        lambda: ce.cross_entropy("abc", [0]),
        TypeError,
        r"input must hold numbers; got 'abc'",
        lambda: F.cross_entropy("abc", tlong([0])),
    ),
    case(
        "softmax-dim-out-of-range",
        lambda: ce.softmax(X, dim=2),
        ValueError,
        r"dim=2 is out of range for an input with 2 dimension",
        lambda: F.softmax(t64(X), dim=2),
    ),
    case(
        "one_hot-num_classes-too-small",
        lambda: ce.one_hot([0, 3], num_classes=3),
        ValueError,
        r"num_classes=3 is too small for class index 3",
        lambda: F.one_hot(tlong([0, 3]), num_classes=3),
    ),
    case(
        "logits_from_probs-not-summing-to-1",
        lambda: ce.logits_from_probs([0.5, 0.25], dim=0),
        ValueError,
        rf"probs must sum to 1 over dim 0; the sums range from {FLOAT}0\.75",
    ),
    # --- binary cross-entropy ------------------------------------------------------------------
    case(
        "bce-input-above-1",
        lambda: ce.binary_cross_entropy([0.5, 1.2], [1.0, 0.0]),
        ValueError,
        rf"input \(probabilities; pass logits to binary_cross_entropy_with_logits\) must be probabilities in \[0, 1\]; "
        rf"got {FLOAT}1\.2\)? at index \(1,\)",
        lambda: F.binary_cross_entropy(t64([0.5, 1.2]), t64([1.0, 0.0])),
    ),
    case(
        "bce-input-is-a-logit",
        lambda: ce.binary_cross_entropy([-3.0, 0.5], [1.0, 0.0]),
        ValueError,
        rf"input \(probabilities; pass logits to binary_cross_entropy_with_logits\).*got {FLOAT}-3\.0\)? at index \(0,\)",
        lambda: F.binary_cross_entropy(t64([-3.0, 0.5]), t64([1.0, 0.0])),
    ),
    case(
        "bce-target-outside-0-1",
        lambda: ce.binary_cross_entropy([0.5, 0.5], [1.0, 2.0]),
        ValueError,
        rf"target must be probabilities in \[0, 1\]; got {FLOAT}2\.0\)? at index \(1,\)",
        lambda: F.binary_cross_entropy(t64([0.5, 0.5]), t64([1.0, 2.0])),
    ),
    case(
        "bce-with-logits-target-outside-0-1",
        lambda: ce.binary_cross_entropy_with_logits(
            [0.5, 0.5], [1.0, -1.0]
        ),
        ValueError,
        rf"target must be probabilities in \[0, 1\]; got {FLOAT}-1\.0\)? at index \(1,\)",
    ),
    case(
        "bce-shape-mismatch",
        lambda: ce.binary_cross_entropy([0.5, 0.5], [1.0, 0.0, 1.0]),
        ValueError,
        r"target must have the shape of input \(2,\); got shape \(3,\)",
        lambda: F.binary_cross_entropy(
            t64([0.5, 0.5]), t64([1.0, 0.0, 1.0])
        ),
    ),
    case(
        "bce-with-logits-shape-mismatch",
        lambda: ce.binary_cross_entropy_with_logits(
            [0.5, 0.5], [1.0, 0.0, 1.0]
        ),
        ValueError,
        r"target must have the shape of input \(2,\); got shape \(3,\)",
        lambda: F.binary_cross_entropy_with_logits(
            t64([0.5, 0.5]), t64([1.0, 0.0, 1.0])
        ),
    ),
    case(
        "pos_weight-not-broadcastable",
        lambda: ce.binary_cross_entropy_with_logits(
            np.zeros((4, 3)), np.zeros((4, 3)), pos_weight=[1.0, 2.0]
        ),
        ValueError,
        r"pos_weight of shape \(2,\) does not broadcast to the input's shape \(4, 3\)",
        lambda: F.binary_cross_entropy_with_logits(
            t64(np.zeros((4, 3))),
            t64(np.zeros((4, 3))),
            pos_weight=t64([1.0, 2.0]),
        ),
    ),
    case(
        "pos_weight-that-would-enlarge-the-input",
        lambda: ce.binary_cross_entropy_with_logits(
            np.zeros((1, 3)),
            np.zeros((1, 3)),
            pos_weight=np.ones((2, 1, 3)),
        ),
        ValueError,
        r"pos_weight of shape \(2, 1, 3\) does not broadcast to the input's shape \(1, 3\)",
        lambda: F.binary_cross_entropy_with_logits(
            t64(np.zeros((1, 3))),
            t64(np.zeros((1, 3))),
            pos_weight=t64(np.ones((2, 1, 3))),
        ),
    ),
]


@pytest.mark.parametrize("call, error, match, torch_call", CASES)
def test_refused_with_a_message_naming_the_argument_and_the_bad_value(
    call, error, match, torch_call
):
    with pytest.raises(error, match=match):
        call()
    if torch_call is not None:
        with pytest.raises(TORCH_ERRORS):
            torch_call()


# --- options are keyword-only: torch's 4th positional argument is the deprecated size_average --

POSITIONAL_OPTION_CALLS = {
    "cross_entropy": lambda: ce.cross_entropy(X, [0, 1], None, 0),
    "nll_loss": lambda: ce.nll_loss(X, [0, 1], None, 0),
    "binary_cross_entropy": lambda: ce.binary_cross_entropy(
        UNIFORM, UNIFORM, None, "sum"
    ),
    "binary_cross_entropy_with_logits": lambda: (
        ce.binary_cross_entropy_with_logits(X, UNIFORM, None, "sum")
    ),
    "cross_entropy_grad": lambda: ce.cross_entropy_grad(X, [0, 1], None, 0),
    "binary_cross_entropy_grad": lambda: ce.binary_cross_entropy_grad(
        UNIFORM, UNIFORM, None, "sum"
    ),
    "binary_cross_entropy_with_logits_grad": lambda: (
        ce.binary_cross_entropy_with_logits_grad(X, UNIFORM, None, "sum")
    ),
}


@pytest.mark.parametrize("name", POSITIONAL_OPTION_CALLS)
def test_an_option_passed_by_position_is_refused_with_the_reason(name):
    """ce.cross_entropy(x, y, None, 0) would mean ignore_index=0 here but
    size_average=0 in torch: a different number with no error. Refuse it."""
    with pytest.raises(TypeError) as error:
        POSITIONAL_OPTION_CALLS[name]()
    message = str(error.value)
    assert message.startswith(
        f"{name}() takes 3 positional arguments (input, target, weight) "
        "but 4 were given"
    )
    assert "by keyword" in message and "size_average" in message


def test_the_same_option_by_keyword_is_accepted():
    assert ce.cross_entropy(
        X, [0, 1], None, ignore_index=0
    ) == pytest.approx(np.log(3))


def test_nll_loss_refuses_probability_targets_and_points_to_cross_entropy():
    """torch's nll_loss takes class indices only; so does ours, and it says
    where probability targets belong."""
    with pytest.raises(
        TypeError, match="for class probabilities use cross_entropy"
    ):
        ce.nll_loss(X, UNIFORM)
    with pytest.raises(RuntimeError):
        F.nll_loss(t64(X), t64(UNIFORM))
