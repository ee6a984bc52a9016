"""PyTorch's own test samples, run against ce_lessons.

torch's test suite describes each operator with an ``OpInfo`` whose
``sample_inputs`` are the inputs its own tests feed it (shapes, empty and
0-d tensors, every reduction, weights, ignore_index, probability targets).
Here each sample of the ten ops ce_lessons mirrors (float64, CPU) is given
to torch and to ce_lessons, with the same arguments in the same places:

* either ce_lessons gives torch's number (float64, relative 1e-12),
* or ce_lessons refuses the sample with a ValueError or TypeError for one
  of the REFUSALS below: places where it is deliberately stricter than
  torch, each justified there. The refusal must name a property the sample
  really has; the sample is then repaired (the smallest change that removes
  that property) and the repaired sample must give torch's number.

No sample may give a different number, and no refusal may go unexplained.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pytest
import torch
from hypothesis import settings

import ce_lessons as ce
from tests.helpers import assert_matches

# Importing torch's test helpers (they need the expecttest package) loads
# their own Hypothesis profile ("dev", or "pytorch_ci" when CI is set):
# put back this suite's derandomized profile. They also freeze direct
# assignment to torch.backends flags (torch.backends.disable_global_flags);
# no test here sets those.
_profile = settings.get_current_profile_name()
from torch.testing._internal.common_methods_invocations import (  # noqa: E402
    op_db,
)

settings.load_profile(_profile)

RTOL, ATOL = 1e-12, 1e-12  # both sides compute in float64

# torch's OpInfo name -> the ce_lessons function that mirrors it.
OPS = {
    "nn.functional.cross_entropy": ce.cross_entropy,
    "nn.functional.nll_loss": ce.nll_loss,
    "nn.functional.binary_cross_entropy": ce.binary_cross_entropy,
    "nn.functional.binary_cross_entropy_with_logits": (
        ce.binary_cross_entropy_with_logits
    ),
    "softmax": ce.softmax,
    "log_softmax": ce.log_softmax,
    "logsumexp": ce.logsumexp,
    "sigmoid": ce.sigmoid,
    "nn.functional.logsigmoid": ce.log_sigmoid,
    "nn.functional.one_hot": ce.one_hot,
}

# The samples' dtype: float64, except one_hot, which takes class indices:
# op_db lists int64 as its only dtype (torch refuses float64 input there).
SAMPLE_DTYPE = {"nn.functional.one_hot": torch.int64}


@dataclass(frozen=True)
class Call:
    """One sample as a call: ``fn(input, *args, **kwargs)``."""

    input: torch.Tensor
    args: tuple
    kwargs: dict


def _torch_result(op, call: Call):
    return op(call.input, *call.args, **call.kwargs)


def _ce_result(op, call: Call):
    """ce_lessons on the same call. Options are keyword arguments in every
    sample, as ce_lessons requires, and go through unchanged; the one
    torch-only argument, ``dtype=`` of softmax and log_softmax, goes by
    an explicit rule."""
    kwargs = dict(call.kwargs)
    if "dtype" in kwargs:
        # softmax(x, dim, dtype=d) casts x to d first. ce_lessons always
        # computes in float64, which is what dtype=torch.float64 asks for;
        # any other dtype has no ce_lessons equivalent: write a rule.
        if kwargs["dtype"] != torch.float64:
            pytest.fail(f"no rule for dtype={kwargs['dtype']}")
        del kwargs["dtype"]
    return OPS[op.name](call.input, *call.args, **kwargs)


# ---------------------------------------------------------------------------
# Where ce_lessons is stricter than torch
# ---------------------------------------------------------------------------


def _negative(call: Call, name: str) -> bool:
    value = call.kwargs.get(name)
    return value is not None and bool((value < 0).any())


def _class_dim(call: Call) -> int:
    return 0 if call.input.ndim == 1 else 1


def _is_probability_target(call: Call) -> bool:
    target = call.args[0]
    return target.is_floating_point() and target.shape == call.input.shape


def _not_a_distribution(call: Call) -> bool:
    """A probability target whose distributions over the classes do not
    sum to 1 (to ce_lessons's tolerance, 1e-4)."""
    if not _is_probability_target(call):
        return False
    sums = call.args[0].sum(_class_dim(call))
    return bool(((sums - 1).abs() > 1e-4).any())


def _normalized_target(call: Call) -> Call:
    q = call.args[0]
    q = q / q.sum(_class_dim(call), keepdim=True)
    return replace(call, args=(q, *call.args[1:]))


def _absolute(name: str) -> Callable[[Call], Call]:
    def repair(call: Call) -> Call:
        return replace(
            call, kwargs={**call.kwargs, name: call.kwargs[name].abs()}
        )

    return repair


def _no_dim(call: Call) -> bool:
    return not call.args and "dim" not in call.kwargs


def _legacy_dim(call: Call) -> Call:
    """torch's deprecated implicit dim (F.softmax's _get_softmax_dim)."""
    dim = 0 if call.input.ndim in (0, 1, 3) else 1
    return replace(call, args=(dim,))


@dataclass(frozen=True)
class Refusal:
    """A documented way in which ce_lessons is stricter than torch."""

    reason: str
    message: str  # a regex ce_lessons's error message matches
    applies: Callable[[Call], bool]  # the sample has the refused property
    repair: Callable[[Call], Call]  # the smallest change that removes it


REFUSALS = (
    # torch multiplies by any weight. A negative class weight turns that
    # class's loss into a reward with no lower bound, and can make the
    # 'mean' denominator sum_n w_{y_n} zero or negative, flipping the sign
    # of every term: in a course it is always a bug (a sign error in an
    # inverse-frequency formula), so ce_lessons refuses it. torch's samples
    # draw weights from [-9, 9] because they test the kernel's arithmetic.
    Refusal(
        "negative weight",
        r"^weight must be finite and non-negative",
        lambda call: _negative(call, "weight"),
        _absolute("weight"),
    ),
    # The same for BCEWithLogits' pos_weight, a weight on the positive
    # term (torch's samples draw it from [0, 9], so this stays unused).
    Refusal(
        "negative pos_weight",
        r"^pos_weight must be finite and non-negative",
        lambda call: _negative(call, "pos_weight"),
        _absolute("pos_weight"),
    ),
    # torch computes -sum_c q_c log p_c for any floating target q of the
    # input's shape. Only when q is a distribution over the classes is
    # that a cross-entropy, and only then is its gradient p - q (chapter
    # 3): with sum_c q_c = s it is s p - q. torch's samples draw each q_c
    # uniformly from [0, 1), so their rows sum to anything in [0, C).
    Refusal(
        "probability target that is not a distribution",
        r"^target holds class probabilities, so it must sum to 1 ",
        _not_a_distribution,
        _normalized_target,
    ),
    # F.softmax(x) without dim guesses one (with a deprecation warning);
    # a softmax over the wrong dimension is a classic silent bug, so
    # ce_lessons's softmax and log_softmax require dim. (The softmax
    # OpInfos call torch.softmax, whose dim is required too, so torch
    # 2.13's samples always pass it.)
    Refusal(
        "no implicit dim",
        r"^\w+\(\) missing 1 required positional argument: 'dim'$",
        _no_dim,
        _legacy_dim,
    ),
)


def _refusal_for(error: Exception) -> Refusal:
    for refusal in REFUSALS:
        if re.search(refusal.message, str(error)):
            return refusal
    pytest.fail(
        f"ce_lessons refused the sample for a reason no rule documents: "
        f"{type(error).__name__}: {error}"
    )


def _assert_same_number(ours, theirs):
    if not theirs.is_floating_point():  # one_hot: exact int64 0/1
        dtype = np.asarray(ours).dtype
        assert dtype == np.int64, f"one_hot gave {dtype}, torch int64"
        np.testing.assert_array_equal(ours, theirs.numpy())
        return
    assert_matches(ours, theirs, rtol=RTOL, atol=ATOL)


def outcome(op, call: Call) -> list[str]:
    """Run one sample on both sides; return the reasons ce_lessons refused
    it for ([] when it matched as is). Fails on a different number, on an
    unexplained refusal, and on a repaired sample that does not match."""
    reasons = []
    while True:
        try:
            ours = _ce_result(op, call)
        except (ValueError, TypeError) as error:
            refusal = _refusal_for(error)
            assert refusal.applies(call), (
                f"refused for {refusal.reason!r}, which the sample does "
                f"not have: {error}"
            )
            assert refusal.reason not in reasons, f"refused twice: {error}"
            reasons.append(refusal.reason)
            call = refusal.repair(call)
            continue
        _assert_same_number(ours, _torch_result(op, call))
        return reasons


# ---------------------------------------------------------------------------
# The samples
# ---------------------------------------------------------------------------


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return str(tuple(value.shape)).replace(" ", "")
    if isinstance(value, torch.dtype):
        return str(value).removeprefix("torch.")
    return str(value).replace(" ", "")


def _sample_id(op, index: int, call: Call) -> str:
    name = op.name.removeprefix("nn.functional.")
    if op.variant_test_name:
        name += f"_{op.variant_test_name}"
    parts = [_describe(call.input), *map(_describe, call.args)]
    parts += [f"{k}={_describe(v)}" for k, v in call.kwargs.items()]
    return f"{name}-{index:02d}-" + ",".join(parts)


def _samples():
    """Every sample of the ten ops, from a fixed seed (torch draws them at
    random), without touching the global random state of other tests."""
    params = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for op in op_db:
            if op.name not in OPS:
                continue
            dtype = SAMPLE_DTYPE.get(op.name, torch.float64)
            for index, sample in enumerate(op.sample_inputs("cpu", dtype)):
                call = Call(sample.input, tuple(sample.args), sample.kwargs)
                params.append(
                    pytest.param(op, call, id=_sample_id(op, index, call))
                )
    return params


SAMPLES = _samples()


def test_torch_has_samples_for_every_op():
    assert {param.values[0].name for param in SAMPLES} == set(OPS)


@pytest.mark.parametrize(("op", "call"), SAMPLES)
def test_sample_matches_torch_or_is_refused_by_a_rule(op, call):
    outcome(op, call)
