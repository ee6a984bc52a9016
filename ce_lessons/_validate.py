"""Every check on the arguments of ce_lessons, in one place.

Each public function turns its raw arguments into float64 / int64 numpy arrays here, and every
message names the argument, the value it got and what was expected. A learner who passes
something meaningless gets a ``ValueError`` or ``TypeError`` that says so, never a silent number.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

REDUCTIONS = ("mean", "sum", "none")


def _short(value) -> str:
    """A one-line repr of a value for an error message (arrays abbreviated)."""
    text = (
        np.array2string(value, threshold=6, edgeitems=2)
        if isinstance(value, np.ndarray)
        else repr(value)
    )
    text = " ".join(text.split())
    return text if len(text) <= 80 else text[:77] + "..."


def to_numpy(value, name: str) -> np.ndarray:
    """A numpy array holding ``value``: an array, a Python number or list, or a torch tensor.

    Torch tensors are detached and copied to the CPU, so tensors that require grad work too;
    bfloat16 (which numpy lacks) is widened to float32 first, exactly. torch itself is never
    imported.
    """
    if hasattr(value, "detach") and hasattr(
        value, "numpy"
    ):  # a torch.Tensor
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            value = value.float()  # every bfloat16 is a float32
        value = value.numpy()
    try:
        array = np.asarray(value)
    except ValueError as error:  # ragged nested lists
        raise ValueError(
            f"{name} must be a rectangular array of numbers; got {_short(value)} ({error})"
        ) from None
    if array.dtype == object or array.dtype.kind in "USV":
        raise TypeError(
            f"{name} must hold numbers; got {_short(value)} of dtype {array.dtype}"
        )
    return array


def as_float(value, name: str) -> np.ndarray:
    """``value`` as a float64 array; booleans and complex numbers are refused."""
    array = to_numpy(value, name)
    if array.dtype.kind == "b":
        raise TypeError(
            f"{name} must hold real numbers, not booleans; got {_short(array)}"
        )
    if array.dtype.kind == "c":
        raise TypeError(
            f"{name} must hold real numbers; got complex values {_short(array)}"
        )
    return array.astype(np.float64)


def as_class_indices(
    value,
    name: str,
    hint: str = "Class probabilities must have the same shape as the input.",
) -> np.ndarray:
    """``value`` as an int64 array of class indices; floats are refused, even whole ones."""
    array = to_numpy(value, name)
    if array.dtype.kind not in "iu":
        raise TypeError(
            f"{name} holds class indices, so it must be an integer array; got dtype {array.dtype} "
            f"({_short(array)}). {hint}"
        )
    return array.astype(np.int64)


def check_dims(dim, ndim: int, name: str = "dim"):
    """``dim`` (an int or a tuple of distinct ints) as non-negative axes."""
    if not isinstance(dim, (tuple, list)):
        return check_dim(dim, ndim, name)
    if not dim:
        raise ValueError(
            f"{name} must name at least one dimension; got {dim!r}"
        )
    axes = tuple(check_dim(d, ndim, name) for d in dim)
    if len(set(axes)) != len(axes):
        raise ValueError(f"{name}={dim!r} names a dimension more than once")
    return axes


def check_dim(dim: int, ndim: int, name: str = "dim") -> int:
    """``dim`` as a non-negative axis of an array with ``ndim`` dimensions."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{name} must be an int; got {dim!r}")
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise ValueError(
            f"{name}={dim} is out of range for an input with {ndim} dimension(s)"
        )
    return int(dim) % max(ndim, 1)


def check_reduction(reduction) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"reduction must be one of 'mean', 'sum' or 'none'; got {reduction!r}"
        )
    return reduction


def check_label_smoothing(label_smoothing) -> float:
    if isinstance(label_smoothing, bool) or not isinstance(
        label_smoothing, (int, float, np.floating, np.integer)
    ):
        raise TypeError(
            f"label_smoothing must be a float in [0, 1]; got {label_smoothing!r}"
        )
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(
            f"label_smoothing must be in [0, 1]; got {label_smoothing!r}"
        )
    return float(label_smoothing)


def check_ignore_index(ignore_index) -> int:
    if isinstance(ignore_index, bool) or not isinstance(
        ignore_index, (int, np.integer)
    ):
        raise TypeError(
            f"ignore_index must be an int; got {ignore_index!r}"
        )
    return int(ignore_index)


def check_in_unit_interval(array: np.ndarray, name: str) -> np.ndarray:
    """Refuse values outside [0, 1] (NaN included), naming the first bad one and where it is."""
    bad = ~((array >= 0.0) & (array <= 1.0))
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} must be probabilities in [0, 1]; got {float(array[where])!r} at index {where}"
        )
    return array


