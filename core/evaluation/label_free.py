"""What a model's predictions on unlabelled pictures say without any label — and the one collapse rule.

    share = largest_class_share(logits)          # share of the pictures given the most-predicted class
    collapsed(share, baseline_share)             # the rule selection, the zoo and the TTA guard apply
    label_free_stats(model, images)              # entropy, confidence, IM, class spread of a model

**Collapse.** A model whose most-predicted class on the unlabelled target takes more than
:data:`COLLAPSE_JUMP` (0.2) of the pictures above a reference's share has collapsed onto that class
(pseudo-labels reinforcing their own mistakes end there: self-training on MNIST → SynDigits sent
most pictures to one digit with the best source validation accuracy of the pool). The reference is
source-only for a trained candidate, the unadapted model for test-time adaptation, and the run's
own healthy start for a checkpoint along a training curve.
"""

from __future__ import annotations

import torch
from torch import nn

from ..losses import information_maximization, prediction_entropy

#: How much the most-predicted class's share may rise above the reference's before a model counts
#: as collapsed (label-free; shared by recommend, the zoo, the training-curve guard and TTA).
COLLAPSE_JUMP = 0.2


def largest_class_share(logits: torch.Tensor | None) -> float | None:
    """Share of the pictures given the most-predicted class: 1/C when even, 1 when every picture
    gets one class; None without logits. logits: (N, C)."""
    if logits is None or not len(logits):
        return None
    counts = torch.bincount(logits.argmax(1), minlength=logits.shape[1])
    return float(counts.max()) / len(logits)


def collapsed(share: float | None, reference_share: float | None, jump: float = COLLAPSE_JUMP) -> bool:
    """Whether a model whose largest predicted class takes ``share`` of the pictures has collapsed
    against a reference's ``reference_share`` (unknown shares never count as collapse)."""
    return share is not None and reference_share is not None and share > reference_share + jump


def logit_stats(logits: torch.Tensor) -> dict:
    """:func:`label_free_stats` from logits already computed (N, C)."""
    probs = torch.softmax(logits.float(), 1)
    counts = torch.bincount(probs.argmax(1), minlength=probs.shape[1])
    ent, div = information_maximization(logits)
    return {"mean_entropy": round(float(prediction_entropy(logits).mean()), 4),
            "max_class_share": round(float(counts.max()) / len(logits), 4),
            "top_class": int(counts.argmax()),
            "classes_predicted": int((counts > 0).sum()),
            "mean_confidence": round(float(probs.max(1).values.mean()), 4),
            "im_loss": round(float(ent + div), 4)}


def label_free_stats(model: nn.Module, images: torch.Tensor, batch_size: int = 512) -> dict:
    """What can be said about a model's predictions on ``images`` (N, 3, H, W) without labels:

    ``mean_entropy`` (nats, mean_i H(p_i)), ``max_class_share`` (share of the pictures given the
    most-predicted class), ``top_class`` (its index), ``classes_predicted`` (how many classes get
    at least one picture), ``mean_confidence`` (mean_i max_c p_ic) and ``im_loss`` (SHOT's mean
    entropy − entropy of the mean). The model is evaluated in eval mode and left as it was."""
    from .forward import predict_logits

    return logit_stats(predict_logits(model, images, batch_size))
