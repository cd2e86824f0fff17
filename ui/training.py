"""Start, watch and cancel a background training run (through core.jobs) and show its result.

Used by the Train and Distill pages: one run per browser session; the live view is a fragment
that refreshes itself every 1.5 s while the run goes on, then reruns the page once to show the
result. Finished models are added to the session's models by :func:`collect_finished`, which
app.py calls on every rerun (so a run that ends while you are on another page is kept too).
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import uuid
from pathlib import Path

import streamlit as st

from . import exports, labels, models, state, widgets, wording

log = logging.getLogger(__name__)
REFRESH_S = 1.5


def _jobs():
    try:
        from core import jobs
    except Exception:  # noqa: BLE001 - e.g. the module is not there yet
        return None
    return jobs


def _heartbeat_s() -> float:
    """Every 5 s, or a third of a shorter orphan window ($SHIFTLAB_ORPHAN_S): a tab that is open is
    never taken for a closed one."""
    jobs = _jobs()
    return 5.0 if jobs is None else jobs.heartbeat_interval(jobs.default_orphan_after_s())


HEARTBEAT_S = _heartbeat_s()


OWNER_PARAM = "run"  # the URL query parameter that names the owner of a run, so a reload finds it again


def owner() -> str:
    """Who owns this tab's training runs: a random token kept in the page's URL once a run starts
    (``?run=…``), so reloading the tab reattaches to the run instead of orphaning it."""
    token = st.query_params.get(OWNER_PARAM)
    if isinstance(token, str) and 16 <= len(token) <= 64 and token.isalnum():
        st.session_state["run_owner"] = token
    return st.session_state.setdefault("run_owner", uuid.uuid4().hex)


def heartbeat() -> None:
    """Tell the job manager this tab is still open (app.py calls it on every page run)."""
    jobs = _jobs()
    if jobs is not None:
        jobs.manager().touch(owner())


@st.fragment(run_every=HEARTBEAT_S)
def keep_alive() -> None:
    """While a run trains, beat every few seconds even when the user only reads a page: a closed
    tab stops beating, and the manager then cancels its run and frees its slot."""
    if running():
        heartbeat()


def current_job():
    """This tab's latest job (running or finished), or None."""
    jobs = _jobs()
    if jobs is None:
        return None
    try:
        return jobs.manager().job_for(owner())
    except Exception as e:  # noqa: BLE001
        log.warning("job lookup failed: %s", e)
        return None


def running() -> bool:
    job = current_job()
    return job is not None and not job.done


def collect_finished() -> None:
    """Add this session's finished run (if new) to the session's models."""
    job = current_job()
    if job is None or not job.done:
        return
    collected = st.session_state.setdefault("collected_jobs", set())
    if job.id in collected:
        return
    snap = job.snapshot()
    collected.add(job.id)
    if snap.status == "done" and snap.result is not None:
        try:
            state.add_session_model(job.id, snap.result, snap.config)
        except Exception as e:  # noqa: BLE001
            log.warning("could not keep the model of job %s: %s", job.id, e)


def start_run(config) -> bool:
    """Submit ``config`` for this session; shows a warning/error and returns False if it cannot start."""
    jobs = _jobs()
    if jobs is None:
        st.error("Training is not available in this installation (core.jobs is missing).")
        return False
    # nothing is created before the run is admitted; the manager deletes the folder when it forgets the job
    out_dir = run_root() / f"{uuid.uuid4().hex[:12]}-{config.method}"
    try:
        jobs.manager().submit(owner(), config, out_dir=out_dir)
    except jobs.Busy as e:
        st.warning(wording.busy_message(e), icon=":material/hourglass_top:")
        return False
    except Exception as e:  # noqa: BLE001 - bad settings must not break the page
        st.error(f"Could not start the run: {e}")
        return False
    st.query_params[OWNER_PARAM] = owner()  # a reload of this tab finds the run again
    return True


def run_root() -> Path:
    """``<tmp>/shiftlab-runs-<pid>-app``: this server's run folders (a dead server's are removed)."""
    from core.util.files import clean_dead_workdirs

    tmp = Path(tempfile.gettempdir())
    root = tmp / f"shiftlab-runs-{os.getpid()}-app"
    if not root.exists():
        clean_dead_workdirs(tmp, "shiftlab-runs-")
    return root


