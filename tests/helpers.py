"""Shared settings, strategies and helpers for the ce_lessons test suite.

The suite is a specification: ce_lessons must give torch's numbers (float64, to ~1e-10) for every
option of every loss, and refuse meaningless arguments with a message that names them.

* Hypothesis runs under the ``ce_lessons`` profile, set in ``tests/conftest.py``.
* The strategies draw small problems (N <= 4, C <= 5, spatial sizes <= 3) so the suite is fast.
* Every torch tensor is built explicitly as float64 (or int64 for class indices) from the very
  numpy array handed to ce_lessons; the global default dtype is never relied on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

RTOL, ATOL = 1e-10, 1e-12  # ce_lessons against torch, both in float64
REDUCTIONS = ("mean", "sum", "none")


# ---------------------------------------------------------------------------------------------
# numpy <-> torch
# ---------------------------------------------------------------------------------------------


def t64(array) -> torch.Tensor:
    """A float64 torch tensor holding exactly ``array``'s numbers."""
    return torch.tensor(
        np.asarray(array, dtype=np.float64), dtype=torch.float64
    )


def tlong(array) -> torch.Tensor:
    """An int64 torch tensor of class indices."""
    return torch.tensor(
        np.asarray(array, dtype=np.int64), dtype=torch.int64
    )


def as_numpy(value) -> np.ndarray:
    """A torch tensor or a number (or numpy array) as a numpy array, for comparisons."""
    if isinstance(value, torch.Tensor):
        return value.detach().numpy()
    return np.asarray(value)


def assert_matches(ours, theirs, rtol=RTOL, atol=ATOL):
    """``ours`` (ce_lessons) equals ``theirs`` (torch, or a reference value) to ``rtol``/``atol``,
    shape for shape; NaN must meet NaN (math.isnan on our side, torch.isnan on torch's)."""
    if (
        isinstance(theirs, torch.Tensor)
        and theirs.ndim == 0
        and torch.isnan(theirs)
    ):
        assert math.isnan(ours), f"torch gives nan, ce_lessons {ours!r}"
        return
    expected = as_numpy(theirs)
    if expected.ndim == 0 and math.isnan(expected):
        assert math.isnan(ours), f"expected nan, ce_lessons gives {ours!r}"
        return
    assert np.shape(ours) == expected.shape, (
        f"shape {np.shape(ours)} != expected {expected.shape}"
    )
    if expected.ndim == 0:
        assert not math.isnan(ours), (
            f"ce_lessons gives nan where {float(expected)!r} is expected"
        )
    np.testing.assert_allclose(ours, expected, rtol=rtol, atol=atol)


def assert_loss_matches(ours, theirs, reduction, rtol=RTOL, atol=ATOL):
    """A loss equals torch's: a Python float for 'mean' and 'sum', a numpy array for 'none'
    (for an unbatched input torch's 'none' loss is 0-dimensional; a numpy scalar is accepted)."""
    if reduction == "none":
        assert isinstance(ours, (np.ndarray, np.floating)), (
            f"'none' gave a {type(ours).__name__}"
        )
    else:
        assert type(ours) is float, (
            f"reduction={reduction!r} gave a {type(ours).__name__}, not a float"
        )
    assert_matches(ours, theirs, rtol, atol)


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------


def floats_in(low, high):
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def float_arrays(shape, low=-30.0, high=30.0):
    """float64 arrays of ``shape`` with finite elements in [low, high]."""
    return arrays(np.float64, shape, elements=floats_in(low, high))


small_shapes = array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)
"""Shapes of 1 to 4 dimensions, each of size 1 to 4."""


def sometimes(value, otherwise, one_in=4):
    """``value`` with probability about 1/``one_in``, else a draw from ``otherwise``."""
    return st.tuples(st.integers(1, one_in), otherwise).map(
        lambda pair: value if pair[0] == one_in else pair[1]
    )


non_negative_weights = sometimes(0.0, floats_in(0.05, 3.0))
"""Class / element weights: exactly 0 now and then, otherwise well away from subnormal numbers."""

label_smoothings = st.one_of(st.just(0.0), floats_in(0.0, 1.0))


@st.composite
def classification_shapes(draw):
    """An input shape (C,), (N, C), (N, C, d1) or (N, C, d1, d2) with C >= 1, and its class dim."""
    n_classes = draw(st.integers(1, 5))
    layout = draw(
        st.sampled_from(
            ["unbatched", "batched", "spatial-1d", "spatial-2d"]
        )
    )
    if layout == "unbatched":
        return (n_classes,), 0
    batch = draw(st.integers(1, 4))
    n_spatial = {"batched": 0, "spatial-1d": 1, "spatial-2d": 2}[layout]
    spatial = draw(
        st.lists(st.integers(1, 3), min_size=n_spatial, max_size=n_spatial)
    )
    return (batch, n_classes, *spatial), 1


