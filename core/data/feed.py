"""Feeds: where each training step's source and target batches come from.

The engine asks one question per step, ``xs, ys, xt, yt, ds = feed.next()`` (float images in [0, 1]
on the training device, (b, 3, S, S), their labels, and the source ids of a multi-source resident
split or None), and does not care whether the pictures
live in memory or on disk:

* :class:`ResidentFeed` — today's fast path: whole splits held as uint8 tensors on the device,
  each batch a gather by random indices (:class:`core.sampling.IndexSampler`).
* :class:`StreamFeed` — for data that does not fit: a split whose pictures stay on disk is a
  :class:`FileImages` (a lazy (N, 3, S, S) uint8 view over the files), read by a
  ``torch.utils.data.DataLoader`` whose worker processes decode through the same ingest door as
  the resident path (:func:`core.imageio.read_image` → :func:`core.imageio.image_to_tensor` →
  uint8), so a picture is the same tensor either way. A named domain resized beyond the budget
  (CIFAR at 224 px) is a :class:`ResizedImages`: kept at its own size, each batch resized on the
  device with the very interpolation :func:`core.data.load_domain` applies to a whole split.

Which splits stream is decided by :func:`load_run_domains`: ``data="resident"`` keeps all in
memory, ``"stream"`` streams every folder/zip split (and every resized named one), ``"auto"``
streams the largest of those until the decoded bytes left resident fit ``budget_mb``. The card
records the outcome (``card["data"]``).

Both feeds draw the *same* index batches from the run's generator, in the same order (source then
target, once per step), so a streamed run and a resident run of the same seed see the same
pictures in the same steps. Under data-parallel training (:mod:`core.distributed`) every rank
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
import math
import zipfile
import zlib
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..sampling import IndexSampler, unit_float

#: Files a streamed folder or zip may hold (the resident path stops at core.data.folder.MAX_FILES).
MAX_STREAM_FILES = 5_000_000


def decoded_bytes(n: int, size: int) -> int:
    """Bytes ``n`` pictures take resident: uint8 (n, 3, size, size)."""
    return int(n) * 3 * int(size) * int(size)


# ---------------------------------------------------------------------------------------- lazy splits

class LazyImages:
    """A split's pictures as a lazy uint8 (N, 3, S, S) "tensor": it has ``shape``, ``dtype``,
    ``ndim`` and ``len`` and can be indexed (an int, a slice, a list or index tensor), which reads
    just those pictures — so a :class:`~core.data.TensorDomain` can hold one, and code that only
    indexes its images (evaluation, few-shot selection, galleries) works unchanged.

    Subclasses implement :meth:`load`; unreadable pictures are recorded in :attr:`skipped`
    (name → why); direct indexing returns them as black pictures (the feeds and
    :func:`evaluate_accuracy` leave them out instead).
    """

    dtype = torch.uint8
    ndim = 4
    kind = "lazy"

    def __init__(self, n: int, size: int):
        self.n, self.size = int(n), int(size)
        self.skipped: dict[str, str] = {}

    @property
    def shape(self) -> torch.Size:
        return torch.Size((self.n, 3, self.size, self.size))

    def __len__(self) -> int:
        return self.n

    @property
    def nbytes(self) -> int:
        return decoded_bytes(self.n, self.size)

    def load(self, indices: list[int]) -> tuple[torch.Tensor, list[tuple[int, str, str]]]:
        """Pictures ``indices`` as uint8 (k, 3, S, S) and the unreadable ones as (position, name, why)."""
        raise NotImplementedError

    def __getitem__(self, index) -> torch.Tensor:
        if isinstance(index, int):
            return self[[index]][0]
        if isinstance(index, slice):
            index = list(range(*index.indices(self.n)))
        elif isinstance(index, torch.Tensor):
            index = index.flatten().tolist() if index.dtype != torch.bool else index.nonzero().flatten().tolist()
        x, bad = self.load([int(i) for i in index])
        for pos, name, why in bad:
            x[pos] = 0
            self.skipped[name] = why
        return x

    def subset(self, indices) -> "LazyImages":
        """The same kind of lazy view over pictures ``indices`` only (nothing is read); its
        unreadable pictures are recorded in this view's :attr:`skipped`."""
        raise NotImplementedError

    def to(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} stays on disk; read it through core.data.feed (it is streamed)")


