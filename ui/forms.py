"""The run-settings form, built from the recipes and each method's declared hyperparameters."""

from __future__ import annotations

import math

import streamlit as st

from . import models, state

# Short defaults: 500 steps take well under a minute on a 2-core CPU; self-training gains ~30 points
# on MNIST → MNIST-M in 450 of them (tests/e2e/test_browser.py), DANN needs more steps to show its gain.
DEFAULT_STEPS = {"distill": 300}
FALLBACK_STEPS = 500
LEARNING_RATES = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]
BATCH_SIZES = [16, 32, 64, 128, 256]
LABELS = {  # nicer labels for declared hyperparameters (the help text comes from the method)
    "domain_weight": "Domain weight λ", "disc_hidden": "Discriminator hidden units", "mmd_weight": "MMD weight",
    "pretrain_fraction": "Pre-training share", "adversarial_lr": "Adversarial learning rate",
    "threshold": "Confidence threshold τ", "unlabeled_weight": "Unlabelled weight", "warmup_fraction": "Warm-up share",
    "shots": "Labelled target pictures per class", "alpha": "α", "temperature": "Temperature T",
    "student_width": "Student width",
}
TEACHER_METHODS = ("dann", "mmd", "adda", "self_training", "finetune", "oracle", "source_only")


def default_steps(method: str) -> int:
    return DEFAULT_STEPS.get(method, FALLBACK_STEPS)


def _step_for(default: float) -> float:
    if default == 0:
        return 0.1
    return 10 ** math.floor(math.log10(abs(default))) / 10


def teacher_options(scenario) -> dict[str, str]:
    """Teacher value (zoo name or checkpoint path) → label, for the scenario; adapted ones first."""
    options: dict[str, str] = {}
    for entry in state.session_models(scenario):
        if entry.checkpoint and entry.method != "distill":
            options[entry.checkpoint] = entry.label
    zoo = models.zoo_names(scenario, TEACHER_METHODS)
    zoo.sort(key=lambda n: TEACHER_METHODS.index(models.zoo_method(n)))
    for name in zoo:
        options[name] = models.label(models.ref_for_zoo(name))
    return options


def run_settings(method: str, scenario, key: str, steps: int | None = None):
    """Steps, batch size, learning rate and the method's hyperparameters → a TrainConfig (or None)."""
    from core.recipes import recipe

    base = recipe(method, *scenario)
    c1, c2, c3 = st.columns(3)
    with c1:
        n_steps = st.number_input("Steps", min_value=10, max_value=20000, step=50,
                                  value=steps or default_steps(method), key=f"{key}_{method}_steps",
                                  help="Optimiser steps; each sees one batch of source and one of target pictures. "
                                       "About 500 steps take under a minute on a laptop CPU.")
    with c2:
        batch = st.select_slider("Batch size", BATCH_SIZES, value=base.batch_size if base.batch_size in BATCH_SIZES else 64,
                                 key=f"{key}_batch", help="Pictures per domain per step.")
    with c3:
        lr = st.select_slider("Learning rate", LEARNING_RATES, value=base.lr if base.lr in LEARNING_RATES else 1e-3,
                              key=f"{key}_lr", format_func=lambda v: f"{v:g}",
                              help=f"{base.optimizer.capitalize()} learning rate"
                                   + (" at the start (annealed as lr/(1+10p)^0.75)" if base.lr_anneal else "")
                                   + ". It matters more than anything else.")
    from core.methods import METHODS

    hps = dict(METHODS[method].hyperparameters)
    values: dict | None = {}
    if hps:
        st.markdown("**Method settings**")
        if "teacher" in hps:  # a full-width row for the teacher picker
            values = _inputs(method, {"teacher": hps.pop("teacher")}, scenario, key)
        if values is not None and hps:
            cols = st.columns(min(3, len(hps)))
            for i, (name, h) in enumerate(hps.items()):
                with cols[i % len(cols)]:
                    got = _inputs(method, {name: h}, scenario, key)
                    values.update(got or {})
    if values is None:
        return None
    n_steps = int(n_steps)
    return recipe(method, *scenario, steps=n_steps, batch_size=int(batch), lr=float(lr), seed=state.seed(),
                  device=state.device(), eval_every=max(10, n_steps // 12), hparams=values)


def _inputs(method, hyperparameters, scenario, key) -> dict | None:
    """Inputs for some hyperparameters; None when a required one (the teacher) has no value."""
    values = {}
    for name, h in hyperparameters.items():
        got = _one_input(method, name, h, scenario, key)
        if got is _MISSING:
            return None
        values[name] = got
    return values


_MISSING = object()


def _one_input(method, name, h, scenario, key):
    wkey = f"{key}_{method}_{name}"
    label = LABELS.get(name, name.replace("_", " ").capitalize())
    if name == "teacher":
        options = teacher_options(scenario)
        if not options:
            st.warning("Distillation needs a teacher: train an adapted model on this scenario first "
                       f"(e.g. DANN), or build the zoo. {state.ZOO_MISSING}")
            return _MISSING
        if st.session_state.get(wkey) not in options:
            st.session_state[wkey] = next(iter(options))
        return st.selectbox("Teacher", list(options), key=wkey, format_func=options.get, help=h.help)
    if isinstance(h.default, bool):
        return st.checkbox(label, value=h.default, key=wkey, help=h.help)
    if isinstance(h.default, int):
        return int(st.number_input(
            label, value=int(h.default), step=1, key=wkey, help=h.help,
            min_value=None if h.low is None else int(h.low), max_value=None if h.high is None else int(h.high)))
    if isinstance(h.default, float):
        return float(st.number_input(
            label, value=float(h.default), step=_step_for(h.default), format="%g", key=wkey, help=h.help,
            min_value=None if h.low is None else float(h.low), max_value=None if h.high is None else float(h.high)))
    return st.text_input(label, value=str(h.default), key=wkey, help=h.help)
