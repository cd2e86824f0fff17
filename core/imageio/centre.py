"""Make a photo of a digit look like an MNIST digit: bright on black, boxed and centred
(:func:`centre_like_mnist`), the optional ingest step ``normalize="centre"`` applies."""

from __future__ import annotations

import numpy as np
from PIL import Image

from .decode import REDUCING_GAP, check_size, to_rgb

#: MNIST's digits were scaled so that their bounding box fits 20×20 pixels of the 28×28 frame.
MNIST_BOX = 20 / 28
#: Pictures are reduced to at most this many pixels on the longer side before centring (speed).
CENTRE_WORKING_SIDE = 256

def _otsu(values: np.ndarray) -> float:
    """Otsu's threshold of values in [0, 1] (64 bins): the split maximising between-class variance."""
    hist, edges = np.histogram(values, bins=64, range=(0.0, 1.0))
    p = hist.astype(np.float64) / max(1, hist.sum())
    centres = (edges[:-1] + edges[1:]) / 2
    w0, m0 = np.cumsum(p), np.cumsum(p * centres)
    w1, mu = 1 - w0, m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu * w0 - m0) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = 0
    return float(edges[int(np.argmax(between)) + 1])


def _ink_map(grey: np.ndarray) -> np.ndarray:
    """Grey picture (H, W) in [0, 1] → raw ink strength (H, W) (bright ink on a dark background,
    not yet stretched; see :func:`_stretch`).

    * background level b = median of the outer ring (6 % of the short side);
    * polarity: thin structures darker than their surroundings (black top-hat, closing − grey)
      against thin structures brighter (white top-hat, grey − opening), by their 99.5th
      percentiles, with the same k as below — so a bright patch of light on paper does not pass
      for ink; when neither is 1.25× the other, the ink is whichever extreme (after a 3×3 median
      filter) lies further from b. Dark ink on light paper is inverted;
    * light background (paper): uneven light is divided out — the paper's brightness P is a
      grey closing (max then min filter, k = max(7, short side / 6): wider than a pen stroke)
      smoothed by a k×k mean but never above the closing, and ink = 1 − grey / P
      (flat-fielding); dark background: ink = grey − b.
    """
    from scipy import ndimage

    h, w = grey.shape
    ring = max(1, int(round(0.06 * min(h, w))))
    border = np.concatenate([grey[:ring].ravel(), grey[-ring:].ravel(), grey[:, :ring].ravel(), grey[:, -ring:].ravel()])
    b = float(np.median(border))
    k = max(7, int(round(min(h, w) / 6)))
    closed = ndimage.grey_closing(grey, size=(k, k))
    dark = float(np.percentile(closed - grey, 99.5))                                   # black top-hat
    bright = float(np.percentile(grey - ndimage.grey_opening(grey, size=(k, k)), 99.5))  # white top-hat
    if max(dark, bright) < 1.25 * min(dark, bright):  # no clear winner: ask the border
        smooth = ndimage.median_filter(grey, size=3, mode="nearest")
        dark_ink = b - float(smooth.min()) > float(smooth.max()) - b
    else:
        dark_ink = dark > bright
    if dark_ink:
        # smoothed, but never above the closing: a blurred shadow edge would otherwise read as ink
        paper = np.minimum(ndimage.uniform_filter(closed, size=k, mode="nearest"), closed)
        return 1.0 - grey / np.maximum(paper, 1e-3)
    return grey - b


def _stretch(ink: np.ndarray) -> np.ndarray | None:
    """Contrast: (ink − median) / (99.7th percentile − median), clipped to [0, 1]; None when
    nothing stands out (a spread under 0.05)."""
    floor = float(np.median(ink))
    top = float(np.percentile(ink, 99.7))
    if top - floor < 0.05:
        return None
    return np.clip((ink - floor) / (top - floor), 0.0, 1.0)


def _components(mask: np.ndarray):
    """8-connected components: (labels (H, W), areas (n,), touches-the-frame (n,) bool)."""
    from scipy import ndimage

    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    areas = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    edge = np.zeros(n + 1, dtype=bool)
    edge[np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))] = True
    return labels, areas, edge[1:]


def _threshold(ink: np.ndarray) -> float:
    return min(0.6, max(0.2, _otsu(ink)))


def _digit_mask(ink: np.ndarray) -> tuple[np.ndarray, bool]:
    """Which pixels belong to the digit, and whether any of them touches the frame.

    Otsu-thresholded ink (threshold kept in [0.2, 0.6]), 8-connected components; components
    touching the frame are dropped when others of some size exist (page edges, shadows), and of
    the rest those smaller than 10 % of the largest (specks)."""
    mask = ink > _threshold(ink)
    labels, areas, touching = _components(mask)
    if len(areas) == 0:
        return mask, False
    inner = ~touching
    candidates = inner if (areas * inner).max(initial=0) >= 0.1 * areas.max() else np.ones(len(areas), dtype=bool)
    keep = candidates & (areas >= 0.1 * (areas * candidates).max())
    return keep[labels - 1] & (labels > 0), bool((keep & touching).any())


