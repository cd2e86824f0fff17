"""Your own pictures on Predict: "Adapt to these pictures" (guarded test-time adaptation,
:func:`core.tta.adapt`), before/after per picture, and downloads of the adapted model. (The default
upload model is :mod:`ui.universal`'s, camera and drawing inputs :mod:`ui.inputs`'.)

    adapt_panel({"universal": {"model": m, "card": c, "label": "…", "ref": "path:…"}, …}, rows,
                skipped=[broken file names], normalize="none", seed=0)

The page keeps the UI; the adaptation itself is core's (:func:`core.tta.adapt`: episodic — it works
on a copy —, guarded without labels). Here the model handed to it is deep-copied once more, so the
cached model other sessions use, and the shipped weights on disk, never change. One adaptation runs
at a time in the process (:data:`_ADAPT_LOCK`); a batch is at most :data:`core.imageio.uploads.MAX_FILES`
pictures (SHOT-IM on 100 digits takes about a second on one core).
"""

from __future__ import annotations

import copy
import hashlib
import logging
import tempfile
import threading
from pathlib import Path

import streamlit as st

from . import exports, widgets
from .images import upscale_nearest

log = logging.getLogger(__name__)

STATE_KEY = "predict_tta"
BEFORE, AFTER = "before", "after"
#: How long a click waits for another session's adaptation to finish before giving up.
LOCK_TIMEOUT_S = 60.0

_ADAPT_LOCK = threading.Lock()

# --------------------------------------------------------------------------- adapt to these pictures

def fingerprint(images, *parts) -> str:
    """What an adaptation result belongs to: the pictures as the model saw them and the settings."""
    h = hashlib.sha256(images.contiguous().numpy().tobytes())
    for p in parts:
        h.update(b"\0" + str(p).encode())
    return h.hexdigest()[:20]


def adapt_panel(candidates: dict[str, dict], rows: list[dict], *, skipped: list[str], normalize, seed: int,
                key: str = STATE_KEY) -> None:
    """The "Adapt to these pictures" section: model, method, button, verdict, before/after, downloads.

    ``candidates``: ``{name: {"model", "card", "label", "ref"}}``, the first one the default;
    ``rows``: the page's prediction rows for the readable pictures (their ``inputs`` are what each
    model saw, after normalisation); ``normalize``: how the pictures were read, one value or
    ``{name: value}`` per model; ``skipped``: files that could not be read (named, left out).
    """
    import torch
    from core.tta import DEFAULT_METHOD, TTA_METHODS, batch_norm_layers, ordered

    st.caption("Test-time adaptation of a model to this batch itself — no labels needed. A label-free guard "
               "keeps the original model if the predictions collapse onto one class or become less certain. "
               "Your pictures and the shipped models are not changed.")
    c1, c2, c3 = st.columns([3, 2, 2], vertical_alignment="bottom")
    with c1:
        which = st.selectbox("Model to adapt", list(candidates), key=f"{key}_model",
                             format_func=lambda m: candidates[m]["label"],
                             help="The universal digits model (the default) was trained on all four embedded digit "
                                  "domains with domain-randomising augmentation: the best start for pictures from "
                                  "elsewhere. The scenario's models know its source (and target) only.")
    has_bn = bool(batch_norm_layers(candidates[which]["model"]))
    methods = [m for m in ordered() if has_bn or not TTA_METHODS[m].needs_batch_norm]
    if st.session_state.get(f"{key}_method") not in methods:
        st.session_state.pop(f"{key}_method", None)
    with c2:
        method = st.selectbox("Method", methods, index=methods.index(DEFAULT_METHOD) if DEFAULT_METHOD in methods
                              else 0, key=f"{key}_method",
                              format_func=lambda m: TTA_METHODS[m].label,
                              help="  \n".join(f"**{TTA_METHODS[m].label}**: {TTA_METHODS[m].summary}" for m in methods))
    chosen, cls, n = candidates[which], TTA_METHODS[method], len(rows)
    if not has_bn:
        needing = [TTA_METHODS[m].label for m in ordered() if TTA_METHODS[m].needs_batch_norm]
        st.caption(f"{' and '.join(needing)} adapt BatchNorm layers, which this model has none of.")
    if n < cls.min_images:
        st.info(f"{cls.label} needs at least {cls.min_images} pictures to adapt to; this batch has {n} readable "
                f"picture{'s' if n != 1 else ''}. Add more (upload, photo or drawing) — the predictions shown are "
                "the unadapted model's.", icon=":material/info:")
        return
    if skipped:
        shown = ", ".join(widgets.code(s) for s in skipped[:10]) + (f" and {len(skipped) - 10} more"
                                                                     if len(skipped) > 10 else "")
        st.caption(f"Adapts on the {n} readable pictures; left out because they could not be read: {shown}.")
    images = torch.stack([(r.get("inputs") or {}).get(which, r["image"]) for r in rows])
    names = [r["name"] for r in rows]
    normalize = normalize.get(which, "none") if isinstance(normalize, dict) else normalize
    stamp = fingerprint(images, chosen["ref"], method, seed, normalize)
    with c3:
        clicked = st.button("Adapt to these pictures", type="primary", icon=":material/auto_fix_high:",
                            key=f"{key}_go", width="stretch")
    if clicked:
        _run(chosen, images, names, method, seed, stamp, normalize, key)
    done = st.session_state.get(key)
    if done is None:
        return
    if done["fingerprint"] != stamp:
        st.caption("The pictures, the model or the settings changed since the last adaptation: adapt again.")
        return
    _show(done, key)


