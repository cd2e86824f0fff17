"""The Playground page's parts: the shift sliders and presets, the background run, and the live
pictures (decision regions, the discriminator's boundary, the 2-D features, the bound's terms).

The run is a :class:`core.training.playground.Playground` trained in a child process (see
``Playground.start``), one per browser session (kept in ``st.session_state``); it is a few seconds
long, so it needs none of the job manager's slots, heartbeats and orphan handling
(:mod:`ui.training`). While it trains, :func:`live` (a fragment on a timer) streams each new frame
into a placeholder as one picture drawn here with NumPy (:func:`live_picture`); once the run ends
the page reruns once and draws the result as interactive Plotly charts (plain dicts, no
validation) with the one-line reading.
"""

from __future__ import annotations

import time

import streamlit as st

from . import labels, state

REDRAW_S = 0.05    # the live view looks for a newer frame this often (it draws at most one per look)
FRAME_S = 0.1     # the run draws a frame at least this often, however busy the machine
STREAM_S = 1.5     # how long one run of the live fragment streams frames before its timer runs it again
RUN_KEY = "pg_run"
STEPS = (250, 500, 1000, 2000, 3000)
# class colours (A, B, C, …) for points and regions, and the two domains' markers
CLASS_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
SOURCE_MARKER, TARGET_MARKER = "circle", "x"
BASELINE_COLOUR, METHOD_COLOUR = "#7f7f7f", "#e45756"
STEP_SIZES = {"rotate": 5.0, "dx": 0.25, "dy": 0.25, "scale": 0.05, "noise": 0.05, "prior": 0.05, "concept": 0.05}
SHIFT_LABELS = {"rotate": "Rotation (degrees)", "dx": "Move along x", "dy": "Move along y", "scale": "Scale",
                "noise": "Added noise", "prior": "Share of class A (label shift)",
                "concept": "Labels moved on (concept shift)"}


# ---------------------------------------------------------------------------- controls

def _key(name: str) -> str:
    return f"pg_{name}"


def _defaults() -> dict:
    from core.data.toy import SHIFTS
    from core.methods import default_method

    out = {_key("dataset"): "moons", _key("classes"): 2, _key("method"): default_method(), _key("steps"): 1000,
           _key("typed"): ""}
    out.update({_key(k): (0.5 if k == "prior" else float(p.default)) for k, p in SHIFTS.items()})
    return out


def _first_visit() -> dict:
    """What the controls show on a first visit: the first preset's shift (a gap worth training on)."""
    from core.training.playground import PRESETS

    first = PRESETS[0]
    return {**_defaults(), _key("dataset"): first.dataset, _key("steps"): first.steps,
            **{_key(k): float(v) for k, v in first.shifts.items()}}


@st.cache_resource(show_spinner=False)
def warm() -> bool:
    """Once per server process: import the data generators, draw the first preset's points and
    train a few steps here, so that a run (forked from this process) starts at once instead of
    spending its first second or two importing scikit-learn and warming torch up (measured: the
    first frame 1.5 s after the click cold, 0.05 s warm)."""
    from core.training.playground import PRESETS, Playground

    first = PRESETS[0]
    Playground(first.source, first.target, first.method_name, steps=4, every=2, threads=1).run()
    return True


def init_state() -> None:
    warm()
    for k, v in _first_visit().items():
        st.session_state.setdefault(k, v)


def _balance() -> None:
    """A new number of classes starts balanced (class A's share 1/C)."""
    st.session_state[_key("prior")] = 1.0 / int(st.session_state[_key("classes")])


def apply_preset(key: str) -> None:
    """Set every control to the preset's values (a button callback: runs before the widgets)."""
    from core.training.playground import preset

    p = preset(key)
    for k, v in _defaults().items():
        st.session_state[k] = v
    st.session_state[_key("dataset")] = p.dataset
    for k, v in p.shifts.items():
        st.session_state[_key(k)] = float(v)
    st.session_state[_key("method")] = p.method_name
    st.session_state[_key("steps")] = p.steps
    st.session_state["pg_preset"] = key
    st.session_state["pg_autostart"] = True  # a preset is one click: it trains at once


