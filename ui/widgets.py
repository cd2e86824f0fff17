"""Display helpers: galleries, prediction cards and plotly charts (no maths here)."""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from . import labels
from .images import upscale_nearest

SOURCE_COLOUR = "#1f77b4"
TARGET_COLOUR = "#ff7f0e"
MODEL_COLOURS = ["#7f7f7f", "#2ca02c", "#9467bd", "#d62728"]


def code(text: str) -> str:
    """A user string (file name …) as a markdown code span, so nothing in it is interpreted."""
    text = str(text).replace("`", "'").replace("\n", " ")
    return f"`{text[:120]}`"


@st.cache_resource(show_spinner=False, max_entries=32)
def test_split(name: str, size: int = 28):
    """A domain's test split (cached for the process)."""
    from core.data import load_domain

    return load_domain(name, "test", size)


def gallery(domain, k: int = 16, seed: int = 0, per_row: int = 8, factor: int = 4) -> None:
    """``k`` test images of ``domain`` in a grid, upscaled with nearest neighbours (crisp pixels),
    labels as captions."""
    from core.data.sampling import sample_indices

    idx = sample_indices(len(domain), k, seed)
    images = upscale_nearest(domain.images[idx], max(1, factor * 28 // domain.input_size))
    captions = [domain.classes[int(domain.labels[i])] for i in idx]
    for start in range(0, len(idx), per_row):
        cols = st.columns(per_row, gap="xsmall")
        for col, img, cap in zip(cols, images[start:start + per_row], captions[start:start + per_row]):
            col.image(img, caption=cap, width="stretch")


def picture_row(images, captions=None, factor: int = 3) -> None:
    """uint8 pictures (n, 3, H, W) side by side, upscaled with nearest neighbours."""
    shown = upscale_nearest(images, factor)
    cols = st.columns(len(shown), gap="xsmall")
    for i, (col, img) in enumerate(zip(cols, shown)):
        col.image(img, caption=None if captions is None else captions[i], width="stretch")


def delta(value: float | None, fmt: str = "+.2f", suffix: str = "") -> str | None:
    """A metric delta, or None when there is none or it rounds to zero (no red/green arrow for 0)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = f"{value:{fmt}}"
    if float(text) == 0:
        return None
    return text + suffix


def pct(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f} %"


# --------------------------------------------------------------------------- predictions

def _top_lines(preds: list[tuple[str, float]], correct: bool | None) -> str:
    lines = []
    for i, (cls, p) in enumerate(preds):
        text = f"**{cls}** · {100 * p:.1f} %" if i == 0 else f"{cls} · {100 * p:.1f} %"
        lines.append(text if i == 0 else f":gray[{text}]")
    if correct is not None:
        lines[0] += " :green[✓]" if correct else " :red[✗]"
    return "  \n".join(lines)


def prediction_card(row: dict, model_names: list[str], titles: dict[str, str]) -> None:
    """One image with each model's top-3 side by side; agreement shown as a badge."""
    with st.container(border=True):
        badge = (":green-badge[:material/check: agree]" if row["agree"]
                 else ":orange-badge[:material/warning: disagree]")
        head = f"{badge} {code(row['name'])}"
        if row.get("label") is not None:
            head += f" · label **{row['label']}**"
        st.markdown(head)
        cols = st.columns([1] + [1.4] * len(model_names), gap="small")
        with cols[0]:
            if row.get("image") is not None:
                st.image(upscale_nearest(row["image"], 3), width=84)
        for col, m in zip(cols[1:], model_names):
            with col:
                st.caption(titles.get(m, m))
                correct = row.get("correct", {}).get(m) if row.get("label") is not None else None
                st.markdown(_top_lines(row["predictions"][m], correct))


def prediction_grid(rows: list[dict], model_names: list[str], titles: dict[str, str],
                    per_row: int = 3, limit: int = 48) -> None:
    for start in range(0, min(len(rows), limit), per_row):
        cols = st.columns(per_row)
        for col, row in zip(cols, rows[start:start + per_row]):
            with col:
                prediction_card(row, model_names, titles)
    if len(rows) > limit:
        st.caption(f"Showing the first {limit} of {len(rows)} images; the table and the CSV have all of them.")


# --------------------------------------------------------------------------- charts

def _layout(fig, height: int = 320, title: str | None = None, **kw):
    """Common chart layout: title top left, legend top right (they never overlap)."""
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=56 if title else 30, b=10),
                      title=dict(text=title, x=0, xanchor="left", y=0.985, yanchor="top", font=dict(size=15))
                      if title else None,
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right"), **kw)
    return fig


def loss_figure(history: list[dict]):
    """Loss curves (every numeric key of the history but step / accuracies) against step."""
    import plotly.graph_objects as go

    fig = go.Figure()
    if history:
        keys = [k for k in history[-1] if k not in ("step",) and not k.endswith("_acc")]
        for k in history[0]:
            if k not in keys and k != "step" and not k.endswith("_acc"):
                keys.append(k)
        stride = max(1, len(history) // 600)
        pts = history[::stride]
        if pts[-1] is not history[-1]:
            pts = pts + [history[-1]]
        steps = [r["step"] for r in pts]
        for k in keys:
            fig.add_trace(go.Scatter(x=steps, y=[r.get(k) for r in pts], mode="lines", name=k))
    fig.update_xaxes(title="step")
    fig.update_yaxes(title="loss")
    return _layout(fig, title="Training losses")


def accuracy_figure(history: list[dict], baseline: float | None = None, baseline_label: str = "source only",
                    total_steps: int | None = None):
    """Target test accuracy at each evaluation, with a dashed baseline."""
    import plotly.graph_objects as go

    pts = [r for r in history if r.get("target_acc") is not None]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[r["step"] for r in pts], y=[r["target_acc"] for r in pts],
                             mode="lines+markers", name="target accuracy", line=dict(color=TARGET_COLOUR)))
    if baseline is not None:
        fig.add_hline(y=baseline, line_dash="dash", line_color="#7f7f7f",
                      annotation_text=f"{baseline_label} {baseline:.1f} %", annotation_position="bottom right")
    fig.update_xaxes(title="step", rangemode="tozero", range=[0, total_steps * 1.02] if total_steps else None)
    fig.update_yaxes(title="target test accuracy (%)", range=[0, 100])
    return _layout(fig, title="Target accuracy")


