"""The one training loop shared by every method.

    data → device (resident uint8 tensors) → for each step: sample batch, method.train_step(batch, p)
    → every ``sync_every`` steps: read the losses back, check they are finite, report progress
    → evaluate now and then, watch for collapse (label-free), honour cancel → checkpoint.

The plan (:func:`core.training.plan.prepare_run`) has resolved and checked everything before the
first line here runs. A run is made of four pieces, which :func:`train` calls top to bottom and the
Playground (:mod:`core.training.playground`) reuses for its side-by-side toy runs:

    run = build_run(plan)          # options, seeds, splits, model, method, feed, step function
    losses = run.step(p)           # one training step at progress p
    check_losses(values, step)     # the one divergence rule
    result = finish(run, ...)      # final accuracies, the model card, the checkpoint

Splits: the engine trains on the source train split *minus* a held-out source validation part
(:func:`core.data.splits.split_source`: 10 % of every class, drawn with a fixed seed independent of the run's, so
every run of a scenario holds out the same images) and reports accuracy on it as
``source_val_acc``; target train images are used without their labels (unless the method is
allowed them); target test labels only score the result.

Embedded domains are small, so whole splits live on the training device and batches are
gathered with random indices — no per-sample DataLoader in the hot loop. On CUDA the step of a
graph-safe method is captured once and replayed as a CUDA graph (:mod:`core.training.accel`), the
optimiser is fused, and losses are read back in blocks so the host never waits on the device
between steps. On the CPU every step is read back at once (reading costs nothing there).

Folder/zip domains too large for the memory budget stream from disk instead: the engine only asks
its feed for the next batch (:mod:`core.data.feed`). Under ``torchrun`` the same loop runs
data-parallel (:mod:`core.training.distributed`): each rank trains on its shard of the global batch, and
rank 0 alone evaluates and saves.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from ..checkpoints.pretrained import apply_backbone_state
from ..data import align_classes
from ..data.feed import make_feed
from ..data.lazy import is_lazy
from ..data.splits import few_shot_indices, split_source
from ..estimators import fit_model
from ..evaluation import evaluate_accuracy
from ..methods import Batch, Context
from ..models import build_model
from ..util.history import thin_history
from ..util.modes import unit_float
from . import distributed
from .accel import GraphedStep
from .collapse_watch import CollapseWatch
from .config import Progress, TrainConfig, TrainResult, effective_lr
from .plan import RunPlan, prepare_run
from .speed import Speed, choose_speed


LOSS_LIMIT = 1e4  # a loss term above this (in magnitude) counts as diverged
CARD_HISTORY = 200  # history records a model card keeps (every evaluation and evenly spaced steps)


class TrainingError(RuntimeError):
    """A run that could not go on (diverged loss, bad configuration found mid-run)."""


def seed_everything(seed: int) -> torch.Generator:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


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


def check_losses(values: dict[str, float], step: int, who: str = "") -> None:
    """The one divergence rule: every loss term finite and at most :data:`LOSS_LIMIT` in magnitude,
    else :class:`TrainingError` naming the terms, the step (and ``who``, e.g. a method's label)."""
    if all(math.isfinite(v) and abs(v) <= LOSS_LIMIT for v in values.values()):
        return
    shown = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
    raise TrainingError(f"{who + ': ' if who else ''}the loss diverged ({shown}) at step {step}; "
                        "lower the learning rate or the adaptation weight")


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
            check_losses(values, step)
            self.history.append({"step": step, **values})
            if self.progress is not None:
                self.progress(Progress(step, self.config.steps, values, dict(self.metrics), elapsed,
                                       2 * self.config.batch_size * step / max(elapsed, 1e-9),
                                       preview if losses is self.pending[-1] else None))
        self.pending.clear()


@dataclass
class Run:
    """A plan made ready to train: its model inside its ``method`` (DDP-wrapped under torchrun),
    its batches (``feed``), the splits it trains on and scores with, the options it runs with
    (``speed``) and :meth:`step`, one training step at a given progress p ∈ [0, 1)."""

    plan: RunPlan
    method: object
    feed: object
    source_train: object
    source_val: object
    source_test: object
    target_train: object
    target_test: object
    speed: Speed
    world: distributed.World
    lr: float
    graphed: bool
    streamed: bool
    step: Callable[[float], dict]

    @property
    def source_classes_kept(self) -> bool:
        """Whether the model predicts the source's classes (not a new label space learned from target labels)."""
        return self.method.target_labels == "none" or self.target_train.classes == self.source_train.classes


def build_run(plan: RunPlan, speed: Speed | None = None) -> Run:
    """Everything before the first step: the options (``speed``; None: chosen for this machine by
    :func:`~core.training.speed.choose_speed`), the seeded generators, the splits (the source
    validation part held out, target classes matched to the source's by name), the model on its
    device and memory layout, the method, the feed, and the step function (a captured CUDA graph
    where it can be)."""
    config, method_cls, device, accel = plan.config, plan.method, plan.device, plan.accel
    world = distributed.current() if plan.world.parallel else plan.world  # the joined group (its backend)
    data = plan.domains
    pictures = data.source_train.input_kind == "pictures"  # points (toy domains) have no channels to lay out
    speed = speed or choose_speed(plan, pictures)  # cached, or measured once
    if speed.threads:
        torch.set_num_threads(speed.threads)
    gen = seed_everything(config.seed)
    src_train, src_val = split_source(data.source_train)  # the engine never trains on the validation part
    tgt_train, tgt_test = data.target_train, data.target_test
    if set(tgt_train.classes) <= set(src_train.classes):  # the same label space: match classes by name
        tgt_train, tgt_test = align_classes(tgt_train, src_train.classes), align_classes(tgt_test, src_train.classes)

    model = build_model({**config.model_spec(), **method_cls.model_spec, "num_classes": len(src_train.classes),
                         "input_size": plan.image_size})
    if plan.backbone_state is not None:
        apply_backbone_state(model.backbone, plan.backbone_state)
    memory_format = torch.channels_last if speed.channels_last and pictures else torch.contiguous_format
    model = model.to(device).to(memory_format=memory_format)
    streamed = is_lazy(src_train.images) or is_lazy(tgt_train.images)  # a graph replays resident data only
    graphed = accel in ("graph", "compile") and device.type == "cuda" and not streamed and not world.parallel
    ctx = Context(device=device, source_classes=src_train.classes, target_classes=tgt_train.classes,
                  steps=config.steps, seed=config.seed, generator=torch.Generator(device=device).manual_seed(config.seed),
                  amp_dtype=torch.bfloat16 if speed.precision == "bf16" else None,
                  fused_optimizer=device.type in ("cuda", "cpu"), capturable=graphed, models=plan.models)
    lr = effective_lr(config)
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
    feed = make_feed((src_train.images, src_train.labels), (tgt_x, tgt_y), config.batch_size, device, gen,
                     memory_format, world.rank, world.size, config.data_workers, (src_train.skipped, tgt_train.skipped),
                     source_domains=src_train.domain_ids)  # which source each image came from (multi-source)
    if graphed:
        step = GraphedStep(method, feed.source, feed.target, config.batch_size, with_target_labels,
                           generator=ctx.generator, source_domains=feed.source_domains)
    else:
        def step(progress: float) -> dict[str, torch.Tensor]:
            xs, ys, xt, yt, ds = feed.next()
            return method.train_step(Batch(xs, ys, xt, yt if with_target_labels else None, ds), progress)
    return Run(plan, method, feed, src_train, src_val, data.source_test, tgt_train, tgt_test, speed, world, lr,
               graphed, streamed, step)


def train(plan: RunPlan | TrainConfig, progress: Callable[[Progress], None] | None = None,
          cancel: threading.Event | None = None, out_dir: str | Path | None = None) -> TrainResult:
    """Run ``plan`` (a :class:`~core.training.plan.RunPlan`; a bare :class:`TrainConfig` is planned
    first with :func:`~core.training.plan.prepare_run`) from its source to its target.

    ``progress`` is called once for every step, in order: right after it on the CPU, in blocks of
    ``sync_every`` steps on accelerators (where reading losses back stalls the device). Setting
    ``cancel`` stops the run after the current step (the partly trained model is still evaluated
    and returned). Raises :class:`TrainingError` if the loss stops being finite.
    """
    plan = plan if isinstance(plan, RunPlan) else prepare_run(plan)
    started = time.perf_counter()
    run, config = build_run(plan), plan.config
    main, stopped = run.world.main, (lambda: cancel is not None and cancel.is_set())
    preview_source = run.source_test.images[:8].to(plan.device) if main else None  # shown as it learns
    watch = CollapseWatch(run.target_train.images, config.eval_every or config.steps // 10) if main else None
    log = _LossLog(config, progress, sync_every=config.sync_every or (1 if plan.device.type == "cpu" else 25),
                   world=run.world)
    cancelled, step = False, 0
    for step in range(1, config.steps + 1):
        if stopped():
            cancelled, step = True, step - 1
            break
        losses = run.step((step - 1) / config.steps)
        evaluate_now = (config.eval_every and step % config.eval_every == 0 and step < config.steps
                        and not stopped() and main)
        log.add(losses, hold=evaluate_now)  # an evaluated step is reported with its metrics
        if evaluate_now:
            log.evaluated({"target_acc": evaluate_accuracy(run.method.eval_model(), run.target_test)},
                          preview=method_preview(run.method, preview_source))
        if watch is not None and watch.due(step) and step < config.steps:
            watch.check(step, run.method.eval_model())  # unlabelled target pictures only
    log.flush()
    run.feed.close()
    return finish(run, log, watch, step, cancelled, started, out_dir)


def finish(run: Run, log: _LossLog, watch: CollapseWatch | None, step: int, cancelled: bool, started: float,
           out_dir: str | Path | None = None) -> TrainResult:
    """After the last step: the final model (the last healthy one if the run collapsed at the end),
    its accuracies, its model card, and its checkpoint when ``out_dir`` is given (rank 0 only)."""
    config, main, method = run.plan.config, run.world.main, run.method
    loop_seconds = time.perf_counter() - log.started
    final = method.eval_model().eval()
    guard = watch.finish(step, final) if watch is not None and step else None  # a collapsed end → last healthy
    nan = float("nan")  # under DDP only rank 0 evaluates
    target_acc = evaluate_accuracy(final, run.target_test) if main else nan
    kept = run.source_classes_kept and main
    source_acc = evaluate_accuracy(final, run.source_test) if kept else nan
    source_val_acc = evaluate_accuracy(final, run.source_val) if kept and len(run.source_val) else nan
    history = log.history
    if history:
        history[-1].update(target_acc=target_acc)
    seconds = time.perf_counter() - started
    images_per_s = 2 * config.batch_size * step / max(loop_seconds, 1e-9)
    card = _card(run, final, history, step, cancelled, guard, seconds,
                 {"target_acc": target_acc, "source_acc": source_acc, "source_val_acc": source_val_acc})
    result = TrainResult(final, card, history, target_acc, source_acc, seconds, images_per_s, step, cancelled,
                         method=method, source_val_acc=source_val_acc)
    if out_dir is not None and main:
        from ..checkpoints import save

        result.checkpoint = str(save(final, card, out_dir, extras=method.export_modules()))
    return result


def _accel_used(run: Run) -> str:
    """What acceleration the run really had (a failed capture or a refused graph says why)."""
    accel, device = run.plan.accel, run.plan.device
    if run.graphed and run.step.fallback:
        return f"off (graph capture failed: {run.step.fallback})"
    if accel in ("graph", "compile") and device.type == "cuda" and not run.graphed:
        return accel.replace("graph", "off") + (" (no graph: streamed data)" if run.streamed else " (no graph under DDP)")
    return accel


def _card(run: Run, final, history, step: int, cancelled: bool, guard, seconds: float, metrics: dict) -> dict:
    """The model card of a finished run (:func:`core.checkpoints.make_card`)."""
    from ..checkpoints import make_card

    config, method, world = run.plan.config, run.method, run.world
    kept = run.source_classes_kept and world.main
    return make_card(
        final, method=config.method, source=config.source, target=config.target,
        class_names=run.target_train.classes if method.target_labels != "none" else run.source_train.classes,
        metrics=metrics,
        hyperparameters={**{k: v for k, v in asdict(config).items() if k not in ("hparams", "model", "device")},
                         **method.hp, "steps_done": step, "effective_lr": run.lr, "accel_used": _accel_used(run)},
        seed=config.seed, training_seconds=round(seconds, 2), device=str(run.plan.device),
        extra={"history": thin_history(history, CARD_HISTORY), "cancelled": cancelled, "collapse_guard": guard,
               "speed": run.speed.card(), "estimation": fit_model(final, run.source_val if kept else None),
               "data": {**run.plan.domains.card(), **run.feed.describe()},
               "distributed": {"world_size": world.size, "backend": world.backend,
                               "per_rank_batch": config.batch_size // world.size}},
    )
