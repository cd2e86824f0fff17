"""Feeds: where each training step's source and target batches come from.

The engine asks one question per step, ``xs, ys, xt, yt, ds = feed.next()`` (float images in [0, 1]
on the training device, (b, 3, S, S), their labels, and the source ids of a multi-source resident
split or None), and does not care whether the pictures
live in memory or on disk:

* :class:`ResidentFeed` — today's fast path: whole splits held as uint8 tensors on the device,
  each batch a gather by random indices (:class:`core.data.sampling.IndexSampler`).
* :class:`StreamFeed` — for data that does not fit: a split whose pictures stay on disk
  (:class:`core.data.lazy.FileImages`) is read by a ``torch.utils.data.DataLoader`` whose worker
  processes decode through the same ingest door as the resident path, and a named domain resized
  beyond the budget (:class:`core.data.lazy.ResizedImages`) is resized on the device batch by batch.

Which splits stream is decided by :func:`core.data.run_domains.load_run_domains`.

Both feeds draw the *same* index batches from the run's generator, in the same order (source then
target, once per step), so a streamed run and a resident run of the same seed see the same
pictures in the same steps. Under data-parallel training (:mod:`core.training.distributed`) every rank
draws the same *global* batch of ``batch_size`` indices and keeps its own contiguous slice of
``batch_size / world_size``: the ranks' shards partition each global batch.

Unreadable files are found only when a streamed split first reads them: in a training batch such
a picture is replaced by another picture of the same batch (with its label, so the batch keeps its
shape); evaluation leaves it out; either way it is listed in the domain's ``skipped``.

>>> import torch
>>> x = torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8); y = torch.arange(10)
>>> feed = ResidentFeed((x, y), (x, y), 4, torch.device("cpu"), torch.Generator().manual_seed(0))
>>> [t.shape[0] for t in feed.next()[:4]]
[4, 4, 4, 4]
"""

from __future__ import annotations

import collections

import torch

from .lazy import FileImages, FileItems, ResizedImages, default_workers, is_lazy
from ..util.modes import unit_float
from .sampling import IndexSampler

