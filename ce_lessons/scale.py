r"""Cross-entropy when C is a vocabulary: chunked, and split over processes.

The only module of ce_lessons that imports torch (``import ce_lessons``
never imports it; use ``from ce_lessons import scale``). Chapter 8
explains this.

A language model's last layer turns hidden states h (N, D) into logits
h Wᵀ (N, V) with the output weight W (V, D). For V = 128,256 the logits of
a few thousand tokens take gigabytes, and autograd keeps them, their
log-softmax and their gradient. Two ways around that, both verified
against ``F.cross_entropy(h @ W.T, target)``:

* :func:`chunked_linear_cross_entropy` (one process) walks over the
  tokens c at a time. For each chunk it computes the logits, the loss and
  ch3's gradient p − y in place, multiplies it into ∂L/∂h and ∂L/∂W, and
  drops the chunk: at most one (c, V) block of logits exists at a time.
* :func:`vocab_parallel_cross_entropy` (``torch.distributed``) gives
  each process the logits of a slice of the vocabulary. The forward pass
  needs three all-reduces over the tokens (max, target logit, sum of
  exponentials); its backward needs none.
"""

from __future__ import annotations

import math
import os
import socket
import sys
import tempfile
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.overrides import TorchFunctionMode

from ._validate import (
    check_ignore_index,
    check_label_smoothing,
    check_reduction,
)

__all__ = [
    "VocabParallelRun",
    "chunked_linear_cross_entropy",
    "default_chunk_size",
    "largest_tensor",
    "run_vocab_parallel",
    "vocab_parallel_cross_entropy",
    "vocab_parallel_linear_cross_entropy",
    "vocab_range",
]


# ------------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------------


def _check_reduction(reduction, function):
    reduction = check_reduction(reduction)
    if reduction == "none":
        raise ValueError(
            f"reduction='none' is not supported by {function}: it "
            "computes the gradients during the forward pass, which needs "
            "one number to differentiate; use 'mean' or 'sum'"
        )
    return reduction


def _check_tensor(value, name, ndim, shape_text):
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape {shape_text}; "
            f"got {type(value).__name__}"
        )
    if value.ndim != ndim:
        raise ValueError(
            f"{name} must have shape {shape_text}; got shape "
            f"{tuple(value.shape)}"
        )
    return value


def _check_float(value, name):
    if not value.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor; got dtype "
            f"{value.dtype}"
        )


def _check_target(target, n, rows_of="h"):
    _check_tensor(target, "target", 1, f"({n},)")
    if target.is_floating_point() or target.dtype in (
        torch.bool,
        torch.complex64,
        torch.complex128,
    ):
        raise TypeError(
            "target holds class indices, so it must be an integer tensor; "
            f"got dtype {target.dtype}"
        )
    if target.shape[0] != n:
        raise ValueError(
            f"target must have shape ({n},), one class per row of "
            f"{rows_of}; "
            f"got shape {tuple(target.shape)}"
        )
    return target.long()


def _check_in_vocabulary(target, vocab_size, ignore_index):
    bad = (target != ignore_index) & ((target < 0) | (target >= vocab_size))
    if bool(bad.any()):
        where = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"target holds {int(target[where])} at index {where}; expected "
            f"0 <= target < {vocab_size} (the vocabulary size V) or "
            f"target == ignore_index ({ignore_index})"
        )


def _check_chunk_size(chunk_size):
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise TypeError(
            f"chunk_size must be a positive int or None; got {chunk_size!r}"
        )
    if chunk_size <= 0:
        raise ValueError(
            "chunk_size must be a positive number of rows; got "
            f"{chunk_size}"
        )
    return chunk_size