def presets() -> None:
    """The presets that teach, one button each."""
    from core.training.playground import PRESETS

    cols = st.columns(len(PRESETS))
    for col, p in zip(cols, PRESETS):
        with col:
            st.button(p.label, key=f"pg_preset_{p.key}", on_click=apply_preset, args=(p.key,),
                      width="stretch", help=p.lesson)
    chosen = st.session_state.get("pg_preset")
    if chosen:
        from core.training.playground import preset

        st.info(preset(chosen).lesson, icon=":material/school:")


def controls() -> dict:
    """The data set, the shift sliders, the method and the steps; returns ``{source, target, method,
    steps}`` (toy specs built from the sliders)."""
    from core.data.toy import DATASETS, SHIFTS, spec
    from core.methods import runs_on_points

    init_state()
    data_col, shift_col, method_col = st.columns([1, 2, 1], gap="medium")
    with data_col:
        dataset = st.selectbox("Data set", list(DATASETS), key=_key("dataset"),
                               format_func=lambda n: DATASETS[n].label)
        low, high = DATASETS[dataset].classes
        classes = 2
        if high > low:
            classes = st.slider("Classes", low, high, key=_key("classes"), on_change=_balance)
        else:
            st.caption(DATASETS[dataset].summary)
    values = {}
    with shift_col:
        st.markdown("**The target's shift**")
        a, b = st.columns(2)
        for k, (name, p) in enumerate(SHIFTS.items()):
            with (a if k % 2 == 0 else b):
                values[name] = st.slider(SHIFT_LABELS.get(name, name), float(p.low), float(p.high),
                                         step=STEP_SIZES.get(name, 0.05), key=_key(name), help=p.help)
    with method_col:
        names = runs_on_points()
        method = st.selectbox("Method", names, key=_key("method"), format_func=labels.method_label)
        from core.methods import METHODS

        st.caption(METHODS[method].summary)
        steps = st.select_slider("Steps", STEPS, key=_key("steps"))
    prior = values.pop("prior")
    shifts = dict(values, prior=None if abs(prior - 1.0 / classes) < 1e-6 else prior)
    extra = {"classes": classes} if classes != 2 else {}
    source = spec(dataset, **extra)
    target = spec(dataset, **extra, **shifts)
    settings = {"source": source, "target": target, "method": method, "steps": int(steps), "error": None}
    typed = st.text_input("…or type the target as a spec (it overrides the sliders)", key=_key("typed"),
                          placeholder="toy:moons?rotate=35&noise=0.1",
                          help="The syntax every command takes: toy:NAME?param=value&… — "
                               "`python -m core domains` lists the names, shifts and ranges.").strip()
    if typed:
        from core.data import DomainError
        from core.data.toy import parse

        try:
            name, values = parse(typed)
        except DomainError as err:
            st.error(str(err), icon=":material/error:")
            settings["error"] = str(err)
        else:
            own = {"classes": values["classes"]} if values.get("classes", 2) != 2 else {}
            settings.update(source=spec(name, **own), target=typed)
    return settings


def pictures_note() -> None:
    """One line on the methods that cannot train on points."""
    from core.methods import needs_pictures

    names = needs_pictures()
    if names:
        st.caption("Not here: " + ", ".join(labels.method_label(n) for n in names)
                   + " — they need pictures (a generator, picture augmentations or conv feature maps).")


# ---------------------------------------------------------------------------- the run

def current():
    return st.session_state.get(RUN_KEY)


def running() -> bool:
    run = current()
    return run is not None and not run.latest().finished


def start(settings: dict) -> bool:
    """Start a run with ``settings`` (:func:`controls`); an error is shown as one line."""
    from core.training.playground import Playground

    old = current()
    if old is not None:
        old.cancel()
    try:
        run = Playground(settings["source"], settings["target"], settings["method"], steps=settings["steps"],
                         seed=state.seed(), threads=1, frame_seconds=FRAME_S)  # one intra-op thread: see app.py (two collapse here)
    except ValueError as err:  # DomainError is one
        st.error(str(err), icon=":material/error:")
        return False
    st.session_state[RUN_KEY] = run.start(process=True)  # see Playground.start: the redraws would slow a thread
    return True


# ---------------------------------------------------------------------------- figures

