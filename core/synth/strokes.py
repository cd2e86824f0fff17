"""The pen-stroke synthesiser: digit skeletons (several hand-drawn variants each), writers (slant,
width, pen radius and pressure, jitter, warp), centripetal Catmull–Rom strokes and an analytic,
antialiased rasteriser (see :mod:`core.synth` for the maths)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


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


def bbox(polys, radii) -> tuple[float, float, float, float]:
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
    x0, y0, x1, y1 = bbox(polys, radii)
    scale = min(height_frac * frame / max(y1 - y0, 1e-6), max_width_frac * frame / max(x1 - x0, 1e-6))
    return scale, (centre[0] - scale * (x0 + x1) / 2, centre[1] - scale * (y0 + y1) / 2)


def place_inside(polys, radii, frame: int, height_frac: float, centre: tuple[float, float]):
    """:func:`place`, with the centre moved just enough to keep the ink box ≥ 1 px inside the frame."""
    scale, _ = place(polys, radii, frame, height_frac, centre)
    x0, y0, x1, y1 = bbox(polys, radii)
    hw, hh = scale * (x1 - x0) / 2, scale * (y1 - y0) / 2
    cx = float(np.clip(centre[0], min(hw + 1, frame / 2), max(frame - hw - 1, frame / 2)))
    cy = float(np.clip(centre[1], min(hh + 1, frame / 2), max(frame - hh - 1, frame / 2)))
    return place(polys, radii, frame, height_frac, (cx, cy))


def render_mnist_like(polys, radii, size: int = 28, box: float = 20.0) -> np.ndarray:
    """MNIST's normalisation: ink box fitted into ``box``×``box`` (aspect kept), centre of mass
    at the frame centre. Returns (size, size) float32 coverage in [0, 1] (white ink on black)."""
    x0, y0, x1, y1 = bbox(polys, radii)
    scale = box / max(x1 - x0, y1 - y0, 1e-6)
    offset = (size / 2 - scale * (x0 + x1) / 2, size / 2 - scale * (y0 + y1) / 2)
    img = rasterise(polys, radii, size, size, scale, offset)
    mass = img.sum()
    if mass > 0:
        gy, gx = np.mgrid[0:size, 0:size] + 0.5
        dx, dy = size / 2 - (img * gx).sum() / mass, size / 2 - (img * gy).sum() / mass
        img = rasterise(polys, radii, size, size, scale, (offset[0] + dx, offset[1] + dy))
    return img