def default_chunk_size(n, d, v):
    """Rows per chunk when ``chunk_size=None``: the chunk's (c, V) logits
    hold 0.4 times as many numbers as the two gradients, (N + V)·D, so the
    peak memory stays within 1.5 times the gradients' own (1 <= c <= N).

    >>> default_chunk_size(4096, 256, 128_256)
    105
    """
    return max(1, min(n, 2 * (n + v) * d // (5 * v)))


class largest_tensor(TorchFunctionMode):
    """Watch every torch function called from Python in a ``with`` block
    and keep the largest number of elements of any tensor one returned
    (tensors made before the block do not count; neither do the C++
    autograd engine's own backward operations, which Python never sees).

    >>> with largest_tensor() as seen:
    ...     _ = torch.ones(3, 4) @ torch.ones(4, 5)
    >>> seen.numel
    20
    """

    def __init__(self):
        super().__init__()
        self.numel = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                self.numel = max(self.numel, t.numel())
        return out


# ------------------------------------------------------------------------
# Chunked linear cross-entropy (one process)
# ------------------------------------------------------------------------


def _chunk_loss_and_grad(logits, y, valid, eps, grad):
    """Per-token losses of one chunk; turn ``logits`` into p − q in place.

    logits (c, V) are overwritten: log p = log_softmax(x), then (if
    ``grad``) p − q with q = (1 − ε)·onehot(y) + ε/V, and 0 on ignored
    rows. No other (c, V) tensor is made.
    """
    safe = torch.where(valid, y, 0)
    x_mean = logits.mean(1) if eps else None
    x_y = logits.gather(1, safe[:, None]).squeeze(1)
    torch.log_softmax(logits, 1, out=logits)  # in place: x − lse(x)
    log_p_y = logits.gather(1, safe[:, None]).squeeze(1)
    loss = -(1.0 - eps) * log_p_y
    if eps:  # −mean_c log p_c = lse − mean_c x_c, and lse = x_y − log p_y
        loss = loss + eps * (x_y - log_p_y - x_mean)
    if grad:
        logits.exp_()  # p
        if eps:
            logits.sub_(eps / logits.shape[1])
        rows = torch.arange(len(y), device=logits.device)
        one = torch.full_like(log_p_y, 1.0 - eps)
        logits.index_put_((rows, safe), -one, accumulate=True)
        if not bool(valid.all()):
            logits[~valid] = 0.0  # ignored rows
    return torch.where(valid, loss, 0.0)


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    """cross_entropy(h Wᵀ, target), both gradients made in forward."""

    @staticmethod
    def forward(ctx, h, W, target, options):
        chunk, ignore_index, reduction, eps, want_h, want_W = options
        n, d = h.shape
        valid_all = target != ignore_index
        grad = want_h or want_W
        grad_h = h.new_empty((n, d)) if want_h else None
        grad_W = (
            torch.zeros_like(W, memory_format=torch.contiguous_format)
            if want_W
            else None
        )
        total = torch.zeros((), dtype=torch.float64, device=h.device)
        buffer = h.new_empty((min(chunk, n), W.shape[0]))  # the only (c, V)
        for start in range(0, n, chunk):
            rows = slice(start, start + chunk)
            h_c, valid = h[rows], valid_all[rows]
            logits = torch.mm(h_c, W.t(), out=buffer[: len(h_c)])
            loss = _chunk_loss_and_grad(
                logits, target[rows], valid, eps, grad
            )
            total += loss.sum(dtype=torch.float64)
            if want_h:
                torch.mm(logits, W, out=grad_h[rows])  # (p − q) W
            if want_W:
                grad_W.addmm_(logits.t(), h_c)  # (p − q)ᵀ h
        count = int(valid_all.sum())
        scale = 1.0
        if reduction == "mean":
            total = total / count if count else total * math.nan
            scale = 1.0 / count if count else 0.0  # as torch: 0, not nan
        for g in (grad_h, grad_W):
            if g is not None and scale != 1.0:
                g.mul_(scale)
        ctx.save_for_backward(grad_h, grad_W)
        return total.to(h.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        grads = ctx.saved_tensors  # None for an input that needs none
        if bool(grad_output == 1):  # the usual loss.backward(): no copy
            return *grads, None, None
        return (
            *(g if g is None else g * grad_output for g in grads),
            None,
            None,
        )


def chunked_linear_cross_entropy(
    h,
    W,
    target,
    *,
    chunk_size=None,
    ignore_index=-100,
    reduction="mean",
    label_smoothing=0.0,
):
    r"""``F.cross_entropy(h @ W.T, target)`` without the (N, V) logits.

    .. math::
        \ell_n = (1 - \varepsilon)\bigl(\operatorname{lse}(x_n)
                 - x_{n,y_n}\bigr)
               + \varepsilon\bigl(\operatorname{lse}(x_n) - \bar x_n\bigr),
        \qquad x_n = W h_n

    with lse the log-sum-exp over the V classes and x̄_n the mean logit;
    'mean' divides Σ ℓ_n by the number of targets that are not
    ``ignore_index`` (nan if there are none), 'sum' does not.

    The tokens are processed ``chunk_size`` rows at a time. For a chunk,
    the logits x = h_c Wᵀ (c, V) become ch3's gradient p − q in place, with
    q = (1 − ε)·onehot(y) + ε/V, which is multiplied into
    ∂L/∂h_c = (p − q) W and added to ∂L/∂W += (p − q)ᵀ h_c. Only the two
    gradients are kept for the backward pass, which scales them by the
    incoming gradient. ``chunk_size=None`` takes
    :func:`default_chunk_size`.

    Shapes: h (N, D) and W (V, D) floating point, of one dtype; target (N,)
    of class indices. Returns a 0-d tensor. Not supported: reduction
    'none', per-class weights, probability targets, second derivatives.

    >>> import torch
    >>> import torch.nn.functional as F
    >>> g = torch.Generator().manual_seed(0)
    >>> h = torch.randn(6, 4, generator=g, dtype=torch.float64)
    >>> W = torch.randn(10, 4, generator=g, dtype=torch.float64)
    >>> y = torch.tensor([1, 0, 9, -100, 3, 3])
    >>> ours = chunked_linear_cross_entropy(h, W, y, chunk_size=4)
    >>> bool(torch.isclose(ours, F.cross_entropy(h @ W.T, y)))
    True
    """
    _check_tensor(h, "h", 2, "(N, D)")
    _check_tensor(W, "W", 2, "(V, D)")
    _check_float(h, "h")
    _check_float(W, "W")
    n, d = h.shape
    if W.shape[1] != d or W.shape[0] == 0:
        raise ValueError(
            f"W must have shape (V, D) = (V, {d}) with V >= 1, matching h "
            f"of shape {tuple(h.shape)}; got shape {tuple(W.shape)}"
        )
    if W.dtype != h.dtype or W.device != h.device:
        raise TypeError(
            "h and W must have one dtype and device; got "
            f"{h.dtype} on {h.device} and {W.dtype} on {W.device}"
        )
    target = _check_target(target, n)
    ignore_index = check_ignore_index(ignore_index)
    _check_in_vocabulary(target, W.shape[0], ignore_index)
    reduction = _check_reduction(reduction, "chunked_linear_cross_entropy")
    eps = check_label_smoothing(label_smoothing)
    if chunk_size is None:
        chunk_size = default_chunk_size(n, d, W.shape[0])
    chunk = _check_chunk_size(chunk_size)
    grad = torch.is_grad_enabled()
    want_h, want_W = grad and h.requires_grad, grad and W.requires_grad
    options = (chunk, ignore_index, reduction, eps, want_h, want_W)
    return _ChunkedLinearCrossEntropy.apply(h, W, target, options)


# ------------------------------------------------------------------------
# Vocab-parallel cross-entropy (torch.distributed)
# ------------------------------------------------------------------------


def vocab_range(vocab_size, rank, world_size):
    """The classes [start, stop) that ``rank`` holds: equal slices, the
    last one shorter when V is not a multiple of the number of ranks.

    >>> [vocab_range(10, r, 3) for r in range(3)]
    [(0, 4), (4, 8), (8, 10)]
    """
    per_rank = -(-vocab_size // world_size)
    start = min(rank * per_rank, vocab_size)
    return start, min(start + per_rank, vocab_size)


class _VocabParallelCrossEntropy(torch.autograd.Function):
    """Forward: three all-reduces over the tokens. Backward: none."""

    @staticmethod
    def forward(
        ctx, logits, target, vocab_start, ignore_index, mean, group
    ):
        valid = target != ignore_index
        local = target - vocab_start
        mine = valid & (local >= 0) & (local < logits.shape[1])
        # 1. the largest logit of each token, over every rank's slice
        m = logits.amax(1)
        dist.all_reduce(m, dist.ReduceOp.MAX, group=group)
        # 2. the target's logit, from the one rank that holds it (and a
        #    count of owners, to catch targets outside the vocabulary)
        safe = torch.where(mine, local, 0)
        x_y = logits.gather(1, safe[:, None]).squeeze(1)
        found = torch.stack([torch.where(mine, x_y, 0.0), mine.to(m.dtype)])
        dist.all_reduce(found, dist.ReduceOp.SUM, group=group)
        x_y, owners = found
        # 3. the sum of the exponentials, shifted by the global max
        e = (logits - m[:, None]).exp_()
        s = e.sum(1)
        dist.all_reduce(s, dist.ReduceOp.SUM, group=group)
        if bool((valid & (owners != 1)).any()):
            bad = int((valid & (owners != 1)).nonzero()[0, 0])
            raise ValueError(
                f"target holds {int(target[bad])} at index {bad}, which no "
                "rank's vocabulary slice holds; expected 0 <= target < V "
                f"or target == ignore_index ({ignore_index})"
            )
        loss = torch.where(valid, s.log() + m - x_y, 0.0).sum()
        count = int(valid.sum())
        scale = (1.0 / count if count else 0.0) if mean else 1.0
        if mean:
            loss = loss / count if count else loss * math.nan
        # the gradient of this rank's logits, p − onehot(y), kept for later
        p = e.div_(s[:, None])
        rows = mine.nonzero().squeeze(1)
        p[rows, local[rows]] -= 1.0
        p.mul_(valid[:, None]).mul_(scale)
        ctx.save_for_backward(p)
        return loss

    @staticmethod
    def backward(ctx, grad_output):
        (grad,) = ctx.saved_tensors
        return grad * grad_output, None, None, None, None, None


def vocab_parallel_cross_entropy(
    logits,
    target,
    *,
    vocab_start,
    ignore_index=-100,
    reduction="mean",
    group=None,
):
    r"""Cross-entropy when each rank holds a slice of the logits' columns.

    This rank holds ``logits`` (N, V_r): columns [vocab_start,
    vocab_start + V_r) of the full (N, V) logits, which no rank holds.
    Every rank has the same ``target`` (N,) and gets the same loss:

    .. math::
        \ell_n = \log \sum_{r} \sum_{c \in r} e^{x_{n,c} - m_n} + m_n
                 - x_{n,y_n},
        \qquad m_n = \max_r \max_{c \in r} x_{n,c}

    computed with three all-reduces of N numbers each: MAX of the local
    maxima m_n, SUM of the target logit (only its owner contributes a
    non-zero), SUM of the local sums of exponentials. The backward pass
    needs no communication: this rank's gradient is its own columns of
    p − onehot(y), divided by the number of counted targets for 'mean'.

    Must be called on every rank of ``group`` (``None``: the default
    process group) with the same target. Reductions 'mean' and 'sum'.
    Chapter 8 runs it on 2 processes (see :func:`run_vocab_parallel`);
    with one rank it is the ordinary loss:

    >>> import torch.nn.functional as F
    >>> store = dist.HashStore()
    >>> dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    >>> x, y = torch.tensor([[2.0, 0.5, -1.0]]), torch.tensor([0])
    >>> loss = vocab_parallel_cross_entropy(x, y, vocab_start=0)
    >>> bool(torch.isclose(loss, F.cross_entropy(x, y)))
    True
    >>> dist.destroy_process_group()
    """
    _check_tensor(logits, "logits", 2, "(N, V_r)")
    _check_float(logits, "logits")
    target = _check_target(target, logits.shape[0], "logits")
    ignore_index = check_ignore_index(ignore_index)
    reduction = _check_reduction(reduction, "vocab_parallel_cross_entropy")
    if isinstance(vocab_start, bool) or not isinstance(vocab_start, int):
        raise TypeError(f"vocab_start must be an int; got {vocab_start!r}")
    return _VocabParallelCrossEntropy.apply(
        logits,
        target,
        vocab_start,
        ignore_index,
        reduction == "mean",
        group,
    )


class _CopyToVocabParallel(torch.autograd.Function):
    """h enters every rank's slice of the output layer: the identity
    forward; backward, each rank's ∂L/∂h covers its slice only, so they
    are summed (one all-reduce of N·D numbers, the linear layer's)."""

    @staticmethod
    def forward(ctx, h, group):
        ctx.group = group
        return h.view_as(h)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad, dist.ReduceOp.SUM, group=ctx.group)
        return grad, None


def vocab_parallel_linear_cross_entropy(
    h,
    W_shard,
    target,
    *,
    vocab_start,
    ignore_index=-100,
    reduction="mean",
    group=None,
):
    """``F.cross_entropy(h @ W.T, target)`` with W's rows split by rank.

    This rank holds ``W_shard`` (V_r, D), rows [vocab_start, vocab_start
    + V_r) of W (V, D); h (N, D) and target (N,) are the same on every
    rank. The logits of the slice, h W_shardᵀ (N, V_r), go to
    :func:`vocab_parallel_cross_entropy`. ∂L/∂W_shard needs no
    communication; ∂L/∂h is summed over the ranks by one all-reduce, as in
    Megatron-LM's column-parallel linear layer. Chapter 8 explains this.

    >>> store = dist.HashStore()
    >>> dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    >>> h, W = torch.ones(2, 3), torch.eye(4, 3)  # one rank: all of W
    >>> y = torch.tensor([0, -100])
    >>> loss = vocab_parallel_linear_cross_entropy(h, W, y, vocab_start=0)
    >>> round(loss.item(), 4)  # logits (1, 1, 1, 0): log(3 + e^-1)
    1.2143
    >>> dist.destroy_process_group()
    """
    _check_tensor(h, "h", 2, "(N, D)")
    _check_tensor(W_shard, "W_shard", 2, "(V_r, D)")
    if W_shard.shape[1] != h.shape[1]:
        raise ValueError(
            f"W_shard must have shape (V_r, {h.shape[1]}), matching h of "
            f"shape {tuple(h.shape)}; got shape {tuple(W_shard.shape)}"
        )
    logits = _CopyToVocabParallel.apply(h, group) @ W_shard.t()
    return vocab_parallel_cross_entropy(
        logits,
        target,
        vocab_start=vocab_start,
        ignore_index=ignore_index,
        reduction=reduction,
        group=group,
    )


# ------------------------------------------------------------------------
# Running it: processes on this machine, gloo over the loopback interface
# ------------------------------------------------------------------------


@dataclass
class VocabParallelRun:
    """What :func:`run_vocab_parallel` brings back from its ranks.

    ``h``, ``W`` and ``target`` are the problem; ``loss`` holds each
    rank's loss; ``grad_logits`` and ``grad_W`` are the ranks' slices put
    side by side; ``grad_h`` is each rank's ∂L/∂h after the all-reduce;
    ``all_reduces`` counts each rank's calls in the loss's forward pass,
    the loss's backward pass and the whole backward pass; the
    ``loss_parallel_*`` fields are the same numbers from torch's
    ``loss_parallel`` on a CPU device mesh.
    """

    h: torch.Tensor
    W: torch.Tensor
    target: torch.Tensor
    ignore_index: int
    loss: list
    grad_logits: torch.Tensor
    grad_W: torch.Tensor
    grad_h: list
    all_reduces: list
    loss_parallel_loss: list
    loss_parallel_grad_logits: torch.Tensor


_LOOPBACK = "lo0" if sys.platform == "darwin" else "lo"  # the interface


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_vocab_parallel(
    world_size=2,
    *,
    n=8,
    d=4,
    v=10,
    ignore_index=-100,
    n_ignored=2,
    seed=0,
    timeout=60.0,
):
    """Spawn ``world_size`` processes (gloo, 127.0.0.1) that compute the
    vocab-parallel loss and gradients of one float64 problem.

    The problem: h (n, d) and W (v, d) standard normal, n targets of which
    ``n_ignored`` are ``ignore_index``. Each rank takes its
    :func:`vocab_range` of W, runs
    :func:`vocab_parallel_linear_cross_entropy`
    and torch's ``loss_parallel``, and writes its numbers to a temporary
    folder. The processes are stopped if they take longer than
    ``timeout`` seconds (then ``TimeoutError``). Returns a
    :class:`VocabParallelRun`. From a script, call it under
    ``if __name__ == "__main__":`` (each spawned process imports the
    script that started it). Chapter 8 explains this.

    >>> run = run_vocab_parallel(2, n=4, d=3, v=6, n_ignored=1)
    >>> run.all_reduces[0]
    {'loss forward': 3, 'loss backward': 0, 'layer backward': 1}
    >>> run.loss[0] == run.loss[1]
    True
    """
    import torch.multiprocessing as mp

    from . import _scale_workers

    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, d, generator=g, dtype=torch.float64)
    W = torch.randn(v, d, generator=g, dtype=torch.float64)
    target = torch.randint(0, v, (n,), generator=g)
    target[torch.randperm(n, generator=g)[:n_ignored]] = ignore_index
    problem = {
        "h": h,
        "W": W,
        "target": target,
        "ignore_index": ignore_index,
    }
    with tempfile.TemporaryDirectory() as folder:
        env = {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(_free_port()),
            "GLOO_SOCKET_IFNAME": _LOOPBACK,
        }
        old = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            context = mp.spawn(
                _scale_workers.vocab_parallel_worker,
                args=(world_size, problem, folder, timeout),
                nprocs=world_size,
                join=False,
            )
            _join(context, timeout)
        finally:
            for key, value in old.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        ranks = [
            torch.load(os.path.join(folder, f"rank{r}.pt"))
            for r in range(world_size)
        ]
    return VocabParallelRun(
        h=h,
        W=W,
        target=target,
        ignore_index=ignore_index,
        loss=[r["loss"] for r in ranks],
        grad_logits=torch.cat([r["grad_logits"] for r in ranks], 1),
        grad_W=torch.cat([r["grad_W"] for r in ranks], 0),
        grad_h=[r["grad_h"] for r in ranks],
        all_reduces=[r["all_reduces"] for r in ranks],
        loss_parallel_loss=[r["loss_parallel_loss"] for r in ranks],
        loss_parallel_grad_logits=torch.cat(
            [r["loss_parallel_grad_logits"] for r in ranks], 1
        ),
    )


def _join(context, timeout):
    """Wait for every spawned process; stop them all past ``timeout``."""
    deadline = time.monotonic() + timeout
    try:
        while not context.join(timeout=0.1):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the ranks did not finish within {timeout} s"
                )
    finally:
        for process in context.processes:
            if process.is_alive():
                process.terminate()
                process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
