"""Picture helpers the domain recipes share: smooth noise, colours that contrast, gradients,
perspective warps, and encoding to PNG / JPEG bytes."""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image


def smooth_noise(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise rescaled to unit standard deviation, (h, w), float32.

    Wide filters (σ > 2) are applied on a grid k = σ/2 times coarser, then upsampled bilinearly.
    """
    from scipy.ndimage import gaussian_filter

    k = max(1.0, sigma / 2)
    sh, sw = max(2, math.ceil(h / k)), max(2, math.ceil(w / k))
    n = gaussian_filter(rng.normal(size=(sh, sw)).astype(np.float32), sigma / k, mode="wrap")
    if (sh, sw) != (h, w):
        n = np.asarray(Image.fromarray(n, "F").resize((w, h), Image.BILINEAR))
    return (n / (n.std() + 1e-8)).astype(np.float32)


def to_u8(img: np.ndarray) -> np.ndarray:
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def contrasting_colours(rng: np.random.Generator, min_contrast: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """Two RGB colours whose luminances differ by at least ``min_contrast`` (readable by a person)."""
    lum = np.array([0.299, 0.587, 0.114])
    while True:
        a, b = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
        if abs(lum @ a - lum @ b) >= min_contrast:
            return a.astype(np.float32), b.astype(np.float32)


def readable_ink(rng: np.random.Generator, ink: np.ndarray, background: np.ndarray, cov: np.ndarray,
                  min_contrast: float) -> np.ndarray:
    """``ink``, or a new random colour, whose luminance differs by ≥ ``min_contrast`` from the
    background's mean luminance under the glyph (``cov`` (H, W, 1) weights); black or white if
    20 draws fail."""
    lum = np.array([0.299, 0.587, 0.114], np.float32)
    under = float(((background @ lum) * cov[..., 0]).sum() / max(float(cov.sum()), 1e-6))
    for _ in range(20):
        if abs(float(ink @ lum) - under) >= min_contrast:
            return ink
        ink = rng.uniform(0, 1, 3).astype(np.float32)
    return np.zeros(3, np.float32) if under > 0.5 else np.ones(3, np.float32)


def linear_gradient(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A linear ramp in a random direction, (h, w), values in about [−½, ½]."""
    ang = rng.uniform(0, 2 * np.pi)
    gy, gx = np.mgrid[0:h, 0:w]
    return ((gx / max(w - 1, 1) - 0.5) * np.cos(ang) + (gy / max(h - 1, 1) - 0.5) * np.sin(ang)).astype(np.float32)


def perspective_coeffs(dst: list[tuple[float, float]], src: list[tuple[float, float]]) -> list[float]:
    """Pillow PERSPECTIVE coefficients mapping output corners ``dst`` to input points ``src``."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y]); rhs.append(u)
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y]); rhs.append(v)
    return list(np.linalg.solve(np.array(rows, float), np.array(rhs, float)))


def encode(img: Image.Image, ext: str, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    if ext == "jpg":
        img.save(buf, format="JPEG", quality=int(quality))
    else:
        img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()
