"""ce_lessons.scale: the loss of a language model's output layer, at scale.

Specification:

* ``chunked_linear_cross_entropy(h, W, target, ...)`` equals
  ``F.cross_entropy(h @ W.T, target, ...)`` in float64 to 1e-10, loss and
  both gradients, for every chunk size, ``ignore_index``, reduction and
  label smoothing, and never makes a tensor larger than one chunk's
  (c, V) logits;
* ``vocab_parallel_cross_entropy`` gives every rank the single-process
  loss and its columns of the gradient, with three all-reduces forward and
  none backward; torch's ``loss_parallel`` agrees (2 processes, gloo on
  127.0.0.1, bounded in time, nothing left running);
* bad arguments raise errors that name them.
"""

from __future__ import annotations

import math
import multiprocessing
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch.utils._python_dispatch import TorchDispatchMode

from ce_lessons import scale
from tests.helpers import label_smoothings

RTOL, ATOL = 1e-10, 1e-12


def reference(h, W, target, **options):
    """torch's loss and gradients for cross_entropy(h Wᵀ, target)."""
    h = h.detach().clone().requires_grad_()
    W = W.detach().clone().requires_grad_()
    loss = F.cross_entropy(h @ W.T, target, **options)
    loss.backward()
    return loss.detach(), h.grad, W.grad


def ours(h, W, target, **options):
    h = h.detach().clone().requires_grad_()
    W = W.detach().clone().requires_grad_()
    loss = scale.chunked_linear_cross_entropy(h, W, target, **options)
    loss.backward()
    return loss.detach(), h.grad, W.grad


def assert_same(got, expected):
    for a, b in zip(got, expected):
        if b.ndim == 0 and math.isnan(b):
            assert math.isnan(a)
        else:
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


@st.composite
def problems(draw):
    """h (N, D), W (V, D), targets with some ignored, and the options."""
    n, d, v = (draw(st.integers(1, k)) for k in (7, 4, 8))
    seed = draw(st.integers(0, 2**16))
    g = torch.Generator().manual_seed(seed)
    scale_ = draw(st.sampled_from([0.1, 1.0, 10.0]))
    h = torch.randn(n, d, generator=g, dtype=torch.float64) * scale_
    W = torch.randn(v, d, generator=g, dtype=torch.float64)
    target = torch.randint(0, v, (n,), generator=g)
    ignore_index = draw(st.sampled_from([-100, 0, -1, v]))
    ignored = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    target[torch.tensor(ignored)] = ignore_index
    options = {
        "ignore_index": ignore_index,
        "reduction": draw(st.sampled_from(["mean", "sum"])),
        "label_smoothing": draw(label_smoothings),
    }
    chunk_size = draw(st.one_of(st.none(), st.integers(1, n + 2)))
    return h, W, target, options, chunk_size


@given(problems())
def test_chunked_loss_and_both_gradients_equal_torch(problem):
    h, W, target, options, chunk_size = problem
    got = ours(h, W, target, chunk_size=chunk_size, **options)
    assert_same(got, reference(h, W, target, **options))


def test_every_target_ignored_gives_nan_mean_and_zero_gradients_as_torch():
    h, W = (
        torch.randn(3, 2, dtype=torch.float64),
        torch.randn(4, 2).double(),
    )
    target = torch.full((3,), -100)
    loss, grad_h, grad_W = ours(h, W, target, chunk_size=2)
    assert math.isnan(loss)
    assert not grad_h.any() and not grad_W.any()
    assert_same((loss, grad_h, grad_W), reference(h, W, target))