def _run(chosen: dict, images, names, method, seed, stamp, normalize, key) -> None:
    from core.inference.predictions import predict_batch
    from core.tta import TTA_METHODS, adapt
    from core.util.modes import unit_float

    model, card = chosen["model"], chosen["card"]
    label = TTA_METHODS[method].label
    with st.spinner(f"Adapting with {label} to {len(images)} pictures…"):
        if not _ADAPT_LOCK.acquire(timeout=LOCK_TIMEOUT_S):
            st.warning("Another adaptation is running on the server; try again in a moment.")
            return
        try:
            result = adapt(copy.deepcopy(model), unit_float(images), method, seed=seed)
        except ValueError as e:
            st.session_state.pop(key, None)
            st.error(f"Could not adapt: {e}")
            return
        finally:
            _ADAPT_LOCK.release()
        rows = predict_batch({BEFORE: model, AFTER: result.model}, images, names, class_names=card.get("class_names"))
        from .estimate import core_ref, estimate

        ref = core_ref(chosen["ref"])
        before_est = estimate(model, card, images, ref)  # labels unread; the same pictures before and after
        after_est = estimate(result.model, card, images, ref) if result.adapted else before_est
    st.session_state[key] = {"estimates": {BEFORE: before_est, AFTER: after_est}, "fingerprint": stamp, "summary": result.summary(), "model": result.model, "result": result,
                             "adapted": result.adapted, "rows": rows, "method": method, "label": label,
                             "model_label": chosen["label"], "card": card, "normalize": normalize, "seed": seed,
                             "zip": None}


def plain_reason(adapted: bool, reason: str, surer: bool = True) -> str:
    """The guard's reason (:func:`core.tta.guard.judge`) in words a newcomer reads. A kept adaptation
    passed every check — no class took over, the uncertainty (mean entropy) stayed within the guard's
    limit, the answers stayed as spread over the classes — which need not mean more certain: ``surer``
    (mean confidence did not fall, the figure the verdict reports) says which."""
    if adapted:
        if not surer:
            return ("the label-free checks found no harm: no class took over, the answers stayed as spread "
                    "over the classes, and they became less certain only within the guard's limit")
        return "its answers became more certain without piling onto one class"
    if reason.startswith("predictions collapsed"):
        return "adapting piled too many answers onto a single class, a sign it went wrong"
    if reason.startswith("mean prediction entropy rose"):
        return "adapting made the model less sure of its answers"
    if reason.startswith("information maximisation fell"):
        return "adapting made the model sure of fewer classes: its answers bunched up"
    return reason


def verdict_sentence(done: dict, changed: int) -> str:
    """One sentence: how many answers changed, how confident, whether the adapted model was kept and why."""
    s, n = done["summary"], len(done["rows"])
    before, after = 100 * s["before"]["mean_confidence"], 100 * s["after"]["mean_confidence"]
    surer = after >= before  # one measure for both clauses
    sure = "more" if surer else "less"
    why = plain_reason(done["adapted"], s["reason"], surer=surer)
    if done["adapted"]:
        return (f"**Adapted** with {done['label']} to {s['n_images']} pictures in {s['seconds']:.1f} s: "
                f"{changed} of {n} answers changed, the model is {sure} sure of them ({after:.0f} % on average, "
                f"was {before:.0f} %), and the adapted model is kept because {why}.")
    return (f"**Kept the original model** ({done['label']}, {s['n_images']} pictures): adapting would have changed "
            f"{changed} of {n} answers, but {why}, so the answers below are the original model's.")


def _estimate_caption(done: dict) -> None:
    from .estimate import phrase

    est = done.get("estimates") or {}
    if not est:
        return
    b, a = est[BEFORE], est[AFTER]
    if isinstance(b, str):
        st.caption(f"Estimated accuracy without labels: {phrase(b)}.")  # the reason there is none
    elif done["adapted"] and not isinstance(a, str):
        st.caption(f"Estimated accuracy without labels — before: {phrase(b)}; after: {phrase(a)}.")
    else:
        st.caption(f"Estimated accuracy without labels: {phrase(b)} (before and after: the original model is kept).")


