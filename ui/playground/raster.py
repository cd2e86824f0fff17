"""The live view's picture, drawn with NumPy and PIL: each method's input and feature planes with
their titles, and the bound's curves below, as one RGB array."""

from __future__ import annotations

from .. import labels
from .figures import BASELINE_COLOUR, BOUND_TERMS, CLASS_COLOURS, METHOD_COLOUR, SOURCE_MARKER, TARGET_MARKER

#
# While a run trains, each frame is drawn as four small pictures rendered here (NumPy + PIL, a few
# milliseconds each) rather than as Plotly charts: st.plotly_chart gives every new figure a new
# element id, so the browser would rebuild each chart from scratch five times a second; a picture
# is swapped in place. The finished run is drawn with the interactive charts above.

PANEL = 240   # pixels a side of one plane in the live picture
CURVE_H = 150  # pixels high of the curves' row


def _rgb(hexcolour: str):
    return tuple(int(hexcolour[i:i + 2], 16) for i in (1, 3, 5))


def _marker(kind: str):
    """Pixel offsets (dy, dx) of a marker: a disc (source) or an ×, 7 pixels across (target)."""
    r = range(-3, 4)
    if kind == SOURCE_MARKER:  # the disc's white rim
        return [(dy, dx) for dy in r for dx in r if dy * dy + dx * dx <= 8]
    if kind == "dot":  # the disc itself
        return [(dy, dx) for dy in r for dx in r if dy * dy + dx * dx <= 4]
    return [(d, d) for d in r] + [(d, -d) for d in r] + [(d, d + 1) for d in r] + [(d, 1 - d) for d in r]


def _stamp(img, xs, ys, colours, kind: str) -> None:
    """Draw ``kind`` markers centred on pixel (ys, xs) in ``colours`` (m, 3), vectorised over points."""
    h, w = img.shape[:2]
    for dy, dx in _marker(kind):
        y, x = ys + dy, xs + dx
        ok = (y >= 0) & (y < h) & (x >= 0) & (x < w)
        img[y[ok], x[ok]] = colours[ok]


