"""The run-settings form, built from the recipes and each method's declared hyperparameters."""

from __future__ import annotations

import math

import streamlit as st

from . import labels, models, state

LEARNING_RATES = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]
BATCH_SIZES = [16, 32, 64, 128, 256]


def default_steps(method: str) -> int:
    """The method's short-run default (``Method.app_steps``): 500 steps take well under a minute on
    a 2-core CPU; self-training gains ~30 points on MNIST → MNIST-M in 450 of them."""
    from core.methods import METHODS

    return METHODS[method].app_steps


def _step_for(default: float) -> float:
    if default == 0:
        return 0.1
    return 10 ** math.floor(math.log10(abs(default))) / 10


def _can_teach(method: str) -> bool:
    """Any trained classifier may teach, except a student of another teacher."""
    from core.methods import METHODS

    cls = METHODS.get(method)
    return cls is not None and not cls.model_hyperparameters()


def model_options(scenario) -> dict[str, str]:
    """Trained models a ``Hyper(kind="model")`` field may name (zoo name or checkpoint path) → label,
    for the scenario: this session's first, then the zoo's with adapted methods first."""
    from pathlib import Path

    from core.methods import METHODS, ordered

    options: dict[str, str] = {}
    for entry in state.session_models(scenario):
        if entry.checkpoint and Path(entry.checkpoint).is_dir() and _can_teach(entry.method):
            options[entry.checkpoint] = entry.label
    zoo = [n for n in models.zoo_names(scenario) if _can_teach(models.zoo_method(n))]
    order = ordered()
    zoo.sort(key=lambda n: (not METHODS[models.zoo_method(n)].is_adapted(), order.index(models.zoo_method(n))))
    for name in zoo:
        options[name] = models.label(models.ref_for_zoo(name))
    return options


