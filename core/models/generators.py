"""Pixel-level GAN networks: a conditional generator G(x, z) and a patch image discriminator D.

Following PixelDA (Bousmalis et al., "Unsupervised Pixel-Level Domain Adaptation with Generative
Adversarial Networks", CVPR 2017, §3 and Fig. 2): G is a residual CNN working at full resolution;
the noise vector z goes through a fully connected layer to extra input channels of the
picture's size (one in PixelDA; ``noise_channels`` here), so G can draw many target-style
pictures of one source picture.

    G: x (B, 3, H, W) in [0, 1], z (B, noise_dim)  ->  (B, 3, H, W) in [0, 1]
       h = ReLU(conv3x3([x, reshape(W_z z)]))           (B, C, H, W); W_z z: (B, noise_channels·H·W)
       h = h + conv(ReLU(norm(conv(h))))                 × ``blocks`` residual blocks
       G(x, z) = sigmoid(conv3x3(h))                     sigmoid keeps the output in [0, 1]

    D: (B, 3, H, W) in [0, 1]  ->  (B, P) logits of "a real target picture", one per patch
       (two stride-2 4x4 convolutions, then a 3x3 one: P = (H/4)² patches of ~18x18 pixels)

The noise is z ~ U(−1, 1)^noise_dim as in PixelDA (:func:`sample_noise`).

>>> G = build_generator({"kind": "pixel_generator", "channels": 16, "blocks": 1, "noise_dim": 10, "input_size": 28})
>>> y = translate(G, torch.rand(4, 3, 28, 28))
>>> tuple(y.shape), bool(y.min() >= 0 and y.max() <= 1)
((4, 3, 28, 28), True)
"""

from __future__ import annotations

import torch
from torch import nn

from ..util.modes import evaluating, unit_float
from . import register_extra

GENERATOR_KINDS = ("pixel_generator",)
# Keys a generator spec may carry, with the bounds build_generator enforces (specs come from
# untrusted model cards, so sizes are capped before any memory is allocated).
GENERATOR_LIMITS = {"channels": (1, 512), "blocks": (0, 32), "noise_dim": (0, 1024), "noise_channels": (1, 8),
                    "input_size": (8, 512)}
GENERATOR_NORMS = ("batch", "instance", "none")
GENERATOR_SPEC_KEYS = {"kind", "norm", *GENERATOR_LIMITS}


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


