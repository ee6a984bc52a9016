"""ce_lessons.diagnose: silent on valid calls, and each finding for its own mistake.

1. Over many random valid calls (losses, shapes, options, dtypes, numpy or torch or lists) the
   report is empty: ``len(report) == 0``, falsy, printed as "no problems found". Each valid call
   is also run through torch, which must accept it.
2. Each finding has a broken call that triggers it and nothing else; where torch refuses the call,
   the test checks that torch does raise (so an "error" finding is a real error) and that the
   finding quotes torch's message; where torch accepts it, the finding is a warning or a note.
"""

import math
import warnings
from typing import NamedTuple

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import ce_lessons as ce
from ce_lessons.diagnosis import Finding, Report, diagnose

TORCH_LOSS = {
    "cross_entropy": F.cross_entropy,
    "nll_loss": F.nll_loss,
    "binary_cross_entropy": F.binary_cross_entropy,
    "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits,
}


def as_tensor(value):
    """numpy -> torch as a training loop would have it (dtypes kept)."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    return value


def torch_call(loss, x, y, **options):
    options = {k: as_tensor(v) for k, v in options.items()}
    return TORCH_LOSS[loss](as_tensor(x), as_tensor(y), **options)


# ----------------------------------------------------------------------
# 1. Valid calls: nothing found
# ----------------------------------------------------------------------


@st.composite
def valid_calls(draw):
    """A random valid loss call: (loss, input, target, options)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    loss = draw(st.sampled_from(sorted(TORCH_LOSS)))
    c = draw(st.integers(2, 6))
    n = draw(st.integers(1, 5))
    spatial = draw(
        st.lists(st.integers(1, 4).filter(lambda d: d != c), max_size=2)
    )
    unbatched = not loss.startswith("binary") and draw(st.booleans())
    shape = (c,) if unbatched else (n, c, *spatial)
    logits = rng.normal(size=shape) * draw(st.floats(1.0, 4.0))
    options = {}
    if loss.startswith("binary"):
        x, y = _binary(draw, rng, loss, logits, options)
    else:
        x, y = _classification(draw, rng, loss, logits, options)
    return loss, *_containers(draw, x, y, options)


