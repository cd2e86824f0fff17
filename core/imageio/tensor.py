"""Pictures → model inputs: the one preprocessing path every picture takes into a model, so
training data from folders, evaluation and uploads are preprocessed identically.

    x = image_to_tensor(read_image(data), 28)                 # float32 (3, 28, 28) in [0, 1]
    x = image_to_tensor(img, 28, normalize="centre")          # made MNIST-like first (:mod:`.centre`)
    batch, names, bad = read_images([("a.png", data)], 28)    # a broken file is named, the rest kept
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .centre import centre_like_mnist
from ..util.modes import unit_float
from .decode import MAX_BYTES, MAX_PIXELS, REDUCING_GAP, BadImage, check_size, read_image, to_rgb

#: What :func:`image_to_tensor` may do to a picture before resizing it: ``"none"`` (resize the whole
#: picture) or ``"centre"`` (:func:`centre_like_mnist`).
NORMALIZE_CHOICES: tuple[str, ...] = ("none", "centre")


def image_to_tensor(img: Image.Image, size: int, normalize: str | None = None) -> torch.Tensor:
    """The one preprocessing path: whole image → float32 (3, size, size) in [0, 1].

    Resizes without cropping (the aspect ratio is not kept) with bilinear filtering,
    which Pillow antialiases when downscaling; large reductions use a box ``reduce``
    first (``reducing_gap``). Non-RGB images are converted as :func:`read_image` does.
    ``normalize="centre"`` first applies :func:`centre_like_mnist` (a bright digit centred on
    black, as MNIST was made); ``None`` / ``"none"`` leaves the picture as it is.
    """
    check_size(size)
    if img.mode != "RGB":
        img = to_rgb(img)
    if normalize_mode(normalize) == "centre":
        img = centre_like_mnist(img, size)
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=REDUCING_GAP)
    arr = np.array(img, dtype=np.float32)
    np.divide(arr, 255.0, out=arr)
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def images_to_batch(images: list[Image.Image], size: int, normalize: str | None = None) -> torch.Tensor:
    """Images → float32 (N, 3, size, size) in [0, 1]; an empty list gives N = 0."""
    check_size(size)
    if not images:
        return torch.empty((0, 3, size, size), dtype=torch.float32)
    return torch.stack([image_to_tensor(img, size, normalize) for img in images])


def read_images(named: list[tuple[str, bytes]], size: int, *, max_bytes: int = MAX_BYTES,
                max_pixels: int = MAX_PIXELS, normalize: str | None = None,
                ) -> tuple[torch.Tensor, list[str], dict[str, str]]:
    """Decode a batch of named files; a broken file is reported, the rest still returned.

    Returns ``(batch, names, bad)``: ``batch`` is (N, 3, size, size) for the N good files,
    ``names`` their names in input order, ``bad`` maps each broken file's name to the
    reason. Each image is turned into a tensor at once, so only one full-size picture is
    in memory at a time. (With duplicate names, ``bad`` keeps the last reason.)
    ``normalize``: as in :func:`image_to_tensor` (``"centre"``: :func:`centre_like_mnist`).
    """
    check_size(size)
    normalize_mode(normalize)
    tensors: list[torch.Tensor] = []
    names: list[str] = []
    bad: dict[str, str] = {}
    for name, data in named:
        try:
            img = read_image(data, max_bytes=max_bytes, max_pixels=max_pixels)
        except BadImage as e:
            bad[name] = str(e)
            continue
        tensors.append(image_to_tensor(img, size, normalize))
        names.append(name)
    if not tensors:
        return torch.empty((0, 3, size, size), dtype=torch.float32), names, bad
    return torch.stack(tensors), names, bad


def normalize_mode(normalize: str | None) -> str:
    mode = "none" if normalize is None else normalize
    if mode not in NORMALIZE_CHOICES:
        raise ValueError(f"unknown normalize {normalize!r}; choose one of {', '.join(NORMALIZE_CHOICES)}")
    return mode


def centre_batch(images: torch.Tensor, size: int = 28) -> torch.Tensor:
    """:func:`centre_like_mnist` on every picture of a batch: (N, 3, H, W) — uint8 or float in
    [0, 1] — → float32 (N, 3, size, size) in [0, 1]."""
    check_size(size)
    out = torch.empty((len(images), 3, size, size), dtype=torch.float32)
    for i, x in enumerate(images):
        x = unit_float(x)
        arr = np.uint8(np.rint(x.clamp(0, 1).permute(1, 2, 0).numpy() * 255))
        out[i] = image_to_tensor(centre_like_mnist(Image.fromarray(arr), size), size)
    return out