class FileImages(LazyImages):
    """Pictures that stay in their folder or zip: entries (name, class, read-bytes callable) from
    :func:`core.data.folder.list_image_folder`, decoded on demand at ``size``."""

    kind = "stream"

    def __init__(self, entries: list, size: int):
        super().__init__(len(entries), size)
        self.names = [e[0] for e in entries]
        self.readers = [e[2] for e in entries]

    def subset(self, indices) -> "FileImages":
        picked = [int(i) for i in indices]
        view = FileImages([(self.names[i], None, self.readers[i]) for i in picked], self.size)
        view.skipped = self.skipped
        return view

    def read_one(self, i: int) -> torch.Tensor | None | tuple[str, str]:
        """Picture ``i`` as uint8 (3, S, S), or ``(name, why)`` if it cannot be read."""
        from ..imageio import BadImage, image_to_tensor, read_image_bounded
        from .folder import to_uint8

        try:  # the bounded door, as the resident loader reads (decoded memory bounded by the size)
            return to_uint8(image_to_tensor(read_image_bounded(self.readers[i](), self.size), self.size))
        except (BadImage, OSError, zipfile.BadZipFile, zlib.error, EOFError) as err:  # a file gone or broken mid-run
            return self.names[i], str(err) or type(err).__name__

    def load(self, indices):
        out = torch.zeros((len(indices), 3, self.size, self.size), dtype=torch.uint8)
        bad = []
        for pos, i in enumerate(indices):
            got = self.read_one(i)
            if isinstance(got, tuple):
                bad.append((pos, *got))
            else:
                out[pos] = got
        return out, bad


class ResizedImages(LazyImages):
    """A resident uint8 split at its own size, resized to ``size`` batch by batch — the same
    bilinear, antialiased interpolation :func:`core.data.load_domain` applies to a whole split (it
    works picture by picture, so the values are the same)."""

    kind = "resized"

    def __init__(self, images: torch.Tensor, size: int):
        super().__init__(len(images), size)
        self.base = images

    def subset(self, indices) -> "ResizedImages":
        view = ResizedImages(self.base[torch.as_tensor(indices, dtype=torch.long)], self.size)
        view.skipped = self.skipped
        return view

    @staticmethod
    def resize(x: torch.Tensor, size: int) -> torch.Tensor:
        y = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True)
        return y.round().clamp(0, 255).to(torch.uint8)

    def load(self, indices):
        return self.resize(self.base[torch.as_tensor(indices, dtype=torch.long)], self.size), []


def is_lazy(images) -> bool:
    return isinstance(images, LazyImages)


# ------------------------------------------------------------------------- choosing what streams

@dataclass
class RunDomains:
    """The four splits of a run and how each is held (``modes``: split key → "resident",
    "stream" (files) or "resized" (a named domain resized per batch)); ``decoded_mb``: what each
    would take resident."""

    source_train: object
    source_test: object
    target_train: object
    target_test: object
    size: int
    modes: dict[str, str] = field(default_factory=dict)
    decoded_mb: dict[str, float] = field(default_factory=dict)
    budget_mb: int = 0

    def card(self) -> dict:
        """What the model card records under ``data``."""
        splits = ("source_train", "source_test", "target_train", "target_test")
        return {"image_size": self.size, "modes": dict(self.modes), "decoded_mb": dict(self.decoded_mb),
                "budget_mb": self.budget_mb,
                # how many files of each split could not be read (``train --json`` prints every skipped_* key)
                **{f"skipped_{k}": len(getattr(self, k).skipped) for k in splits}}


def _is_custom(name: str) -> bool:
    return name.startswith(("folder:", "zip:"))


def _plan(name: str, split: str, size: int) -> tuple[int, object]:
    """(decoded bytes at ``size``, a way to build it lazily or None) for one split, without decoding.
    A folder with more files than the resident loader takes (``folder.MAX_FILES``) counts as too
    large to hold, whatever its bytes."""
    from . import native_size
    from .folder import list_image_folder

    if _is_custom(name):
        path, entries, classes = list_image_folder(name.split(":", 1)[1], split, max_files=MAX_STREAM_FILES,
                                                   max_zip_bytes=None)
        from .folder import MAX_FILES

        nbytes = decoded_bytes(len(entries), size) if len(entries) <= MAX_FILES else 1 << 62
        return nbytes, ("files", path, entries, classes)
    if size != native_size(name) and name in _named():
        from . import load_domain

        native = load_domain(name, split)  # cached arrays at the native size (small)
        return decoded_bytes(len(native), size), ("resized", native)
    return 0, None  # resident at its own size (embedded or downloaded arrays); not counted


def _named() -> set[str]:
    from . import domain_names

    return set(domain_names())


def _lazy(name: str, split: str, size: int, how) -> object:
    from .base import TensorDomain

    if how[0] == "files":
        _, path, entries, classes = how
        images = FileImages(entries, size)
        labels = torch.tensor([classes.index(e[1]) for e in entries], dtype=torch.long)
        return TensorDomain(f"folder:{path}", split, images, labels, classes, images.skipped)
    native = how[1]
    images = ResizedImages(native.images, size)
    return TensorDomain(native.name, split, images, native.labels, list(native.classes), images.skipped)