def check_class_weight(weight, n_classes: int) -> np.ndarray:
    """The per-class ``weight``: None becomes ones; else a non-negative vector of length C."""
    if weight is None:
        return np.ones(n_classes)
    w = as_float(weight, "weight")
    if w.shape != (n_classes,):
        raise ValueError(
            f"weight must have shape ({n_classes},), one entry per class; got shape {w.shape}"
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(
            f"weight must be finite and non-negative; got {_short(w)}"
        )
    return w


class Classification(NamedTuple):
    """The checked arguments of ``cross_entropy``, ``nll_loss`` and their gradients.

    ``x`` holds float64 logits (or log-probabilities) with the classes along ``dim`` (0 for an
    unbatched (C,) input, else 1); ``y`` holds int64 class indices, or float64 class
    probabilities of ``x``'s shape when ``soft``; ``w`` is the (C,) class weight.
    """

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    dim: int
    soft: bool


def check_classification(
    input,
    target,
    weight=None,
    ignore_index=-100,
    reduction="mean",
    label_smoothing=0.0,
    allow_probability_target=True,
) -> Classification:
    """Check the arguments of a classification loss exactly as torch reads them.

    Shapes: input (C,), (N, C) or (N, C, d1, ..., dK). A target of the same shape as the input
    holds class probabilities; otherwise it holds class indices of shape (), (N,) or
    (N, d1, ..., dK).
    """
    x = as_float(input, "input")
    check_reduction(reduction)
    check_label_smoothing(label_smoothing)
    check_ignore_index(ignore_index)
    if x.ndim == 0:
        raise ValueError(
            "input must have shape (C,), (N, C) or (N, C, d1, ..., dK); got a scalar"
        )
    dim = 0 if x.ndim == 1 else 1
    n_classes = x.shape[dim]
    if n_classes == 0:
        raise ValueError(
            f"input has an empty class dimension (dim {dim} of shape {x.shape}); expected C >= 1"
        )
    w = check_class_weight(weight, n_classes)
    raw = to_numpy(target, "target")
    if raw.shape == x.shape and allow_probability_target:
        y = _check_probability_target(raw, ignore_index, dim)
        return Classification(x, y, w, dim, True)
    if (
        allow_probability_target
        and raw.dtype.kind == "f"
        and raw.ndim == x.ndim
    ):
        raise ValueError(
            f"target has shape {raw.shape} and floating dtype, so it reads as class probabilities, "
            f"which need the input's shape {x.shape}"
        )
    hint = (
        "Class probabilities must have the same shape as the input."
        if allow_probability_target
        else "nll_loss takes class indices only; for class probabilities "
        "use cross_entropy."
    )
    y = as_class_indices(raw, "target", hint)
    _check_class_target(
        y, x.shape, dim, ignore_index, allow_probability_target
    )
    return Classification(x, y, w, dim, False)


def _check_probability_target(
    raw: np.ndarray, ignore_index: int, class_dim: int
) -> np.ndarray:
    if raw.dtype.kind not in "f":
        raise TypeError(
            f"target has the shape of input {raw.shape}, so it is read as class probabilities and must be "
            f"floating point; got dtype {raw.dtype}"
        )
    if ignore_index != -100:
        raise ValueError(
            f"ignore_index={ignore_index} only applies to class-index targets; target here holds class "
            f"probabilities (same shape as input). Leave ignore_index at its default, -100."
        )
    t = check_in_unit_interval(
        raw.astype(np.float64), "target (class probabilities)"
    )
    sums = t.sum(axis=class_dim)
    if not np.allclose(sums, 1.0, rtol=0.0, atol=1e-4):
        where = tuple(
            int(i)
            for i in np.argwhere(
                ~np.isclose(sums, 1.0, rtol=0.0, atol=1e-4)
            )[0]
        )
        raise ValueError(
            f"target holds class probabilities, so it must sum to 1 over the class dimension (dim {class_dim}); "
            f"the distribution at index {where} sums to {float(sums[where])!r}"
        )
    return t


def _check_class_target(
    t: np.ndarray,
    input_shape,
    class_dim: int,
    ignore_index: int,
    allow_probability_target,
):
    expected = input_shape[:class_dim] + input_shape[class_dim + 1 :]
    if t.shape != expected:
        also = (
            f" (or {input_shape} for class probabilities)"
            if allow_probability_target
            else ""
        )
        raise ValueError(
            f"target has shape {t.shape}, but input of shape {input_shape} needs class indices of shape "
            f"{expected}{also}; the class dimension of input is dim {class_dim}"
        )
    n_classes = input_shape[class_dim]
    bad = (t != ignore_index) & ((t < 0) | (t >= n_classes))
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        value = int(t[where])
        kind = "a negative class" if value < 0 else "a class out of range"
        raise ValueError(
            f"target holds {kind}, {value} at index {where}; expected 0 <= target < {n_classes} "
            f"(C = {n_classes}) or target == ignore_index ({ignore_index})"
        )


class Binary(NamedTuple):
    """The checked arguments of the binary losses: input ``x`` and target ``y`` of one shape,
    ``w`` and ``pos_weight`` broadcastable to it (1 when not given)."""

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    pos_weight: np.ndarray


def check_binary(
    input,
    target,
    weight=None,
    reduction="mean",
    pos_weight=None,
    input_is_probability=False,
) -> Binary:
    """Check the arguments of ``binary_cross_entropy`` (probabilities) or its ``_with_logits`` form."""
    x = as_float(input, "input")
    y = as_float(target, "target")
    check_reduction(reduction)
    if y.shape != x.shape:
        raise ValueError(
            f"target must have the shape of input {x.shape}; got shape {y.shape}"
        )
    if input_is_probability:
        check_in_unit_interval(
            x,
            "input (probabilities; pass logits to binary_cross_entropy_with_logits)",
        )
    check_in_unit_interval(y, "target")
    w = _check_broadcastable(weight, x.shape, "weight")
    pw = _check_broadcastable(pos_weight, x.shape, "pos_weight")
    return Binary(x, y, w, pw)


def _check_broadcastable(value, shape, name: str) -> np.ndarray:
    if value is None:
        return np.ones(())
    v = as_float(value, name)
    try:
        fits = np.broadcast_shapes(v.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{name} of shape {v.shape} does not broadcast to the input's shape {shape}"
        )
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ValueError(
            f"{name} must be finite and non-negative; got {_short(v)}"
        )
    return v


def keyword_options(*positional: str):
    """Make a loss's options keyword-only, with a message that says why.

    torch.nn.functional keeps deprecated arguments in its positional order: the 4th
    positional argument of ``cross_entropy``, ``nll_loss`` and the binary losses is
    ``size_average``. A positional option here would silently mean something else there.
    """

    def decorate(function):
        @functools.wraps(function)
        def checked(*args, **kwargs):
            if len(args) > len(positional):
                name = function.__name__
                raise TypeError(
                    f"{name}() takes {len(positional)} positional arguments "
                    f"({', '.join(positional)}) but {len(args)} were given; pass "
                    f"the options by keyword (e.g. reduction='sum'). In "
                    f"torch.nn.functional the next positional slot holds the "
                    f"deprecated size_average, so a positional option would mean "
                    f"something else in torch."
                )
            return function(*args, **kwargs)

        return checked

    return decorate


# --- chapter 7: distributions, KL, temperature, calibration ---------------------------------

_KL_REDUCTIONS = ("none", "batchmean", "sum", "mean")
_SUM_ATOL = 1e-4  # as for cross_entropy's probability targets


def check_distribution(p, name, dim):
    """Refuse values outside [0, 1] and sums along ``dim`` away from 1."""
    check_in_unit_interval(p, name)
    sums = p.sum(axis=dim)
    off = ~np.isclose(sums, 1.0, rtol=0.0, atol=_SUM_ATOL)
    if np.any(off):
        where = tuple(int(i) for i in np.argwhere(off)[0])
        raise ValueError(
            f"{name} must sum to 1 along dim {dim}; the distribution at "
            f"index {where} sums to {float(sums[where])!r}"
        )
    return p


def check_log_probabilities(a, name, hint):
    """Refuse values above 0 (and NaN): log-probabilities are <= 0."""
    bad = ~(a <= 0.0)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} must hold log-probabilities (<= 0); got "
            f"{float(a[where])!r} at index {where}. {hint}"
        )
    return a


