"""The one training loop shared by every method.

    data → device (resident uint8 tensors) → for each step: sample batch, method.train_step(batch, p)
    → every ``sync_every`` steps: read the losses back, check they are finite, report progress
    → evaluate now and then, honour cancel → checkpoint.

Splits: the engine trains on the source train split *minus* a held-out source validation part
(:func:`split_source`: 10 % of every class, drawn with a fixed seed independent of the run's, so
every run of a scenario holds out the same images) and reports accuracy on it as
``source_val_acc``; target train images are used without their labels (unless the method is
allowed them); target test labels only score the result.

Embedded domains are small, so whole splits live on the training device and batches are
gathered with random indices — no per-sample DataLoader in the hot loop. On CUDA the step of a
graph-safe method is captured once and replayed as a CUDA graph (:mod:`core.accel`), the
optimiser is fused, and losses are read back in blocks so the host never waits on the device
between steps. On the CPU every step is read back at once (reading costs nothing there).

Folder/zip domains too large for the memory budget stream from disk instead: the engine only asks
its feed for the next batch (:mod:`core.data.feed`). Under ``torchrun`` the same loop runs
data-parallel (:mod:`core.distributed`): each rank trains on its shard of the global batch, and
rank 0 alone evaluates and saves.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch

from .accel import GraphedStep, resolve_accel
from .config import PRECISIONS, Progress, TrainConfig, TrainResult, effective_lr
from . import distributed
from .data import align_classes, native_size
from .data.feed import evaluate_accuracy, is_lazy, load_run_domains, make_feed
from .device import resolve_device
from .history import thin_history
from .methods import Batch, Context, get_method
from .models import build_model, check_arch
from .models.pretrained import check_pretrained
from .sampling import unit_float


LOSS_LIMIT = 1e4  # a loss term above this (in magnitude) counts as diverged
SOURCE_VAL_FRACTION = 0.1   # share of each source class held out for validation
SOURCE_VAL_SEED = 1_000_003  # fixed: the held-out images do not depend on the run's seed
CARD_HISTORY = 200  # history records a model card keeps (every evaluation and evenly spaced steps)


class TrainingError(RuntimeError):
    """A run that could not go on (diverged loss, bad configuration found mid-run)."""


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively (CUDA Ampere+, CPUs with AVX512-BF16/AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            with open("/proc/cpuinfo") as f:
                flags = f.read()
            return "avx512_bf16" in flags or "amx_bf16" in flags
        except OSError:
            return False
    return False


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "bf16" or (precision == "auto" and native_bf16(device)):
        return torch.bfloat16
    return None


def seed_everything(seed: int) -> torch.Generator:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def source_val_indices(labels: torch.Tensor, fraction: float = SOURCE_VAL_FRACTION,
                       seed: int = SOURCE_VAL_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified, deterministic split of a labelled split into ``(train_idx, val_idx)``.

    Each class c with n_c ≥ 2 images gives k_c = clip(round(fraction · n_c), 1, n_c − 1) images,
    drawn with a generator seeded by ``seed`` alone (never the run's seed), so every run on the
    same source holds out the same images; a class with a single image stays in training.
    labels: (N,) → two sorted index tensors that partition range(N).

    >>> tr, va = source_val_indices(torch.arange(10).repeat(20))   # 10 classes × 20 images
    >>> len(tr), len(va)
    (180, 20)
    """
    gen = torch.Generator().manual_seed(seed)
    val = []
    for c in labels.unique(sorted=True):
        idx = (labels == c).nonzero().flatten()
        if len(idx) < 2:
            continue
        k = min(max(1, round(fraction * len(idx))), len(idx) - 1)
        val.append(idx[torch.randperm(len(idx), generator=gen)[:k]])
    val_idx = torch.cat(val).sort().values if val else torch.empty(0, dtype=torch.long)
    keep = torch.ones(len(labels), dtype=torch.bool)
    keep[val_idx] = False
    return keep.nonzero().flatten(), val_idx