def load_run_domains(source: str, target: str, size: int, data: str = "auto", budget_mb: int = 2048) -> RunDomains:
    """Source and target, train and test, at ``size``; each resident or lazy as ``data`` says
    (see the module docstring). DomainError for what :func:`core.data.load_domain` refuses."""
    from . import load_domain

    keys = {"source_train": (source, "train"), "source_test": (source, "test"),
            "target_train": (target, "train"), "target_test": (target, "test")}
    plans = {k: _plan(name, split, size) for k, (name, split) in keys.items()}
    lazy: set[str] = set()
    if data == "stream":
        lazy = {k for k, (_, how) in plans.items() if how is not None}
    elif data == "auto":
        budget = budget_mb * 2 ** 20
        resident = sum(nbytes for nbytes, _ in plans.values())
        for k in sorted(plans, key=lambda k: -plans[k][0]):  # stream the largest first
            if resident <= budget:
                break
            if plans[k][1] is not None:
                lazy.add(k)
                resident -= plans[k][0]
    elif data != "resident":
        raise ValueError(f"unknown data mode {data!r}; choose one of auto, resident, stream")
    loaded, modes = {}, {}
    for k, (name, split) in keys.items():
        if k in lazy:
            loaded[k] = _lazy(name, split, size, plans[k][1])
            modes[k] = loaded[k].images.kind
        else:
            loaded[k] = load_domain(name, split, size)
            modes[k] = "resident"
    decoded = {k: round(decoded_bytes(len(loaded[k]), size) / 2 ** 20, 1) for k in keys if plans[k][1] is not None}
    return RunDomains(**loaded, size=size, modes=modes, budget_mb=int(budget_mb), decoded_mb=decoded)


# ------------------------------------------------------------------------------------------ feeds

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


class _Items(torch.utils.data.Dataset):
    """Picture i of a :class:`FileImages` as (uint8 (3, S, S) or None, label, (name, why) or None)."""

    def __init__(self, images: FileImages, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        got = self.images.read_one(i)
        label = int(self.labels[i])
        return (None, label, got) if isinstance(got, tuple) else (got, label, None)


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


def default_workers(world_size: int = 1, sides: int = 2) -> int:
    """Decoding processes per streamed split: the CPUs this process may use, shared among the
    ranks on this machine and the streamed sides, keeping one for the training loop itself."""
    from ..device import available_cpus

    local = max(1, min(world_size, torch.cuda.device_count() or world_size))
    return max(1, (available_cpus() // local - 1) // max(1, sides))


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
                    _Items(images, labels), batch_sampler=_PlanSampler(self.plan, k), num_workers=self.workers,
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


# ------------------------------------------------------------------------------------- evaluation

def evaluate_accuracy(model: torch.nn.Module, domain, batch_size: int = 512, workers: int | None = None) -> float:
    """Top-1 accuracy (%) of ``model`` on ``domain``: :func:`core.evaluation.evaluate_accuracy` for
    a resident or resized split; a streamed one is read in order by a DataLoader with ``workers``
    processes, leaving unreadable pictures out (and listing them in ``domain.skipped``)."""
    from ..evaluation import EVAL_PIXEL_BUDGET, evaluate_accuracy as resident_accuracy

    if not isinstance(domain.images, FileImages):
        return resident_accuracy(model, domain, batch_size)
    images = domain.images
    batch_size = max(1, min(batch_size, EVAL_PIXEL_BUDGET // (images.size ** 2)))
    workers = default_workers(1, 1) if workers is None else workers
    order = [list(range(i, min(i + batch_size, len(images)))) for i in range(0, len(images), batch_size)]
    loader = torch.utils.data.DataLoader(_Items(images, domain.labels), batch_sampler=order, num_workers=workers,
                                         collate_fn=_collate_eval)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = total = 0
    try:
        with torch.no_grad():
            for x, y, bad in loader:
                for name, why in bad:
                    domain.skipped[name] = why
                if x is None:
                    continue
                pred = model(unit_float(x.to(device))).argmax(1).cpu()
                correct += int((pred == y).sum())
                total += len(y)
    finally:
        model.train(was_training)
    return 100.0 * correct / total if total else math.nan


def _collate_eval(items):
    good = [it for it in items if it[0] is not None]
    bad = [it[2] for it in items if it[0] is None]
    if not good:
        return None, None, bad
    return torch.stack([it[0] for it in good]), torch.tensor([it[1] for it in good]), bad