@st.cache_data(show_spinner=False, ttl=30)
def _demo(source: str, target: str, signature: str):
    from core.training.demo import demo_for

    return demo_for(source, target)


def demo(scenario):
    """The scenario's demo run (:func:`core.training.demo.demo_for`): the leaderboard's recommended
    method, its short recipe and warm start; None when it cannot be worked out (the page then
    offers the methods as they are)."""
    try:
        return _demo(scenario[0], scenario[1], models.zoo_signature())
    except Exception as e:  # noqa: BLE001 - a broken zoo must not break the page
        log.warning("demo recipe: %s", e)
        return None


def follow_demo(demo, key: str) -> None:
    """Select the demo's method in the ``key`` selectbox, following the sidebar's scenario to its
    own demo method, until the user picks a method themselves (:func:`remember_pick`)."""
    from core.methods import METHODS, default_method

    picked = st.session_state.get(f"{key}_picked")
    want = picked if picked in METHODS else (demo.method if demo is not None else default_method())
    if st.session_state.get(key) != want:
        st.session_state[key] = want


def remember_pick(key: str) -> None:
    """The ``key`` selectbox's on_change: the user's own pick outlives leaving the page and a new scenario."""
    st.session_state[f"{key}_picked"] = st.session_state.get(key)


def demo_caption(demo, method: str) -> None:
    """What the default run is and why, in a line or two; the missing-model note in one line."""
    if demo is None or method != demo.method:
        return
    from core.methods import METHODS

    how = f"{demo.steps:,} steps of batch {demo.batch_size} at learning rate {demo.lr:g}"
    hps = METHODS[method].hyperparameters
    for name, value in demo.hparams.items():  # the recipe's own settings, as the form labels them
        if name in hps:
            how += f", {hps[name].label or name} {value}"
    if demo.warm_start is not None:
        how += ", starting from the shipped source-only model"
    length = ("a quick run" if demo.tier == "quick" else
              "a fuller run than the quick one of the scenario the app opens on")
    st.caption(f"**{labels.method_label(method)}** is {demo.why}. The demo recipe: {how}, "
               f"{length}, within about {demo.about_s} s on one CPU core. Change anything below, or pick another method.")
    if demo.note:
        st.info(demo.note, icon=":material/info:")


def reference_for(scenario) -> dict:
    """:func:`core.training.demo.reference`: the shipped source-only and recommended models' accuracies."""
    try:
        return _reference(scenario[0], scenario[1], models.zoo_signature())
    except Exception as e:  # noqa: BLE001
        log.warning("demo reference: %s", e)
        return {"source_only": None, "recommended": None}


@st.cache_data(show_spinner=False, ttl=30)
def _reference(source: str, target: str, signature: str) -> dict:
    from core.training.demo import reference

    return reference(source, target)


def comparison(target_acc: float, baseline: float | None, baseline_label: str, ref: dict, seconds: float) -> str:
    """The run against source-only and against the zoo's recommended model, in a sentence or two."""
    lines = []
    if baseline is not None:
        gain = target_acc - baseline
        side = f"{gain:+.1f} points over" if gain >= 0 else f"{-gain:.1f} points below"
        lines.append(f"This run reaches {target_acc:.1f} %: {side} the {baseline_label} model ({baseline:.1f} %).")
    rec = ref.get("recommended")
    if rec and rec.get("mean") is not None:
        steps = f" ({rec['steps']:,} step{'s' * (rec['steps'] != 1)})" if rec.get("steps") else ""
        std = f" ± {rec['std']:.1f}" if rec.get("std") is not None else ""
        line = (f"The zoo's recommended model, {labels.method_label(rec['method'], short=True)}{steps}, reaches "
                f"{rec['mean']:.1f} %{std} (mean over {rec.get('n_seeds') or 1} seeds")
        line += f"; the shipped seed {rec['shipped']:.1f} %)" if rec.get("shipped") is not None else ")"
        if baseline is not None and rec.get("shipped") is not None and rec["shipped"] > baseline:
            share = (target_acc - baseline) / (rec["shipped"] - baseline)
            if share > 0:
                line += f": this run made {share:.0%} of the shipped model's gain in {seconds:.0f} s"
            else:
                line += (f": this run, {seconds:.0f} s long, has not gained over source-only yet "
                         "(more steps, or the shipped model on Predict)")
        lines.append(line + ".")
    return " ".join(lines)


