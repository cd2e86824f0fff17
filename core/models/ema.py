"""A mean teacher: a frozen copy of a network whose weights follow the student's exponential
moving average (Tarvainen & Valpola, NeurIPS 2017; used for adaptation by French et al. 2018):

    θ' ← α θ' + (1 − α) θ        after every optimiser step of the student θ

so the teacher averages the student's last ~1 / (1 − α) steps — steadier pseudo-labels, and a
model that does not follow one bad batch.

    teacher = ema_copy(model)
    ...; ema_update(teacher, model, 0.99)
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def ema_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with every parameter frozen (``requires_grad=False``)."""
    teacher = copy.deepcopy(model)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, alpha: float, buffers: bool = True) -> None:
    """θ' ← α θ' + (1 − α) θ for every parameter; with ``buffers`` the student's buffers (batch-norm
    running statistics) are copied too, else the teacher keeps its own."""
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(alpha).add_(s.detach(), alpha=1 - alpha)
    if buffers:
        for t, s in zip(teacher.buffers(), student.buffers()):
            t.copy_(s)
