"""Gradient reversal layer (Ganin & Lempitsky, 2015).

Forward is the identity; backward multiplies the incoming gradient by ``-lambda``:

    R_λ(x) = x,        dR_λ/dx = -λ I

λ may be a Python number or a 0-d tensor; a tensor keeps the layer free of host values, so a
step that uses it can be captured in a CUDA graph (the engine's fast path) with λ updated in place.

Placed between a feature extractor and a domain classifier, it lets one optimiser step
*minimise* the domain loss w.r.t. the classifier while *maximising* it w.r.t. the features.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class _GradientReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lambda_: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(lambda_)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (lambda_,) = ctx.saved_tensors
        return grad_output * -lambda_, None  # a 0-d λ keeps grad_output's dtype


def grad_reverse(x: torch.Tensor, lambda_: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Identity on ``x`` (any shape) whose gradient is scaled by ``-lambda_`` (a number or 0-d tensor)."""
    if not isinstance(lambda_, torch.Tensor):
        exact = torch.float32 if x.device.type == "mps" else torch.float64  # MPS has no float64
        lambda_ = torch.tensor(float(lambda_), dtype=exact, device=x.device)
    return _GradientReverse.apply(x, lambda_.detach())


def dann_lambda(progress: float | torch.Tensor, gamma: float = 10.0) -> float | torch.Tensor:
    """The DANN schedule λ_p = 2 / (1 + exp(-γ p)) - 1, rising from 0 (p=0) towards 1 (p=1).

    ``progress`` is clamped to [0, 1]; a tensor gives a tensor (no host sync), a number a float.

    >>> round(dann_lambda(0.0), 3), round(dann_lambda(1.0), 3)
    (0.0, 1.0)
    """
    if isinstance(progress, torch.Tensor):
        return 2.0 / (1.0 + torch.exp(-gamma * progress.clamp(0.0, 1.0))) - 1.0
    p = min(max(float(progress), 0.0), 1.0)
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


class GradientReversal(nn.Module):
    """Module form of :func:`grad_reverse`; set ``.lambda_`` (e.g. from :func:`dann_lambda`)."""

    def __init__(self, lambda_: float = 1.0):
        super().__init__()
        self.lambda_ = float(lambda_)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.lambda_)

    def extra_repr(self) -> str:
        return f"lambda_={self.lambda_:.4f}"