def _colourscale(n: int, alpha: float = 0.28) -> list:
    """A stepped colour scale for n classes over z = 0..n−1 (each class its colour, light)."""
    def rgba(hexcolour):
        r, g, b = (int(hexcolour[i:i + 2], 16) for i in (1, 3, 5))
        return f"rgba({r},{g},{b},{alpha})"

    if n == 1:
        return [[0, rgba(CLASS_COLOURS[0])], [1, rgba(CLASS_COLOURS[0])]]
    scale = []
    for k in range(n):
        c = rgba(CLASS_COLOURS[k % len(CLASS_COLOURS)])
        scale += [[k / n, c], [(k + 1) / n, c]]
    return scale


def _axis(lo: float, hi: float, title: str = "") -> dict:
    return {"range": [lo, hi], "title": {"text": title}, "zeroline": False, "showgrid": False}


def _regions_trace(grid, extent, n_classes: int) -> dict:
    x0, x1, y0, y1 = extent
    n = grid.shape[0]
    return {"type": "heatmap", "z": grid.tolist(), "x0": x0, "dx": (x1 - x0) / (n - 1), "y0": y0,
            "dy": (y1 - y0) / (n - 1), "zmin": -0.5, "zmax": n_classes - 0.5,
            "colorscale": _colourscale(n_classes), "showscale": False, "hoverinfo": "skip"}


def _boundary_trace(prob, extent, name: str) -> dict:
    x0, x1, y0, y1 = extent
    n = prob.shape[0]
    return {"type": "contour", "z": prob.tolist(), "x0": x0, "dx": (x1 - x0) / (n - 1), "y0": y0,
            "dy": (y1 - y0) / (n - 1), "contours": {"start": 0.5, "end": 0.5, "size": 1, "coloring": "none"},
            "line": {"color": "black", "width": 2, "dash": "dash"}, "showscale": False, "name": name,
            "showlegend": True, "hoverinfo": "skip"}


def _points(points, labels_, classes, marker: str, domain: str) -> list[dict]:
    traces = []
    for k, c in enumerate(classes):
        sel = labels_ == k
        if not sel.any():
            continue
        traces.append({"type": "scatter", "mode": "markers", "x": points[sel, 0].tolist(),
                       "y": points[sel, 1].tolist(), "name": f"{domain} {c}", "legendgroup": domain,
                       "marker": {"symbol": marker, "size": 6 if marker == SOURCE_MARKER else 7,
                                  "color": CLASS_COLOURS[k % len(CLASS_COLOURS)],
                                  "line": {"width": 0.5, "color": "white"} if marker == SOURCE_MARKER else {}},
                       "opacity": 0.75, "hoverinfo": "skip"})
    return traces


def _layout(title: str, height: int, xaxis: dict, yaxis: dict, legend: bool = False) -> dict:
    return {"title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 14}}, "height": height,
            "margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "xaxis": xaxis,
            "yaxis": {**yaxis, "scaleanchor": "x", "scaleratio": 1}, "showlegend": legend,
            "legend": {"orientation": "h", "y": -0.08}, "uirevision": "keep", "plot_bgcolor": "white"}


def input_figure(snap, name: str, height: int = 380) -> dict:
    """The input plane: the classifier's regions, source (●) and target (×) points coloured by
    class, and the discriminator's P(source | x) = ½ line where the method has one."""
    frame = snap.frames[name]
    x0, x1, y0, y1 = snap.extent
    data = [_regions_trace(frame.regions, snap.extent, len(snap.classes))]
    if frame.domain_prob is not None:
        data.append(_boundary_trace(frame.domain_prob, snap.extent, "discriminator: P(source) = ½"))
    data += _points(snap.source_points, snap.source_labels, snap.classes, SOURCE_MARKER, "source")
    data += _points(snap.target_points, snap.target_labels, snap.classes, TARGET_MARKER, "target")
    title = f"{labels.method_label(name)} — step {frame.step:,}: target error {frame.target_error:.0f} %"
    return {"data": data, "layout": _layout(title, height, _axis(x0, x1), _axis(y0, y1))}


