"""Batched image augmentations on tensors (any device), used by self-training.

All take and return float images (B, 3, H, W) in [0, 1] and draw randomness from ``generator``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_translate(x: torch.Tensor, max_shift: int = 2, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each image by up to ``max_shift`` pixels in x and y (edge-replicated padding)."""
    b, _, h, w = x.shape
    pad = F.pad(x, (max_shift,) * 4, mode="replicate")
    dx = torch.randint(0, 2 * max_shift + 1, (b,), device=x.device, generator=generator)
    dy = torch.randint(0, 2 * max_shift + 1, (b,), device=x.device, generator=generator)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None])  # (B, H)
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None])  # (B, W)
    idx_b = torch.arange(b, device=x.device)[:, None, None]
    out = pad.permute(0, 2, 3, 1)[idx_b, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def color_jitter(x: torch.Tensor, strength: float = 0.4, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random brightness, contrast, per-channel gain, channel permutation and inversion."""
    b = x.shape[0]
    rand = lambda *s: torch.rand(*s, device=x.device, generator=generator)
    brightness = (rand(b, 1, 1, 1) - 0.5) * 2 * strength
    contrast = 1 + (rand(b, 1, 1, 1) - 0.5) * 2 * strength
    gain = 1 + (rand(b, 3, 1, 1) - 0.5) * strength
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    y = ((x - mean) * contrast + mean + brightness) * gain
    perm = torch.stack([torch.randperm(3, device=x.device, generator=generator) for _ in range(b)])
    y = torch.gather(y, 1, perm[:, :, None, None].expand_as(y))
    invert = rand(b, 1, 1, 1) < 0.3
    y = torch.where(invert, 1 - y, y)
    return y.clamp(0, 1)


def cutout(x: torch.Tensor, size: int = 8, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill one random square of side 2·(size//2)+1 per image with grey."""
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b, 1, 1), device=x.device, generator=generator)
    cx = torch.randint(0, w, (b, 1, 1), device=x.device, generator=generator)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    mask = ((ys - cy).abs() <= size // 2) & ((xs - cx).abs() <= size // 2)
    return torch.where(mask[:, None], torch.full_like(x, 0.5), x)


def weak_augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Small translation only: the view pseudo-labels are read from."""
    return random_translate(x, 2, generator)


def strong_augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Translation, colour jitter, Gaussian noise and cutout: the view that must agree."""
    y = color_jitter(random_translate(x, 3, generator), 0.5, generator)
    noise = torch.randn(y.shape, device=y.device, generator=generator) * 0.05
    return cutout((y + noise).clamp(0, 1), 8, generator)
