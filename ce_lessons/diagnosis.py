r"""Diagnose a loss call: what is wrong with these inputs, in plain words.

``diagnose(input, target, loss="cross_entropy", **options)`` looks at the
tensors a training loop is about to hand to a PyTorch loss and reports what
torch will refuse or turn into nan / inf (severity ``"error"``), what it
will compute without a complaint although the number means something else
(``"warning"``), and
what is harmless but probably not what was meant (``"note"``). Each
:class:`Finding` has a code, a severity, a sentence with the numbers it saw,
and the fix. An empty :class:`Report` is falsy and prints
``no problems found``.

Each finding is one small function below, ``_check_<code>``, that returns a
:class:`Finding` or ``None``. Inputs may be numpy arrays, lists or torch
tensors (read by duck typing; torch is never imported). The codes:

- what the input holds: ``probabilities-as-logits``,
  ``log-probabilities-as-logits``, ``probabilities-as-log-probabilities``,
  ``logits-as-log-probabilities``, ``sigmoid-as-logits``,
  ``logits-as-probabilities``, ``single-output-unit``;
- the target of a classification loss: ``one-hot-target``,
  ``one-hot-weighted-mean``, ``probability-target-not-normalized``,
  ``target-extra-dim``, ``target-shape``, ``float-class-indices``,
  ``target-not-int64``,
  ``uint8-target``, ``class-dim-last``, ``class-dim-ambiguous``,
  ``weight-length``, ``dtype-mismatch``, ``labels-one-based``,
  ``void-label``, ``label-out-of-range``, ``all-targets-ignored``;
- non-finite values: ``row-without-finite-logit``, ``non-finite-values``,
  ``minus-inf-on-target``;
- the binary losses: ``binary-target-integer``, ``binary-target-range``,
  ``binary-shape``, ``pos-weight-shape``;
- with ``initial=True``: ``initial-loss-far-from-log-c``.

Chapter 6 explains every finding.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass

import numpy as np

from ._validate import to_numpy
from .losses import cross_entropy

__all__ = ["Finding", "Report", "diagnose"]

LOSSES = (
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
)
SEVERITIES = ("error", "warning", "note")
# How close to 1 a row must sum to read as probabilities, by input dtype
# (low-precision softmax outputs sum to 1 only roughly).
SUM_TOL = {"float16": 1e-2, "bfloat16": 5e-2}
VOID_LABELS = (255, -1)  # "void" / "unlabelled" in segmentation datasets
MIN_VALUES = 8  # fewer logits can look like probabilities by chance
WIDTH = 72  # a printed report fits a docstring and the book's 76 columns


@dataclass(frozen=True)
class Finding:
    """One problem: a short code, its severity, what was seen, the fix."""

    code: str
    severity: str
    message: str
    fix: str

    def __str__(self) -> str:
        head = f"{self.severity} [{self.code}] {self.message}"
        lines = textwrap.wrap(head, WIDTH, subsequent_indent="  ")
        lines += textwrap.wrap(
            "fix: " + self.fix,
            WIDTH,
            initial_indent="  ",
            subsequent_indent="    ",
        )
        return "\n".join(lines)


class Report:
    """The findings of :func:`diagnose`, most severe first.

    ``len(report)`` is the number of findings; an empty report is falsy and
    prints as ``no problems found``. ``report.codes`` lists the codes.
    """

    def __init__(self, findings):
        rank = {s: i for i, s in enumerate(SEVERITIES)}
        self.findings = tuple(
            sorted(findings, key=lambda f: rank[f.severity])
        )

    def __len__(self) -> int:
        return len(self.findings)

    def __iter__(self):
        return iter(self.findings)

    def __getitem__(self, i):
        return self.findings[i]

    @property
    def codes(self) -> list:
        return [f.code for f in self.findings]

    def __str__(self) -> str:
        if not self.findings:
            return "no problems found"
        return "\n".join(str(f) for f in self.findings)

    __repr__ = __str__


@dataclass(frozen=True)
class _Call:
    """The loss call as the checks see it (arrays, dtypes, options)."""

    loss: str
    x: np.ndarray  # input as float64
    x_dtype: str | None  # input's dtype ('float32'); None for a list
    t: np.ndarray  # target, as given (its own dtype)
    t_dtype: str
    t_has_dtype: bool  # False for a list: torch would not take it as is
    options: dict
    initial: bool

    @property
    def is_binary(self) -> bool:
        return self.loss.startswith("binary")

    @property
    def class_dim(self) -> int:
        return 0 if self.x.ndim == 1 else 1

    @property
    def n_classes(self) -> int:
        return self.x.shape[self.class_dim] if self.x.ndim else 0

    @property
    def ignore_index(self) -> int:
        return int(self.options.get("ignore_index", -100))

    @property
    def index_shape(self) -> tuple:
        """The shape class-index targets must have for this input."""
        d = self.class_dim
        return self.x.shape[:d] + self.x.shape[d + 1 :]

    @property
    def labels(self):
        """The target as int64 class indices if it reads as such (right
        shape, or one extra size-1 dim; integer or whole floats)."""
        t = self.t
        if self.is_binary or self.x.ndim == 0 or t.shape == self.x.shape:
            return None  # binary, or probabilities (the input's shape)
        if t.shape != self.index_shape:
            if t.ndim != self.x.ndim or 1 not in t.shape[1:]:
                return None
            t = np.squeeze(t, axis=t.shape.index(1, 1))
            if t.shape != self.index_shape:
                return None
        if t.dtype.kind == "f":
            if not np.all(np.isfinite(t)) or np.any(t != np.round(t)):
                return None
        elif t.dtype.kind not in "iub":
            return None
        return t.astype(np.int64)

    @property
    def counted(self):
        """The labels that count (not ``ignore_index``), or None."""
        labels = self.labels
        return (
            None if labels is None else labels[labels != self.ignore_index]
        )


def _as_array(value, name):
    """``value`` as a numpy array (a bfloat16 tensor read as float32,
    since numpy has no bfloat16)."""
    if _dtype_name(value) == "bfloat16":
        value = value.float()
    return to_numpy(value, name)


def _dtype_name(value):
    """The dtype of an array or tensor as numpy names it ('float32'), or
    None for lists and numbers (torch would not take them as they are)."""
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return None
    name = str(dtype).replace("torch.", "")
    return {"float": "float32", "double": "float64", "half": "float16"}.get(
        name, name
    )


TORCH_DTYPE = {  # the names torch's messages use
    "float16": "Half",
    "bfloat16": "BFloat16",
    "float32": "Float",
    "float64": "Double",
    "int64": "Long",
    "int32": "Int",
    "int16": "Short",
    "int8": "Char",
    "uint8": "Byte",
    "bool": "Bool",
}


def _torch_name(dtype) -> str:
    """torch's name for a dtype; a list of floats would be Double."""
    return TORCH_DTYPE.get(dtype or "float64", str(dtype))