def test_the_incoming_gradient_scales_both_gradients():
    g = torch.Generator().manual_seed(1)
    h = torch.randn(5, 3, generator=g, dtype=torch.float64)
    W = torch.randn(6, 3, generator=g, dtype=torch.float64)
    target = torch.tensor([0, 5, 2, -100, 1])
    h1, W1 = h.clone().requires_grad_(), W.clone().requires_grad_()
    loss = scale.chunked_linear_cross_entropy(h1, W1, target, chunk_size=2)
    (0.25 * loss).backward(
        retain_graph=True
    )  # as with 4 accumulation steps
    loss.backward()  # a second backward through the same graph
    _, grad_h, grad_W = reference(h, W, target)
    np.testing.assert_allclose(h1.grad, 1.25 * grad_h, rtol=RTOL)
    np.testing.assert_allclose(W1.grad, 1.25 * grad_W, rtol=RTOL)


def test_float32_agrees_with_the_naive_loss_at_a_larger_vocabulary():
    g = torch.Generator().manual_seed(2)
    h = torch.randn(300, 16, generator=g)
    W = torch.randn(5000, 16, generator=g) / 4
    target = torch.randint(0, 5000, (300,), generator=g)
    got, expected = ours(h, W, target), reference(h, W, target)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_without_autograd_only_the_loss_is_computed():
    h, W = torch.randn(4, 3), torch.randn(5, 3)
    target = torch.tensor([1, 2, 3, 4])
    with torch.no_grad():
        loss = scale.chunked_linear_cross_entropy(h, W, target)
    assert not loss.requires_grad
    torch.testing.assert_close(loss, F.cross_entropy(h @ W.T, target))


def test_a_frozen_weight_gets_no_gradient_and_costs_none():
    g = torch.Generator().manual_seed(4)
    h = torch.randn(6, 3, generator=g, dtype=torch.float64)
    W = torch.randn(7, 3, generator=g, dtype=torch.float64)  # frozen
    target = torch.tensor([0, 6, 2, -100, 1, 1])
    h1 = h.clone().requires_grad_()
    loss = scale.chunked_linear_cross_entropy(h1, W, target, chunk_size=2)
    kept_h, kept_W = loss.grad_fn.saved_tensors
    assert kept_W is None  # no (V, D) gradient was made
    loss.backward()
    _, grad_h, _ = reference(h, W, target)
    np.testing.assert_allclose(h1.grad, grad_h, rtol=RTOL, atol=ATOL)
    assert W.grad is None


class LargestTensor(TorchDispatchMode):
    """The largest number of elements of any tensor an aten operation makes
    (backward operations of the autograd engine included)."""

    def __init__(self):
        super().__init__()
        self.numel = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                self.numel = max(self.numel, t.numel())
        return out


def test_no_tensor_is_larger_than_one_chunk_of_logits_or_the_gradients():
    n, d, v, chunk = 64, 3, 50, 8  # logits 3200; a chunk 400; W 150
    h = torch.randn(n, d, requires_grad=True)
    W = torch.randn(v, d, requires_grad=True)
    target = torch.randint(0, v, (n,))
    for mode in (LargestTensor(), scale.largest_tensor()):
        with mode:
            loss = scale.chunked_linear_cross_entropy(
                h, W, target, chunk_size=chunk, label_smoothing=0.1
            )
            loss.backward()
        assert mode.numel == chunk * v  # the chunk's logits, no more
    with LargestTensor() as naive_mode:
        F.cross_entropy(h @ W.T, target).backward()
    assert naive_mode.numel == n * v


def test_the_default_chunk_keeps_its_logits_below_half_the_gradients():
    for n, d, v in [(4096, 256, 32000), (4096, 256, 128256), (7, 3, 5)]:
        c = scale.default_chunk_size(n, d, v)
        assert 1 <= c <= n
        assert c * v <= 0.5 * (n + v) * d or c == 1


# ------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------


def args(**change):
    call = {
        "h": torch.randn(4, 3),
        "W": torch.randn(5, 3),
        "target": torch.tensor([0, 1, 4, -100]),
    }
    call.update(change)
    return call


