"""Outside material no training domain uses: photos shipped by scikit-image and matplotlib that
``mnistm`` does not read, and printed fonts that ``syndigits`` does not render."""

from __future__ import annotations

import math
import os
from functools import lru_cache

import numpy as np
from PIL import Image

from .texture import to_u8


_SKIMAGE_PHOTOS = ("cell.png", "color.png", "page.png", "text.png", "microaneurysms.png", "clock_motion.png",
                   "chessboard_RGB.png", "logo.png")
_MPL_PHOTOS = ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png")
#: Fonts with digit glyphs that no embedded domain renders (see ``embedded.SYN_FONTS``).
PRINTED_FONTS = ("DejaVuSansMono-Oblique.ttf", "DejaVuSansMono-BoldOblique.ttf", "cmti10.ttf")


def unseen_photo_paths() -> list[str]:
    """Shipped pictures that ``mnistm`` does not use (scikit-image and matplotlib sample data)."""
    import matplotlib
    import skimage

    ski = os.path.join(os.path.dirname(skimage.__file__), "data")
    mpl = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data")
    paths = [os.path.join(ski, n) for n in _SKIMAGE_PHOTOS + ("lfw_subset.npy",)]
    paths += [os.path.join(mpl, n) for n in _MPL_PHOTOS]
    return [p for p in paths if os.path.exists(p)]


_PHOTO_CACHE: tuple[list[np.ndarray], list[np.ndarray]] | None = None


def _photos() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(photos, faces): the unseen pictures as float32 (H, W, 3) in [0, 1], read once per process;
    the 200 LFW faces (25×25 grey) upscaled to 50×50 and kept apart so that they count as one photo."""
    global _PHOTO_CACHE
    if _PHOTO_CACHE is None:
        photos, faces = [], []
        for path in unseen_photo_paths():
            if path.endswith(".npy"):
                for f in np.load(path, allow_pickle=False).astype(np.float32):
                    im = Image.fromarray(to_u8(f)).resize((50, 50), Image.BILINEAR)
                    faces.append(np.repeat(np.asarray(im, np.float32)[..., None] / 255, 3, axis=2))
                continue
            with Image.open(path) as im:
                if im.mode in ("RGBA", "LA", "P"):  # transparency composited onto white
                    im = Image.alpha_composite(Image.new("RGBA", im.size, (255, 255, 255, 255)), im.convert("RGBA"))
                photos.append(np.asarray(im.convert("RGB"), dtype=np.float32) / 255)
        if len(photos) < 4:
            raise RuntimeError("too few unseen photos found in scikit-image / matplotlib")
        _PHOTO_CACHE = photos, faces
    return _PHOTO_CACHE


def photo_patch(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random size×size crop, at native resolution, of a random unseen photo (the faces together
    count as one photo); photos smaller than ``size`` are upscaled first."""
    photos, faces = _photos()
    pool = faces if faces and rng.random() < 1 / (len(photos) + 1) else photos
    photo = pool[int(rng.integers(len(pool)))]
    if min(photo.shape[:2]) < size:
        k = size / min(photo.shape[:2])
        im = Image.fromarray(to_u8(photo)).resize((math.ceil(photo.shape[1] * k), math.ceil(photo.shape[0] * k)),
                                                   Image.BILINEAR)
        photo = np.asarray(im, np.float32) / 255
    top = int(rng.integers(0, photo.shape[0] - size + 1))
    left = int(rng.integers(0, photo.shape[1] - size + 1))
    return photo[top:top + size, left:left + size]


@lru_cache(maxsize=1)
def printed_font_specs() -> tuple[tuple[str, str | None], ...]:
    """(name, path) of the printed_other fonts; path None means Pillow's bundled default font."""
    import matplotlib

    from PIL import ImageFont

    root = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf")
    specs: list[tuple[str, str | None]] = []
    try:  # Pillow ≥ 10.1 with FreeType bundles a scalable font (Aileron Regular)
        if isinstance(ImageFont.load_default(size=20), ImageFont.FreeTypeFont):
            specs.append(("pillow-default", None))
    except (TypeError, OSError, ImportError):
        pass
    specs += [(n, os.path.join(root, n)) for n in PRINTED_FONTS if os.path.exists(os.path.join(root, n))]
    if not specs:
        raise RuntimeError("no font for printed_other: neither Pillow's scalable default nor matplotlib's fonts")
    return tuple(specs)


@lru_cache(maxsize=256)
def load_font(spec: tuple[str, str | None], size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size) if spec[1] is None else ImageFont.truetype(spec[1], size)
