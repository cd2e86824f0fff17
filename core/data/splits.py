"""Splits a run uses beyond train / test: the held-out source validation part and few-shot picks.

The engine trains on the source train split *minus* a held-out validation part
(:func:`split_source`: 10 % of every class, drawn with a fixed seed independent of the run's, so
every run of a scenario holds out the same images); validators and the reports read it as
``source_val_acc``. Target train images are used without their labels (unless a method is allowed
a few of them: :func:`few_shot_indices`).
"""

from __future__ import annotations

import torch

from .base import TensorDomain
from .lazy import is_lazy

SOURCE_VAL_FRACTION = 0.1   # share of each source class held out for validation
SOURCE_VAL_SEED = 1_000_003  # fixed: the held-out images do not depend on the run's seed


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