def baseline_for(scenario) -> tuple[float | None, str]:
    """Target accuracy of the scenario's source-only model (zoo first, else this session's)."""
    ref = models.baseline_ref(scenario)
    if ref is None:
        return None, "source only"
    where = "pretrained source only" if not models.is_session(ref) else "your source-only run"
    return models.target_acc(ref), where


def _status_line(snap) -> str:
    rate = snap.step / snap.elapsed if snap.elapsed > 0 and snap.step else 0.0
    eta = (snap.total - snap.step) / rate if rate else float("nan")
    parts = [f"step {snap.step:,} / {snap.total:,}", f"{snap.elapsed:.0f} s"]
    if not math.isnan(eta):
        parts.append(f"about {eta:.0f} s left" if eta < 120 else f"about {eta / 60:.0f} min left")
    if snap.images_per_s:
        parts.append(f"{snap.images_per_s:,.0f} images/s")
    if "loss" in snap.losses:
        parts.append(f"loss {snap.losses['loss']:.3f}")
    if "target_acc" in snap.metrics:
        parts.append(f"target {snap.metrics['target_acc']:.1f} %")
    return " · ".join(parts)


def _charts(snap, key: str, baseline, baseline_label) -> None:
    left, right = st.columns(2)
    with left:
        st.plotly_chart(widgets.loss_figure(snap.history), key=f"{key}_loss", config={"displayModeBar": False})
    with right:
        st.plotly_chart(widgets.accuracy_figure(snap.history, baseline, baseline_label, snap.total), key=f"{key}_acc",
                        config={"displayModeBar": False})


def _preview(snap) -> None:
    """What the method draws as it learns (a pixel-level GAN's translations), when it shows any."""
    if snap.preview is None:
        return
    st.caption(f"What it draws now (step {snap.step:,}): fixed source pictures, redrawn by the generator.")
    widgets.picture_row(snap.preview)


def _describe(config) -> str:
    return (f"{labels.method_label(config.method)} · {labels.scenario_label((config.source, config.target))} · "
            f"{config.steps:,} steps · batch {config.batch_size} · lr {config.lr:g} · seed {config.seed} · "
            f"{config.device}")


@st.fragment(run_every=REFRESH_S)
def _live(key: str) -> None:
    job = current_job()
    if job is None:
        return
    heartbeat()  # a fragment rerun does not run app.py: the tab watching its run is still there
    snap = job.snapshot()
    if snap.status != "running":
        st.rerun()  # the whole page: show the result and stop refreshing
    baseline, baseline_label = baseline_for((snap.config.source, snap.config.target))
    st.progress(snap.fraction, text=_status_line(snap))
    cancel_col, note_col = st.columns([1, 5], vertical_alignment="center")
    with cancel_col:
        if job.cancel_requested:
            st.button("Cancelling…", key=f"{key}_cancel", disabled=True)
        elif st.button("Cancel", key=f"{key}_cancel", icon=":material/stop_circle:"):
            job.cancel()
            st.toast("Cancelling the run…")
    with note_col:
        st.caption(_describe(snap.config) + ". You can switch pages; the run goes on.")
    _charts(snap, f"{key}_live", baseline, baseline_label)
    _preview(snap)


def run_panel(key: str) -> None:
    """The session's run: live while it trains, then its result (or why it failed)."""
    job = current_job()
    if job is None:
        return
    snap = job.snapshot()
    if snap.status == "running":
        st.subheader("Training…")
        _live(key)
        return
    collect_finished()
    show_result(snap, key)