def feature_figure(snap, name: str, height: int = 380) -> dict:
    """The 2-D features of source (●) and target (×) test points, over the head's regions in the
    feature plane and the discriminator's ½ line there."""
    frame = snap.frames[name]
    fx0, fx1, fy0, fy1 = frame.feature_extent
    data = [_regions_trace(frame.feature_regions, frame.feature_extent, len(snap.classes))]
    if frame.feature_domain_prob is not None:
        data.append(_boundary_trace(frame.feature_domain_prob, frame.feature_extent, "discriminator"))
    data += _points(frame.features_source, snap.source_labels, snap.classes, SOURCE_MARKER, "source")
    data += _points(frame.features_target, snap.target_labels, snap.classes, TARGET_MARKER, "target")
    title = f"{labels.method_label(name, short=True)} features — distance d_A {frame.distance:.2f}"
    return {"data": data, "layout": _layout(title, height, _axis(fx0, fx1), _axis(fy0, fy1))}


def preview_figure(snap, height: int = 420) -> dict:
    """The two domains before any training: source (●) and target (×) test points, coloured by class."""
    x0, x1, y0, y1 = snap.extent
    data = _points(snap.source_points, snap.source_labels, snap.classes, SOURCE_MARKER, "source")
    data += _points(snap.target_points, snap.target_labels, snap.classes, TARGET_MARKER, "target")
    return {"data": data, "layout": _layout("The two domains — source ● and target ×, before training", height,
                                            _axis(x0, x1), _axis(y0, y1), legend=True)}


BOUND_TERMS = (("source_error", "Source error ε_S (%)"), ("distance", "Proxy A-distance d_A (features)"),
               ("target_error", "Target error ε_T (%) — from target labels, for teaching"))


def bound_figure(snap, height: int = 300) -> dict:
    """The three terms of Ben-David et al.'s bound against step, one panel each, a line per method."""
    data = []
    for k, (term, _title) in enumerate(BOUND_TERMS):
        for name in snap.methods:
            curve = snap.curves.get(name, [])
            is_base = name == snap.methods[0] and len(snap.methods) > 1
            data.append({"type": "scatter", "mode": "lines", "x": [c["step"] for c in curve],
                         "y": [c[term] for c in curve], "name": labels.method_label(name),
                         "legendgroup": name, "showlegend": k == 0, "xaxis": f"x{k + 1}", "yaxis": f"y{k + 1}",
                         "line": {"color": BASELINE_COLOUR if is_base else METHOD_COLOUR,
                                  "dash": "dash" if is_base else "solid", "width": 2}})
    layout = {"height": height, "margin": {"l": 10, "r": 10, "t": 40, "b": 30}, "showlegend": True,
              "legend": {"orientation": "h", "y": 1.22, "x": 1, "xanchor": "right"}, "uirevision": "keep",
              "annotations": []}
    for k, (term, title) in enumerate(BOUND_TERMS):
        lo, hi = k / 3 + (0.02 if k else 0), (k + 1) / 3 - (0.02 if k < 2 else 0)
        layout[f"xaxis{k + 1}"] = {"domain": [lo, hi], "range": [0, snap.total], "title": {"text": "step"},
                                   "anchor": f"y{k + 1}"}
        layout[f"yaxis{k + 1}"] = {"anchor": f"x{k + 1}", "range": [0, 2.05] if term == "distance" else [0, 100],
                                   "rangemode": "tozero"}
        layout["annotations"].append({"text": title, "xref": "paper", "yref": "paper", "x": lo, "y": 1.06,
                                      "xanchor": "left", "showarrow": False, "font": {"size": 13}})
    return {"data": data, "layout": layout}


# ---------------------------------------------------------------------------- live rasters
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


def panel_line(snap) -> str:
    """What each part of the live picture is, with its numbers."""
    parts = [f"**{labels.method_label(name)}**: input plane (target error {snap.frames[name].target_error:.0f} %), "
             f"its features (d_A {snap.frames[name].distance:.2f})" for name in snap.methods if name in snap.frames]
    return " · ".join(parts) + ". Below: source error, proxy A-distance and target error (grey: source only)."


# ---------------------------------------------------------------------------- the views

def status_line(snap) -> str:
    state = {"starting": "starting", "running": "training", "done": "done", "cancelled": "stopped",
             "failed": "failed"}[snap.status]
    return (f"Step {snap.step:,} of {snap.total:,} · frame {snap.frame_count} · {snap.elapsed:.1f} s · {state}")


