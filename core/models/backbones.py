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


class ImageStandardize(nn.Module):
    """Per-image standardisation (the input normalisation of self-ensembling, French et al. 2018):

        x̂ = (x − mean(x)) / (std(x) + ε),   mean and std over each image's channels and pixels

    so a picture's brightness and contrast do not matter, only its pattern. (B, 3, H, W) → same."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        mean = flat.mean(1).view(-1, 1, 1, 1)
        std = flat.std(1, unbiased=False).view(-1, 1, 1, 1)
        return (x - mean) / (std + 1e-5)


#: How the digits CNN normalises its input: fixed dataset constants, or each picture by itself.
INPUT_NORMS = ("dataset", "image")


#: Smallest input side the digits CNN accepts: two 5×5 convolutions and two 2×2 poolings leave 1×1.
DIGITS_MIN_INPUT = 16


class DigitsCNN(nn.Module):
    """The LeNet-style digits network of the DANN paper family.

    conv(3→c1, 5) → [BN] → maxpool 2 → ReLU → conv(c1→c2, 5) → [BN] → maxpool 2 → ReLU
    → flatten → fc(c2·s·s → feature_dim) → ReLU, with s = ((H - 4) / 2 - 4) / 2 (4 for 28×28).

    Shapes: (B, 3, H, W) in [0, 1] → (B, feature_dim).
    ``width`` scales the channel counts (1.0 → 32/64; 0.5 → 16/32 for a distilled student).
    ``batch_norm`` adds BatchNorm after each convolution (what test-time adaptation re-estimates
    and tunes, :mod:`core.tta`). ``mixstyle`` = k inserts a :class:`~core.models.mixstyle.MixStyle`
    layer after each of the first k ∈ {0, 1, 2} conv stages (active in training only).
    ``input_norm``: ``"dataset"`` ((x − 0.5) / 0.5) or ``"image"`` (:class:`ImageStandardize`).
    """

    def __init__(self, input_size: int = 28, width: float = 1.0, feature_dim: int = 128,
                 batch_norm: bool = False, dropout: float = 0.0, mixstyle: int = 0, input_norm: str = "dataset"):
        super().__init__()
        c1, c2 = max(4, int(round(32 * width))), max(8, int(round(64 * width)))
        spatial = ((input_size - 4) // 2 - 4) // 2
        if spatial < 1:
            raise ValueError(f"input_size {input_size} is too small for digits_cnn (need ≥ {DIGITS_MIN_INPUT})")
        norm = (lambda c: nn.BatchNorm2d(c)) if batch_norm else (lambda c: nn.Identity())
        if input_norm not in INPUT_NORMS:
            raise ValueError(f"input_norm must be one of {', '.join(INPUT_NORMS)}, not {input_norm!r}")
        self.normalize = Normalize() if input_norm == "dataset" else ImageStandardize()
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


class ResNetBackbone(nn.Module):
    """A torchvision ResNet without its final fc: (B, 3, H, W) in [0, 1] → (B, D), D = 512 (ResNet-18)
    or 2048 (ResNet-50). ImageNet normalisation lives inside.

    The network downsamples by 32 (a stride-2 stem, a stride-2 max-pool and three stride-2
    stages), so inputs need at least :data:`RESNET_MIN_INPUT` = 32 pixels a side: below that the
    last stage sees one padded pixel. Adaptive average pooling makes any larger size work
    (CIFAR's 32, Office-31's 224).

    Built with random weights; initial weights from a file or ImageNet come through
    :mod:`core.checkpoints.pretrained` (torchvision naming: ``conv1.weight``, ``layer1.0.bn1.running_mean``, …).

    >>> ResNetBackbone(18, input_size=32)(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 512])
    """

    DEPTHS = {18: 512, 50: 2048}

    def __init__(self, depth: int = 18, input_size: int = 224):
        super().__init__()
        import torchvision.models as tvm

        if depth not in self.DEPTHS:
            raise ValueError(f"ResNet depth must be one of {sorted(self.DEPTHS)}, not {depth}")
        if input_size < RESNET_MIN_INPUT:
            raise ValueError(f"input_size {input_size} is too small for resnet{depth} (need ≥ {RESNET_MIN_INPUT})")
        net = getattr(tvm, f"resnet{depth}")(weights=None)
        net.fc = nn.Identity()
        self.normalize = Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        self.net = net
        self.out_dim = self.DEPTHS[depth]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))


#: Smallest input side a ResNet backbone accepts (its total stride).
RESNET_MIN_INPUT = 32


class ResNet18Backbone(ResNetBackbone):
    """torchvision ResNet-18 without its final fc: (B, 3, H, W) → (B, 512). See :class:`ResNetBackbone`."""

    def __init__(self, input_size: int = 224):
        super().__init__(18, input_size)


class ResNet50Backbone(ResNetBackbone):
    """torchvision ResNet-50 without its final fc: (B, 3, H, W) → (B, 2048). See :class:`ResNetBackbone`."""

    def __init__(self, input_size: int = 224):
        super().__init__(50, input_size)


class PointMLP(nn.Module):
    """A small MLP for point domains (the 2-D toy data sets, :mod:`core.data.toy`).

    Linear(D → h) → ReLU → Linear(h → h) → ReLU → Linear(h → feature_dim), with h = round(64 · width).
    The last layer is a *bottleneck* with no activation: with ``feature_dim = 2`` (the default) the
    features the methods align are themselves 2-D, so they can be drawn as they are. Points are
    taken as they come (the toy domains are centred with a spread of about ±1.5): no normalisation.

    Shapes: (B, D) float → (B, feature_dim).

    >>> PointMLP(2)(torch.rand(5, 2)).shape
    torch.Size([5, 2])
    """

    def __init__(self, in_dim: int = 2, width: float = 1.0, feature_dim: int = 2):
        super().__init__()
        if in_dim < 1:
            raise ValueError(f"in_dim must be ≥ 1, not {in_dim}")
        hidden = max(4, int(round(64 * width)))
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, feature_dim),
        )
        self.in_dim = in_dim
        self.out_dim = feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"the mlp backbone takes points (B, {self.in_dim}), got {tuple(x.shape)}: "
                             "picture domains need a picture backbone (digits_cnn, resnet18, resnet50)")
        return self.net(x)
