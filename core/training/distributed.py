"""Data-parallel training on PyTorch's own engine: ``torch.distributed`` + ``DistributedDataParallel``,
launched by ``torchrun`` (or ``python -m torch.distributed.run``).

    torchrun --nproc_per_node N -m core train --method dann ... --batch-size 256

Each of the N processes (ranks) runs the same engine on its own device (CPU cores: backend
``gloo``; one GPU per rank: ``nccl``, GPU ``LOCAL_RANK``). What ``--batch-size B`` means is the
same as in one process — the **global** batch per domain: each step trains on B source + B target
pictures in all. Every rank draws the same global index batch from the run's seed and keeps its
contiguous slice of b = B / N (:func:`core.data.feed.shard`), so the ranks' shards partition each
global batch; a world size that does not divide B is refused. Each rank computes the method's loss
on its b + b pictures; DDP averages the gradients over the ranks while they are computed, so all
ranks take the same optimiser step. For a loss that is a mean over pictures (cross-entropy,
DANN's domain loss, distillation, self-training's masked mean) the step equals the one-process
step on the same B + B pictures, up to floating-point summation order. Terms that couple the
pictures of a batch are computed within each shard: MMD's kernel statistic over b + b pictures,
BatchNorm statistics (per-rank, as DDP does by default; running statistics are rank 0's).

Only rank 0 evaluates, writes the checkpoint and prints (the progress bar and the one JSON line,
with ``world_size``); the loss values every rank logs are the mean over the ranks.

Methods that override :meth:`~core.methods.Method.train_step` with several optimisers/players
(ADDA: a source pre-training stage, then a discriminator and a target encoder trained in turn) are
refused under DDP with one line: wrapping each player in its own DDP module and keeping the
stages in lockstep is not implemented. Methods whose step runs through the default ``train_step``
(one loss, one optimiser) — however data-dependent their loss is, as long as every parameter gets
a gradient each step — work.

Multi-node: run the same command on every machine with torchrun's rendezvous flags, e.g.
``torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:29400
--rdzv_id run1 -m core train ...`` (see docs/scale.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    """Where this process stands: ``rank`` of ``size`` processes, ``local_rank`` on its machine."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def main(self) -> bool:
        """Whether this process evaluates, saves and prints (rank 0)."""
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.size > 1


SINGLE = World()


def launched() -> bool:
    """Whether torchrun started this process as one of several (``WORLD_SIZE`` > 1 in the environment)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def current() -> World:
    """The world of an initialised process group, else a single process."""
    if not (dist.is_available() and dist.is_initialized()):
        return SINGLE
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), dist.get_backend())


def init(device: str = "auto") -> World:
    """Join the process group torchrun set up (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``PORT`` or a
    rendezvous in the environment): ``nccl`` when training on CUDA (one GPU per local rank), else
    ``gloo``. A single process (no torchrun) gets :data:`SINGLE` and nothing is initialised."""
    if not launched():
        return SINGLE
    if dist.is_initialized():
        return current()
    from ..util.device import resolve_device

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    on_cuda = resolve_device(device).type == "cuda"
    if on_cuda:
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"local rank {local_rank} has no GPU (this machine has {torch.cuda.device_count()}); "
                             "use --nproc_per_node ≤ the number of GPUs")
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if on_cuda else "gloo")
    return current()


def shutdown(wait: bool = True) -> None:
    """Wait for every rank (unless ``wait`` is False: after an error), then leave the process group
    (no-op in a single process)."""
    if dist.is_available() and dist.is_initialized():
        try:
            if wait:
                dist.barrier()
        finally:
            dist.destroy_process_group()


def device_for(device: torch.device, world: World) -> torch.device:
    """The training device of this rank: ``cuda:LOCAL_RANK`` under DDP on CUDA, else ``device``."""
    if world.parallel and device.type == "cuda":
        return torch.device("cuda", world.local_rank)
    return device


def check_batch(batch_size: int, world: World) -> None:
    """One clear line when the global batch cannot be split evenly over the ranks."""
    if world.parallel and batch_size % world.size:
        raise ValueError(f"--batch-size {batch_size} is the global batch per domain and must be divisible by the "
                         f"world size {world.size} (each rank trains on batch_size / world_size); "
                         f"try {max(world.size, batch_size // world.size * world.size)}")


def check_method(method_cls, world: World) -> None:
    """Refuse, with one line, a method whose step DDP cannot wrap (its own ``train_step``: several
    optimisers/players or stages)."""
    from ..methods import Method

    if world.parallel and method_cls.train_step is not Method.train_step:
        raise ValueError(f"method {method_cls.name!r} cannot train data-parallel: its step drives several "
                         "optimisers/players itself, which DDP does not wrap here; run it in one process "
                         "(without torchrun)")


class _LossModule(nn.Module):
    """The method's trainable modules as one module whose forward is the method's loss, so that
    ``DistributedDataParallel`` sees every parameter the loss trains (model, discriminator, heads)."""

    def __init__(self, method):
        super().__init__()
        self.parts = nn.ModuleList(method.trainable_modules())
        self._loss = method.loss  # the method's own (bound) loss

    def forward(self, batch, progress):
        return self._loss(batch, progress)


def wrap(method, world: World):
    """Under DDP, route ``method.loss`` through ``DistributedDataParallel`` (gradients averaged over
    the ranks during backward, parameters broadcast from rank 0 once); no-op in one process.
    Returns the method."""
    if not world.parallel:
        return method
    from torch.nn.parallel import DistributedDataParallel as DDP

    module = _LossModule(method)
    device = next(module.parameters()).device
    method.loss = DDP(module, device_ids=[device.index] if device.type == "cuda" else None,
                      find_unused_parameters=False)  # buffers follow rank 0 (the default)
    return method


def all_mean(values: torch.Tensor, world: World) -> torch.Tensor:
    """The element-wise mean of ``values`` over the ranks (the tensor itself in one process)."""
    if not world.parallel:
        return values
    out = values.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / world.size
