"""The six unseen domains, one recipe each (a sampler turning a label, a writer and a generator
into a picture), and :func:`sample` / :func:`generate`: picture ``i`` of a class depends only on
(seed, domain, split, class, i)."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy.ndimage import convolve

from .sources import load_font, photo_patch, printed_font_specs
from .strokes import Writer, bbox, digit_strokes, place, place_inside, rasterise, render_mnist_like
from .texture import (contrasting_colours, linear_gradient, perspective_coeffs, readable_ink, smooth_noise,
                      to_u8)


# Each sampler: (label, writer, rng) -> (PIL image, extension, encode kwargs).

def _clean(label, writer, rng):
    polys, radii = digit_strokes(label, writer, rng)
    return Image.fromarray(to_u8(render_mnist_like(polys, radii)), "L"), "png", {}


INKS = {  # RGB of the ink, radius range in digit heights, opacity range
    "ballpoint_black": ((0.10, 0.10, 0.13), (0.022, 0.04), (0.8, 0.97)),
    "ballpoint_blue": ((0.10, 0.16, 0.50), (0.022, 0.04), (0.75, 0.95)),
    "pencil": ((0.25, 0.25, 0.27), (0.02, 0.035), (0.6, 0.85)),
    "marker": ((0.06, 0.06, 0.07), (0.06, 0.1), (0.9, 1.0)),
    "felt_blue": ((0.08, 0.12, 0.45), (0.045, 0.075), (0.85, 1.0)),
}


def _paper(label, writer, rng, frame: int = 96):
    """A phone photo of a digit written on paper: 96×96 JPEG, quality 60-90.

    1. Sheet (4/3 of the frame): off-white, slightly warm base × (1 + 1.5 % blotches + fibre grain);
       half the sheets ruled (blue or grey lines every 18-30 px, or a 12-20 px grid).
    2. Ink (ballpoint black/blue, pencil with grain, marker, felt tip) multiplies the paper:
       out = paper · (1 − α·coverage·(1 − ink)); the digit is 35-70 % of the frame tall, anywhere
       with a margin; opacity wavers along the stroke.
    3. Camera: the frame is a rotated (±10°), perspective-jittered (±5 px corners) quad of the sheet.
    4. Light: a linear gradient (≤ 35 %), vignette (≤ 50 % at the corners), exposure 0.8-1.08,
       white balance ±2 % per channel; 60 % get a soft-edged shadow (15-45 % darker, bluish)
       over a half-plane.
    5. Optics and sensor: Gaussian focus blur σ 0.3-1.2 px or a 3-6 px motion blur; noise
       σ·√I (σ 0.8-3.5 %) per channel plus a shared grey component; JPEG.
    """
    big = int(frame * 4 / 3)  # the sheet, larger than the frame so the warp never shows its edge
    img = _ink_on(_sheet(rng, big), label, writer, rng, frame)
    img = _light(_camera(img, rng, frame), rng, frame)
    img = _sensor_noise(_optics(img, rng), rng, frame)
    return Image.fromarray(to_u8(img)), "jpg", {"quality": int(rng.integers(60, 91))}


def _sheet(rng, big: int) -> np.ndarray:
    """Step 1 of :func:`_paper`: the sheet, (big, big, 3) float — off-white base, slow blotches,
    fibre grain; half of them ruled (lines or a grid)."""
    base = np.array([rng.uniform(0.86, 0.98)] * 3, np.float32)
    base *= np.array([1.0, rng.uniform(0.97, 1.0), rng.uniform(0.9, 1.0)], np.float32)
    paper = np.broadcast_to(base, (big, big, 3)).copy()
    paper *= 1 + 0.015 * smooth_noise(rng, big, big, 10)[..., None]
    paper *= 1 + rng.uniform(0.005, 0.02) * smooth_noise(rng, big, big, 0.6)[..., None]
    ruling = rng.choice(["none", "lines", "grid"], p=[0.5, 0.35, 0.15])
    if ruling == "none":
        return paper
    step = rng.uniform(18, 30) if ruling == "lines" else rng.uniform(12, 20)
    colour = np.array([0.55, 0.7, 0.9] if rng.random() < 0.8 else [0.6, 0.6, 0.6], np.float32)
    strength = rng.uniform(0.25, 0.6)
    coords = np.arange(big) + 0.5

    def lines_at(ph):  # 1-px antialiased lines every `step` px
        d = np.abs(((coords - ph + step / 2) % step) - step / 2)
        return np.clip(1.2 - d, 0, 1).astype(np.float32)
    row = lines_at(rng.uniform(0, step)) * strength
    mask = np.broadcast_to(row[:, None], (big, big)).copy()
    if ruling == "grid":
        mask = np.maximum(mask, np.broadcast_to((lines_at(rng.uniform(0, step)) * strength)[None, :], (big, big)))
    return paper * (1 - mask[..., None] * (1 - colour))


def _ink_on(paper: np.ndarray, label, writer, rng, frame: int) -> np.ndarray:
    """Step 2 of :func:`_paper`: the digit in one of :data:`INKS`, multiplied into the sheet."""
    big = paper.shape[0]
    m = (big - frame) / 2
    ink_name = rng.choice(list(INKS))
    ink_rgb, (r_lo, r_hi), (a_lo, a_hi) = INKS[ink_name]
    pen_writer = Writer(**{**writer.__dict__, "pen": float(rng.uniform(r_lo, r_hi))})
    polys, radii = digit_strokes(label, pen_writer, rng)
    hfrac = rng.uniform(0.35, 0.7)
    x0, y0, x1, y1 = bbox(polys, radii)
    half_w, half_h = hfrac * frame * (x1 - x0) / (y1 - y0) / 2, hfrac * frame / 2
    margin = 0.15 * frame  # room for the camera's zoom, rotation and tilt below
    cx = m + rng.uniform(min(half_w + margin, frame / 2), max(frame - half_w - margin, frame / 2))
    cy = m + rng.uniform(min(half_h + margin, frame / 2), max(frame - half_h - margin, frame / 2))
    scale, offset = place(polys, radii, frame, hfrac, (cx, cy))
    alpha = [np.clip(rng.uniform(a_lo, a_hi) * (1 + 0.15 * np.sin(np.linspace(0, rng.uniform(3, 9), len(p))
                                                                    + rng.uniform(0, 6))), 0, 1) for p in polys]
    cov = rasterise(polys, radii, big, big, scale, offset, alpha)
    if ink_name == "pencil":
        cov *= np.clip(0.75 + 0.35 * smooth_noise(rng, big, big, 0.5), 0, 1)
    ink = np.array(ink_rgb, np.float32) * rng.uniform(0.85, 1.15)
    return paper * (1 - cov[..., None] * (1 - ink))


def _camera(img: np.ndarray, rng, frame: int) -> np.ndarray:
    """Step 3 of :func:`_paper`: the frame×frame view of a rotated, perspective-jittered quad of the sheet."""
    big = img.shape[0]
    pil = Image.fromarray(to_u8(img))
    ang = math.radians(rng.uniform(-10, 10))
    c = big / 2
    quad = []
    for (x, y) in [(0, 0), (frame, 0), (frame, frame), (0, frame)]:
        dx, dy = x - frame / 2, y - frame / 2
        rx, ry = dx * math.cos(ang) - dy * math.sin(ang), dx * math.sin(ang) + dy * math.cos(ang)
        quad.append((c + rx * 0.92 + rng.uniform(-5, 5), c + ry * 0.92 + rng.uniform(-5, 5)))
    coeffs = perspective_coeffs([(0, 0), (frame, 0), (frame, frame), (0, frame)], quad)
    pil = pil.transform((frame, frame), Image.PERSPECTIVE, coeffs, Image.BICUBIC)
    return np.asarray(pil, np.float32) / 255


def _light(img: np.ndarray, rng, frame: int) -> np.ndarray:
    """Step 4 of :func:`_paper`: gradient, vignette, exposure and white balance, then a soft shadow."""
    gy, gx = (np.mgrid[0:frame, 0:frame] + 0.5) / frame - 0.5
    light = 1 + rng.uniform(0, 0.35) * linear_gradient(rng, frame, frame)
    light *= 1 - rng.uniform(0, 0.5) * (gx ** 2 + gy ** 2)
    light *= rng.uniform(0.8, 1.08)
    img = img * light[..., None] * (1 + rng.normal(0, 0.02, 3)).astype(np.float32)
    if rng.random() < 0.6:
        ang = rng.uniform(0, 2 * np.pi)
        dist = (gx * np.cos(ang) + gy * np.sin(ang)) * frame - rng.uniform(-0.3, 0.35) * frame
        soft = rng.uniform(2, 12)
        shade = 1 / (1 + np.exp(-dist / soft))
        depth = rng.uniform(0.15, 0.45)
        tint = np.array([1.0, 1.0, rng.uniform(1.0, 1.08)], np.float32)
        img = img * (1 - depth * shade[..., None] * (2 - tint))
    return img


def _optics(img: np.ndarray, rng) -> np.ndarray:
    """Step 5a of :func:`_paper`: a motion blur (30 %) or a Gaussian focus blur."""
    pil = Image.fromarray(to_u8(img))
    if rng.random() < 0.3:
        n = int(rng.integers(3, 7))
        ang = rng.uniform(0, np.pi)
        k = np.zeros((n + 2, n + 2), np.float32)
        for t in np.linspace(-(n - 1) / 2, (n - 1) / 2, 4 * n):
            k[int(round((n + 1) / 2 + t * math.sin(ang))), int(round((n + 1) / 2 + t * math.cos(ang)))] += 1
        return np.stack([convolve(np.asarray(pil, np.float32)[..., ch] / 255, k / k.sum(), mode="nearest")
                         for ch in range(3)], -1)
    return np.asarray(pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2))), np.float32) / 255


def _sensor_noise(img: np.ndarray, rng, frame: int) -> np.ndarray:
    """Step 5b of :func:`_paper`: signal-dependent and read noise, and a little shared grey noise."""
    sigma = rng.uniform(0.008, 0.035)
    img = img + rng.normal(0, 1, img.shape).astype(np.float32) * sigma * np.sqrt(np.clip(img, 0.05, 1))
    return img + rng.normal(0, sigma / 3, (frame, frame, 1)).astype(np.float32)


def _mnistm_other(label, writer, rng):
    polys, radii = digit_strokes(label, writer, rng)
    digit = render_mnist_like(polys, radii)
    out = np.abs(photo_patch(rng, 28) - digit[..., None])
    return Image.fromarray(to_u8(out)), "png", {}


def _colour(label, writer, rng):
    size = int(rng.integers(28, 65))
    fg, bg = contrasting_colours(rng, 0.35)
    polys, radii = digit_strokes(label, writer, rng)
    hfrac = rng.uniform(0.55, 0.85)
    half = hfrac * size / 2
    centre = (size / 2 + rng.uniform(-0.15, 0.15) * (size - 2 * half * 0.7),
              size / 2 + rng.uniform(-0.5, 0.5) * (size - 2 * half))
    scale, offset = place_inside(polys, radii, size, hfrac, centre)
    cov = rasterise(polys, radii, size, size, scale, offset)[..., None]
    background = np.broadcast_to(bg, (size, size, 3)).copy()
    if rng.random() < 0.5:  # gentle gradient
        background = background + linear_gradient(rng, size, size)[..., None] * rng.uniform(-0.2, 0.2, 3)
    fg = readable_ink(rng, fg, np.clip(background, 0, 1), cov, 0.35)
    img = background * (1 - cov) + fg * cov
    img = img + rng.normal(0, rng.uniform(0, 0.02), img.shape)
    return Image.fromarray(to_u8(img)), "png", {}


def _dark_on_light(label, writer, rng):
    size = int(rng.integers(28, 65))
    polys, radii = digit_strokes(label, writer, rng)
    hfrac = rng.uniform(0.6, 0.85)
    centre = (size / 2 + rng.uniform(-0.06, 0.06) * size, size / 2 + rng.uniform(-0.06, 0.06) * size)
    scale, offset = place_inside(polys, radii, size, hfrac, centre)
    cov = rasterise(polys, radii, size, size, scale, offset)
    paper, ink = rng.uniform(0.86, 1.0), rng.uniform(0.0, 0.25)
    img = paper + (ink - paper) * cov
    if rng.random() < 0.2:  # a binarised scan
        img = np.where(cov > 0.5, ink, paper)
    img = img + rng.normal(0, rng.uniform(0, 0.015), img.shape)
    pil = Image.fromarray(to_u8(img), "L")
    if rng.random() < 0.4:
        pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 0.6)))
    return pil, "png", {}


def _printed_other(label, writer, rng):
    size = int(rng.integers(32, 65))
    specs = printed_font_specs()
    spec = specs[int(rng.integers(len(specs)))]
    big = size * 3
    font = load_font(spec, int(big * rng.uniform(0.55, 0.85)))
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    cx, cy = big / 2 + rng.uniform(-0.08, 0.08) * big, big / 2 + rng.uniform(-0.08, 0.08) * big
    draw.text((cx, cy), str(label), fill=255, font=font, anchor="mm")
    if rng.random() < 0.3:  # neighbours cut by the frame, as in a crop from a longer number
        gap = font.getlength("0") * rng.uniform(1.0, 1.25)
        for side in (-1, 1):
            if rng.random() < 0.6:
                draw.text((cx + side * gap, cy), str(int(rng.integers(10))), fill=255, font=font, anchor="mm")
    mask = mask.rotate(rng.uniform(-10, 10), resample=Image.BILINEAR, center=(cx, cy))
    cov = np.asarray(mask.resize((size, size), Image.BILINEAR), np.float32)[..., None] / 255
    fg, bg = contrasting_colours(rng, 0.4)
    kind = rng.choice(["flat", "gradient", "photo"], p=[0.35, 0.35, 0.3])
    background = np.broadcast_to(bg, (size, size, 3)).copy()
    if kind == "gradient":
        background += linear_gradient(rng, size, size)[..., None] * rng.uniform(-0.3, 0.3, 3)
    elif kind == "photo":  # a faded photo patch under the colour
        background = 0.6 * background + 0.4 * photo_patch(rng, size)
    fg = readable_ink(rng, fg, np.clip(background, 0, 1), cov, 0.4)
    img = background * (1 - cov) + fg * cov
    img = img + rng.normal(0, rng.uniform(0, 0.03), img.shape)
    return Image.fromarray(to_u8(img)), "png", {}


@dataclass(frozen=True)
class DomainSpec:
    sampler: Callable
    description: str


DOMAINS: dict[str, DomainSpec] = {
    "handwriting": DomainSpec(_clean, "clean synthesised handwriting, MNIST-like: white ink on black, 28×28 PNG"),
    "paper": DomainSpec(_paper, "phone photos of digits on paper: ink, paper texture, ruling, light, "
                                "shadow, perspective, blur, noise; 96×96 JPEG"),
    "mnistm_other": DomainSpec(_mnistm_other, "MNIST-M recipe |photo − digit| with handwriting and photos "
                                              "mnistm does not use; 28×28 PNG"),
    "colour": DomainSpec(_colour, "a digit in one colour on another (flat or gradient), 28–64 px PNG"),
    "dark_on_light": DomainSpec(_dark_on_light, "dark digits on light paper, clean like a scan, 28–64 px PNG"),
    "printed_other": DomainSpec(_printed_other, "printed digits in fonts no embedded domain uses "
                                                "(Pillow's default, cmti10, DejaVu Sans Mono obliques), 32–64 px PNG"),
}

N_WRITERS = 40


def _domain_key(name: str) -> int:
    return zlib.crc32(name.encode())


def writers(name: str, seed: int, n: int = N_WRITERS) -> list[Writer]:
    """The writer pool of a domain: shared by its train and test split."""
    return [Writer.random(np.random.default_rng([seed, _domain_key(name), 7, w])) for w in range(n)]


def sample(name: str, label: int, index: int, split: str, seed: int = 0,
           pool: list[Writer] | None = None) -> tuple[Image.Image, str, dict]:
    """Picture ``index`` of class ``label`` in ``split``: (PIL image, extension, encoder kwargs).

    Each picture has its own generator seeded by (seed, domain, split, label, index), so it does
    not depend on how many others are made.
    """
    if name not in DOMAINS:
        raise KeyError(f"unknown unseen domain {name!r}; choose from {', '.join(DOMAINS)}")
    pool = pool if pool is not None else writers(name, seed)
    rng = np.random.default_rng([seed, _domain_key(name), 1 if split == "test" else 0, int(label), index])
    writer = pool[int(rng.integers(len(pool)))]
    return DOMAINS[name].sampler(int(label), writer, rng)


def generate(name: str, n_per_class: int, split: str = "train", seed: int = 0
             ) -> tuple[list[Image.Image], np.ndarray]:
    """In-memory pictures (class-major order) and labels (N,) int64, before any encoding."""
    pool = writers(name, seed)
    images, labels = [], []
    for c in range(10):
        for i in range(n_per_class):
            images.append(sample(name, c, i, split, seed, pool)[0])
            labels.append(c)
    return images, np.array(labels, dtype=np.int64)
