"""Test-time adaptation (TTA): the contract every TTA method follows, and the shared machinery.

A TTA method adapts a trained classifier to a batch of *unlabelled* target pictures — what a user
has when they upload "here are some of my pictures" — without the source data. The rules:

* **Episodic.** Every call starts from the model it is given and works on a deep copy; the model
  passed in is never modified.
* **Few steps, small learning rate**, so a small batch (≥ 8 pictures) cannot drag it far.
* **Guarded** by :func:`core.tta.adapt`: label-free statistics before and after decide whether
  the adapted model is kept.

A method is one file in this package with a :func:`register`-ed :class:`TTAMethod` subclass;
it is discovered automatically.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from ..util.registry import Registry
from ..util.settings import Hyper, coerce_settings


def batch_norm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer of ``model`` (1-d, 2-d or 3-d), in module order."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def reestimate_bn_statistics(model: nn.Module, images: torch.Tensor, prior: float = 0.0,
                             batch_size: int = 512) -> None:
    """Replace every BatchNorm layer's running mean / variance by the statistics of ``images``
    (N, 3, H, W) in [0, 1], in place (Schneider et al., NeurIPS 2020; Li et al. 2016, AdaBN):

        μ ← (n₀ μ_source + N μ_target) / (n₀ + N),   σ² likewise,   n₀ = ``prior``

    so ``prior`` = 0 uses the target statistics alone and a small prior steadies them when N is
    small. Layers are visited in order, so each sees inputs normalised by the layers before it
    already re-estimated (one forward pass per chunk of ``batch_size`` pictures; statistics are
    averaged over chunks). The model is left in eval mode.
    """
    layers = batch_norm_layers(model)
    saved = [(m.running_mean.clone(), m.running_var.clone(), m.momentum) for m in layers]
    model.train()
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the chunks
    for i in range(0, len(images), batch_size):
        model(images[i:i + batch_size])
    n = float(len(images))
    for m, (mean0, var0, momentum) in zip(layers, saved):
        w = prior / (prior + n)
        m.running_mean.mul_(1 - w).add_(mean0 * w)
        m.running_var.mul_(1 - w).add_(var0 * w)
        m.momentum = momentum
    model.eval()


class TTAMethod:
    """Subclass, set the class attributes, implement :meth:`adapt_in_place`, decorate with
    :func:`register`. :func:`core.tta.adapt` hands it a deep copy of the user's model."""

    name: ClassVar[str] = "base"
    label: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    order: ClassVar[int] = 100
    min_images: ClassVar[int] = 8          # fewer pictures: a ValueError saying so
    needs_batch_norm: ClassVar[bool] = False
    hyperparameters: ClassVar[dict[str, Hyper]] = {}

    def __init__(self, **hparams):
        self.hp = coerce_settings(self.hyperparameters, hparams, f"test-time adaptation {self.name!r}",
                                  fill_defaults=True)

    def adapt_in_place(self, model: nn.Module, images: torch.Tensor, generator: torch.Generator) -> None:
        """Adapt ``model`` (a copy) to ``images`` (N, 3, H, W) float in [0, 1]; leave it in eval mode."""
        raise NotImplementedError

    # ---- helpers for subclasses ---------------------------------------------------------------
    def minimise(self, model: nn.Module, images: torch.Tensor, generator: torch.Generator, params: list,
                 objective) -> None:
        """Train only ``params`` of ``model`` to minimise ``objective(logits) -> scalar`` over
        minibatches of ``images`` (:meth:`minibatches` with this method's steps / batch_size /
        epochs), with :class:`Adam` at ``hp["lr"]``. Every other parameter is frozen; the model is
        in eval mode except its BatchNorm layers, which normalise with batch statistics (dropout,
        MixStyle and the like stay off). The loop TENT and SHOT-IM share; they differ in which
        parameters move and in the objective."""
        for p in model.parameters():
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        optimiser = Adam(params, lr=self.hp["lr"])
        model.eval()
        for m in batch_norm_layers(model):
            m.train()
        for idx in self.minibatches(len(images), self.hp["batch_size"], self.hp["steps"], generator,
                                    self.hp.get("epochs")):
            loss = objective(model(images[idx]))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()

    def minibatches(self, n: int, batch_size: int, steps: int, generator: torch.Generator, epochs: float | None = None):
        """Index batches of B = min(batch_size, n) pictures, shuffled passes over the N: ``steps`` of
        them, or fewer — at most ⌈epochs · N / B⌉ — so a handful of pictures is not fitted for
        dozens of steps (on 8 pictures 15 steps of SHOT-IM lost 4 points on LODO, 5 steps gained 2)."""
        size = min(batch_size, n)
        if epochs is not None:
            steps = max(1, min(steps, math.ceil(epochs * n / size)))
        order, pos = torch.randperm(n, generator=generator), 0
        for _ in range(steps):
            if pos + size > n:
                order, pos = torch.randperm(n, generator=generator), 0
            yield order[pos:pos + size]
            pos += size


class Adam:
    """Plain Adam (Kingma & Ba 2015) for the few parameters TTA trains:

        m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²,   p ← p − lr · m̂ / (√v̂ + ε)

    with bias-corrected m̂, v̂. The same update as ``torch.optim.Adam``; written out because the
    first ``torch.optim`` optimiser of a process imports torch's compiler stack (10–25 s on a busy
    2-core machine), which would dominate adapting to a few pictures in a fresh app process.
    """

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = [p for p in params]
        self.lr, self.betas, self.eps, self.t = lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            m.mul_(b1).add_(p.grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            denom = (v / (1 - b2 ** self.t)).sqrt_().add_(self.eps)
            p.addcdiv_(m, denom, value=-self.lr / (1 - b1 ** self.t))


def _check_tta(cls: type[TTAMethod]) -> None:
    if cls.min_images < 1:
        raise ValueError(f"test-time adaptation {cls.name!r}: min_images must be ≥ 1")


#: Every registered test-time adapter, name → class (a :class:`core.util.registry.Registry`).
TTA_METHODS = Registry("test-time adaptation", plural="test-time adaptations", check=_check_tta)
#: Class decorator adding a TTA method to :data:`TTA_METHODS` under ``cls.name``.
register = TTA_METHODS.register


def get_tta_method(name: str) -> type[TTAMethod]:
    """The TTA method called ``name``; unknown names raise listing the valid ones."""
    return TTA_METHODS.lookup(name)
