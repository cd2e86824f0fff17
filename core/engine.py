"""The one training loop shared by every method.

    data → device (resident uint8 tensors) → for each step: sample batch, method.train_step(batch, p)
    → every ``sync_every`` steps: read the losses back, check they are finite, report progress
    → evaluate now and then, honour cancel → checkpoint.

Embedded domains are small, so whole splits live on the training device and batches are
gathered with random indices — no per-sample DataLoader in the hot loop. On CUDA the step of a
graph-safe method is captured once and replayed as a CUDA graph (:mod:`core.accel`), the
optimiser is fused, and losses are read back in blocks so the host never waits on the device
between steps. On the CPU every step is read back at once (reading costs nothing there).
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
from .data import align_classes, load_domain
from .device import resolve_device
from .evaluation import evaluate_accuracy
from .history import thin_history
from .methods import Batch, Context, get_method
from .models import build_model
from .sampling import IndexSampler, unit_float


LOSS_LIMIT = 1e4  # a loss term above this (in magnitude) counts as diverged
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

    def __init__(self, config: TrainConfig, progress: Callable[[Progress], None] | None, sync_every: int):
        self.config, self.progress, self.sync_every = config, progress, sync_every
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
        flat = iter(torch.stack([v for losses in self.pending for v in losses.values()]).tolist())
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
    device = resolve_device(config.device)
    accel = resolve_accel(config.accel, device, method_cls)
    lr = effective_lr(config)
    if config.threads:
        torch.set_num_threads(config.threads)
    gen = seed_everything(config.seed)
    started = time.perf_counter()

    src_train, tgt_train = load_domain(config.source, "train"), load_domain(config.target, "train")
    src_test, tgt_test = load_domain(config.source, "test"), load_domain(config.target, "test")
    size = src_train.input_size
    if tgt_train.input_size != size:
        tgt_train, tgt_test = load_domain(config.target, "train", size), load_domain(config.target, "test", size)
    if set(tgt_train.classes) <= set(src_train.classes):  # the same label space: match classes by name
        tgt_train, tgt_test = align_classes(tgt_train, src_train.classes), align_classes(tgt_test, src_train.classes)

    model = build_model({**config.model, "num_classes": len(src_train.classes), "input_size": size}).to(device)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    graphed = accel in ("graph", "compile") and device.type == "cuda"
    ctx = Context(device=device, source_classes=src_train.classes, target_classes=tgt_train.classes,
                  steps=config.steps, seed=config.seed, generator=torch.Generator(device=device).manual_seed(config.seed),
                  amp_dtype=autocast_dtype(config.precision, device),
                  fused_optimizer=device.type in ("cuda", "cpu"), capturable=graphed)
    ctx.models = load_model_hyperparameters(method_cls, config.hparams, device)
    method = method_cls(model, ctx, lr=lr, weight_decay=config.weight_decay, optimizer=config.optimizer,
                        lr_anneal=config.lr_anneal, warmup=config.warmup, **config.hparams)
    if accel == "compile":
        method.loss = torch.compile(method.loss, dynamic=False)

    tgt_x, tgt_y = tgt_train.images, tgt_train.labels
    if method.target_labels == "few":
        keep = few_shot_indices(tgt_y, int(method.hp["shots"]), gen)
        tgt_x, tgt_y = tgt_x[keep], tgt_y[keep]
    resident = lambda x: x.to(device).contiguous(memory_format=memory_format)
    with_target_labels = method.target_labels != "none"
    source = resident(src_train.images), src_train.labels.to(device)
    target = resident(tgt_x), tgt_y.to(device)
    if graphed:
        run_step = GraphedStep(method, source, target, config.batch_size, with_target_labels, generator=ctx.generator)
    else:
        (xs_all, ys_all), (xt_all, yt_all) = source, target
        source_idx = IndexSampler(len(ys_all), config.batch_size, device, gen)
        target_idx = IndexSampler(len(yt_all), config.batch_size, device, gen)

        def run_step(progress: float) -> dict[str, torch.Tensor]:
            i, j = source_idx.next(), target_idx.next()
            batch = Batch(unit_float(xs_all[i]), ys_all[i], unit_float(xt_all[j]),
                          yt_all[j] if with_target_labels else None)
            return method.train_step(batch, progress)

    preview_source = src_test.images[:8].to(device)  # fixed pictures a method may show as it learns
    log = _LossLog(config, progress, sync_every=config.sync_every or (1 if device.type == "cpu" else 25))
    cancelled, step = False, 0
    for step in range(1, config.steps + 1):
        if cancel is not None and cancel.is_set():
            cancelled, step = True, step - 1
            break
        losses = run_step((step - 1) / config.steps)
        evaluate_now = (config.eval_every and step % config.eval_every == 0 and step < config.steps
                        and not (cancel is not None and cancel.is_set()))
        log.add(losses, hold=evaluate_now)  # an evaluated step is reported with its metrics
        if evaluate_now:
            log.evaluated({"target_acc": evaluate_accuracy(method.eval_model(), tgt_test)},
                          preview=method_preview(method, preview_source))
    log.flush()
    history = log.history
    loop_seconds = time.perf_counter() - log.started
    accel_used = accel
    if graphed and run_step.fallback:
        accel_used = f"off (graph capture failed: {run_step.fallback})"

    final = method.eval_model().eval()
    target_acc = evaluate_accuracy(final, tgt_test)
    source_acc = evaluate_accuracy(final, src_test) if tgt_train.classes == src_train.classes else float("nan")
    if history:
        history[-1].update(target_acc=target_acc)
    seconds = time.perf_counter() - started
    images_per_s = 2 * config.batch_size * step / max(loop_seconds, 1e-9)

    from .checkpoints import make_card, save

    card = make_card(
        final, method=config.method, source=config.source, target=config.target,
        class_names=tgt_train.classes if method.target_labels != "none" else src_train.classes,
        metrics={"target_acc": target_acc, "source_acc": source_acc},
        hyperparameters={**{k: v for k, v in asdict(config).items() if k not in ("hparams", "model", "device")},
                         **method.hp, "steps_done": step, "effective_lr": lr, "accel_used": accel_used},
        seed=config.seed, training_seconds=round(seconds, 2), device=str(device),
        extra={"history": thin_history(history, CARD_HISTORY), "cancelled": cancelled},
    )
    result = TrainResult(final, card, history, target_acc, source_acc, seconds, images_per_s, step, cancelled,
                         method=method)
    if out_dir is not None:
        result.checkpoint = str(save(final, card, out_dir, extras=method.export_modules()))
    return result
