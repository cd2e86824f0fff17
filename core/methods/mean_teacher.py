"""The pieces the mean-teacher methods share (self-training, AdaMatch, self-ensembling).

**The teacher.** :class:`MeanTeacherMethod` keeps a frozen copy of the network whose weights follow
the student's exponential moving average after every optimiser step (:mod:`core.models.ema`),

    θ' ← α θ' + (1 − α) θ,        α = the method's ``ema`` hyperparameter,

and that copy is the model the run evaluates and saves. With α = 0 there is no teacher (the
student is the model) unless the method declares ``teacher_required``.

**The confidence mask.** :func:`confident`: a pseudo-label ŷ_i = argmax_c q_ic counts where the
labeller is sure enough, m_i = 1[max_c q_ic ≥ τ]:

    >>> q = torch.tensor([[0.9, 0.1], [0.6, 0.4]])
    >>> confident(q, 0.8)
    (tensor([0, 0]), tensor([1., 0.]))

**The target-mean window.** :class:`TargetMeanWindow`: the mean target prediction p̄_t over the last
``size`` batches (128 in ReMixMatch and AdaMatch), which distribution alignment
(:func:`core.losses.distribution_alignment`) divides by. Only the batches seen count: after k < size
batches p̄_t is the mean of those k, not of k batches and size − k uniform placeholders (which would
hold the alignment near "no correction" for the first ``size`` steps, for no reason).

**The ramp.** :func:`cosine_ramp`: the weight of an unlabelled loss rising from 0 to 1 over the first
``length`` of the run, ½ (1 − cos(π · min(1, p / length))), then 1. One word per meaning across the
methods: *warm-up* is only the linear learning-rate ramp (:meth:`Method.lr_factor`); the *ramp* is this
cosine rise of a loss weight (``ramp_fraction``); a *source-only phase* trains on labelled source
pictures alone (``source_only_fraction``).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from ..models.ema import ema_copy, ema_update
from .base import Batch, Method


def cosine_ramp(progress: float, length: float) -> float:
    """½ (1 − cos(π · min(1, progress / length))): 0 → 1 over the first ``length`` of the run, then 1;
    1 throughout when ``length`` ≤ 0."""
    if length <= 0:
        return 1.0
    return 0.5 * (1.0 - math.cos(math.pi * min(1.0, progress / length)))


def confident(probs: torch.Tensor, threshold: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pseudo-labels and the confidence mask: probs (B, C), threshold τ (a number or a 0-d tensor) →
    (ŷ (B,) int64 = argmax_c, m (B,) float = 1[max_c ≥ τ])."""
    confidence, labels = probs.max(1)
    return labels, (confidence >= threshold).float()


class TargetMeanWindow:
    """The mean of the last ``size`` batches' mean predictions (C,), over the batches seen so far.

        window = TargetMeanWindow(classes=10, size=128, device=device)
        p_bar = window.push(probs)       # records probs.mean(0) (B, C) → returns the window's mean (C,)
    """

    def __init__(self, classes: int, size: int = 128, device: torch.device | str | None = None):
        if size < 1:
            raise ValueError(f"the window holds at least one batch, not {size}")
        self.means = torch.zeros(size, classes, device=device)
        self.seen = 0

    def push(self, probs: torch.Tensor) -> torch.Tensor:
        """Record this batch's mean prediction and return the mean over the filled slots."""
        size = len(self.means)
        self.means[self.seen % size] = probs.detach().float().mean(0)
        self.seen += 1
        return self.means[: min(self.seen, size)].mean(0)


class MeanTeacherMethod(Method):
    """A :class:`Method` whose evaluated (and saved) model is the EMA teacher ``self.teacher``.

    Subclasses declare an ``ema`` hyperparameter and call :meth:`make_teacher` at the end of their
    ``setup`` (after any model rebuild). ``teacher_buffers``: the teacher copies the student's
    buffers (batch-norm running statistics) after every step; False keeps its own (self-ensembling,
    whose teacher sees both domains). ``teacher_required``: keep a teacher even at α = 0.
    """

    teacher_buffers: ClassVar[bool] = True
    teacher_required: ClassVar[bool] = False

    def make_teacher(self) -> None:
        alpha = self.hp["ema"]
        self.teacher = ema_copy(self.model).eval() if alpha > 0 or self.teacher_required else None

    def labeller(self):
        """The network that reads pseudo-labels: the teacher when there is one, else the student."""
        return self.teacher if self.teacher is not None else self.model

    def eval_model(self):
        return self.labeller()

    def train_step(self, batch: Batch, progress):
        losses = super().train_step(batch, progress)
        if self.teacher is not None:
            ema_update(self.teacher, self.model, self.hp["ema"], buffers=self.teacher_buffers)
        return losses