def _show(done: dict, key: str) -> None:
    s = done["summary"]
    rows = done["rows"]
    changed = sum(r["top1"][BEFORE] != r["top1"][AFTER] for r in rows)
    if done["adapted"]:
        st.success(verdict_sentence(done, changed), icon=":material/check_circle:")
    else:
        st.warning(verdict_sentence(done, changed), icon=":material/shield:")
    _estimate_caption(done)
    before = s["before"]
    after = s["after"] if done["adapted"] else before  # a refused model's statistics are not the model's
    with st.expander("The statistics behind this verdict"):
        st.caption(f"The guard's check: {s['reason']}.")
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Answers changed", f"{changed} of {len(rows)}")
        m2.metric("Mean confidence", widgets.pct(100 * after["mean_confidence"], 0),
                  delta=f"{100 * (after['mean_confidence'] - before['mean_confidence']):+.0f} pts" if done["adapted"]
                  else None, help="Mean top-1 probability after adaptation (the delta: against before).")
        m3.metric("Mean entropy", f"{after['mean_entropy']:.2f} nats",
                  delta=f"{after['mean_entropy'] - before['mean_entropy']:+.2f}" if done["adapted"] else None,
                  delta_color="inverse", help="Mean prediction entropy; lower is more certain.")
        m4.metric("Largest class share", widgets.pct(100 * after["max_class_share"], 0),
                  help="Share of the pictures given the most-predicted class (the guard refuses a jump of "
                       "more than 20 points: collapse).")
    if done["adapted"]:
        _downloads(done, key)
    only = st.toggle("Show only changed answers", key=f"{key}_only_changed")
    shown = [r for r in rows if r["top1"][BEFORE] != r["top1"][AFTER]] if only else rows
    if not shown:
        st.caption("Adaptation changed no answer.")
    before_after_grid(shown)


def _downloads(done: dict, key: str) -> None:
    if done["zip"] is None:
        try:
            done["zip"] = adapted_zip(done)
        except Exception as e:  # noqa: BLE001
            st.warning(f"The adapted model could not be packed for download: {e}")
            return
    name = f"shiftlab-{done['card'].get('method', 'model')}-{done['method']}-{done['summary']['n_images']}pictures"
    c1, c2 = st.columns(2)
    with c1:
        st.download_button("Download the adapted model (.zip)", done["zip"], file_name=f"{name}.zip",
                           mime="application/zip", key=f"{key}_zip", icon=":material/download:", on_click="ignore",
                           help="Weights (safetensors) and a model card that records the adaptation; load it "
                                "with `python -m core eval --checkpoint FILE.zip`.")
    with c2:
        exports.onnx_download(done["model"], cache_key=f"tta:{done['fingerprint']}", file_name=f"{name}.onnx",
                              key=f"{key}_onnx")


def adapted_zip(done: dict) -> bytes:
    """The adapted model as a checkpoint zip whose card says where it came from and how it was adapted."""
    from core.checkpoints import save_zip
    from core.tta.guard import adapted_card

    new_card = adapted_card(done["result"], done["card"], adapted_from=done["model_label"],
                            target="uploaded pictures", normalize=done["normalize"], seed=done["seed"])
    with tempfile.TemporaryDirectory(prefix="shiftlab-tta-") as tmp:
        return save_zip(done["model"], new_card, Path(tmp) / "adapted.zip").read_bytes()


def before_after_grid(rows: list[dict], per_row: int = 3, limit: int = 48) -> None:
    """Each picture with the model's top-3 before and after adaptation, side by side."""
    for start in range(0, min(len(rows), limit), per_row):
        for col, row in zip(st.columns(per_row), rows[start:start + per_row]):
            with col, st.container(border=True):
                same = row["top1"][BEFORE] == row["top1"][AFTER]
                badge = ":gray-badge[same]" if same else ":violet-badge[:material/swap_horiz: changed]"
                st.markdown(f"{badge} {widgets.code(row['name'])}")
                a, b, c = st.columns([1, 1.4, 1.4], gap="small")
                a.image(upscale_nearest(row["image"], 3), width=84)
                for col2, which, title in ((b, BEFORE, "Before"), (c, AFTER, "After")):
                    with col2:
                        st.caption(title)
                        st.markdown(_lines(row["predictions"][which]))
    if len(rows) > limit:
        st.caption(f"Showing the first {limit} of {len(rows)} pictures.")


def _lines(preds) -> str:
    return "  \n".join(f"**{c}** · {100 * p:.1f} %" if i == 0 else f":gray[{c} · {100 * p:.1f} %]"
                       for i, (c, p) in enumerate(preds))