def alignment_figure(alignment, colour_by: str, source: str, target: str, title: str | None = None):
    """Scatter of a joint 2-D feature map; customdata = (domain, index, label) for clicks."""
    import plotly.graph_objects as go

    fig = go.Figure()
    names = {0: labels.domain_label(source), 1: labels.domain_label(target)}
    symbols = {0: "circle", 1: "diamond"}
    if colour_by == "domain":
        groups = [(d, alignment.domain == d, names[d], SOURCE_COLOUR if d == 0 else TARGET_COLOUR) for d in (0, 1)]
    else:
        import plotly.colors as pc

        palette = pc.qualitative.T10
        groups = [(None, alignment.labels == c, str(c), palette[int(c) % len(palette)])
                  for c in sorted(set(alignment.labels.tolist()))]
    for _, mask, name, colour in groups:
        if not mask.any():
            continue
        dom = alignment.domain[mask]
        # plain lists: numpy arrays would travel as typed arrays, which the selection event mangles
        custom = np.stack([dom, alignment.index[mask], alignment.labels[mask]], axis=1).astype(int).tolist()
        fig.add_trace(go.Scatter(
            x=alignment.coords[mask, 0].tolist(), y=alignment.coords[mask, 1].tolist(), mode="markers", name=name,
            marker=dict(size=6, color=colour, opacity=0.75, symbol=[symbols[int(d)] for d in dom],
                        line=dict(width=0)),
            customdata=custom,
            text=[names[int(d)] for d in dom],
            hovertemplate="%{text} #%{customdata[1]}<br>label %{customdata[2]}<extra></extra>",
        ))
    fig.update_xaxes(showticklabels=False, title=None, zeroline=False)
    fig.update_yaxes(showticklabels=False, title=None, zeroline=False, scaleanchor="x", scaleratio=1)
    return _layout(fig, height=460, title=title, dragmode="pan", plot_bgcolor="#fafafa")


def per_class_figure(class_names, series: dict[str, list[float]]):
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, (name, values) in enumerate(series.items()):
        fig.add_trace(go.Bar(x=list(class_names), y=[None if v is None or (isinstance(v, float) and math.isnan(v))
                                                      else v for v in values],
                             name=name, marker_color=MODEL_COLOURS[i % len(MODEL_COLOURS)]))
    fig.update_layout(barmode="group")
    fig.update_xaxes(title="class", type="category")
    fig.update_yaxes(title="target test accuracy (%)", range=[0, 100])
    return _layout(fig, title="Per-class accuracy on the target test set")


def confusion_figure(matrix, class_names, title: str):
    import plotly.graph_objects as go

    m = np.asarray(matrix)
    fig = go.Figure(go.Heatmap(z=m, x=list(class_names), y=list(class_names), colorscale="Blues",
                               text=m, texttemplate="%{text}", showscale=False,
                               hovertemplate="true %{y} → predicted %{x}: %{z}<extra></extra>"))
    fig.update_xaxes(title="predicted", type="category", side="bottom")
    fig.update_yaxes(title="true", type="category", autorange="reversed")
    return _layout(fig, height=420, title=title)


def reliability_figure(curves: dict[str, dict]):
    """Reliability diagram: accuracy against confidence per bin, one line per model."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                             line=dict(dash="dash", color="#bbbbbb")))
    for i, (name, c) in enumerate(curves.items()):
        conf, acc, count = (np.asarray(c[k], dtype=float) for k in ("confidence", "accuracy", "count"))
        keep = ~np.isnan(conf) & ~np.isnan(acc)
        fig.add_trace(go.Scatter(x=conf[keep], y=acc[keep], mode="lines+markers", name=name,
                                 marker=dict(size=np.clip(4 + 3 * np.sqrt(count[keep] / max(count.max(), 1)) * 4, 4, 16)),
                                 line=dict(color=MODEL_COLOURS[i % len(MODEL_COLOURS)]),
                                 customdata=count[keep],
                                 hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}<br>%{customdata:.0f} images<extra></extra>"))
    fig.update_xaxes(title="confidence", range=[0, 1.02])
    fig.update_yaxes(title="accuracy", range=[0, 1.02])
    return _layout(fig, height=400, title="Reliability (calibration)")
