"""The Playground's views: the domains before training, the live fragment while a run trains, and the
finished run's charts with its one-line reading."""

from __future__ import annotations

import time

import streamlit as st

from .. import labels
from .figures import bound_figure, feature_figure, input_figure, preview_figure
from .raster import live_picture
from .run import current

REDRAW_S = 0.05    # the live view looks for a newer frame this often (it draws at most one per look)
STREAM_S = 1.5     # how long one run of the live fragment streams frames before its timer runs it again


def panel_line(snap) -> str:
    """What each part of the live picture is, with its numbers."""
    parts = [f"**{labels.method_label(name)}**: input plane (target error {snap.frames[name].target_error:.0f} %), "
             f"its features (d_A {snap.frames[name].distance:.2f})" for name in snap.methods if name in snap.frames]
    return " · ".join(parts) + ". Below: source error, proxy A-distance and target error (grey: source only)."


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
