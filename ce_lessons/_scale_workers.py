"""What each spawned rank of :func:`ce_lessons.scale.run_vocab_parallel`
runs (private: a spawned process imports its target function by name, so
it lives in a module, not in a notebook cell).
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.nn.functional as F

from . import scale


class _AllReduceCounter:
    """Counts the calls of ``torch.distributed.all_reduce`` in a block."""

    def __init__(self):
        self.calls = 0

    def __enter__(self):
        self.original = dist.all_reduce

        def counting(*args, **kwargs):
            self.calls += 1
            return self.original(*args, **kwargs)

        dist.all_reduce = counting
        return self

    def __exit__(self, *exc):
        dist.all_reduce = self.original


def vocab_parallel_worker(rank, world_size, problem, folder, timeout):
    dist.init_process_group(
        "gloo",
        rank=rank,
        world_size=world_size,
        timeout=timedelta(seconds=timeout),
    )
    try:
        result = _vocab_parallel_rank(rank, world_size, problem)
        torch.save(result, os.path.join(folder, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _vocab_parallel_rank(rank, world_size, problem):
    h, W, target = problem["h"], problem["W"], problem["target"]
    ignore_index = problem["ignore_index"]
    start, stop = scale.vocab_range(W.shape[0], rank, world_size)
    counts = {}

    # the loss alone, on this rank's logits: its forward and its backward
    logits = (h @ W[start:stop].t()).requires_grad_()
    with _AllReduceCounter() as forward:
        loss = scale.vocab_parallel_cross_entropy(
            logits, target, vocab_start=start, ignore_index=ignore_index
        )
    with _AllReduceCounter() as backward:
        loss.backward()
    counts["loss forward"] = forward.calls
    counts["loss backward"] = backward.calls

    # the whole output layer: gradients of h and of this rank's rows of W
    h_leaf = h.clone().requires_grad_()
    W_shard = W[start:stop].clone().requires_grad_()
    loss_layer = scale.vocab_parallel_linear_cross_entropy(
        h_leaf,
        W_shard,
        target,
        vocab_start=start,
        ignore_index=ignore_index,
    )
    with _AllReduceCounter() as layer_backward:
        loss_layer.backward()
    counts["layer backward"] = layer_backward.calls

    theirs, their_grad = _torch_loss_parallel(
        h @ W[start:stop].t(), target, ignore_index, W.shape[0], world_size
    )
    return {
        "loss": float(loss.detach()),
        "layer_loss": float(loss_layer.detach()),
        "grad_logits": logits.grad,
        "grad_W": W_shard.grad,
        "grad_h": h_leaf.grad,
        "all_reduces": counts,
        "loss_parallel_loss": theirs,
        "loss_parallel_grad_logits": their_grad,
    }


def _torch_loss_parallel(local_logits, target, ignore_index, v, world_size):
    """torch's own vocab-parallel loss: a DTensor sharded on the classes."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, Shard
    from torch.distributed.tensor.parallel import loss_parallel

    mesh = init_device_mesh("cpu", (world_size,))
    local = local_logits.detach().requires_grad_()
    logits = DTensor.from_local(
        local, mesh, [Shard(1)], shape=(len(target), v), stride=(v, 1)
    )
    with loss_parallel():
        loss = F.cross_entropy(logits, target, ignore_index=ignore_index)
        loss.backward()
    return float(loss.full_tensor().detach()), local.grad