def _classification(draw, rng, loss, logits, options):
    c, class_dim = (
        logits.shape[0 if logits.ndim == 1 else 1],
        min(1, logits.ndim - 1),
    )
    index_shape = logits.shape[:class_dim] + logits.shape[class_dim + 1 :]
    probabilities = loss == "cross_entropy" and draw(st.booleans())
    if probabilities:
        y = ce.softmax(rng.normal(size=logits.shape), dim=class_dim)
    else:
        y = rng.integers(0, c, size=index_shape)
        if y.size > 1 and draw(st.booleans()):
            ignore = draw(st.sampled_from([-100, 255, -1]))
            y.reshape(-1)[: y.size // 2] = ignore  # half ignored
            if ignore != -100:
                options["ignore_index"] = ignore
    if draw(st.booleans()):
        options["weight"] = rng.uniform(0.1, 3.0, size=c)
    options["reduction"] = draw(st.sampled_from(["mean", "sum", "none"]))
    smoothing = loss == "cross_entropy" and draw(st.booleans())
    if loss == "cross_entropy":
        options["label_smoothing"] = 0.1 if smoothing else 0.0
    # uint8 class indices: (N, C) only, and not with weight + smoothing
    uint8_ok = (
        not probabilities
        and logits.ndim == 2
        and y.min() >= 0
        and not (smoothing and "weight" in options)
    )
    if uint8_ok and draw(st.booleans()):
        y = y.astype(np.uint8)
    if loss == "cross_entropy":
        return logits, y
    return ce.log_softmax(logits, dim=class_dim), y


def _binary(draw, rng, loss, logits, options):
    if draw(st.booleans()):
        y = (rng.uniform(size=logits.shape) < 0.5).astype(np.float64)
    else:
        y = rng.uniform(size=logits.shape)  # soft labels
    if loss == "binary_cross_entropy":
        return np.clip(ce.sigmoid(logits), 1e-6, 1 - 1e-6), y
    if draw(st.booleans()):
        c = logits.shape[1]
        per_class = rng.uniform(0.5, 5.0, size=c)
        options["pos_weight"] = per_class.reshape(
            (c,) + (1,) * (logits.ndim - 2)
        )
    return logits, y


def _containers(draw, x, y, options):
    """The same call in float64 or float32 numpy, torch tensors (float32,
    float16, bfloat16), or lists; floating arrays share the input's dtype,
    as torch requires."""
    kind = draw(st.sampled_from(["numpy64", "numpy32", "torch", "list"]))
    if kind == "list":
        return x.tolist(), y.tolist(), options
    if kind == "numpy64":
        return x, y, options
    if kind == "numpy32":
        return (
            _cast(x, np.float32),
            _cast(y, np.float32),
            {k: _cast(v, np.float32) for k, v in options.items()},
        )
    dtype = draw(
        st.sampled_from([torch.float32, torch.float16, torch.bfloat16])
    )
    return (
        _tensor(x, dtype),
        _tensor(y, dtype),
        {k: _tensor(v, dtype) for k, v in options.items()},
    )


def _cast(value, dtype):
    is_float = isinstance(value, np.ndarray) and value.dtype.kind == "f"
    return value.astype(dtype) if is_float else value


def _tensor(value, dtype):
    if not isinstance(value, np.ndarray):
        return value
    if value.dtype.kind == "f":
        return torch.tensor(value, dtype=dtype)
    return torch.from_numpy(value)


@given(valid_calls())
def test_valid_calls_have_no_findings(call):
    loss, x, y, options = call
    report = diagnose(x, y, loss, **options)
    assert len(report) == 0, str(report)
    assert not report
    assert str(report) == "no problems found"
    if not isinstance(x, list):  # torch takes no lists
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # not even a warning
            torch_call(loss, x, y, **options)  # torch accepts it too


def test_an_untrained_model_near_log_c_has_no_finding():
    rng = np.random.default_rng(0)
    small = rng.normal(size=(64, 10)) * 0.01
    y = rng.integers(0, 10, size=64)
    assert not diagnose(small, y, initial=True)


# ----------------------------------------------------------------------
# 2. Each finding, triggered alone
# ----------------------------------------------------------------------

rng = np.random.default_rng(6)
LOGITS = rng.normal(size=(4, 3)) * 2
Y = np.array([0, 1, 2, 0])
SEG = rng.normal(size=(2, 3, 4, 4))
SEG_Y = rng.integers(0, 3, size=(2, 4, 4))
BIN = rng.normal(size=(8,)) * 2
BIN_Y = (rng.uniform(size=8) < 0.5).astype(np.float64)


def masked_row():
    x = LOGITS.copy()
    x[1] = -np.inf
    return x


def minus_inf_on_target():
    x = LOGITS.copy()
    x[0, Y[0]] = -np.inf
    return x


def with_nan():
    x = LOGITS.copy()
    x[2, 1] = np.nan
    return x


def void_mask():
    y = SEG_Y.copy()
    y[0, :2, :] = 255
    return y


class Trigger(NamedTuple):
    """A call that triggers one finding, and whether torch refuses it."""

    code: str
    severity: str
    loss: str
    x: object
    y: object
    options: dict
    torch_raises: bool


def triggers(severity):
    """What makes the Trigger of a finding of ``severity``. An error is a
    call torch refuses, unless ``torch_raises=False`` says that torch runs
    it (and gives nan or inf); torch runs the calls of a warning or a
    note."""

    def trigger(
        code, x, y, loss="cross_entropy", torch_raises=None, **options
    ):
        raises = (
            severity == "error" if torch_raises is None else torch_raises
        )
        return Trigger(code, severity, loss, x, y, options, raises)

    return trigger


error, warning, note = (triggers(s) for s in ("error", "warning", "note"))
BCE, BCE_LOGITS = "binary_cross_entropy", "binary_cross_entropy_with_logits"
CLASS_WEIGHT = np.array([1.0, 2.0, 5.0])
POS_WEIGHT = np.array([1.0, 2.0, 3.0])

TRIGGERS = [
    warning("probabilities-as-logits", ce.softmax(LOGITS, 1), Y),
    note("log-probabilities-as-logits", ce.log_softmax(LOGITS, 1), Y),
    warning(
        "probabilities-as-log-probabilities",
        ce.softmax(LOGITS, 1),
        Y,
        loss="nll_loss",
    ),
    warning("logits-as-log-probabilities", LOGITS, Y, loss="nll_loss"),
    warning("sigmoid-as-logits", ce.sigmoid(BIN), BIN_Y, loss=BCE_LOGITS),
    error("logits-as-probabilities", BIN, BIN_Y, loss=BCE),
    warning(
        "single-output-unit", LOGITS[:, :1], np.zeros(4, dtype=np.int64)
    ),
    error("one-hot-target", LOGITS, np.eye(3, dtype=np.int64)[Y]),
    warning(
        "one-hot-weighted-mean", LOGITS, np.eye(3)[Y], weight=CLASS_WEIGHT
    ),
    warning(
        "probability-target-not-normalized", LOGITS, np.eye(3)[Y] * 0.5
    ),
    error("target-extra-dim", LOGITS, Y[:, None]),
    # one label short, as with unshifted LM labels
    error("target-shape", LOGITS, Y[:3]),
    error("float-class-indices", LOGITS, Y.astype(np.float32)),
    error("target-not-int64", LOGITS, Y.astype(np.int32)),
    error("uint8-target", SEG, SEG_Y.astype(np.uint8)),
    error(
        "uint8-target",
        LOGITS,
        Y.astype(np.uint8),
        weight=np.ones(3),
        label_smoothing=0.1,
    ),
    error(
        "class-dim-last",
        rng.normal(size=(2, 5, 3)),
        rng.integers(0, 3, size=(2, 5)),
    ),
    warning(
        "class-dim-ambiguous",
        rng.normal(size=(2, 3, 3)),
        rng.integers(0, 3, size=(2, 3)),
    ),
    error(
        "dtype-mismatch", LOGITS.astype(np.float32), Y, weight=CLASS_WEIGHT
    ),
    error(
        "dtype-mismatch",
        ce.sigmoid(BIN).astype(np.float32),
        BIN_Y,
        loss=BCE,
    ),
    error("weight-length", LOGITS, Y, weight=np.ones(4)),
    error("labels-one-based", LOGITS, Y + 1),
    error("void-label", SEG, void_mask()),
    error("label-out-of-range", LOGITS, np.array([0, 7, 2, 1])),
    warning("all-targets-ignored", LOGITS, np.full(4, -100)),
    # torch runs these three and gives nan, nan and inf
    error(
        "row-without-finite-logit",
        masked_row(),
        np.array([0, -100, 2, 0]),
        torch_raises=False,
    ),
    error("non-finite-values", with_nan(), Y, torch_raises=False),
    error(
        "minus-inf-on-target", minus_inf_on_target(), Y, torch_raises=False
    ),
    error(
        "binary-target-integer",
        BIN,
        BIN_Y.astype(np.int64),
        loss=BCE_LOGITS,
    ),
    error("binary-target-range", ce.sigmoid(BIN), BIN_Y * 2, loss=BCE),
    warning("binary-target-range", BIN, BIN_Y * 2, loss=BCE_LOGITS),
    error("binary-shape", BIN[:, None], BIN_Y, loss=BCE_LOGITS),
    error("binary-shape", LOGITS, Y.astype(np.float64), loss=BCE_LOGITS),
    error(
        "pos-weight-shape",
        SEG,
        (SEG > 0).astype(np.float64),
        loss=BCE_LOGITS,
        pos_weight=POS_WEIGHT,
    ),
    warning(
        "pos-weight-shape",
        SEG[..., :3],
        (SEG[..., :3] > 0).astype(np.float64),
        loss=BCE_LOGITS,
        pos_weight=POS_WEIGHT,
    ),
]


def trigger_id(case):
    return f"{case.code}-{case.loss}"


@pytest.mark.parametrize("case", TRIGGERS, ids=trigger_id)
def test_each_finding_is_triggered_alone(case):
    report = diagnose(case.x, case.y, case.loss, **case.options)
    assert report.codes == [case.code], str(report)
    found = report[0]
    assert found.severity == case.severity
    assert found.message and found.fix
    assert len(report) == 1 and report


@pytest.mark.parametrize("case", TRIGGERS, ids=trigger_id)
def test_error_findings_are_exactly_the_calls_torch_refuses(case):
    call = case.loss, case.x, case.y
    if case.torch_raises:
        with pytest.raises((RuntimeError, ValueError, IndexError)):
            torch_call(*call, **case.options)
    else:
        torch_call(*call, **case.options)  # runs: the number is the issue
    assert (case.severity == "error") == case.torch_raises or case.code in (
        "row-without-finite-logit",  # runs, but gives nan
        "non-finite-values",
        "minus-inf-on-target",  # runs, but gives inf
    )


TORCH_MESSAGES = {
    "one-hot-target": "Expected floating point type for target with class "
    "probabilities, got Long",
    "target-extra-dim": "0D or 1D target tensor expected, multi-target not "
    "supported",
    "float-class-indices": "expected target dtype to be Long or Byte, but "
    "got Float",
    "target-shape": "Expected input batch_size (4) to match target "
    "batch_size (3).",
    "target-not-int64": "expected target dtype to be Long or Byte, but got "
    "Int",
    "uint8-target": "expected scalar type Long but found Byte",
    "class-dim-last": "Expected target size [2, 3], got [2, 5]",
    "labels-one-based": "Target 3 is out of bounds.",
    "void-label": "Target 255 is out of bounds.",
    "label-out-of-range": "Target 7 is out of bounds.",
    "logits-as-probabilities": "all elements of input should be between 0 "
    "and 1",
    "binary-target-integer": "result type Double can't be cast to the "
    "desired output type Long",
}


@pytest.mark.parametrize("code", sorted(TORCH_MESSAGES))
def test_error_findings_quote_torchs_own_message(code):
    case = next(c for c in TRIGGERS if c.code == code)
    loss, x, y, options = case.loss, case.x, case.y, case.options
    with pytest.raises(Exception) as raised:
        torch_call(loss, x, y, **options)
    assert TORCH_MESSAGES[code] in str(raised.value)
    assert (
        TORCH_MESSAGES[code] in diagnose(x, y, loss, **options)[0].message
    )


@pytest.mark.parametrize(
    "x_shape, y_shape",
    [((2, 3, 5), (2, 4)), ((2, 3, 4, 4), (2, 4, 5)), ((4, 3), (4, 2, 2))],
)
def test_a_target_shape_that_fits_nothing_quotes_torch(x_shape, y_shape):
    x = rng.normal(size=x_shape)
    y = rng.integers(0, 3, size=y_shape)
    with pytest.raises((RuntimeError, ValueError)) as raised:
        F.cross_entropy(torch.from_numpy(x), torch.from_numpy(y))
    report = diagnose(x, y)
    assert report.codes == ["target-shape"], str(report)
    assert f"torch: '{raised.value}'" in report[0].message


@pytest.mark.parametrize(
    "loss", ["binary_cross_entropy", "binary_cross_entropy_with_logits"]
)
def test_a_bool_binary_target_quotes_torchs_own_message(loss):
    x = ce.sigmoid(BIN) if loss == "binary_cross_entropy" else BIN
    x = torch.tensor(x, dtype=torch.float32)
    y = torch.from_numpy(BIN_Y > 0.5)
    with pytest.raises(RuntimeError) as raised:
        torch_call(loss, x, y)
    report = diagnose(x, y, loss)
    assert report.codes == ["binary-target-integer"]
    said = str(raised.value).split(". ")[0]
    assert said in report[0].message


def test_the_initial_loss_far_from_log_c():
    big = LOGITS * 20  # confidently wrong at initialization
    report = diagnose(big, Y, initial=True)
    assert report.codes == ["initial-loss-far-from-log-c"]
    assert f"{ce.cross_entropy(big, Y):.4f}" in report[0].message
    assert f"{math.log(3):.4f}" in report[0].message
    assert not diagnose(big, Y)  # only when asked


# ----------------------------------------------------------------------
# 3. The report and the inputs it takes
# ----------------------------------------------------------------------


def test_the_numbers_in_a_message_are_the_ones_seen():
    report = diagnose(LOGITS, np.array([0, 7, 9, 1]))
    assert "2 targets are outside 0..2" in report[0].message
    assert "labels from 0 to 9" in report[0].message


def test_findings_come_most_severe_first_and_print_with_their_fix():
    x = ce.log_softmax(LOGITS, 1)  # a note
    report = diagnose(x, np.array([1, 2, 3, 1]))  # and an error
    assert report.codes == [
        "labels-one-based",
        "log-probabilities-as-logits",
    ]
    text = str(report)
    assert text.startswith("error [labels-one-based]")
    assert "\n  fix: subtract 1" in text
    assert max(len(line) for line in text.splitlines()) <= 76
    assert repr(report) == text
    assert [f.code for f in report] == report.codes


def test_torch_tensors_that_require_grad_and_bfloat16_are_read():
    x = torch.tensor(ce.softmax(LOGITS, 1), requires_grad=True)
    assert diagnose(x, torch.tensor(Y)).codes == ["probabilities-as-logits"]
    x16 = torch.tensor(LOGITS, dtype=torch.bfloat16)
    assert not diagnose(x16, torch.tensor(Y))
    y32 = torch.tensor(Y, dtype=torch.int32)
    assert "dtype int32" in diagnose(x16, y32)[0].message


def test_one_unit_with_float_labels_is_zero_and_reported():
    x, y = LOGITS[:, :1], np.array([[1.0], [0.0], [1.0], [0.0]])
    assert F.cross_entropy(torch.tensor(x), torch.tensor(y)).item() == 0
    assert diagnose(x, y).codes == ["single-output-unit"]  # said once


def test_a_float16_overflow_is_named():
    x = torch.tensor([[70000.0, 0.0]]).half()  # inf in float16
    report = diagnose(x, torch.tensor([0]))
    assert report.codes == ["non-finite-values"]
    assert "65504" in report[0].message


def test_an_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="loss must be one of"):
        diagnose(LOGITS, Y, "mse_loss")


def test_a_finding_is_a_plain_record():
    f = Finding("code", "warning", "what was seen", "what to do")
    assert (
        str(Report([f]))
        == "warning [code] what was seen\n  fix: what to do"
    )


def test_every_finding_is_listed_in_the_docstring_and_triggered_here():
    import importlib
    import inspect
    import re

    # the module
    module = importlib.import_module("ce_lessons.diagnosis")
    source = inspect.getsource(module)
    codes = set(re.findall(r'Finding\(\s*"([a-z0-9-]+)"', source))
    triggered = {case.code for case in TRIGGERS}
    triggered.add("initial-loss-far-from-log-c")  # its own test above
    assert len(codes) == len(module._CHECKS) + 1  # + the initial loss
    assert codes == triggered
    for code in codes:
        assert f"``{code}``" in module.__doc__, code


def test_diagnose_and_imbalance_never_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np; import ce_lessons as ce; "
        "ce.diagnose(np.zeros((2, 3)), [0, 1]); "
        "ce.focal_loss(np.zeros((2, 3)), [0, 1]); "
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