def _rows(call):
    """The input with the class dimension last, as (rows, C)."""
    return np.moveaxis(call.x, call.class_dim, -1).reshape(
        -1, call.n_classes
    )


def _finite_rows(call):
    rows = _rows(call)
    return rows[np.isfinite(rows).all(axis=1)]


def _tol(call) -> float:
    return SUM_TOL.get(call.x_dtype, 1e-3)


def _logsumexp(rows):
    m = rows.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(rows - m).sum(axis=1, keepdims=True)))[:, 0]


def _count(n, noun) -> str:
    """'1 target', '3 targets'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _are(n) -> str:
    return "is" if n == 1 else "are"


def _shape(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


# ------------------------------------------------------------------
# What the input holds: logits, probabilities or log-probabilities
# ------------------------------------------------------------------


def _enough_rows(call) -> bool:
    """At least 8 values, all rows finite: a row or two of logits can sum
    to 1 by chance, a whole batch does not."""
    rows = _finite_rows(call)
    return (
        call.n_classes >= 2
        and rows.size >= MIN_VALUES
        and len(rows) == len(_rows(call))
    )


def _look_like_probabilities(call) -> bool:
    if not _enough_rows(call):
        return False
    rows = _finite_rows(call)
    in_unit = np.all((rows >= 0) & (rows <= 1))
    return bool(in_unit and np.allclose(rows.sum(1), 1, atol=_tol(call)))


def _look_like_log_probabilities(call) -> bool:
    if not _enough_rows(call):
        return False
    rows = _finite_rows(call)
    lse = _logsumexp(rows)
    return bool(np.all(rows <= 0) and np.allclose(lse, 0, atol=_tol(call)))


def _check_probabilities_as_logits(call):
    if call.loss != "cross_entropy" or not _look_like_probabilities(call):
        return None
    return Finding(
        "probabilities-as-logits",
        "warning",
        f"every row of input sums to 1 over the {call.n_classes} classes "
        "and lies in [0, 1]: these are probabilities, but cross_entropy "
        "applies a softmax itself, so the loss cannot go below "
        f"{_probability_floor(call.n_classes):.4f} and the gradients "
        "shrink: training stalls.",
        "pass the logits (the output before the softmax) to "
        "cross_entropy; drop the softmax layer.",
    )


def _probability_floor(c):
    """The smallest cross_entropy of probabilities: -log(e / (e + c - 1))."""
    return math.log(math.e + c - 1) - 1.0


def _check_log_probabilities_as_logits(call):
    if call.loss != "cross_entropy":
        return None
    if not _look_like_log_probabilities(call):
        return None
    return Finding(
        "log-probabilities-as-logits",
        "note",
        "every row of input is <= 0 and its exp sums to 1: these are "
        "log-probabilities (log_softmax). cross_entropy gives the right "
        "loss on them (log_softmax of log-probabilities changes nothing), "
        "but the log_softmax is done twice.",
        "drop the log_softmax layer, or keep it and call nll_loss.",
    )


def _check_probabilities_as_log_probabilities(call):
    if call.loss != "nll_loss" or not _look_like_probabilities(call):
        return None
    return Finding(
        "probabilities-as-log-probabilities",
        "warning",
        "every row of input sums to 1 and lies in [0, 1]: these are "
        "probabilities, but nll_loss expects log-probabilities; it only "
        "picks -input[y], so the loss is negative, between -1 and 0.",
        "use log_softmax instead of softmax before nll_loss, or pass the "
        "logits to cross_entropy.",
    )


def _check_logits_as_log_probabilities(call):
    if call.loss != "nll_loss" or call.n_classes < 2:
        return None
    rows = _finite_rows(call)
    if rows.size == 0 or _look_like_probabilities(call):
        return None
    lse = _logsumexp(rows)
    bad = np.abs(lse) > _tol(call)
    if not bad.any():
        return None
    return Finding(
        "logits-as-log-probabilities",
        "warning",
        f"in {int(bad.sum())} of {len(rows)} rows exp(input) does not sum "
        f"to 1 (log of the sum up to {float(np.abs(lse).max()):.3g}): "
        "these are not log-probabilities. nll_loss applies no softmax; it "
        "returns -input[y], which a model lowers by growing that logit "
        "without bound.",
        "pass the logits to cross_entropy, or apply log_softmax(dim=1) "
        "before nll_loss.",
    )


def _check_sigmoid_as_logits(call):
    if call.loss != "binary_cross_entropy_with_logits":
        return None
    x = call.x
    if x.size < MIN_VALUES or not np.all((x >= 0) & (x <= 1)):
        return None
    return Finding(
        "sigmoid-as-logits",
        "warning",
        f"all {x.size} values of input lie in [0, 1]: they look like "
        "sigmoid outputs, but binary_cross_entropy_with_logits applies a "
        "sigmoid itself, so every prediction sits between 0.5 and 0.73 "
        "and the loss barely moves.",
        "pass the logits (drop the sigmoid), or keep the sigmoid and use "
        "binary_cross_entropy.",
    )


def _check_logits_as_probabilities(call):
    if call.loss != "binary_cross_entropy":
        return None
    x = call.x[np.isfinite(call.x)]
    bad = (x < 0) | (x > 1)
    if not bad.any():
        return None
    return Finding(
        "logits-as-probabilities",
        "error",
        f"{int(bad.sum())} of {call.x.size} values of input are outside "
        f"[0, 1] (from {float(x.min()):.3g} to {float(x.max()):.3g}); "
        "binary_cross_entropy takes probabilities. torch: 'all elements "
        "of input should be between 0 and 1'.",
        "pass the logits to binary_cross_entropy_with_logits (stable), "
        "not sigmoid + binary_cross_entropy.",
    )


def _check_single_output_unit(call):
    if call.loss != "cross_entropy" or call.n_classes != 1:
        return None
    return Finding(
        "single-output-unit",
        "warning",
        "input has 1 class (dim "
        f"{call.class_dim} of shape {_shape(call.x.shape)}): the softmax "
        "of one logit is always 1, so the loss and its gradient are "
        "exactly 0 and nothing is learned (labels 1 would be out of "
        "range).",
        "for a binary problem keep 1 output and use "
        "binary_cross_entropy_with_logits(input.squeeze(1), "
        "target.float()), or give the model 2 outputs.",
    )


# ------------------------------------------------------------------
# Class-index targets: dtype, shape, range
# ------------------------------------------------------------------


def _classification(call) -> bool:
    return not call.is_binary and call.x.ndim >= 1


def _check_one_hot_target(call):
    if not _classification(call) or call.t.shape != call.x.shape:
        return None
    if call.t.dtype.kind not in "iub":
        return None
    one_hot = _is_one_hot(call)
    what = "one-hot rows" if one_hot else "integers"
    return Finding(
        "one-hot-target",
        "error",
        f"target has the input's shape {_shape(call.x.shape)} and holds "
        f"{what} of dtype {call.t_dtype}; torch reads a target of that "
        "shape as class probabilities and refuses integers: 'Expected "
        "floating point type for target with class probabilities, got "
        "Long'.",
        "pass class indices: target.argmax(dim=1)"
        + (" (or target.float() for probabilities)." if one_hot else "."),
    )


def _is_one_hot(call) -> bool:
    t = np.moveaxis(call.t, call.class_dim, -1)
    return bool(np.all((t == 0) | (t == 1)) and np.all(t.sum(-1) == 1))


def _check_one_hot_weighted_mean(call):
    if call.loss != "cross_entropy" or call.t.shape != call.x.shape:
        return None
    weight = call.options.get("weight")
    if weight is None or call.t.dtype.kind != "f" or not _is_one_hot(call):
        return None
    if call.options.get("reduction", "mean") != "mean":
        return None
    return Finding(
        "one-hot-weighted-mean",
        "warning",
        "target is one-hot floats, which torch reads as class "
        "probabilities: with weight, the mean then divides by the number "
        f"of rows ({call.t.size // call.n_classes}), not by the sum of "
        "the target weights as it does for class indices, so the loss is "
        "scaled differently.",
        "pass class indices, target.argmax(dim=1), to get the weighted "
        "mean of class indices.",
    )


def _check_probability_target_not_normalized(call):
    if call.loss != "cross_entropy" or call.t.shape != call.x.shape:
        return None
    if call.n_classes < 2:
        return None  # single-output-unit says it
    if call.t.dtype.kind != "f" or not np.all(np.isfinite(call.t)):
        return None
    t = np.moveaxis(call.t, call.class_dim, -1).reshape(-1, call.n_classes)
    sums = t.sum(axis=1)
    tol = SUM_TOL.get(call.t_dtype, 1e-3)
    bad = (np.abs(sums - 1) > tol) | np.any((t < 0) | (t > 1), axis=1)
    if not bad.any():
        return None
    return Finding(
        "probability-target-not-normalized",
        "warning",
        f"target has the input's shape, so torch reads it as class "
        f"probabilities, but {int(bad.sum())} of its {len(t)} rows are "
        f"not distributions (sums {float(sums.min()):.3g} to "
        f"{float(sums.max()):.3g}); torch does not check and computes "
        "-sum(q log p) anyway.",
        "pass class indices (N,), or rows that sum to 1 over the classes; "
        "for multi-hot rows (several classes on) use "
        "binary_cross_entropy_with_logits.",
    )


def _check_target_extra_dim(call):
    if not _classification(call) or call.labels is None:
        return None
    if call.t.shape == call.index_shape:
        return None
    return Finding(
        "target-extra-dim",
        "error",
        f"target has shape {_shape(call.t.shape)}; for input "
        f"{_shape(call.x.shape)} class indices need shape "
        f"{_shape(call.index_shape)} (no class dimension). torch: '0D or "
        "1D target tensor expected, multi-target not supported' (or "
        "'only batches of spatial targets supported').",
        "squeeze the size-1 dimension: target.squeeze(1).",
    )


def _check_target_shape(call):
    """A class-index target whose shape fits neither reading."""
    x, t = call.x.shape, call.t.shape
    if not _classification(call) or t in (x, call.index_shape):
        return None
    if call.labels is not None or (len(x) >= 3 and t == x[:-1]):
        return None  # target-extra-dim, class-dim-last
    want = _shape(call.index_shape)
    if len(x) >= 2 and len(t) >= 1 and t[0] != x[0]:
        said = (
            f"Expected input batch_size ({x[0]}) to match target "
            f"batch_size ({t[0]})."
        )
    elif len(x) == 2:
        said = "0D or 1D target tensor expected, multi-target not supported"
    elif len(x) == 3 and len(t) == 2:
        said = (
            f"Expected target size {list(call.index_shape)}, got {list(t)}"
        )
    elif len(x) >= 4 and len(t) == len(x) - 1:
        said = f"size mismatch (got input: {list(x)} , target: {list(t)}"
    else:
        said = "..."
    return Finding(
        "target-shape",
        "error",
        f"target has shape {_shape(t)}, but input {_shape(x)} needs class "
        f"indices of shape {want}"
        + (
            " (or probabilities of its own shape)"
            if call.loss == "cross_entropy"
            else ""
        )
        + ". "
        f"torch: '{said}'",
        f"one class index per row of input, shape {want}; for shifted "
        "language-model labels, cut logits[:, :-1] and labels[:, 1:] "
        "before flattening both.",
    )


def _check_float_class_indices(call):
    if not _classification(call) or call.t.dtype.kind != "f":
        return None
    if call.t.shape == call.x.shape and call.loss == "cross_entropy":
        return None  # probabilities, a valid target
    if call.t.shape not in (call.index_shape,) and call.labels is None:
        return None
    whole = call.labels is not None
    return Finding(
        "float-class-indices",
        "error",
        f"target holds class indices in a {call.t_dtype} array"
        + ("" if whole else " (and not all of them are whole numbers)")
        + "; torch wants int64 (Long): 'expected target dtype to be Long "
        f"or Byte, but got {_torch_name(call.t_dtype)}' (older versions: "
        f"'expected scalar type Long but found "
        f"{_torch_name(call.t_dtype)}').",
        "target.long() (in numpy: target.astype(np.int64)).",
    )


def _check_target_not_int64(call):
    if not _classification(call) or call.t.shape == call.x.shape:
        return None
    if call.t.dtype.kind not in "iub" or call.t_dtype in ("int64", "uint8"):
        return None
    return Finding(
        "target-not-int64",
        "error",
        f"target holds class indices of dtype {call.t_dtype}; torch "
        "accepts only int64 (Long), or uint8 for (N, C) input: 'expected "
        f"target dtype to be Long or Byte, but got "
        f"{_torch_name(call.t_dtype)}'.",
        "target.long() (in numpy: target.astype(np.int64)).",
    )


def _check_uint8_target(call):
    if not _classification(call) or call.t_dtype != "uint8":
        return None
    if call.t.shape == call.x.shape:
        return None
    smoothing = call.options.get("label_smoothing", 0.0)
    weighted = call.options.get("weight") is not None
    if call.x.ndim > 2:
        why = (
            f"input has {call.x.ndim} dimensions {_shape(call.x.shape)}: "
            "uint8 class indices work for (N, C) input only; here torch "
            "says 'expected scalar type Long but found Byte'."
        )
    elif weighted and smoothing > 0 and call.loss == "cross_entropy":
        why = (
            "weight and label_smoothing are both set: that path of "
            "cross_entropy refuses uint8 indices, 'gather(): Expected "
            "dtype int32/int64 for index'."
        )
    else:
        return None
    return Finding(
        "uint8-target",
        "error",
        f"target is uint8 and {why}",
        "target.long(), e.g. for a uint8 segmentation mask.",
    )


def _check_class_dim_last(call):
    if not _classification(call) or call.x.ndim < 3:
        return None
    last = call.x.shape[:-1]
    if call.t.shape != last or call.t.shape == call.index_shape:
        return None
    said = (
        f"'Expected target size {list(call.index_shape)}, got "
        f"{list(call.t.shape)}'"
        if call.x.ndim == 3
        else f"'size mismatch (got input: {list(call.x.shape)} , "
        f"target: {list(call.t.shape)}'"
    )
    return Finding(
        "class-dim-last",
        "error",
        f"input {_shape(call.x.shape)} with target {_shape(call.t.shape)}"
        f": the classes seem to be in the last dimension "
        f"({call.x.shape[-1]}), as in a sequence model's (N, T, C) "
        "output or a channels-last image, but torch reads dim 1 as the "
        f"classes ({call.x.shape[1]}): {said}.",
        "move the classes to dim 1: input.permute(0, 2, 1) (for more "
        "dims, input.movedim(-1, 1)); do not use reshape or view.",
    )


def _check_class_dim_ambiguous(call):
    if not _classification(call) or call.x.ndim < 3:
        return None
    if call.t.shape != call.x.shape[:-1] or call.labels is None:
        return None
    if call.t.shape != call.index_shape:
        return None
    return Finding(
        "class-dim-ambiguous",
        "warning",
        f"input {_shape(call.x.shape)} with target "
        f"{_shape(call.t.shape)} fit with the classes in dim 1 or in the "
        "last dim, so torch raises nothing if they are last (a sequence "
        "model's (N, T, C) with T = C): a silently wrong loss.",
        "if the model outputs (N, T, C), pass input.permute(0, 2, 1).",
    )


def _check_weight_length(call):
    weight = call.options.get("weight")
    if not _classification(call) or weight is None:
        return None
    w = _as_array(weight, "weight")
    if w.shape == (call.n_classes,):
        return None
    return Finding(
        "weight-length",
        "error",
        f"weight has shape {_shape(w.shape)} but input has "
        f"{call.n_classes} classes; torch: 'weight tensor should be "
        f"defined either for all {call.n_classes} classes or no classes'.",
        f"give one weight per class, shape ({call.n_classes},).",
    )


def _check_dtype_mismatch(call):
    if call.loss == "binary_cross_entropy":
        name, other = "target", _dtype_name_of_target(call)
    elif not call.is_binary:
        name, other = "weight", _dtype_name(call.options.get("weight"))
    else:
        return None
    mine = call.x_dtype
    if other is None or mine is None or other == mine:
        return None
    if other not in TORCH_DTYPE or mine not in TORCH_DTYPE:
        return None
    said = (
        f"'Found dtype {TORCH_DTYPE[other]} but expected "
        f"{TORCH_DTYPE[mine]}'"
        if name == "target"
        else f"'expected scalar type {TORCH_DTYPE[mine]} but found "
        f"{TORCH_DTYPE[other]}'"
    )
    return Finding(
        "dtype-mismatch",
        "error",
        f"input is {mine} but {name} is {other}; torch wants the same "
        f"floating dtype for both: {said}.",
        f"{name}.to(input.dtype) (a numpy array becomes a float64 "
        "tensor: convert it with torch.tensor(a, dtype=torch.float32)).",
    )


def _dtype_name_of_target(call):
    typed = call.t_has_dtype and call.t.dtype.kind == "f"
    return call.t_dtype if typed else None


def _bad_labels(call):
    """The counted labels outside 0..C-1 (None if no class indices)."""
    counted = call.counted
    if counted is None or not _classification(call):
        return None
    return counted[(counted < 0) | (counted >= call.n_classes)]


def _one_based(call) -> bool:
    counted = call.counted
    bad = _bad_labels(call)
    return bool(
        bad is not None
        and bad.size
        and counted.min() >= 1
        and counted.max() == call.n_classes
    )


def _void(call):
    """The single void value (255 or -1) that is the only bad label."""
    bad = _bad_labels(call)
    if bad is None or not bad.size or _one_based(call):
        return None
    values = np.unique(bad)
    if len(values) == 1 and int(values[0]) in VOID_LABELS:
        return int(values[0])
    return None


def _check_labels_one_based(call):
    if not _one_based(call):
        return None
    c = call.n_classes
    return Finding(
        "labels-one-based",
        "error",
        f"the labels run from 1 to {c} but input has {c} classes, "
        f"numbered 0 to {c - 1}: class {c} is out of range (torch: "
        f"'Target {c} is out of bounds.'; on CUDA 'device-side assert "
        "triggered').",
        "subtract 1 from the labels (target - 1), keeping any ignored "
        "value as it is.",
    )


def _check_void_label(call):
    value = _void(call)
    if value is None:
        return None
    count = int(np.sum(call.counted == value))
    return Finding(
        "void-label",
        "error",
        f"{_count(count, 'target')} {_are(count)} {value}, outside "
        f"0..{call.n_classes - 1}; "
        f"{value} usually marks 'void' (unlabelled) pixels in "
        f"segmentation masks. torch: 'Target {value} is out of bounds.' "
        "(on CUDA: 'device-side assert triggered').",
        f"ignore them: cross_entropy(..., ignore_index={value}).",
    )


def _check_label_out_of_range(call):
    bad = _bad_labels(call)
    if bad is None or not bad.size or _one_based(call) or _void(call):
        return None
    counted, c = call.counted, call.n_classes
    return Finding(
        "label-out-of-range",
        "error",
        f"{_count(bad.size, 'target')} {_are(bad.size)} outside 0..{c - 1} (labels from "
        f"{int(counted.min())} to {int(counted.max())}, input has {c} "
        f"classes). torch: 'Target {int(bad[0])} is out of bounds.' (on "
        "CUDA: 'device-side assert triggered').",
        "check num_classes of the output layer against the labels; "
        f"labels must be 0..{c - 1}, or equal to ignore_index "
        f"({call.ignore_index}).",
    )


def _check_all_targets_ignored(call):
    labels = call.labels
    if labels is None or labels.size == 0 or call.counted.size:
        return None
    if call.options.get("reduction", "mean") != "mean":
        return None
    return Finding(
        "all-targets-ignored",
        "warning",
        f"all {labels.size} targets equal ignore_index "
        f"({call.ignore_index}): the mean divides 0 by 0 and the loss is "
        "nan (by design), which poisons the weights if back-propagated.",
        "skip batches with no counted target, or use reduction='sum' "
        "divided by max(count, 1).",
    )


# ------------------------------------------------------------------
# Non-finite values
# ------------------------------------------------------------------


def _check_row_without_finite_logit(call):
    if not _classification(call):
        return None
    rows = _rows(call)
    dead = ~np.isfinite(rows).any(axis=1)
    if not dead.any():
        return None
    labels = call.labels
    ignored = (
        int(np.sum(labels.reshape(-1)[dead] == call.ignore_index))
        if labels is not None
        else 0
    )
    also = (
        f" {ignored} of them ignored: the loss may be finite, but the "
        "gradient is still nan."
        if ignored
        else ""
    )
    return Finding(
        "row-without-finite-logit",
        "error",
        f"{int(dead.sum())} of {_count(len(rows), 'row')} "
        + ("has" if dead.sum() == 1 else "have")
        + " no finite logit "
        f"(fully masked with -inf): their softmax is 0/0 = nan.{also}",
        "mask with a large finite negative number (e.g. -1e9, or "
        "torch.finfo(dtype).min) instead of -inf, or drop those rows "
        "before the loss.",
    )


def _check_non_finite_values(call):
    x = call.x
    allowed = np.isfinite(x)
    if not call.is_binary:
        allowed |= x == -np.inf  # a masked class (whole rows: above)
    bad = ~allowed
    t_bad = (
        ~np.isfinite(call.t)
        if call.t.dtype.kind == "f"
        else np.zeros(1, bool)
    )
    if not bad.any() and not t_bad.any():
        return None
    fp16 = (
        " float16 overflows to inf above 65504."
        if call.x_dtype == "float16"
        else ""
    )
    return Finding(
        "non-finite-values",
        "error",
        f"input holds {int(bad.sum())} nan/inf values and target "
        f"{int(t_bad.sum())}: the loss will be nan or inf.{fp16}",
        "find where they first appear (torch.autograd.detect_anomaly, or "
        "torch.isfinite checks after each layer); compute the loss in "
        "float32.",
    )


def _check_minus_inf_on_target(call):
    labels, counted = call.labels, call.counted
    if labels is None or not _classification(call) or not counted.size:
        return None
    if _bad_labels(call).size or call.x.ndim == 0:
        return None
    keep = labels != call.ignore_index
    safe = np.where(keep, labels, 0)
    picked = np.take_along_axis(
        call.x, np.expand_dims(safe, call.class_dim), axis=call.class_dim
    )
    hit = keep & (np.squeeze(picked, call.class_dim) == -np.inf)
    rows_alive = np.isfinite(_rows(call)).any(axis=1).reshape(hit.shape)
    hit = hit & rows_alive
    if not hit.any():
        return None
    return Finding(
        "minus-inf-on-target",
        "error",
        f"{int(hit.sum())} targets point at a class whose logit is -inf "
        "(masked out): its probability is 0 and the loss is inf.",
        "do not mask the target class; or set ignore_index on those "
        "targets.",
    )


# ------------------------------------------------------------------
# Binary losses: target dtype, range, shape, pos_weight
# ------------------------------------------------------------------


def _check_binary_target_integer(call):
    if not call.is_binary or call.t.dtype.kind not in "iub":
        return None
    x, t = _torch_name(call.x_dtype), _torch_name(call.t_dtype)
    said = (
        f"'result type {x} can't be cast to the desired output type {t}'"
        if call.loss.endswith("logits")
        else f"'Found dtype {t} but expected {x}'"
    )
    if call.t_dtype == "bool" and call.loss.endswith("logits"):
        said = (
            "'Subtraction, the `-` operator, with two bool tensors is not "
            "supported'"
        )
    return Finding(
        "binary-target-integer",
        "error",
        f"target has dtype {call.t_dtype}; the binary losses want a "
        f"floating-point target, like the input. torch: {said}.",
        "target.float() (or target.to(input.dtype)).",
    )


def _check_binary_target_range(call):
    if not call.is_binary or call.t.shape != call.x.shape:
        return None
    t = call.t[np.isfinite(call.t)]
    bad = (t < 0) | (t > 1)
    if not bad.any():
        return None
    refused = call.loss == "binary_cross_entropy"
    return Finding(
        "binary-target-range",
        "error" if refused else "warning",
        f"{int(bad.sum())} target values are outside [0, 1] (from "
        f"{float(t.min()):.3g} to {float(t.max()):.3g}); "
        + (
            "torch: 'all elements of target should be between 0 and 1'."
            if refused
            else "with logits torch computes anyway, and the loss can "
            "go negative."
        ),
        "targets are probabilities of the positive class: 0/1 labels "
        "(or soft labels in [0, 1]); for class indices > 1 use "
        "cross_entropy.",
    )


def _check_binary_shape(call):
    if not call.is_binary or call.t.shape == call.x.shape:
        return None
    x, t = call.x.shape, call.t.shape
    if x == t + (1,) or t == x + (1,):
        why = "one has an extra size-1 dimension"
        fix = "input.squeeze(-1), or target.unsqueeze(-1)."
    elif len(x) == len(t) + 1 and x[:1] == t[:1] and x[1] > 1:
        why = (
            f"a (N,) target for {x[1]} outputs looks like one class index "
            "per example: a multi-class problem given to a multi-label "
            "loss"
        )
        fix = (
            "cross_entropy(input, target) for one class per example; "
            f"F.one_hot(target, {x[1]}).float() if several can be on."
        )
    else:
        why = "torch wants one target per input value"
        fix = "give target the input's shape."
    return Finding(
        "binary-shape",
        "error",
        f"input {_shape(x)} and target {_shape(t)} differ: {why}. torch: "
        "'Target size (...) must be the same as input size (...)'.",
        fix,
    )


def _check_pos_weight_shape(call):
    pos_weight = call.options.get("pos_weight")
    if (
        call.loss != "binary_cross_entropy_with_logits"
        or pos_weight is None
    ):
        return None
    pw = _as_array(pos_weight, "pos_weight")
    x = call.x.shape
    try:
        fits = np.broadcast_shapes(pw.shape, x) == x
    except ValueError:
        fits = False
    along_width = (
        fits and pw.ndim == 1 and len(x) >= 3 and pw.shape[0] == x[1] > 1
    )
    if fits and not along_width:
        return None
    c = x[1] if len(x) >= 2 else x[-1]
    return Finding(
        "pos-weight-shape",
        "error" if not fits else "warning",
        f"pos_weight has shape {_shape(pw.shape)} and input "
        f"{_shape(x)}: pos_weight broadcasts from the last dimension, "
        + (
            "so it does not fit (torch: 'The size of tensor a must match "
            "the size of tensor b')."
            if not fits
            else f"so it weights the last dimension ({x[-1]}), not the "
            "classes in dim 1: silently wrong."
        ),
        f"for (N, C, H, W) pass pos_weight of shape ({c}, 1, 1): "
        "pos_weight.view(-1, 1, 1).",
    )


# ------------------------------------------------------------------
# The initial loss
# ------------------------------------------------------------------


def _check_initial_loss(call, found):
    if not call.initial or call.loss != "cross_entropy" or found:
        return None
    try:
        value = cross_entropy(call.x, call.t, **call.options)
    except (TypeError, ValueError):
        return None
    c = call.n_classes
    if c < 2 or not np.isscalar(value) or not math.isfinite(value):
        return None
    if 0.5 * math.log(c) <= value <= 1.5 * math.log(c):
        return None
    return Finding(
        "initial-loss-far-from-log-c",
        "warning",
        f"the loss before training is {value:.4f}, far from log C = "
        f"{math.log(c):.4f} ({c} classes), the loss of an untrained "
        "model that gives every class the same probability.",
        "if much higher: initial weights too large (the model is "
        "confidently wrong), scale the last layer down; if much lower: "
        "labels may leak into the inputs.",
    )


_CHECKS = (
    _check_probabilities_as_logits,
    _check_log_probabilities_as_logits,
    _check_probabilities_as_log_probabilities,
    _check_logits_as_log_probabilities,
    _check_sigmoid_as_logits,
    _check_logits_as_probabilities,
    _check_single_output_unit,
    _check_one_hot_target,
    _check_one_hot_weighted_mean,
    _check_probability_target_not_normalized,
    _check_target_extra_dim,
    _check_target_shape,
    _check_float_class_indices,
    _check_target_not_int64,
    _check_uint8_target,
    _check_class_dim_last,
    _check_class_dim_ambiguous,
    _check_weight_length,
    _check_dtype_mismatch,
    _check_labels_one_based,
    _check_void_label,
    _check_label_out_of_range,
    _check_all_targets_ignored,
    _check_row_without_finite_logit,
    _check_non_finite_values,
    _check_minus_inf_on_target,
    _check_binary_target_integer,
    _check_binary_target_range,
    _check_binary_shape,
    _check_pos_weight_shape,
)


def diagnose(
    input, target, loss="cross_entropy", *, initial=False, **options
):
    r"""What is wrong with ``loss(input, target, **options)``, in words.

    ``loss`` names the ``torch.nn.functional`` loss the inputs are meant
    for: ``"cross_entropy"``, ``"nll_loss"``, ``"binary_cross_entropy"`` or
    ``"binary_cross_entropy_with_logits"``; ``options`` are that loss's
    keyword arguments (``weight``, ``ignore_index``, ``reduction``,
    ``pos_weight``, ...). With ``initial=True`` (the model is untrained),
    a cross-entropy far from log C is reported too.

    Shapes as torch reads them: input (C,), (N, C) or (N, C, d1, ..., dK),
    class-index target (), (N,) or (N, d1, ..., dK), or the input's shape
    for probabilities; binary losses take input and target of one shape.
    Inputs may be numpy arrays, lists or torch tensors.

    Returns a :class:`Report`: empty (falsy, ``len == 0``) when nothing is
    found.

    >>> import numpy as np
    >>> logits = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]])
    >>> diagnose(logits, np.array([0, 2]))
    no problems found
    >>> print(diagnose(logits, np.array([1, 3])))  # labels 1..C
    error [labels-one-based] the labels run from 1 to 3 but input has 3
      classes, numbered 0 to 2: class 3 is out of range (torch: 'Target 3 is
      out of bounds.'; on CUDA 'device-side assert triggered').
      fix: subtract 1 from the labels (target - 1), keeping any ignored
        value as it is.

    Chapter 6 explains every finding.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}; got {loss!r}")
    x = _as_array(input, "input")
    if x.dtype.kind not in "fiub":
        raise TypeError(
            f"input must hold real numbers; got dtype {x.dtype}"
        )
    t = _as_array(target, "target")
    t_dtype = _dtype_name(target) or str(t.dtype)
    call = _Call(
        loss,
        x.astype(np.float64),
        _dtype_name(input),
        t,
        t_dtype,
        _dtype_name(target) is not None,
        options,
        initial,
    )
    found = [f for check in _CHECKS if (f := check(call)) is not None]
    initial_finding = _check_initial_loss(call, found)
    if initial_finding is not None:
        found.append(initial_finding)
    return Report(found)