def show_result(snap, key: str) -> None:
    config = snap.config
    if snap.status == "failed":
        st.error(f"The run failed. {wording.failure_message(snap.error_kind, snap.error)}", icon=":material/error:")
        st.caption(_describe(config) + ". Change the settings and start again.")
        return
    result = snap.result
    baseline, baseline_label = baseline_for((config.source, config.target))
    if snap.status == "cancelled":
        st.info(f"Run cancelled after {snap.step:,} of {snap.total:,} steps ({snap.elapsed:.0f} s).",
                icon=":material/stop_circle:")
        if result is None:
            return
        st.caption(f"The partly trained model reaches {widgets.pct(result.target_acc)} on the target test set.")
        if st.button("Keep this partly trained model", key=f"{key}_keep"):
            state.add_session_model(snap.job_id, result, config)
            st.rerun()
        return
    st.subheader("Result")
    st.caption(_describe(config))
    c1, c2, c3, c4 = st.columns(4)
    delta = None if baseline is None else f"{result.target_acc - baseline:+.1f} pts"
    c1.metric("Target test accuracy", widgets.pct(result.target_acc), delta=delta,
              delta_description=None if baseline is None else "vs source only",
              help="Accuracy on the target domain's test split, whose labels training never saw "
                   "(except the oracle and fine-tune methods)"
                   + ("." if baseline is None else f"; the {baseline_label} model reaches {baseline:.1f} %."))
    c2.metric("Source test accuracy", widgets.pct(result.source_acc))
    c3.metric("Training time", f"{result.seconds:.0f} s")
    c4.metric("Throughput", f"{result.images_per_s:,.0f} img/s")
    if baseline is None:
        st.caption("No source-only model for this scenario to compare with yet: train one "
                   "(method *Source only*) or rebuild the zoo.")
    said = comparison(result.target_acc, baseline, baseline_label, reference_for((config.source, config.target)),
                      result.seconds)
    if said:
        st.markdown(said)
    _charts(snap, f"{key}_final", baseline, baseline_label)
    _preview(snap)
    entry = st.session_state.get("session_models", {}).get(snap.job_id)
    if entry is not None:
        st.success(f"Added to this session's models as **{entry.label}** — use it on Predict, "
                   "Alignment and Compare.", icon=":material/check_circle:")
        download_button(entry, key=f"{key}_download")
        label_free_estimate(entry, key)


def label_free_estimate(entry, key: str) -> None:
    """What ShiftLab would have said about this run without the target's labels — the accuracy
    estimate a user gets for their own unlabelled pictures (docs/estimate.md) — beside the accuracy the
    labels give. Computed when asked (a pass of the shipped pool over the target test pictures) and
    kept for the session."""
    from . import estimate

    said = st.session_state.setdefault("label_free_estimates", {})
    if entry.id not in said and st.button("Estimate it without labels", key=f"{key}_estimate",
                                          help="How accurate would ShiftLab say this model is on the target "
                                               "pictures if nobody had labelled them, and would it keep the "
                                               "run or the source-only model? " + estimate.HELP):
        with st.spinner("Estimating accuracy without labels…"):
            said[entry.id] = _estimates(entry, estimate)
    if entry.id in said:
        line, against = said[entry.id]
        if line.startswith("Estimated without labels: right on"):
            line += " (the estimate you get for your own unlabelled pictures on Predict)"
        st.caption(f"{line} The target's labels say {entry.target_acc:.1f} %.")
        if against:
            st.markdown(against)


def _estimates(entry, estimate) -> tuple[str, str | None]:
    """The run's label-free estimate as a line, and the sentence comparing it with the scenario's
    source-only model's estimate on the same pictures (None when there is no such model or estimate;
    nothing to compare when the run is itself source-only)."""
    from core.methods import baseline

    run = estimate.estimate_ref(f"session:{entry.id}", entry.target)
    line = f"Estimated without labels: {estimate.phrase(run)}."
    base_ref = models.baseline_ref((entry.source, entry.target))
    if base_ref is None or entry.method == baseline():
        return line, None
    name = "the pretrained source-only model" if not models.is_session(base_ref) else "your source-only run"
    return line, estimate.versus(run, estimate.estimate_ref(base_ref, entry.target), name)


def download_button(entry, key: str, label: str = "Download checkpoint (.zip with model card)") -> None:
    """A download of the model's checkpoint zip (weights + card)."""
    if entry.zip_bytes is None:
        try:
            entry.zip_bytes = state.checkpoint_zip(entry)
        except Exception as e:  # noqa: BLE001
            st.warning(f"The checkpoint could not be packed for download: {e}")
            return
    name = f"shiftlab-{entry.source}-{entry.target}-{entry.method}-run{entry.number}.zip"
    st.download_button(label, entry.zip_bytes, file_name=name, help="Weights (safetensors) and model card (JSON).",
                       mime="application/zip", key=key, icon=":material/download:",
                       on_click="ignore")
    exports.onnx_download(entry.model, cache_key=f"session:{entry.id}", file_name=name[:-len(".zip")] + ".onnx",
                          key=f"{key}_onnx")