ERRORS = [
    ({"h": [[1.0, 2.0]]}, TypeError, "h must be a torch.Tensor of shape"),
    ({"h": torch.randn(2, 4, 3)}, ValueError, "h must have shape (N, D)"),
    ({"W": torch.randn(15)}, ValueError, "W must have shape (V, D); got"),
    (
        {"h": torch.ones(4, 3, dtype=torch.long)},
        TypeError,
        "h must be a floating-point tensor; got dtype torch.int64",
    ),
    (
        {"W": torch.randn(5, 2)},
        ValueError,
        "W must have shape (V, D) = (V, 3) with V >= 1, matching h",
    ),
    (
        {"W": torch.randn(5, 3, dtype=torch.float64)},
        TypeError,
        "h and W must have one dtype and device",
    ),
    (
        {"target": torch.tensor([0.0, 1.0, 2.0, 3.0])},
        TypeError,
        "target holds class indices, so it must be an integer tensor",
    ),
    (
        {"target": torch.tensor([0, 1, 2])},
        ValueError,
        "target must have shape (4,), one class per row of h; got shape "
        "(3,)",
    ),
    (
        {"target": torch.tensor([0, 1, 5, 2])},
        ValueError,
        "target holds 5 at index 2; expected 0 <= target < 5",
    ),
    (
        {"target": torch.tensor([0, -3, 1, 2])},
        ValueError,
        "target holds -3 at index 1",
    ),
    ({"chunk_size": 0}, ValueError, "chunk_size must be a positive"),
    ({"chunk_size": 2.5}, TypeError, "chunk_size must be a positive int"),
    (
        {"reduction": "none"},
        ValueError,
        "reduction='none' is not supported by chunked_linear_cross_entropy",
    ),
    ({"reduction": "avg"}, ValueError, "reduction must be one of"),
    ({"label_smoothing": 1.5}, ValueError, "label_smoothing must be in"),
    ({"ignore_index": 0.5}, TypeError, "ignore_index must be an int"),
]


@pytest.mark.parametrize(
    "change, error, message", ERRORS, ids=[e[2][:40] for e in ERRORS]
)
def test_a_bad_argument_is_named(change, error, message):
    with pytest.raises(error) as raised:
        scale.chunked_linear_cross_entropy(**args(**change))
    assert message in str(raised.value)


