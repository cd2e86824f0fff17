"""The Playground's controls: the data set, the shift sliders (or a typed spec), the method, the steps
and the three presets; what the page shows on a first visit."""

from __future__ import annotations

import streamlit as st

from .. import labels

STEPS = (250, 500, 1000, 2000, 3000)
STEP_SIZES = {"rotate": 5.0, "dx": 0.25, "dy": 0.25, "scale": 0.05, "noise": 0.05, "prior": 0.05, "concept": 0.05}
SHIFT_LABELS = {"rotate": "Rotation (degrees)", "dx": "Move along x", "dy": "Move along y", "scale": "Scale",
                "noise": "Added noise", "prior": "Share of class A (label shift)",
                "concept": "Labels moved on (concept shift)"}


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
