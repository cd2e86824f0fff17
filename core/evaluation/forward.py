"""Forward passes for evaluation: logits, features, both at once, and accuracy on a domain.

Every pass runs in eval mode (the model's own mode is restored after, :func:`core.util.modes.evaluating`),
without gradients, in batches bounded by :data:`EVAL_PIXEL_BUDGET`, on uint8 pictures (scaled by
1/255) or float pictures in [0, 1]; results come back on the CPU as float32.

    logits = predict_logits(model, domain.images)                  # (N, C)
    logits, features = forward_features(model, domain.images)      # one pass, (N, C) and (N, D)
    acc = evaluate_accuracy(model, domain)                         # %, streamed splits too
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..util.modes import evaluating, unit_float

#: Most pixels one evaluation batch holds (per channel): 512 pictures of 28×28 … 8 of 224×224.
#: Keeps evaluation memory flat whatever input size a checkpoint declares.
EVAL_PIXEL_BUDGET = 512 * 64 * 64
#: The same on a CPU: 167 digits of 28×28 a batch. As fast there as 512 (3.0 s for 3 × 500 MNIST-M
#: test pictures either way, one thread), with a third of the transient memory (a 512-picture batch
#: lifted a process's peak by ~90 MB: scripts/bench/crowd_memory.py, docs/deploying.md).
CPU_EVAL_PIXEL_BUDGET = 128 * 32 * 32


def _device(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:  # a model without parameters
        return torch.device("cpu")


def batched(model: nn.Module, images: torch.Tensor, fn, batch_size: int = 512, device=None) -> list:
    """``fn(x)`` for every batch ``x`` of ``images`` (N, 3, H, W; uint8 or float in [0, 1]) as unit
    floats on the model's device — at most ``batch_size`` pictures and :data:`EVAL_PIXEL_BUDGET`
    pixels a batch — in eval mode without gradients; returns the list of ``fn``'s results."""
    device = device or _device(model)
    h, w = images.shape[-2:] if images.ndim == 4 else (1, 1)
    budget = CPU_EVAL_PIXEL_BUDGET if torch.device(device).type == "cpu" else EVAL_PIXEL_BUDGET
    batch_size = max(1, min(batch_size, budget // max(1, h * w)))
    out = []
    with evaluating(model), torch.no_grad():
        for i in range(0, len(images), batch_size):
            out.append(fn(unit_float(images[i:i + batch_size].to(device, non_blocking=True))))
    return out


def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int = 512,
                   device: torch.device | str | None = None) -> torch.Tensor:
    """Logits for ``images`` (N, 3, H, W) — uint8 (scaled by 1/255) or float in [0, 1] → (N, C) on CPU."""
    parts = batched(model, images, lambda x: model(x).float().cpu(), batch_size, device)
    return torch.cat(parts) if parts else torch.empty(0, int(getattr(model, "num_classes", 0) or 0))


def extract_features(model: nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """``model.features`` for ``images`` (N, 3, H, W) → (N, D) on CPU."""
    parts = batched(model, images, lambda x: model.features(x).float().flatten(1).cpu(), batch_size)
    return torch.cat(parts) if parts else torch.empty(0, 0)


def forward_features(model: nn.Module, images: torch.Tensor, batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits (N, C), features (N, D))`` in one pass: ``model.head(model.features(x))``."""
    def both(x):
        f = model.features(x)
        return model.head(f).float().cpu(), f.float().flatten(1).cpu()

    parts = batched(model, images, both, batch_size)
    if not parts:
        return torch.empty(0, int(getattr(model, "num_classes", 0) or 0)), torch.empty(0, 0)
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of argmax predictions equal to the labels, in percent."""
    return 100.0 * (logits.argmax(1) == labels.to(logits.device)).float().mean().item()


def evaluate_accuracy(model: nn.Module, domain, batch_size: int = 512, workers: int | None = None) -> float:
    """Top-1 accuracy (%) of ``model`` on a :class:`core.data.TensorDomain`. A split streamed from
    disk (:class:`core.data.lazy.FileImages`) is read in order by a DataLoader with ``workers``
    decoding processes; unreadable pictures are left out and listed in ``domain.skipped``. NaN when
    no picture could be scored."""
    from ..data.lazy import FileImages

    if not isinstance(domain.images, FileImages):
        if len(domain) == 0:
            return math.nan
        return accuracy(predict_logits(model, domain.images, batch_size), domain.labels)
    return _streamed_accuracy(model, domain, batch_size, workers)


def _streamed_accuracy(model: nn.Module, domain, batch_size: int, workers: int | None) -> float:
    from ..data.lazy import FileItems, default_workers

    images = domain.images
    batch_size = max(1, min(batch_size, EVAL_PIXEL_BUDGET // (images.size ** 2)))
    workers = default_workers(1, 1) if workers is None else workers
    order = [list(range(i, min(i + batch_size, len(images)))) for i in range(0, len(images), batch_size)]
    loader = torch.utils.data.DataLoader(FileItems(images, domain.labels), batch_sampler=order, num_workers=workers,
                                         collate_fn=_readable)
    device = _device(model)
    correct = total = 0
    with evaluating(model), torch.no_grad():
        for x, y, bad in loader:
            for name, why in bad:
                domain.skipped[name] = why
            if x is None:
                continue
            pred = model(unit_float(x.to(device))).argmax(1).cpu()
            correct += int((pred == y).sum())
            total += len(y)
    return 100.0 * correct / total if total else math.nan


def _readable(items):
    """Collate the readable pictures of a batch: (uint8 batch or None, labels, [(name, why)])."""
    good = [it for it in items if it[0] is not None]
    bad = [it[2] for it in items if it[0] is None]
    if not good:
        return None, None, bad
    return torch.stack([it[0] for it in good]), torch.tensor([it[1] for it in good]), bad