# ------------------------------------------------------------------------
# Vocab-parallel: one rank in this process, then two spawned processes
# ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_rank():
    """A gloo process group of one rank, on 127.0.0.1."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(scale._free_port()),
        GLOO_SOCKET_IFNAME=scale._LOOPBACK,
    )
    dist.init_process_group("gloo", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


@pytest.mark.usefixtures("one_rank")
@given(problems())
def test_one_rank_holding_the_whole_vocabulary_gives_the_full_loss(problem):
    h, W, target, options, _ = problem
    if options.pop("label_smoothing"):
        return  # not an option of the vocab-parallel loss
    logits = (h @ W.T).requires_grad_()
    loss = scale.vocab_parallel_cross_entropy(
        logits, target, vocab_start=0, **options
    )
    loss.backward()
    expected = (h @ W.T).requires_grad_()
    F.cross_entropy(expected, target, **options).backward()
    theirs = F.cross_entropy(h @ W.T, target, **options)
    assert_same((loss.detach(), logits.grad), (theirs, expected.grad))


@pytest.mark.usefixtures("one_rank")
def test_a_target_no_rank_holds_is_refused():
    logits = torch.randn(3, 4)
    with pytest.raises(ValueError, match="target holds 7 at index 2"):
        scale.vocab_parallel_cross_entropy(
            logits, torch.tensor([0, 1, 7]), vocab_start=0
        )


@pytest.mark.usefixtures("one_rank")
def test_the_vocab_parallel_loss_refuses_reduction_none():
    with pytest.raises(ValueError, match="reduction='none' is not support"):
        scale.vocab_parallel_cross_entropy(
            torch.randn(2, 3),
            torch.tensor([0, 1]),
            vocab_start=0,
            reduction="none",
        )


def test_vocab_range_splits_the_classes_without_gaps():
    for v, ranks in [(10, 3), (11, 2), (128256, 8), (3, 4)]:
        ranges = [scale.vocab_range(v, r, ranks) for r in range(ranks)]
        assert ranges[0][0] == 0 and ranges[-1][1] == v
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))


@pytest.fixture(scope="module")
def two_ranks():
    """One spawned 2-process run: 11 classes split 6 + 5, 3 of 12 targets
    ignored (ignore_index=-1), float64."""
    return scale.run_vocab_parallel(
        2,
        n=12,
        d=5,
        v=11,
        ignore_index=-1,
        n_ignored=3,
        seed=3,
        timeout=120,
    )


def test_two_ranks_give_the_single_process_loss_and_gradients(two_ranks):
    run = two_ranks
    h = run.h.clone().requires_grad_()
    W = run.W.clone().requires_grad_()
    logits = h @ W.T
    logits.retain_grad()
    loss = F.cross_entropy(logits, run.target, ignore_index=-1)
    loss.backward()
    assert (run.target == -1).sum() == 3
    np.testing.assert_allclose(
        run.loss, [float(loss.detach())] * 2, rtol=RTOL
    )
    np.testing.assert_allclose(run.grad_logits, logits.grad, atol=ATOL)
    np.testing.assert_allclose(run.grad_W, W.grad, rtol=RTOL, atol=ATOL)
    for grad_h in run.grad_h:
        np.testing.assert_allclose(grad_h, h.grad, rtol=RTOL, atol=ATOL)


def test_three_all_reduces_forward_none_backward(two_ranks):
    for counts in two_ranks.all_reduces:
        assert counts == {
            "loss forward": 3,
            "loss backward": 0,
            "layer backward": 1,  # ∂L/∂h, summed over the ranks
        }


def test_torch_loss_parallel_agrees(two_ranks):
    run = two_ranks
    np.testing.assert_allclose(run.loss_parallel_loss, run.loss, rtol=RTOL)
    np.testing.assert_allclose(
        run.loss_parallel_grad_logits, run.grad_logits, atol=ATOL
    )


def test_a_run_past_its_timeout_stops_and_leaves_no_process():
    with pytest.raises(TimeoutError, match="did not finish within"):
        scale.run_vocab_parallel(2, timeout=0.05)
    assert multiprocessing.active_children() == []


VOCAB_PARALLEL_ERRORS = [
    (
        lambda: scale.vocab_parallel_cross_entropy(
            torch.randn(2, 3, 4), torch.tensor([0, 1]), vocab_start=0
        ),
        ValueError,
        "logits must have shape (N, V_r); got shape (2, 3, 4)",
    ),
    (
        lambda: scale.vocab_parallel_cross_entropy(
            torch.randn(2, 3), torch.tensor([0, 1]), vocab_start=1.0
        ),
        TypeError,
        "vocab_start must be an int; got 1.0",
    ),
    (
        lambda: scale.vocab_parallel_cross_entropy(
            torch.randn(2, 3), torch.tensor([0, 1, 2]), vocab_start=0
        ),
        ValueError,
        "target must have shape (2,), one class per row of logits",
    ),
    (
        lambda: scale.vocab_parallel_linear_cross_entropy(
            torch.randn(2, 3),
            torch.randn(5, 4),
            torch.tensor([0, 1]),
            vocab_start=0,
        ),
        ValueError,
        "W_shard must have shape (V_r, 3), matching h of shape (2, 3)",
    ),
]


@pytest.mark.parametrize(
    "call, error, message",
    VOCAB_PARALLEL_ERRORS,
    ids=[e[2][:40] for e in VOCAB_PARALLEL_ERRORS],
)
def test_a_bad_vocab_parallel_argument_is_named(call, error, message):
    with pytest.raises(error) as raised:
        call()  # refused before any communication: no process group needed
    assert message in str(raised.value)