def split_source(domain):
    """``(train_part, val_part)`` of a source train :class:`~core.data.TensorDomain` (see
    :func:`source_val_indices`); the validation part's split is named ``"val"``. A streamed split
    stays on disk (each part lists its own files); a multi-source split keeps its ``domain_ids``."""
    from .data import TensorDomain
    from .data.feed import is_lazy

    train_idx, val_idx = source_val_indices(domain.labels)

    def part(idx, split):
        images = domain.images.subset(idx) if is_lazy(domain.images) else domain.images[idx]
        ids = domain.domain_ids[idx] if domain.domain_ids is not None else None
        return TensorDomain(domain.name, split, images, domain.labels[idx], list(domain.classes), domain.skipped,
                            domain_ids=ids, domain_names=domain.domain_names)

    return part(train_idx, domain.split), part(val_idx, "val")


def few_shot_indices(labels: torch.Tensor, shots: int, generator: torch.Generator) -> torch.Tensor:
    """``shots`` indices per class (fewer if a class is smaller), drawn with ``generator``."""
    picks = []
    for c in labels.unique():
        idx = (labels == c).nonzero().flatten()
        picks.append(idx[torch.randperm(len(idx), generator=generator)[:shots]])
    return torch.cat(picks).sort().values


def method_preview(method, source_u8: torch.Tensor):
    """What the method shows of itself while it learns (a pixel-level GAN: translations of fixed source
    pictures), as uint8 (n, 3, H, W) on the CPU; None for methods with nothing to show."""
    show = getattr(method, "preview", None)
    if show is None:
        return None
    with torch.no_grad():
        pictures = show(unit_float(source_u8))
    if pictures is None:
        return None
    return (pictures.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()


def load_model_hyperparameters(method_cls, hparams: dict, device) -> dict:
    """Load every ``Hyper(kind="model")`` reference the method declares (a teacher, say), frozen:
    name -> (model, card). A required one that is missing fails before any training."""
    from .refs import load_frozen

    loaded = {}
    for name in method_cls.model_hyperparameters():
        ref = str(hparams.get(name) or method_cls.hyperparameters[name].default or "")
        if not ref:
            if method_cls.hyperparameters[name].required:
                raise ValueError(f"method {method_cls.name!r} needs {name!r}: a checkpoint path or a zoo name "
                                 f"(see `python -m core zoo list`), e.g. --set {name}=mnist->mnistm/dann")
            continue
        loaded[name] = load_frozen(ref, device)
    return loaded


class _LossLog:
    """Per-step loss terms, read back from the device in blocks of ``sync_every`` steps.

    ``add`` keeps a step's 0-d loss tensors; every ``sync_every`` steps ``flush`` reads them all
    back with one device sync, checks each is finite and below :data:`LOSS_LIMIT`, appends them to
    ``history`` and calls ``progress`` once per step, in order. ``evaluated`` attaches metrics to
    the latest step (steps before it are reported with the earlier metrics).
    """

    def __init__(self, config: TrainConfig, progress: Callable[[Progress], None] | None, sync_every: int,
                 world: distributed.World = distributed.SINGLE):
        self.config, self.progress, self.sync_every, self.world = config, progress, sync_every, world
        self.history: list[dict] = []
        self.metrics: dict[str, float] = {}
        self.pending: list[dict[str, torch.Tensor]] = []
        self.started = time.perf_counter()

    def add(self, losses: dict[str, torch.Tensor], hold: bool = False) -> None:
        """Keep a step's losses; read back when ``sync_every`` are waiting (not if ``hold``)."""
        self.pending.append(losses)
        if not hold and len(self.pending) >= self.sync_every:
            self.flush()

    def evaluated(self, metrics: dict[str, float], preview=None) -> None:
        """Report the pending steps, the latest one with ``metrics`` (and the method's ``preview``)."""
        latest = self.pending.pop()
        self.flush()
        self.metrics = metrics
        self.pending.append(latest)
        self.flush(preview)
        self.history[-1].update(metrics)

    def flush(self, preview=None) -> None:
        if not self.pending:
            return
        stacked = torch.stack([v for losses in self.pending for v in losses.values()])
        flat = iter(distributed.all_mean(stacked, self.world).tolist())  # under DDP: the mean over ranks
        elapsed = time.perf_counter() - self.started
        for losses in self.pending:
            step = len(self.history) + 1
            values = {name: next(flat) for name in losses}
            if not all(math.isfinite(v) and abs(v) <= LOSS_LIMIT for v in values.values()):
                shown = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
                raise TrainingError(f"the loss diverged ({shown}) at step {step}; "
                                    "lower the learning rate or the adaptation weight")
            self.history.append({"step": step, **values})
            if self.progress is not None:
                self.progress(Progress(step, self.config.steps, values, dict(self.metrics), elapsed,
                                       2 * self.config.batch_size * step / max(elapsed, 1e-9),
                                       preview if losses is self.pending[-1] else None))
        self.pending.clear()


def train(config: TrainConfig, progress: Callable[[Progress], None] | None = None,
          cancel: threading.Event | None = None, out_dir: str | Path | None = None) -> TrainResult:
    """Train ``config.method`` from ``config.source`` to ``config.target``; see :class:`TrainConfig`.

    ``progress`` is called once for every step, in order: right after it on the CPU, in blocks of
    ``sync_every`` steps on accelerators (where reading losses back stalls the device). Setting
    ``cancel`` stops the run after the current step (the partly trained model is still evaluated
    and returned). Raises :class:`TrainingError` if the loss stops being finite.
    """
    config.validate()  # ranges and choices, before any work
    method_cls = get_method(config.method)  # unknown names fail before any work
    world = distributed.current()  # data-parallel when torchrun started us (core.distributed)
    distributed.check_batch(config.batch_size, world)
    distributed.check_method(method_cls, world)
    device = distributed.device_for(resolve_device(config.device), world)
    accel = resolve_accel(config.accel, device, method_cls)
    size = config.image_size or native_size(config.source)
    check_arch(config.arch, size)
    check_pretrained(config.arch, config.pretrained, size)  # offline ImageNet, wrong shapes: before the data
    lr = effective_lr(config)
    if config.threads:
        torch.set_num_threads(config.threads)
    gen = seed_everything(config.seed)
    started = time.perf_counter()

    data = load_run_domains(config.source, config.target, size, config.data, config.data_budget_mb)
    src_train, src_test, tgt_train, tgt_test = data.source_train, data.source_test, data.target_train, data.target_test
    src_train, src_val = split_source(src_train)  # the engine never trains on the validation part
    if set(tgt_train.classes) <= set(src_train.classes):  # the same label space: match classes by name
        tgt_train, tgt_test = align_classes(tgt_train, src_train.classes), align_classes(tgt_test, src_train.classes)

    model = build_model({**config.model_spec(), **method_cls.model_spec, "num_classes": len(src_train.classes),
                         "input_size": size}).to(device)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    streamed = is_lazy(src_train.images) or is_lazy(tgt_train.images)  # a graph replays resident data only
    graphed = accel in ("graph", "compile") and device.type == "cuda" and not streamed and not world.parallel
    ctx = Context(device=device, source_classes=src_train.classes, target_classes=tgt_train.classes,
                  steps=config.steps, seed=config.seed, generator=torch.Generator(device=device).manual_seed(config.seed),
                  amp_dtype=autocast_dtype(config.precision, device),
                  fused_optimizer=device.type in ("cuda", "cpu"), capturable=graphed)
    ctx.models = load_model_hyperparameters(method_cls, config.hparams, device)
    method = method_cls(model, ctx, lr=lr, weight_decay=config.weight_decay, optimizer=config.optimizer,
                        lr_anneal=config.lr_anneal, warmup=config.warmup, **config.hparams)
    method = distributed.wrap(method, world)  # DDP around the loss under torchrun; no-op otherwise
    if accel == "compile":
        method.loss = torch.compile(method.loss, dynamic=False)

    tgt_x, tgt_y = tgt_train.images, tgt_train.labels
    if method.target_labels == "few":
        keep = few_shot_indices(tgt_y, int(method.hp["shots"]), gen)
        tgt_x, tgt_y = tgt_x[keep], tgt_y[keep]
    with_target_labels = method.target_labels != "none"
    # which source each image came from, for methods that use it (multi-source domain generalisation)
    feed = make_feed((src_train.images, src_train.labels), (tgt_x, tgt_y), config.batch_size, device, gen,
                     memory_format, world.rank, world.size, config.data_workers, (src_train.skipped, tgt_train.skipped),
                     source_domains=src_train.domain_ids)
    if graphed:
        run_step = GraphedStep(method, feed.source, feed.target, config.batch_size, with_target_labels,
                               generator=ctx.generator, source_domains=feed.source_domains)
    else:
        def run_step(progress: float) -> dict[str, torch.Tensor]:
            xs, ys, xt, yt, ds = feed.next()
            return method.train_step(Batch(xs, ys, xt, yt if with_target_labels else None, ds), progress)

    preview_source = src_test.images[:8].to(device) if world.main else None  # fixed pictures shown as it learns
    log = _LossLog(config, progress, sync_every=config.sync_every or (1 if device.type == "cpu" else 25), world=world)
    cancelled, step = False, 0
    for step in range(1, config.steps + 1):
        if cancel is not None and cancel.is_set():
            cancelled, step = True, step - 1
            break
        losses = run_step((step - 1) / config.steps)
        evaluate_now = (config.eval_every and step % config.eval_every == 0 and step < config.steps
                        and not (cancel is not None and cancel.is_set()) and world.main)
        log.add(losses, hold=evaluate_now)  # an evaluated step is reported with its metrics
        if evaluate_now:
            log.evaluated({"target_acc": evaluate_accuracy(method.eval_model(), tgt_test)},
                          preview=method_preview(method, preview_source))
    log.flush()
    feed.close()
    history = log.history
    loop_seconds = time.perf_counter() - log.started
    accel_used = accel
    if graphed and run_step.fallback:
        accel_used = f"off (graph capture failed: {run_step.fallback})"
    elif accel in ("graph", "compile") and device.type == "cuda" and not graphed:
        accel_used = accel.replace("graph", "off") + (" (no graph: streamed data)" if streamed else " (no graph under DDP)")

    final = method.eval_model().eval()
    nan = float("nan")  # under DDP only rank 0 evaluates
    target_acc = evaluate_accuracy(final, tgt_test) if world.main else nan
    # the model predicts the source's classes unless it learned a new label space from target labels
    source_classes = (method.target_labels == "none" or tgt_train.classes == src_train.classes) and world.main
    source_acc = evaluate_accuracy(final, src_test) if source_classes else nan
    source_val_acc = evaluate_accuracy(final, src_val) if source_classes and len(src_val) else nan
    if history:
        history[-1].update(target_acc=target_acc)
    seconds = time.perf_counter() - started
    images_per_s = 2 * config.batch_size * step / max(loop_seconds, 1e-9)

    from .checkpoints import make_card, save

    card = make_card(
        final, method=config.method, source=config.source, target=config.target,
        class_names=tgt_train.classes if method.target_labels != "none" else src_train.classes,
        metrics={"target_acc": target_acc, "source_acc": source_acc, "source_val_acc": source_val_acc},
        hyperparameters={**{k: v for k, v in asdict(config).items() if k not in ("hparams", "model", "device")},
                         **method.hp, "steps_done": step, "effective_lr": lr, "accel_used": accel_used},
        seed=config.seed, training_seconds=round(seconds, 2), device=str(device),
        extra={"history": thin_history(history, CARD_HISTORY), "cancelled": cancelled,
               "data": {**data.card(), **feed.describe()},
               "distributed": {"world_size": world.size, "backend": world.backend,
                               "per_rank_batch": config.batch_size // world.size}},
    )
    result = TrainResult(final, card, history, target_acc, source_acc, seconds, images_per_s, step, cancelled,
                         method=method, source_val_acc=source_val_acc)
    if out_dir is not None and world.main:
        result.checkpoint = str(save(final, card, out_dir, extras=method.export_modules()))
    return result
