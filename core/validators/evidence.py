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
    pictures = tgt.images[t_idx]
    t_logits, t_feats = forward_features(model, pictures)
    ev = Evidence(target_logits=t_logits, target_features=t_feats)
    ev.mix_intra, ev.mix_inter = mix_probes(model, pictures, t_logits)
    s_idx = evidence_indices(len(src_train), source_cap)
    _, ev.source_features = forward_features(model, src_train.images[s_idx])
    if len(src_val) and len(src_val.classes) == model.num_classes:  # a model for the source's classes
        ev.val_logits, ev.val_features = forward_features(model, src_val.images)
        ev.val_labels = src_val.labels.clone()
    return ev


MIX_LAMBDA = 0.55  # MixVal's mixing ratio: the first picture dominates, just


def mix_probes(model, pictures: torch.Tensor, logits: torch.Tensor, lam: float = MIX_LAMBDA):
    """MixVal's probes (Hu et al., NeurIPS 2023): picture i is mixed with picture N − 1 − i,

        x̃_i = λ x_i + (1 − λ) x_(N−1−i),   λ = 0.55

    and the model should still predict x_i's (pseudo-)label ŷ_i on x̃_i. Pairs whose pseudo-labels
    agree probe the inside of a cluster (intra), pairs whose labels differ the boundary between two
    (inter). Returns ``(intra, inter)``: (P,) bool tensors, whether the mix kept ŷ_i (empty when
    there are fewer than 2 pictures)."""
    if len(pictures) < 2:
        return torch.zeros(0, dtype=torch.bool), torch.zeros(0, dtype=torch.bool)
    from ..evaluation import predict_logits
    from ..util.modes import unit_float

    partner = torch.arange(len(pictures) - 1, -1, -1)
    pseudo = logits.argmax(1)
    mixed = lam * unit_float(pictures) + (1 - lam) * unit_float(pictures[partner])
    kept = predict_logits(model, mixed).argmax(1) == pseudo
    same = pseudo == pseudo[partner]
    return kept[same], kept[~same]


def largest_class_share(ev: Evidence) -> float | None:
    """Share of the unlabelled target images given the most-predicted class (1/C: even, 1: every
    image one class) — the collapse rule's input (:func:`core.evaluation.collapsed`)."""
    return _share_of_logits(ev.target_logits)


def score_pool_all(evs: list[Evidence], names=None) -> list[tuple[dict[str, float], dict[str, str]]]:
    """Every (or the named) validator's score of every candidate in the pool ``evs`` — pool-aware
    validators relative to the pool, the others each alone: one ``(scores, errors)`` per candidate,
    in the pool's order. A validator that cannot score the pool (too small, a missing piece of
    evidence) puts its message in every candidate's errors; one candidate another validator cannot
    score keeps the others' scores."""
    out = [({}, {}) for _ in evs]
    for name in names or VALIDATORS:
        validator = get_validator(name)
        if validator.pool:
            try:
                values = validator.score_pool(evs)
            except ValidatorError as err:
                for _, errors in out:
                    errors[name] = str(err)
                continue
            for (scores, _), value in zip(out, values):
                scores[name] = value
        else:
            for ev, (scores, errors) in zip(evs, out):
                try:
                    scores[name] = validator.score(ev)
                except ValidatorError as err:
                    errors[name] = str(err)
    return out


def score_all(ev: Evidence, names=None) -> tuple[dict[str, float], dict[str, str]]:
    """Every (or the named) validator's score from the same evidence: ``(scores, errors)``, where a
    validator that cannot score this evidence appears in ``errors`` with its message instead."""
    scores, errors = {}, {}
    for name in names or VALIDATORS:
        try:
            scores[name] = get_validator(name).score(ev)  # a pool validator says it needs a pool
        except ValidatorError as err:
            errors[name] = str(err)
    return scores, errors