class ResidualBlock(nn.Module):
    """h + conv3x3(ReLU(norm(conv3x3(h)))) followed by norm: (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int, norm: str = "batch"):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), _norm(norm, channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1), _norm(norm, channels),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.body(h)


class PixelGenerator(nn.Module):
    """PixelDA's generator G(x, z): a residual CNN at full resolution (see the module docstring).

    ``channels`` C, ``blocks`` residual blocks, ``noise_dim`` (0: no noise), ``noise_channels`` (the
    planes W_z z fills), ``input_size`` H = W (the noise planes' size), ``norm`` "batch" (PixelDA),
    "instance" or "none".
    ``spec`` is the JSON-able description :func:`build_generator` rebuilds it from.
    """

    def __init__(self, channels: int = 32, blocks: int = 2, noise_dim: int = 10, input_size: int = 28,
                 norm: str = "batch", noise_channels: int = 1):
        super().__init__()
        if norm not in GENERATOR_NORMS:
            raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(GENERATOR_NORMS)}")
        self.noise_dim, self.input_size = int(noise_dim), int(input_size)
        self.noise_channels = int(noise_channels) if noise_dim > 0 else 0
        self.spec = {"kind": "pixel_generator", "channels": int(channels), "blocks": int(blocks),
                     "noise_dim": self.noise_dim, "noise_channels": int(noise_channels),
                     "input_size": self.input_size, "norm": norm}
        self.noise_map = (nn.Linear(noise_dim, self.noise_channels * input_size * input_size)
                          if noise_dim > 0 else None)
        in_ch = 3 + self.noise_channels
        self.stem = nn.Sequential(nn.Conv2d(in_ch, channels, 3, padding=1), nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(*[ResidualBlock(channels, norm) for _ in range(blocks)])
        self.out = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, 3, H, W) in [0, 1], z (B, noise_dim) -> (B, 3, H, W) in [0, 1]."""
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            raise ValueError(f"expected images (B, 3, {self.input_size}, {self.input_size}), got {tuple(x.shape)}")
        inputs = x * 2 - 1
        if self.noise_map is not None:
            if z is None or z.shape != (x.shape[0], self.noise_dim):
                got = None if z is None else tuple(z.shape)
                raise ValueError(f"expected noise z of shape ({x.shape[0]}, {self.noise_dim}), got {got}")
            plane = self.noise_map(z.to(inputs.dtype)).view(-1, self.noise_channels, self.input_size, self.input_size)
            inputs = torch.cat([inputs, plane.to(inputs.dtype)], 1)
        return torch.sigmoid(self.out(self.blocks(self.stem(inputs))))


class PatchDiscriminator(nn.Module):
    """Image discriminator D: (B, 3, H, W) in [0, 1] -> (B, P) logits, one per overlapping patch.

    conv4x4/2(3→C) → LeakyReLU → conv4x4/2(C→2C) → LeakyReLU → conv3x3(2C→1), LeakyReLU slope 0.2;
    P = (H/4)², 49 patches for 28x28. ``noise_std`` adds Gaussian noise to D's input while
    training (instance noise; PixelDA adds noise to every layer of D for the same reason: a D
    that cannot separate the domains perfectly keeps giving G useful gradients).
    """

    def __init__(self, channels: int = 32, noise_std: float = 0.0, dropout: float = 0.0):
        super().__init__()
        self.noise_std = float(noise_std)
        self.net = nn.Sequential(
            nn.Conv2d(3, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            nn.Conv2d(2 * channels, 1, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * 2 - 1
        if self.training and self.noise_std > 0:
            x = x + self.noise_std * torch.randn_like(x)
        return self.net(x).flatten(1)


@register_extra("pixel_generator")
def build_generator(spec: dict) -> PixelGenerator:
    """Rebuild a generator from its JSON-able ``spec`` (``G.spec``); refuses unknown kinds or keys
    and sizes outside :data:`GENERATOR_LIMITS` with a ValueError saying what is allowed.

    Registered as the ``"pixel_generator"`` extra, so :func:`core.models.build_extra` (and with it
    a checkpoint's ``card["extras"]``) rebuilds generators through here."""
    if not isinstance(spec, dict):
        raise ValueError(f"a generator spec is a dict, not {type(spec).__name__}")
    kind = spec.get("kind")
    if kind not in GENERATOR_KINDS:
        raise ValueError(f"unknown generator kind {kind!r}; available: {', '.join(GENERATOR_KINDS)}")
    extra = set(spec) - GENERATOR_SPEC_KEYS
    if extra:
        raise ValueError(f"unknown generator spec keys {sorted(extra)}; allowed: {sorted(GENERATOR_SPEC_KEYS)}")
    args = {}
    for key, (low, high) in GENERATOR_LIMITS.items():
        if key not in spec:
            continue
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"generator spec {key!r} must be an integer in [{low}, {high}], got {value!r}")
        args[key] = value
    norm = spec.get("norm", "batch")
    if norm not in GENERATOR_NORMS:
        raise ValueError(f"generator spec 'norm' must be one of {', '.join(GENERATOR_NORMS)}, got {norm!r}")
    return PixelGenerator(**args, norm=norm)


def sample_noise(n: int, noise_dim: int, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """z ~ U(−1, 1)^noise_dim (PixelDA's noise), (n, noise_dim), drawn with ``generator`` if given."""
    device = generator.device if generator is not None else device
    return torch.rand(n, noise_dim, device=device, generator=generator) * 2 - 1


@torch.no_grad()
def translate(generator: nn.Module, x: torch.Tensor, z: torch.Tensor | None = None,
              generator_rng: torch.Generator | None = None) -> torch.Tensor:
    """Source pictures ``x`` (B, 3, H, W) — float in [0, 1] or uint8 — drawn in the target's style.

    ``z`` (B, noise_dim) defaults to fresh U(−1, 1) noise from ``generator_rng`` (a seeded
    torch.Generator gives reproducible pictures). Runs G in eval mode without gradients and
    returns float (B, 3, H, W) in [0, 1] on x's device.
    """
    with evaluating(generator):
        device = next(generator.parameters()).device
        x = unit_float(x.to(device))
        noise_dim = int(getattr(generator, "noise_dim", 0))
        if z is None and noise_dim > 0:
            z = sample_noise(len(x), noise_dim, "cpu" if generator_rng is None else None, generator_rng)
        return generator(x, None if z is None else z.to(device)).float()


__all__ = ["GENERATOR_LIMITS", "GENERATOR_SPEC_KEYS", "PatchDiscriminator", "PixelGenerator",
           "ResidualBlock", "build_generator", "sample_noise", "translate"]