def _without_frame_blobs(raw: np.ndarray, ink: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Second try when the ink found touches the frame — a shadow's or a page's edge can outshine
    a faint digit: drop whatever touches the frame (at half the threshold, slightly dilated),
    stretch again and look for a digit of some size (≥ 0.4 % of the pixels, ≥ 20 % of the
    short side) that does not touch it. None if there is none (the digit itself touches it)."""
    from scipy import ndimage

    labels, areas, touching = _components(ink > 0.5 * _threshold(ink))
    if not touching.any():
        return None
    blobs = ndimage.binary_dilation(np.isin(labels, np.flatnonzero(touching) + 1), iterations=2)
    second = _stretch(np.where(blobs, np.median(raw), raw))
    if second is None:
        return None
    mask, touches = _digit_mask(second)
    h, w = mask.shape
    if touches or mask.sum() < 0.004 * h * w:
        return None
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 < 0.2 * min(h, w):
        return None
    return second, mask


def centre_like_mnist(img: Image.Image, size: int = 28) -> Image.Image:
    """Make a photo of a digit look like an MNIST digit: bright on black, boxed and centred.

    The steps MNIST's makers applied (LeCun et al. 1998), after making the background dark:

    1. grey, reduced to ≤ :data:`CENTRE_WORKING_SIDE` pixels on the longer side;
    2. background dark: estimated from the border, inverted when the ink is darker than it,
       uneven light divided out on paper (:func:`_ink_map`), contrast normalised (:func:`_stretch`);
    3. crop to the ink (:func:`_digit_mask`: specks and frame-touching blobs dropped; when what is
       left touches the frame, :func:`_without_frame_blobs` looks again without the frame's
       blobs), pad to a square;
    4. scale so the box's longer side is 20/28 of ``size`` (antialiased);
    5. place it so its centre of mass is the frame's centre.

    Returns an RGB image ``size``×``size`` (grey in all three channels). A picture in which no ink
    stands out comes back as its grey, polarity-normalised self, resized. Roughly idempotent on
    MNIST digits (they are already like this).

    >>> from PIL import ImageDraw
    >>> paper = Image.new("RGB", (96, 96), (235, 230, 220)); d = ImageDraw.Draw(paper)
    >>> d.line([(60, 15), (60, 45)], fill=(30, 30, 30), width=4)
    >>> out = np.asarray(centre_like_mnist(paper, 28))[..., 0]
    >>> int(out[0, 0]), bool(out[14, 14] > 128), out.shape
    (0, True, (28, 28))
    """
    check_size(size)
    grey = img if img.mode == "L" else (to_rgb(img) if img.mode != "RGB" else img).convert("L")
    if max(grey.size) > CENTRE_WORKING_SIDE:
        grey = grey.copy()
        grey.thumbnail((CENTRE_WORKING_SIDE, CENTRE_WORKING_SIDE), Image.Resampling.BILINEAR,
                       reducing_gap=REDUCING_GAP)
    g = np.asarray(grey, dtype=np.float32) / 255.0
    raw = _ink_map(g)
    ink = _stretch(raw)
    if ink is None:
        flat = Image.fromarray(np.uint8(np.rint(np.clip(g if np.median(g) < 0.5 else 1 - g, 0, 1) * 255)))
        return flat.resize((size, size), Image.Resampling.BILINEAR).convert("RGB")
    mask, touches = _digit_mask(ink)
    if touches:
        second = _without_frame_blobs(raw, ink)
        if second is not None:
            ink, mask = second
    if not mask.any():
        mask = ink > 0.5
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    from scipy import ndimage

    near = ndimage.binary_dilation(mask, iterations=2)  # the digit's anti-aliased rim, not the specks
    crop = (ink * near)[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    ch, cw = crop.shape
    side = max(ch, cw)
    square = np.zeros((side, side), dtype=np.float32)
    square[(side - ch) // 2:(side - ch) // 2 + ch, (side - cw) // 2:(side - cw) // 2 + cw] = crop
    box = max(1, int(round(MNIST_BOX * size)))
    digit = np.asarray(Image.fromarray(np.uint8(np.rint(square * 255))).resize(
        (box, box), Image.Resampling.LANCZOS), dtype=np.float32)
    total = digit.sum()
    cy, cx = ((np.arange(box)[:, None] * digit).sum() / total, (np.arange(box)[None] * digit).sum() / total) \
        if total > 0 else ((box - 1) / 2, (box - 1) / 2)
    # MNIST put the centre of mass at pixel (14, 14) of 28×28, i.e. at size / 2 in pixel indices
    top = int(np.clip(round(size / 2 - cy), 0, size - box))
    left = int(np.clip(round(size / 2 - cx), 0, size - box))
    canvas = np.zeros((size, size), dtype=np.uint8)
    canvas[top:top + box, left:left + box] = np.uint8(np.clip(np.rint(digit), 0, 255))
    return Image.fromarray(canvas).convert("RGB")
