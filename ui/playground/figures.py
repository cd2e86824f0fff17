"""The Playground's interactive charts, as plain Plotly dicts (no validation): the input plane, the
feature plane, the two domains before training and the bound's three terms."""

from __future__ import annotations

from .. import labels

# class colours (A, B, C, …) for points and regions, and the two domains' markers
CLASS_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
SOURCE_MARKER, TARGET_MARKER = "circle", "x"
BASELINE_COLOUR, METHOD_COLOUR = "#7f7f7f", "#e45756"

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