def raster(regions, extent, points, prob=None, size: int = PANEL):
    """One plane as an RGB array (size, size, 3): ``regions`` (n, n) class grid over ``extent``
    (rows along y, bottom first) in light class colours, the P = ½ line of ``prob`` (n, n) dashed
    in black, and ``points``: [(xy (m, 2), labels (m,), marker "circle" | "x")]."""
    import numpy as np
    import torch

    palette = np.array([_rgb(c) for c in CLASS_COLOURS], dtype=np.float32)
    light = (255 - 0.28 * (255 - palette)).astype(np.uint8)
    n = regions.shape[0]
    rows = np.minimum((np.arange(size) * n) // size, n - 1)
    cells = light[np.asarray(regions, dtype=np.int64) % len(light)][::-1]  # image rows run top-down
    img = np.ascontiguousarray(cells[rows][:, rows])
    if prob is not None:
        p = torch.as_tensor(np.ascontiguousarray(np.asarray(prob, dtype=np.float32)[::-1]))[None, None]
        up = torch.nn.functional.interpolate(p, size=(size, size), mode="bilinear", align_corners=True)[0, 0] > 0.5
        edge = torch.zeros_like(up)
        edge[:-1] |= up[:-1] != up[1:]
        edge[:, :-1] |= up[:, :-1] != up[:, 1:]
        edge[1:] |= edge[:-1].clone()  # two pixels wide
        dash = ((torch.arange(size)[:, None] + torch.arange(size)[None]) // 6) % 2 == 0
        img[(edge & dash).numpy()] = 0
    x0, x1, y0, y1 = extent
    for xy, labels_, marker in points:
        xy = np.asarray(xy, dtype=np.float64)
        xs = np.round((xy[:, 0] - x0) / (x1 - x0) * (size - 1)).astype(np.int64)
        ys = np.round((1 - (xy[:, 1] - y0) / (y1 - y0)) * (size - 1)).astype(np.int64)
        colours = palette.astype(np.uint8)[np.asarray(labels_, dtype=np.int64) % len(palette)]
        if marker == SOURCE_MARKER:  # a white rim keeps the discs apart
            _stamp(img, xs, ys, np.full_like(colours, 255), SOURCE_MARKER)
            _stamp(img, xs, ys, colours, "dot")
        else:
            _stamp(img, xs, ys, colours, TARGET_MARKER)
    return img


def input_raster(snap, name: str, size: int = PANEL):
    frame = snap.frames[name]
    return raster(frame.regions, snap.extent, [(snap.source_points, snap.source_labels, SOURCE_MARKER),
                                               (snap.target_points, snap.target_labels, TARGET_MARKER)],
                  frame.domain_prob, size)


def feature_raster(snap, name: str, size: int = PANEL):
    frame = snap.frames[name]
    return raster(frame.feature_regions, frame.feature_extent,
                  [(frame.features_source, snap.source_labels, SOURCE_MARKER),
                   (frame.features_target, snap.target_labels, TARGET_MARKER)], frame.feature_domain_prob, size)


CURVE_TITLES = {"source_error": "source error (%)", "distance": "proxy A-distance of the features (0-2)",
                "target_error": "target error (%), from target labels"}


def _curves(snap, width: int, height: int = CURVE_H):
    """The bound's three terms against step as an RGB array: one panel per term, a line per method
    (source-only grey, the method red)."""
    import numpy as np
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(picture)
    gap, top, bottom = 12, 18, 6
    w = (width - 2 * gap) // 3
    for k, (term, title) in enumerate(BOUND_TERMS):
        left = k * (w + gap)
        box = (left, top, left + w - 1, height - bottom)
        draw.rectangle(box, outline=(200, 200, 200))
        draw.text((left + 2, 2), CURVE_TITLES[term], fill=(60, 60, 60))
        high = 2.0 if term == "distance" else 100.0
        for name in snap.methods:
            curve = snap.curves.get(name, [])
            if len(curve) < 2:
                continue
            is_base = name == snap.methods[0] and len(snap.methods) > 1
            xs = box[0] + np.array([c["step"] for c in curve]) / max(1, snap.total) * (w - 1)
            ys = box[3] - np.clip(np.array([c[term] for c in curve]) / high, 0, 1) * (box[3] - box[1])
            draw.line(list(zip(xs.tolist(), ys.tolist())), fill=_rgb(BASELINE_COLOUR if is_base else METHOD_COLOUR),
                      width=2)
    return np.asarray(picture)


TITLE_H = 16  # pixels high of the title above each live panel


def _titled(panel, title: str):
    """``panel`` (H, W, 3) with ``title`` written in a white band above it."""
    import numpy as np
    from PIL import Image, ImageDraw

    band = Image.new("RGB", (panel.shape[1], TITLE_H), "white")
    ImageDraw.Draw(band).text((2, 2), title, fill=(40, 40, 40))
    return np.concatenate([np.asarray(band), panel], axis=0)


def live_picture(snap):
    """The whole live frame as one RGB array: per method its input plane and its features, side
    by side, and the bound's curves below (one picture: one encode, one element to swap)."""
    import numpy as np

    panels = []
    for name in snap.methods:
        short = labels.method_label(name, short=True)
        panels += [_titled(input_raster(snap, name), f"{short}: input plane"),
                   _titled(feature_raster(snap, name), f"{short}: its 2-D features")]
    spacer = np.full((panels[0].shape[0], 8, 3), 255, np.uint8)
    row = np.concatenate([x for panel in panels for x in (panel, spacer)][:-1], axis=1)
    return np.concatenate([row, np.full((8, row.shape[1], 3), 255, np.uint8), _curves(snap, row.shape[1])], axis=0)