def check_kl_reduction(reduction):
    if reduction not in _KL_REDUCTIONS:
        raise ValueError(
            "reduction must be one of 'batchmean', 'sum', 'mean' or "
            f"'none'; got {reduction!r}"
        )
    return reduction


def check_temperature(value, name="temperature"):
    number = isinstance(value, (int, float, np.integer, np.floating))
    if isinstance(value, bool) or not number:
        raise TypeError(f"{name} must be a positive number; got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(
            f"{name} must be a positive finite number (T > 0); "
            f"got {value!r}"
        )
    return float(value)


def class_dim(x, name="input"):
    if x.ndim == 0:
        raise ValueError(
            f"{name} must have shape (C,), (N, C) or (N, C, d1, ..., dK); "
            "got a scalar"
        )
    return 0 if x.ndim == 1 else 1


def check_probabilities_and_target(input, target):
    p = as_float(input, "input")
    y = as_class_indices(target, "target")
    if p.ndim != 2 or y.shape != p.shape[:1] or p.shape[0] == 0:
        raise ValueError(
            "input must be (N, C) probabilities with N >= 1 and target "
            f"(N,) class indices; got shapes {p.shape} and {y.shape}"
        )
    check_distribution(p, "input (probabilities)", 1)
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(
            f"target must hold classes 0 <= y < {p.shape[1]}; got "
            f"{_short(y)}"
        )
    return p, y
