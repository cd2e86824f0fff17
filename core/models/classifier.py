"""Classifier = backbone (features) + linear head (logits), and the domain discriminator."""

from __future__ import annotations

import torch
from torch import nn


class Classifier(nn.Module):
    """Takes float RGB images in [0, 1], (B, 3, H, W); returns logits (B, num_classes).

    ``features(x)`` returns the (B, D) embedding used for alignment losses and plots.
    ``spec`` is the JSON-able description that :func:`core.models.build_model` rebuilds it from.
    """

    def __init__(self, backbone: nn.Module, num_classes: int, spec: dict | None = None):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.out_dim, num_classes)
        self.spec = dict(spec or {})

    @property
    def num_classes(self) -> int:
        return self.head.out_features

    @property
    def input_size(self) -> int:
        return int(self.spec.get("input_size", 28))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class DomainDiscriminator(nn.Module):
    """MLP D: (B, D) features → (B,) logit of "comes from the source domain".

    D(f) = w3ᵀ ReLU(W2 ReLU(W1 f)) ; trained with binary cross-entropy. ``dropout`` > 0 puts a
    dropout layer after each hidden ReLU, as the CDAN code's ``AdversarialNetwork`` does
    (Linear-ReLU-Dropout ×2, Linear).
    """

    def __init__(self, in_dim: int, hidden: int = 256, dropout: float = 0.0):
        super().__init__()
        drop = (lambda: [nn.Dropout(dropout)]) if dropout > 0 else (lambda: [])
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), *drop(),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), *drop(),
            nn.Linear(hidden, 1),
        )

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.net(f).squeeze(-1)
