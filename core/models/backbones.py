"""Feature extractors. Each maps float RGB images in [0, 1] of shape (B, 3, H, W) to (B, D).

Normalisation ((x - mean) / std) lives inside the backbone so a checkpoint is self-contained.
"""

from __future__ import annotations

import torch
from torch import nn

from .mixstyle import MixStyle


class Normalize(nn.Module):
    """Per-channel (x - mean) / std with constants stored as buffers."""

    def __init__(self, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)


class DigitsCNN(nn.Module):
    """The LeNet-style digits network of the DANN paper family.

    conv(3→c1, 5) → [BN] → maxpool 2 → ReLU → conv(c1→c2, 5) → [BN] → maxpool 2 → ReLU
    → flatten → fc(c2·s·s → feature_dim) → ReLU, with s = ((H - 4) / 2 - 4) / 2 (4 for 28×28).

    Shapes: (B, 3, H, W) in [0, 1] → (B, feature_dim).
    ``width`` scales the channel counts (1.0 → 32/64; 0.5 → 16/32 for a distilled student).
    ``batch_norm`` adds BatchNorm after each convolution (what test-time adaptation re-estimates
    and tunes, :mod:`core.tta`). ``mixstyle`` = k inserts a :class:`~core.models.mixstyle.MixStyle`
    layer after each of the first k ∈ {0, 1, 2} conv stages (active in training only).
    """

    def __init__(self, input_size: int = 28, width: float = 1.0, feature_dim: int = 128,
                 batch_norm: bool = False, dropout: float = 0.0, mixstyle: int = 0):
        super().__init__()
        c1, c2 = max(4, int(round(32 * width))), max(8, int(round(64 * width)))
        spatial = ((input_size - 4) // 2 - 4) // 2
        if spatial < 1:
            raise ValueError(f"input_size {input_size} is too small for DigitsCNN (need ≥ 16)")
        norm = (lambda c: nn.BatchNorm2d(c)) if batch_norm else (lambda c: nn.Identity())
        self.normalize = Normalize()
        # max-pool before ReLU: max and ReLU commute exactly (ReLU is monotone), and the ReLU then
        # touches a quarter of the values (ReLU forward + backward were ~5 % of a CPU DANN step in
        # torch.profiler)
        if mixstyle not in (0, 1, 2):
            raise ValueError(f"mixstyle is the number of conv stages followed by MixStyle (0, 1 or 2), not {mixstyle!r}")
        self.conv = nn.Sequential(
            nn.Conv2d(3, c1, 5), norm(c1), nn.MaxPool2d(2), nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, 5), norm(c2), nn.MaxPool2d(2), nn.ReLU(inplace=True),
        )
        # MixStyle after the first ``mixstyle`` stages; parameter-free and outside ``conv``, so the
        # state dict is the same with or without them
        self.mix = nn.ModuleList(MixStyle() for _ in range(mixstyle))
        self.fc = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            nn.Linear(c2 * spatial * spatial, feature_dim), nn.ReLU(inplace=True),
        )
        self.out_dim = feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.mix:
            return self.fc(self.conv(self.normalize(x)))
        h = self.normalize(x)
        for i, layer in enumerate(self.conv):
            h = layer(h)
            if i % 4 == 3 and i // 4 < len(self.mix):  # the end of conv stage i // 4
                h = self.mix[i // 4](h)
        return self.fc(h)


class ResNet18Backbone(nn.Module):
    """torchvision ResNet-18 without its final fc: (B, 3, H, W) → (B, 512).

    No weights are downloaded. ``weights_path`` may name a local torchvision ResNet-18
    state dict in safetensors format (ImageNet weights, say); it is read with
    ``safetensors`` so loading runs no code from the file.
    """

    def __init__(self, input_size: int = 224, weights_path: str | None = None):
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None)
        if weights_path:
            from safetensors.torch import load_file

            state = {k: v for k, v in load_file(weights_path).items() if not k.startswith("fc.")}
            missing, unexpected = net.load_state_dict(state, strict=False)
            if unexpected or [k for k in missing if not k.startswith("fc.")]:
                raise ValueError(f"{weights_path} is not a ResNet-18 state dict")
        net.fc = nn.Identity()
        self.normalize = Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        self.net = net
        self.out_dim = 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))
