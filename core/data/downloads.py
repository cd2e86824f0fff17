"""Real datasets fetched with torchvision when the machine is online: full MNIST, USPS, SVHN.

They are converted to the same 28×28 RGB uint8 tensors as the embedded domains and cached.
Offline, loading raises :class:`DomainError` saying so and listing the embedded domains.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .cache import cache_dir

SIZE = 28

DESCRIPTIONS = {
    "mnist_full": "full MNIST via torchvision (60,000 / 10,000; needs internet once)",
    "usps": "USPS via torchvision (7,291 / 2,007; needs internet once)",
    "svhn": "SVHN via torchvision (73,257 / 26,032; needs internet once)",
}


def _to_rgb28(images: np.ndarray) -> np.ndarray:
    """(N, H, W) or (N, 3, H, W) uint8 → (N, 3, 28, 28) uint8."""
    x = torch.from_numpy(np.asarray(images))
    if x.ndim == 3:
        x = x[:, None].expand(-1, 3, -1, -1)
    x = x.float()
    if x.shape[-1] != SIZE:
        x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp_(0, 255).to(torch.uint8).numpy()


def fetch(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Download (once) and convert one split; returns (images uint8 (N,3,28,28), labels int64)."""
    import torchvision.datasets as tvd

    root = str(cache_dir() / "torchvision")
    train = split == "train"
    if name == "mnist_full":
        ds = tvd.MNIST(root, train=train, download=True)
        images, labels = ds.data.numpy(), ds.targets.numpy()
    elif name == "usps":
        ds = tvd.USPS(root, train=train, download=True)
        images, labels = np.asarray(ds.data), np.asarray(ds.targets)
    elif name == "svhn":
        ds = tvd.SVHN(root, split="train" if train else "test", download=True)
        images, labels = ds.data, ds.labels
    else:  # pragma: no cover - guarded by the registry
        raise KeyError(name)
    return _to_rgb28(images), np.asarray(labels, dtype=np.int64) % 10