def run_settings(method: str, scenario, key: str, steps: int | None = None, demo=None):
    """Steps, batch size, learning rate and the method's hyperparameters → a TrainConfig (or None).

    ``demo`` (a :class:`core.training.demo.Demo` of this method): its recipe gives the defaults, and
    a checkbox offers its warm start from the shipped source-only model."""
    from core.training.recipes import recipe

    if demo is not None and demo.method != method:
        demo = None
    base = recipe(method, *scenario)
    start_batch = demo.batch_size if demo is not None else base.batch_size
    start_lr = demo.lr if demo is not None else base.lr
    mkey = f"{key}_{method}" if demo is not None else key  # the demo's batch and rate are its own
    if demo is not None:
        follow_recipe(demo, key)
    c1, c2, c3 = st.columns(3)
    with c1:
        n_steps = st.number_input("Steps", min_value=10, max_value=20000, step=10 if demo is not None else 50,
                                  value=steps or (demo.steps if demo is not None else default_steps(method)),
                                  key=f"{key}_{method}_steps",
                                  help="Optimiser steps; each sees one batch of source and one of target pictures. "
                                       "About 500 steps take under a minute on a laptop CPU.")
    with c2:
        batch = st.select_slider("Batch size", BATCH_SIZES, value=start_batch if start_batch in BATCH_SIZES else 64,
                                 key=f"{mkey}_batch", help="Pictures per domain per step.")
    with c3:
        lr = st.select_slider("Learning rate", LEARNING_RATES, value=start_lr if start_lr in LEARNING_RATES else 1e-3,
                              key=f"{mkey}_lr", format_func=lambda v: f"{v:g}",
                              help=f"{base.optimizer.capitalize()} learning rate"
                                   + (" at the start (annealed as lr/(1+10p)^0.75)" if base.lr_anneal else "")
                                   + ". It matters more than anything else.")
    warm = warm_start_setting(demo, key)
    from core.methods import METHODS

    hps = dict(METHODS[method].hyperparameters)
    values: dict | None = {}
    if hps:
        st.markdown("**Method settings**")
        refs = {name: hps.pop(name) for name in list(hps) if hps[name].kind == "model"}
        own = demo.hparams if demo is not None else {}
        if refs:  # full-width rows for model pickers (a teacher)
            values = _inputs(method, refs, scenario, key)
        if values is not None and hps:
            cols = st.columns(min(3, len(hps)))
            for i, (name, h) in enumerate(hps.items()):
                with cols[i % len(cols)]:
                    got = _inputs(method, {name: h}, scenario, key, own)
                    values.update(got or {})
    if values is None:
        return None
    n_steps = int(n_steps)
    network = network_settings(scenario, key)
    settings = dict(steps=n_steps, batch_size=int(batch), lr=float(lr), seed=state.seed(), device=state.device(),
                    hparams=values, **network)
    if demo is not None:
        return demo.config(warm_start=warm, **settings)
    return recipe(method, *scenario, eval_every=max(10, n_steps // 12), **settings)


def follow_recipe(demo, key: str) -> None:
    """When the demo's recipe for this method changed since the form last showed it (another
    scenario, another tier: :func:`core.training.demo.tier`), set the form's steps, batch, rate and
    recipe settings to the new recipe's instead of keeping the old one's.

    The values are written into the session state rather than dropped from it: a browser sends its
    widgets' last values with every rerun, so a dropped key would come back with the old number."""
    mkey = f"{key}_{demo.method}"
    signature = (demo.steps, demo.batch_size, demo.lr, tuple(sorted(demo.hparams.items())))
    seen = st.session_state.get(f"{mkey}_recipe")
    if seen is not None and seen != signature:
        values = {"steps": demo.steps, "batch": demo.batch_size if demo.batch_size in BATCH_SIZES else 64,
                  "lr": demo.lr if demo.lr in LEARNING_RATES else 1e-3, **demo.hparams}
        for name, value in values.items():
            st.session_state[f"{mkey}_{name}"] = value
    st.session_state[f"{mkey}_recipe"] = signature


def warm_start_setting(demo, key: str) -> bool:
    """The demo's "start from the shipped source-only model" checkbox (on by default); False when
    there is no demo, it does not warm-start, or the shipped model is missing (then disabled)."""
    if demo is None or not demo.wants_warm_start:
        return False
    available = demo.warm_start is not None
    return st.checkbox("Start from the shipped source-only model", value=available, disabled=not available,
                       key=f"{key}_{demo.method}_warm",
                       help="Warm start: the backbone begins as the pretrained source-only model of this source "
                            "(its classifier head is trained afresh), so the demo recipe adapts in seconds. "
                            "Off: the network starts from random weights.") and available


def network_settings(scenario, key: str) -> dict:
    """Backbone and picture size for scenarios with the user's own pictures (folder/zip domains);
    the digits scenarios keep the digits CNN at 28 px. The choices come from core.models.ARCH_INFO."""
    if not any(str(d).startswith(("folder:", "zip:")) for d in scenario):
        return {}
    from core.models import ARCH_INFO, arches_for

    st.markdown("**Network**")
    c1, c2 = st.columns(2)
    with c1:
        arch = st.selectbox("Backbone", arches_for("pictures"), key=f"{key}_arch", format_func=lambda a: ARCH_INFO[a]["label"],
                            help="The digits CNN trains in seconds on a CPU; the ResNets suit photos and want a GPU.")
    info = ARCH_INFO[arch]
    with c2:
        size = st.number_input("Picture size (pixels a side)", min_value=int(info["min_size"]), max_value=512,
                               value=max(int(info["min_size"]), 28 if arch == "digits_cnn" else 64), step=8,
                               key=f"{key}_size_{arch}",
                               help=f"Every picture is resized to this square; {arch} needs at least "
                                    f"{info['min_size']} pixels.")
    return {"arch": arch, "image_size": int(size)}


def _inputs(method, hyperparameters, scenario, key, defaults: dict | None = None) -> dict | None:
    """Inputs for some hyperparameters (starting at ``defaults`` where given, else each one's
    declared default); None when a required one (the teacher) has no value."""
    values = {}
    for name, h in hyperparameters.items():
        got = _one_input(method, name, h, scenario, key, (defaults or {}).get(name, h.default))
        if got is _MISSING:
            return None
        values[name] = got
    return values


_MISSING = object()


def _one_input(method, name, h, scenario, key, default=None):
    wkey = f"{key}_{method}_{name}"
    label = h.display_label(name)
    if h.kind == "model":
        options = model_options(scenario)
        if not h.required:
            options = {"": "(none)", **options}
        if not options:
            st.warning(f"{labels.method_label(method)} needs a trained model ({label.lower()}): train an adapted "
                       f"model on this scenario first, or build the zoo. {labels.ZOO_MISSING}")
            return _MISSING
        if st.session_state.get(wkey) not in options:
            st.session_state[wkey] = next(iter(options))
        return st.selectbox(label, list(options), key=wkey, format_func=options.get, help=h.help)
    value = h.default if default is None else default
    if isinstance(h.default, bool):
        return st.checkbox(label, value=bool(value), key=wkey, help=h.help)
    if isinstance(h.default, int):
        return int(st.number_input(
            label, value=int(value), step=1, key=wkey, help=h.help,
            min_value=None if h.low is None else int(h.low), max_value=None if h.high is None else int(h.high)))
    if isinstance(h.default, float):
        return float(st.number_input(
            label, value=float(value), step=_step_for(h.default), format="%g", key=wkey, help=h.help,
            min_value=None if h.low is None else float(h.low), max_value=None if h.high is None else float(h.high)))
    return st.text_input(label, value=str(value), key=wkey, help=h.help)