@dataclass
class Case:
    """One call of a loss: positional ``input`` and ``target``, keyword options ``options``.

    ``options`` holds numpy values (weight, pos_weight) and plain Python ones; ``torch_options()``
    is the same with float64 tensors, ready for ``torch.nn.functional``.
    """

    input: np.ndarray
    target: np.ndarray
    options: dict = field(default_factory=dict)
    class_dim: int = 1

    def torch_target(self):
        return (
            tlong(self.target)
            if self.target.dtype.kind in "iu"
            else t64(self.target)
        )

    def torch_options(self):
        return {
            k: (t64(v) if isinstance(v, np.ndarray) else v)
            for k, v in self.options.items()
        }

    @property
    def reduction(self):
        return self.options.get("reduction", "mean")


def _class_weight_option(draw, n_classes):
    if draw(st.booleans()):
        return {}
    return {
        "weight": draw(
            arrays(np.float64, (n_classes,), elements=non_negative_weights)
        )
    }


def _reduction_option(draw):
    reduction = REDUCTIONS[
        draw(st.integers(0, 5)) % 3
    ]  # (sampled_from leans on its first option)
    return (
        {}
        if reduction == "mean" and draw(st.booleans())
        else {"reduction": reduction}
    )


@st.composite
def index_target_cases(draw, label_smoothing=True, low=-30.0, high=30.0):
    """cross_entropy / nll_loss with class-index targets and every option.

    ignore_index is the default -100, 0 (a real class: every target 0 is ignored), -1 or C (values
    that are not classes); some targets are set to it, so 'all targets ignored' happens too.
    """
    shape, class_dim = draw(classification_shapes())
    n_classes = shape[class_dim]
    target_shape = shape[:class_dim] + shape[class_dim + 1 :]
    x = draw(float_arrays(shape, low, high))
    target = draw(
        arrays(
            np.int64, target_shape, elements=st.integers(0, n_classes - 1)
        )
    )
    options = {}
    ignore_index = draw(st.sampled_from([-100, 0, -1, n_classes]))
    if ignore_index != -100 or draw(st.booleans()):
        ignored = draw(
            arrays(
                np.bool_,
                target_shape,
                elements=sometimes(True, st.just(False), one_in=3),
            )
        )
        target = np.where(ignored, ignore_index, target).astype(np.int64)
    if ignore_index != -100:
        options["ignore_index"] = ignore_index
    options.update(_class_weight_option(draw, n_classes))
    options.update(_reduction_option(draw))
    if label_smoothing:
        eps = draw(label_smoothings)
        if eps:
            options["label_smoothing"] = eps
    return Case(x, target, options, class_dim)


@st.composite
def probability_target_cases(draw, low=-30.0, high=30.0):
    """cross_entropy with class-probability targets (input's shape, summing to 1 over the class dim):
    softmax of random numbers, or one-hot rows."""
    shape, class_dim = draw(classification_shapes())
    n_classes = shape[class_dim]
    x = draw(float_arrays(shape, low, high))
    if draw(st.booleans()):
        z = draw(float_arrays(shape, -5.0, 5.0))
        e = np.exp(z - z.max(axis=class_dim, keepdims=True))
        q = e / e.sum(axis=class_dim, keepdims=True)
    else:
        target_shape = shape[:class_dim] + shape[class_dim + 1 :]
        labels = draw(
            arrays(
                np.int64,
                target_shape,
                elements=st.integers(0, n_classes - 1),
            )
        )
        q = np.moveaxis(np.eye(n_classes)[labels], -1, class_dim)
    options = _class_weight_option(draw, n_classes)
    options.update(_reduction_option(draw))
    eps = draw(label_smoothings)
    if eps:
        options["label_smoothing"] = eps
    return Case(x, q, options, class_dim)


probabilities = st.one_of(st.sampled_from([0.0, 1.0]), floats_in(0.0, 1.0))
"""Numbers in [0, 1], exactly 0 and exactly 1 included often."""


@st.composite
def binary_cases(draw, logits=True, pos_weight=True):
    """binary_cross_entropy(_with_logits): input and target of one shape, weight (full shape, last
    dim or scalar), pos_weight of shape (C,) along the last dim, reduction."""
    shape = draw(
        array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
    )
    x = draw(
        float_arrays(shape)
        if logits
        else arrays(np.float64, shape, elements=probabilities)
    )
    y = draw(arrays(np.float64, shape, elements=probabilities))
    options = {}
    weight_shape = draw(st.sampled_from([None, shape, shape[-1:], ()]))
    if weight_shape is not None:
        options["weight"] = draw(
            arrays(np.float64, weight_shape, elements=non_negative_weights)
        )
    if pos_weight and draw(st.booleans()):
        options["pos_weight"] = draw(
            arrays(np.float64, shape[-1:], elements=floats_in(0.0, 5.0))
        )
    options.update(_reduction_option(draw))
    return Case(x, y, options)
