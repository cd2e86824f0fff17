"""Accuracy estimated without labels, as a person reads it: one sentence per model.

    line = estimate_line(model, card, images, ref="mnist->mnistm/dann", title="Adapted")
    # "**Adapted**: right on about 80 % of pictures like these, likely 72–87 %."
    show_estimates({"universal": (model, card, ref, "Universal"), ...}, rows)   # Predict's rows
    recommended_estimate_line("mnist->mnistm/self_ensembling", "mnistm")   # for Compare's recommended model
    versus(estimate_ref("session:3", "mnistm"), estimate_ref("mnist->mnistm/source_only", "mnistm"),
           "the pretrained source-only model")

The numbers are :func:`core.inference.estimate.estimate_images`' (the default estimator, its range
from held-out domains); a batch too small or a model whose source cannot be read gives the one line
that says so, and the answers are shown without an estimate.
"""

from __future__ import annotations

import logging

import streamlit as st

log = logging.getLogger(__name__)

HELP = ("Estimated without labels from how the model behaves on these pictures (see docs/estimate.md): "
        "the estimator measured best on digit domains no shipped model has seen, with the range that held the "
        "true accuracy in most of those cases. An estimate, not a measurement.")


def estimate(model, card: dict, images, ref: str | None = None) -> dict | str:
    """The estimate (percent, with ``sentence``) or the one line that says why there is none."""
    from core.estimators import sentence
    from core.inference.estimate import estimate_images

    try:
        res = estimate_images(model, card, images, ref=ref)
    except ValueError as e:  # too few pictures, a source that cannot be loaded, a pool too small
        return str(e)
    except Exception as e:  # noqa: BLE001 - an estimate must never break the page
        log.warning("estimate for %s: %s", ref, e)
        return f"no estimate ({type(e).__name__})"
    res["sentence"] = sentence(res)
    return res


def phrase(res: dict | str) -> str:
    """"right on about 80 % of pictures like these, likely 72–87 %", or the reason there is none."""
    if isinstance(res, str):
        return res[0].lower() + res[1:] if res else res
    return f"right on {res['sentence']}"


def estimate_line(model, card: dict, images, ref: str | None = None, title: str = "") -> str:
    res = estimate(model, card, images, ref)
    return f"**{title}**: {phrase(res)}." if title else phrase(res)[0].upper() + phrase(res)[1:] + "."


def core_ref(ref: str | None) -> str | None:
    """The app's model reference as core reads it: ``zoo:NAME`` → ``NAME``; a session's model → None."""
    if not ref or ref.startswith("session:"):
        return None
    return ref[4:] if ref.startswith("zoo:") else ref


def show_estimates(entries: dict[str, tuple], rows: list[dict]) -> dict[str, dict | str]:
    """An "Estimated accuracy" block over Predict's ``rows``: for each ``name: (model, card, ref, title)``
    one sentence, on the pictures as that model saw them. Too few pictures: one line saying how many
    are needed (the answers are shown anyway)."""
    import torch
    from core.estimators import MIN_PICTURES

    n = len(rows)
    st.markdown("**Estimated accuracy on these pictures** (no labels needed)", help=HELP)
    if n < MIN_PICTURES:
        st.caption(f"An accuracy estimate needs at least {MIN_PICTURES} pictures; this batch has {n}. Add "
                   f"{MIN_PICTURES - n} more for one — the answers are shown without it.")
        return {}
    out = {}
    for name, (model, card, ref, title) in entries.items():
        images = torch.stack([(r.get("inputs") or {}).get(name, r["image"]) for r in rows])
        out[name] = estimate(model, card, images, core_ref(ref))
        st.caption(f"**{title}**: {phrase(out[name])}.")
    return out


def recommended_estimate_line(ref: str, target: str, split: str = "test") -> str:
    """For Compare's recommended model: its estimated accuracy on ``target``'s ``split`` pictures
    (labels unread) as one sentence — "Estimated without labels: right on about 80 % of pictures like
    these, likely 72–87 %." — or the line that says why there is none. ``ref``: the app's reference
    (``zoo:NAME``, ``session:ID``) or a zoo name."""
    return f"Estimated without labels: {phrase(estimate_ref(ref, target, split))}."


def estimate_ref(ref: str, target: str, split: str = "test") -> dict | str:
    """:func:`estimate` of the model ``ref`` (``zoo:NAME``, ``session:ID`` or a zoo name) on
    ``target``'s ``split`` pictures, labels unread; a zoo model's is cached."""
    ref = ref if ref.startswith(("zoo:", "session:", "path:")) else f"zoo:{ref}"
    if ref.startswith("session:"):
        from . import models

        try:
            model, card = models.load(ref)
        except ValueError as e:
            return f"No estimate: {e}"
        return _result_for(model, card, None, target, split)
    return _cached_result(ref, target, split)


def versus(run: dict | str, base: dict | str, base_name: str) -> str | None:
    """What the label-free estimates say about a run against ``base`` (source-only; ``base_name``
    names it in the sentence: "the pretrained source-only model", "your source-only run"),
    in a sentence a newcomer reads — what one would do with one's own unlabelled pictures — or None
    when either has no estimate. Worse: the run's whole range lies below the other's estimate;
    better: above it; else the two cannot be told apart.

    >>> versus({"estimated_acc": 48.3, "low": 41.6, "high": 54.9}, {"estimated_acc": 68.7},
    ...        "the source-only model")
    'Without labels, ShiftLab would call this run likely worse than the source-only model — about 48 % against 69 % — and, on pictures nobody labelled, keep the source-only model.'
    """
    if isinstance(run, str) or isinstance(base, str):
        return None
    ours, theirs = run["estimated_acc"], base["estimated_acc"]
    if run["high"] < theirs:
        verdict, then = "likely worse than", f"keep {base_name}"
    elif run["low"] > theirs:
        verdict, then = "likely better than", "keep this run"
    else:
        verdict, then = "about as good as", "not be able to tell the two apart"
    return (f"Without labels, ShiftLab would call this run {verdict} {base_name} — about {ours:.0f} % "
            f"against {theirs:.0f} % — and, on pictures nobody labelled, {then}.")


@st.cache_data(show_spinner="Estimating accuracy without labels…", max_entries=32)
def _cached_result(ref: str, target: str, split: str) -> dict | str:
    from core.zoo.refs import load_ref

    try:
        model, card = load_ref(core_ref(ref))
    except ValueError as e:
        return f"No estimate: {e}"
    return _result_for(model, card, core_ref(ref), target, split)


def _result_for(model, card: dict, ref: str | None, target: str, split: str) -> dict | str:
    from core.data import load_domain

    try:
        images = load_domain(target, split, size=int(card["input_size"]), classes=card["class_names"]).images
    except ValueError as e:
        return f"No estimate: {e}"
    return estimate(model, card, images, ref)