def _legend(snap) -> str:
    from core.data import domain_label

    return (f"{domain_label(snap.source)} → {domain_label(snap.target)}. Points: source ●, target ×, coloured by "
            "their true class (the target's labels are never shown to the methods). Dashed line: where the domain "
            "discriminator cannot tell the domains apart.")


def draw(snap, key: str) -> None:
    """Every picture of the snapshot as interactive charts: per method the input plane and the
    features, then the bound."""
    st.caption(status_line(snap))
    if not snap.frames:
        return
    st.caption(_legend(snap))
    cols = st.columns(len(snap.methods))
    for col, name in zip(cols, snap.methods):
        with col:
            st.plotly_chart(input_figure(snap, name), key=f"{key}_in_{name}", config={"displayModeBar": False},
                            width="stretch")
            st.plotly_chart(feature_figure(snap, name), key=f"{key}_feat_{name}",
                            config={"displayModeBar": False}, width="stretch")
    st.plotly_chart(bound_figure(snap), key=f"{key}_bound", config={"displayModeBar": False},
                    width="stretch")
    st.caption("Ben-David et al. (2010): ε_T ≤ ε_S + ½ d_HΔH(S, T) + λ. Alignment methods try to lower the "
               "distance between the domains' features; the target error falls only when the classes line up too "
               "(a small λ) — and a method can lower it while its features stay easy to tell apart.")


@st.fragment(run_every=STREAM_S)
def live() -> None:
    """The view while the run trains. A fragment that, each time it runs, redraws the newest frame
    into one placeholder every :data:`REDRAW_S` s for up to :data:`STREAM_S` s, then ends and is
    run again by its timer; the page reruns once when the run is over.

    Why not a fragment rerun per frame (``run_every=0.2``): every rerun is a round trip from the
    browser's timer through a script run and back, and on a shared 2-core machine that capped the
    page at about 2.5 redraws a second however short the period (measured with the browser test's
    counter); updating a placeholder inside one run streams each frame as it is drawn."""
    run = current()
    if run is None:
        return
    if st.button("Stop", key="pg_stop", icon=":material/stop_circle:"):
        run.cancel()
    bar = st.empty()
    st.caption(_legend(run.latest()))
    line, panels, picture = st.empty(), st.empty(), st.empty()  # each redrawn in place
    until, shown = time.monotonic() + STREAM_S, None
    while True:
        snap = run.latest()
        if snap.finished:
            st.rerun()  # the whole page: the result, and no more timer
        if (snap.frame_count, snap.status) != shown:
            shown = (snap.frame_count, snap.status)
            bar.progress(snap.fraction)
            line.caption(status_line(snap))
            if snap.frames:
                panels.markdown(panel_line(snap))
                picture.image(live_picture(snap), output_format="JPEG", width="content")
        if time.monotonic() >= until:
            return
        time.sleep(REDRAW_S)


@st.cache_data(show_spinner=False, max_entries=64)
def _preview(source: str, target: str):
    from core.training.playground import preview

    return preview(source, target)


def show_preview(settings: dict) -> None:
    """The chosen shift's source and target points, drawn at once (before any training) and again
    on every slider move or preset."""
    if settings["error"] is not None:
        return
    try:
        snap = _preview(settings["source"], settings["target"])
    except ValueError as err:  # DomainError is one
        st.error(str(err), icon=":material/error:")
        return
    st.plotly_chart(preview_figure(snap), key="pg_preview", config={"displayModeBar": False}, width="stretch")
    st.caption(f"{_legend(snap)} Press **Train** to train {labels.method_label(settings['method'])} and source "
               "only on these points and watch them learn.")


def result(settings: dict | None = None) -> bool:
    """The finished run's pictures and the one-line reading, when the last run trained on the
    shift ``settings`` names (any shift when None); returns whether it drew them."""
    from core.training.playground import reading

    run = current()
    if run is None:
        return False
    snap = run.latest()
    if settings is not None and (snap.source, snap.target) != (settings["source"], settings["target"]):
        return False
    if snap.status == "failed":
        st.error(snap.error, icon=":material/error:")
        return True
    st.success(reading(snap), icon=":material/lightbulb:")
    draw(snap, "pg_done")
    st.caption("The same run from the command line: "
               f"`python -m core train --source \"{snap.source}\" --target \"{snap.target}\" "
               f"--method {snap.methods[-1]} --steps {snap.total}`")
    return True
