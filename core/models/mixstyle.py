"""MixStyle (Zhou, Yang, Qiao & Xiang, "Domain Generalization with MixStyle", ICLR 2021).

A convolutional feature map's per-instance, per-channel mean μ and standard deviation σ carry the
picture's *style* (colour, texture, contrast); the normalised map carries its content. During
training MixStyle swaps in a random convex mixture of two examples' styles:

    μ(x)_bc = mean_hw x_bchw,   σ(x)_bc = sqrt(var_hw x_bchw + ε)           (detached, as in the paper)
    λ_b ~ Beta(α, α),  j = partner of b (another example; from another source domain if there is one)
    μ_mix = λ μ(x)_b + (1 − λ) μ(x)_j,   σ_mix = λ σ(x)_b + (1 − λ) σ(x)_j
    MixStyle(x)_b = σ_mix · (x_b − μ(x)_b) / σ(x)_b + μ_mix      for a share p of the examples

and is the identity at evaluation (``model.eval()``) and for the other 1 − p examples. It has no
parameters, so a checkpoint with it loads like one without.

Shapes: (B, C, H, W) → (B, C, H, W).

    >>> m = MixStyle(p=1.0).train()
    >>> x = torch.randn(8, 4, 6, 6)
    >>> m(x).shape, torch.equal(m.eval()(x), x)
    (torch.Size([8, 4, 6, 6]), True)

Domain-aware mixing ("crossdomain" in the paper): set ``domain_ids`` (B,) before the forward
pass (:func:`mixing_domains` does it for every MixStyle layer of a model) and each example's
partner comes from another domain whenever the batch has one.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


def pick_partners(batch: int, domain_ids: torch.Tensor | None = None, device=None) -> torch.Tensor:
    """(B,) partner indices: a random other example for each one, from another domain if possible.

    Without ``domain_ids`` (or with one domain only) partners are a random permutation. With them,
    example b's partner is drawn uniformly among examples whose domain differs from b's (falling
    back to any example when b's domain is the only one in the batch). Random scores masked by
    domain and an argmax: O(B²), fine for training batches, no host synchronisation.
    """
    device = device if device is not None else (domain_ids.device if domain_ids is not None else None)
    if domain_ids is None:
        return torch.randperm(batch, device=device)
    scores = torch.rand(batch, batch, device=device)
    other = domain_ids[:, None] != domain_ids[None, :]
    has_other = other.any(1, keepdim=True)
    # where no other domain is present any example may serve (scores stay, only the diagonal is out)
    allowed = torch.where(has_other, other, ~torch.eye(batch, dtype=torch.bool, device=device))
    return torch.where(allowed, scores, scores - 2.0).argmax(1)


class MixStyle(nn.Module):
    """Mix instance-level feature statistics between examples in training; identity at eval.

    ``p``: share of the examples whose style is mixed; ``alpha``: Beta(α, α) concentration
    (0.1 in the paper: λ mostly near 0 or 1, i.e. mostly borrowing one style); ``eps`` keeps σ
    positive. ``domain_ids`` (set per batch, see :func:`mixing_domains`) makes partners come from
    other domains.
    """

    def __init__(self, p: float = 0.5, alpha: float = 0.1, eps: float = 1e-6):
        super().__init__()
        if not 0.0 <= p <= 1.0 or alpha <= 0:
            raise ValueError(f"MixStyle needs 0 ≤ p ≤ 1 and alpha > 0, got p={p}, alpha={alpha}")
        self.p, self.alpha, self.eps = float(p), float(alpha), float(eps)
        self.domain_ids: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or x.shape[0] < 2:
            return x
        b = x.shape[0]
        xf = x.float()
        mu = xf.mean(dim=(2, 3), keepdim=True).detach()
        sig = (xf.var(dim=(2, 3), keepdim=True, unbiased=False) + self.eps).sqrt().detach()
        normed = (xf - mu) / sig
        ids = self.domain_ids if self.domain_ids is not None and len(self.domain_ids) == b else None
        j = pick_partners(b, ids, x.device)
        concentration = torch.full((b,), self.alpha, device=x.device)
        lam = torch.distributions.Beta(concentration, concentration).sample()
        lam = torch.where(torch.rand(b, device=x.device) < self.p, lam, torch.ones_like(lam)).view(b, 1, 1, 1)
        mu_mix = lam * mu + (1 - lam) * mu[j]
        sig_mix = lam * sig + (1 - lam) * sig[j]
        return (normed * sig_mix + mu_mix).to(x.dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}, alpha={self.alpha}"


@contextmanager
def mixing_domains(model: nn.Module, domain_ids: torch.Tensor | None):
    """Within the block, every :class:`MixStyle` layer of ``model`` mixes across ``domain_ids`` (B,)."""
    layers = [m for m in model.modules() if isinstance(m, MixStyle)]
    for m in layers:
        m.domain_ids = domain_ids
    try:
        yield layers
    finally:
        for m in layers:
            m.domain_ids = None
