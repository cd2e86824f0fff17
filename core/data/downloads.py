"""Real datasets fetched with torchvision when the machine is online: full MNIST, USPS, SVHN (as
28×28 digits) and CIFAR-10 / CIFAR-100 (at their own 32×32).

Each is converted to RGB uint8 tensors (N, 3, S, S) at its :data:`SIZES` side and cached in
``~/.cache/shiftlab`` (the raw torchvision files under ``torchvision/`` beside them). Offline,
loading raises :class:`~core.data.DomainError` saying so and listing the embedded domains.

CIFAR-10 → CIFAR-100 is the transfer recipe of the project's source articles: pre-train on one
label space, fine-tune onto another (``finetune`` grows a fresh head when the class names differ;
see docs/scale.md, "Transfer to a new label space").
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .cache import cache_dir

SIZE = 28  # the digits' side

DESCRIPTIONS = {
    "mnist_full": "full MNIST via torchvision (60,000 / 10,000; needs internet once)",
    "usps": "USPS via torchvision (7,291 / 2,007; needs internet once)",
    "svhn": "SVHN via torchvision (73,257 / 26,032; needs internet once)",
    "cifar10": "CIFAR-10 via torchvision, 32×32, 10 classes (50,000 / 10,000; needs internet once)",
    "cifar100": "CIFAR-100 via torchvision, 32×32, 100 fine classes (50,000 / 10,000; needs internet once)",
}

#: The name people read for each domain (the app, tables, the leaderboard).
LABELS = {"mnist_full": "MNIST (full)", "usps": "USPS", "svhn": "SVHN", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}

#: Each downloadable domain's image side (the digits are resized to 28; CIFAR keeps its 32).
SIZES = {"mnist_full": SIZE, "usps": SIZE, "svhn": SIZE, "cifar10": 32, "cifar100": 32}

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# torchvision's CIFAR100(...).classes: the 100 fine labels in label order
CIFAR100_CLASSES = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel "
    "can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur "
    "dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion "
    "lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree "
    "pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea "
    "seal shark shrew skunk skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table "
    "tank telephone television tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman "
    "worm").split()
assert len(CIFAR100_CLASSES) == 100

#: Class names of the domains that are not digits (digits domains use '0'…'9').
CLASSES = {"cifar10": CIFAR10_CLASSES, "cifar100": CIFAR100_CLASSES}


def _to_rgb(images: np.ndarray, size: int = SIZE) -> np.ndarray:
    """(N, H, W), (N, 3, H, W) or (N, H, W, 3) uint8 → (N, 3, size, size) uint8."""
    x = torch.from_numpy(np.asarray(images))
    if x.ndim == 4 and x.shape[-1] == 3 and x.shape[1] != 3:  # NHWC (CIFAR) → NCHW
        x = x.permute(0, 3, 1, 2)
    if x.ndim == 3:
        x = x[:, None].expand(-1, 3, -1, -1)
    if x.shape[-1] == size and x.shape[-2] == size:
        return x.contiguous().numpy()
    x = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp_(0, 255).to(torch.uint8).numpy()


_to_rgb28 = _to_rgb  # the name older callers used


def fetch(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Download (once) and convert one split; returns (images uint8 (N, 3, S, S), labels int64)
    with S = ``SIZES[name]``. Raises whatever torchvision raises when it cannot download (the
    registry turns it into a DomainError)."""
    import torchvision.datasets as tvd

    root = str(cache_dir() / "torchvision")
    train = split == "train"
    if name == "mnist_full":
        ds = tvd.MNIST(root, train=train, download=True)
        images, labels = ds.data.numpy(), ds.targets.numpy() % 10
    elif name == "usps":
        ds = tvd.USPS(root, train=train, download=True)
        images, labels = np.asarray(ds.data), np.asarray(ds.targets) % 10
    elif name == "svhn":
        ds = tvd.SVHN(root, split="train" if train else "test", download=True)
        images, labels = ds.data, np.asarray(ds.labels) % 10  # SVHN labels the digit 0 as 10
    elif name in ("cifar10", "cifar100"):
        cls = tvd.CIFAR10 if name == "cifar10" else tvd.CIFAR100
        ds = cls(root, train=train, download=True)
        if list(ds.classes) != CLASSES[name]:  # the class order our labels promise
            raise ValueError(f"torchvision's {name} classes differ from ShiftLab's list")
        images, labels = ds.data, np.asarray(ds.targets)
    else:  # pragma: no cover - guarded by the registry
        raise KeyError(name)
    return _to_rgb(images, SIZES[name]), np.asarray(labels, dtype=np.int64)