def shard(indices: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Rank ``rank``'s contiguous slice of a global index batch (``len(indices) / world_size`` of them).

    >>> shard(torch.arange(8), 1, 2)
    tensor([4, 5, 6, 7])
    """
    if world_size == 1:
        return indices
    b = len(indices) // world_size
    return indices[rank * b:(rank + 1) * b]


class ResidentFeed:
    """Whole splits on ``device`` as uint8; each :meth:`next` gathers a random batch of each.

    ``source`` / ``target``: (images uint8 (N, 3, S, S), labels (N,)). ``batch_size`` is the global
    batch per domain; with ``rank``/``world_size`` each call returns this rank's shard of it.
    """

    resident = True

    def __init__(self, source, target, batch_size: int, device: torch.device, generator: torch.Generator,
                 memory_format=torch.contiguous_format, rank: int = 0, world_size: int = 1,
                 source_domains: torch.Tensor | None = None):
        put = lambda x: x.to(device).contiguous(memory_format=memory_format)  # noqa: E731
        self.source = put(source[0]), source[1].to(device)
        self.source_domains = source_domains.to(device) if source_domains is not None else None
        self.target = put(target[0]), target[1].to(device)
        self.rank, self.world_size = rank, world_size
        self.source_idx = IndexSampler(len(source[1]), batch_size, device, generator)
        self.target_idx = IndexSampler(len(target[1]), batch_size, device, generator)

    def next(self):
        i = shard(self.source_idx.next(), self.rank, self.world_size)
        j = shard(self.target_idx.next(), self.rank, self.world_size)
        (xs, ys), (xt, yt) = self.source, self.target
        ds = self.source_domains[i] if self.source_domains is not None else None
        return unit_float(xs[i]), ys[i], unit_float(xt[j]), yt[j], ds

    def close(self) -> None:
        pass

    def describe(self) -> dict:
        return {"feed": "resident"}


class _IndexPlan:
    """Global index batches drawn in the resident order (source, target, source, target, …) from
    one generator, handed out per side as each side's loader asks — a DataLoader prefetches ahead,
    so the side that runs ahead takes pairs early and the other side's halves wait in a queue."""

    def __init__(self, samplers: list[IndexSampler], rank: int, world_size: int):
        self.samplers, self.rank, self.world_size = samplers, rank, world_size
        self.queues = [collections.deque(), collections.deque()]

    def take(self, side: int) -> list[int]:
        if not self.queues[side]:
            for q, sampler in zip(self.queues, self.samplers):
                q.append(shard(sampler.next(), self.rank, self.world_size).tolist())
        return self.queues[side].popleft()


class _PlanSampler:
    """A DataLoader batch sampler that never ends: each batch is the plan's next one for ``side``."""

    def __init__(self, plan: _IndexPlan, side: int):
        self.plan, self.side = plan, side

    def __iter__(self):
        while True:
            yield self.plan.take(self.side)


def _collate(items):
    """Stack the readable pictures; an unreadable one becomes a copy of the batch's first readable
    picture (with its label), so the batch keeps its size. Returns (x uint8, y, [(name, why)], n_ok)."""
    good = [k for k, it in enumerate(items) if it[0] is not None]
    bad = [it[2] for it in items if it[0] is None]
    if not good:
        return None, None, bad, 0
    fill = [k if items[k][0] is not None else good[0] for k in range(len(items))]
    x = torch.stack([items[k][0] for k in fill])
    y = torch.tensor([items[k][1] for k in fill], dtype=torch.long)
    return x, y, bad, len(good)


#: Allocations at least this large get their own memory map, returned to the system when freed.
MMAP_THRESHOLD = 1 << 20


def limit_heap_growth() -> bool:
    """Pin glibc's mmap threshold at :data:`MMAP_THRESHOLD` for this process (and the DataLoader
    workers it forks). Why: glibc raises the threshold dynamically (up to 32 MB) once a large block
    is freed, after which every batch-sized buffer comes from the heap; with streamed batches of
    photos, small long-lived allocations land above those buffers and the heap only grows —
    measured: +1.3 GB of resident memory in 40 steps of 64 pictures at 160 px, and none with the
    threshold pinned. Returns whether it could be set (glibc only; elsewhere a no-op)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(-3, MMAP_THRESHOLD))  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False


class StreamFeed:
    """Source and target batches where at least one side is lazy (:class:`FileImages` read by a
    DataLoader with ``workers`` processes, or :class:`ResizedImages` resized on the device); a
    resident side is gathered as :class:`ResidentFeed` does. Same index batches as ResidentFeed."""

    resident = False

    def __init__(self, source, target, batch_size: int, device: torch.device, generator: torch.Generator,
                 memory_format=torch.contiguous_format, rank: int = 0, world_size: int = 1,
                 workers: int | None = None, skipped: tuple[dict, dict] | None = None):
        self.device, self.memory_format = device, memory_format
        self.bounded_heap = limit_heap_growth()  # before the workers fork: they inherit it
        sides = [source, target]
        n_files = sum(isinstance(s[0], FileImages) for s in sides)
        self.workers = default_workers(world_size, max(1, n_files)) if workers is None else int(workers)
        cpu = torch.device("cpu")
        samplers = [IndexSampler(len(s[1]), batch_size, cpu, generator) for s in sides]
        self.plan = _IndexPlan(samplers, rank, world_size)
        self.skipped = skipped or ({}, {})
        self.sides, self.kinds = [], []
        for k, (images, labels) in enumerate(sides):
            if isinstance(images, FileImages):
                loader = torch.utils.data.DataLoader(
                    FileItems(images, labels), batch_sampler=_PlanSampler(self.plan, k), num_workers=self.workers,
                    collate_fn=_collate, pin_memory=device.type == "cuda",
                    prefetch_factor=4 if self.workers else None, persistent_workers=False)
                self.sides.append(iter(loader))
                self.kinds.append("stream")
            elif isinstance(images, ResizedImages):
                self.sides.append((images.base.to(device), labels.to(device), images.size))
                self.kinds.append("resized")
            else:
                self.sides.append((images.to(device).contiguous(memory_format=memory_format), labels.to(device)))
                self.kinds.append("resident")

    def _side(self, k: int):
        side, kind = self.sides[k], self.kinds[k]
        if kind == "stream":
            x, y, bad, n_ok = next(side)
            for name, why in bad:
                self.skipped[k][name] = why
            if x is None:
                raise RuntimeError(f"no picture of a {('source', 'target')[k]} batch could be read "
                                   f"(e.g. {bad[0][0]}: {bad[0][1]})")
            x = x.to(self.device, non_blocking=True)
            return unit_float(x).contiguous(memory_format=self.memory_format), y.to(self.device, non_blocking=True)
        idx = torch.as_tensor(self.plan.take(k), dtype=torch.long, device=self.device)
        if kind == "resized":
            base, labels, size = side
            x = ResizedImages.resize(base[idx], size)
            return unit_float(x).contiguous(memory_format=self.memory_format), labels[idx]
        images, labels = side
        return unit_float(images[idx]), labels[idx]

    #: a streamed multi-source split does not carry which source each picture came from; methods
    #: that use it treat the batch as one domain (see :class:`~core.methods.Batch`)
    source_domains = None

    def next(self):
        xs, ys = self._side(0)
        xt, yt = self._side(1)
        return xs, ys, xt, yt, None

    def close(self) -> None:
        """Stop the worker processes (also happens when the feed is garbage-collected)."""
        for k, side in enumerate(self.sides):
            if self.kinds[k] == "stream" and hasattr(side, "_shutdown_workers"):
                side._shutdown_workers()

    def describe(self) -> dict:
        return {"feed": "stream", "sides": {"source": self.kinds[0], "target": self.kinds[1]},
                "workers_per_streamed_split": self.workers, "bounded_heap": self.bounded_heap}


def make_feed(source, target, batch_size: int, device: torch.device, generator: torch.Generator,
              memory_format=torch.contiguous_format, rank: int = 0, world_size: int = 1,
              workers: int | None = None, skipped: tuple[dict, dict] | None = None,
              source_domains: torch.Tensor | None = None):
    """A :class:`ResidentFeed` when both ``source`` and ``target`` ((images, labels)) are tensors,
    else a :class:`StreamFeed`. ``source_domains``: (N,) source ids of a multi-source split (resident
    feeds hand each batch's out as the fifth value of :meth:`next`)."""
    if not is_lazy(source[0]) and not is_lazy(target[0]):
        return ResidentFeed(source, target, batch_size, device, generator, memory_format, rank, world_size,
                            source_domains)
    return StreamFeed(source, target, batch_size, device, generator, memory_format, rank, world_size,
                      workers, skipped)


