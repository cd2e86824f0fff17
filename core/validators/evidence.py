"""Gather a trained model's evidence once, so every validator scores the same numbers.

    ev = gather_evidence(model, source="mnist", target="mnistm")
    ev.target_logits (N, C), ev.target_features (N, D)   N ≤ target_cap unlabelled target train images
    ev.val_logits (M, C), ev.val_labels (M,), ev.val_features (M, D)   the source validation split
    ev.source_features (K, D)                            K ≤ source_cap source train images (DEV)

The target images are a fixed-seed sample of the target *train* split (labels never read), the
source validation split is :func:`core.data.splits.split_source`'s — the images no run trained on —
and the source sample comes from the rest of the source train split. One forward pass per image
gives both features and logits (``model.head(model.features(x))``).
"""

from __future__ import annotations

import torch

from ..data.sampling import sample_indices
from ..data.splits import split_source
from ..evaluation import forward_features, largest_class_share as _share_of_logits
from .base import VALIDATORS, Evidence, ValidatorError, get_validator

TARGET_CAP = 2000        # unlabelled target images scored (a fixed-seed sample when there are more)
SOURCE_CAP = 2000        # source train images for DEV's domain classifier
SAMPLE_SEED = 1_000_033  # fixed, like the source validation split: the same images for every model


def evidence_indices(n: int, cap: int) -> torch.Tensor:
    """Which of ``n`` images evidence is gathered on: all of them, or the fixed sample of ``cap``
    (:func:`core.data.sampling.sample_indices` with :data:`SAMPLE_SEED`), sorted."""
    return torch.arange(n) if n <= cap else torch.from_numpy(sample_indices(n, cap, SAMPLE_SEED)).long()


def _domain(spec, split: str, size: int):
    from ..data import load_domain

    return load_domain(spec, split, size) if isinstance(spec, str) else spec


def gather_evidence(model, source, target, *, target_cap: int = TARGET_CAP, source_cap: int = SOURCE_CAP) -> Evidence:
    """Run ``model`` once over the unlabelled target train images (capped) and the source validation
    split (+ a source train sample); see the module docstring.

    ``source`` / ``target``: domain names (``"mnist"``, ``"folder:PATH"``, …) or the train split as a
    :class:`core.data.TensorDomain`. Images are loaded at the model's input size.
    """
    size = int(getattr(model, "input_size", 28))
    src_train, src_val = split_source(_domain(source, "train", size))
    tgt = _domain(target, "train", size)
    t_idx = evidence_indices(len(tgt), target_cap)
    t_logits, t_feats = forward_features(model, tgt.images[t_idx])
    ev = Evidence(target_logits=t_logits, target_features=t_feats)
    s_idx = evidence_indices(len(src_train), source_cap)
    _, ev.source_features = forward_features(model, src_train.images[s_idx])
    if len(src_val) and len(src_val.classes) == model.num_classes:  # a model for the source's classes
        ev.val_logits, ev.val_features = forward_features(model, src_val.images)
        ev.val_labels = src_val.labels.clone()
    return ev


def largest_class_share(ev: Evidence) -> float | None:
    """Share of the unlabelled target images given the most-predicted class (1/C: even, 1: every
    image one class) — the collapse rule's input (:func:`core.evaluation.collapsed`)."""
    return _share_of_logits(ev.target_logits)


def score_all(ev: Evidence, names=None) -> tuple[dict[str, float], dict[str, str]]:
    """Every (or the named) validator's score from the same evidence: ``(scores, errors)``, where a
    validator that cannot score this evidence appears in ``errors`` with its message instead."""
    scores, errors = {}, {}
    for name in names or VALIDATORS:
        try:
            scores[name] = get_validator(name).score(ev)
        except ValidatorError as err:
            errors[name] = str(err)
    return scores, errors
