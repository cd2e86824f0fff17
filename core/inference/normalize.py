"""Pictures read right by default: ``normalize="auto"`` picks, for one batch and one model, how the
pictures enter the model — as they are (``"none"``) or centred like MNIST (``"centre"``,
:func:`core.imageio.centre_like_mnist`) — by a label-free criterion of the model's predictions.

    choice = choose_normalization(model, {"none": x_plain, "centre": x_centred})
    choice.normalize, choice.reason, choice.scores

The criterion (:data:`CRITERIA`, the default :data:`DEFAULT_CRITERION`) scores each variant of the
batch from the model's predictions alone; the variant with the higher score wins, ties go to
``"none"`` (the pictures as they are). Which criterion is the default was measured on the
leave-one-domain-out folds of the embedded domains (``scripts/studies/ingest_lodo.py``: a model
trained on three domains, the fourth's pictures with and without centring; docs/ingest.md); the
unseen fixture domains and users' pictures were not looked at to choose it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

#: What ``auto`` chooses among, in the order ties are broken.
VARIANTS = ("none", "centre")
#: What ``--normalize`` accepts: one of the variants, or ``auto`` (the default for adapt and uploads).
INGEST_CHOICES = VARIANTS + ("auto",)
DEFAULT_INGEST = "auto"


def check_ingest(normalize: str | None) -> str:
    """``normalize`` if it is one of :data:`INGEST_CHOICES` (None: ``"none"``); ValueError listing them."""
    value = "none" if normalize is None else normalize
    if value not in INGEST_CHOICES:
        raise ValueError(f"unknown normalize {normalize!r}; choose one of {', '.join(INGEST_CHOICES)}")
    return value


def _im(logits: torch.Tensor) -> float:
    from ..losses import information_maximization

    ent, div = information_maximization(logits.double())
    return -(ent + div).item()


def _confidence(logits: torch.Tensor) -> float:
    return torch.softmax(logits.double(), 1).max(1).values.mean().item()


def _entropy(logits: torch.Tensor) -> float:
    from ..losses import prediction_entropy

    return -prediction_entropy(logits.double()).mean().item()


#: Label-free criteria, higher is better: information maximisation H(p̄) − mean H(p_i) (confident
#: *and* spread over the classes), mean top-1 confidence, and negative mean entropy.
CRITERIA = {"im": _im, "confidence": _confidence, "entropy": _entropy}
#: The criterion ``auto`` uses: mean top-1 confidence lost the fewest points on the LODO folds
#: (worst fold 5.5 points vs 8.8 for IM and 7.7 for entropy; mean 1.4; docs/ingest.md).
DEFAULT_CRITERION = "confidence"


@dataclass
class NormalizeChoice:
    """What ``auto`` chose: ``normalize`` (one of :data:`VARIANTS`), ``reason`` (one sentence for
    people) and every variant's ``scores``."""

    normalize: str
    reason: str
    criterion: str
    scores: dict = field(default_factory=dict)


def choose_normalization(model, variants: dict[str, torch.Tensor], criterion: str = DEFAULT_CRITERION) -> NormalizeChoice:
    """The variant of a batch (``{"none": (N, 3, S, S), "centre": (N, 3, S, S)}``) whose predictions
    by ``model`` score highest by ``criterion``; no label is read."""
    from ..evaluation import predict_logits

    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")
    scores = {name: CRITERIA[criterion](predict_logits(model, x)) for name, x in variants.items() if len(x)}
    if not scores:
        return NormalizeChoice("none", "no pictures to choose from", criterion, {})
    ordered = [v for v in VARIANTS if v in scores] + [v for v in scores if v not in VARIANTS]
    best = max(ordered, key=lambda v: scores[v])  # max keeps the first of equal scores: "none"
    others = ", ".join(f"{v} {scores[v]:.3f}" for v in ordered if v != best)
    words = {"none": "as they are", "centre": "centred like MNIST"}
    reason = (f"the model's predictions score higher {words.get(best, best)} by {criterion} "
              f"({scores[best]:.3f} vs {others}; label-free)")
    return NormalizeChoice(best, reason, criterion, {k: round(v, 4) for k, v in scores.items()})
