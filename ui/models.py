"""Zoo and session models behind one reference string, with cached loaders and pickers.

A *model reference* is ``"zoo:mnist->mnistm/dann"`` (a shipped model) or ``"session:<job id>"``
(a model trained in this browser session). :func:`load` turns either into ``(model, card)``;
zoo models are cached process-wide with ``st.cache_resource`` so a page shows predictions at once.
"""

from __future__ import annotations

import logging
import os

import streamlit as st

from . import labels, state

log = logging.getLogger(__name__)

ZOO = "zoo:"
SESSION = "session:"


# --------------------------------------------------------------------------------- the zoo

def _zoo():
    try:
        from core import zoo
    except Exception:  # noqa: BLE001 - the app runs without a zoo module too
        return None
    return zoo


def zoo_signature() -> str:
    """What identifies the zoo on disk (folder + leaderboard time), for cache keys."""
    zoo = _zoo()
    if zoo is None:
        return ""
    root = zoo.zoo_dir()
    try:
        stamp = os.stat(root / "leaderboard.json").st_mtime_ns
    except OSError:
        stamp = 0
    return f"{root}:{stamp}"


@st.cache_data(show_spinner=False, ttl=30)
def _zoo_names(signature: str) -> list[str]:
    zoo = _zoo()
    if zoo is None:
        return []
    try:
        return list(zoo.names())
    except Exception as e:  # noqa: BLE001
        log.warning("could not list the zoo: %s", e)
        return []


def zoo_names(scenario=None, methods=None) -> list[str]:
    """Zoo names, optionally for one scenario and some methods (empty when there is no zoo)."""
    names = _zoo_names(zoo_signature())
    if scenario is not None:
        prefix = f"{labels.scenario_key(scenario)}/"
        names = [n for n in names if n.startswith(prefix)]
    if methods is not None:
        names = [n for n in names if n.rsplit("/", 1)[-1] in methods]
    return names


def zoo_method(name: str) -> str:
    return name.rsplit("/", 1)[-1]


@st.cache_resource(show_spinner="Loading model…", max_entries=64)
def _load_zoo(name: str, signature: str):
    model, card = _zoo().load(name, device="cpu")
    return model.eval(), card


@st.cache_data(show_spinner=False, max_entries=256)
def _zoo_card(name: str, signature: str) -> dict:
    return _zoo().card(name)


@st.cache_resource(show_spinner=False, max_entries=64)
def _zoo_alignment(name: str, signature: str):
    return _zoo().alignment(name)


def zoo_card(name: str) -> dict | None:
    try:
        return _zoo_card(name, zoo_signature())
    except Exception as e:  # noqa: BLE001
        log.warning("zoo card %s: %s", name, e)
        return None


def zoo_alignment(name: str):
    return _zoo_alignment(name, zoo_signature())


@st.cache_data(show_spinner=False, ttl=30)
def _leaderboard(signature: str) -> dict:
    zoo = _zoo()
    if zoo is None:
        return {"scenarios": {}, "published": {}}
    return zoo.leaderboard()


def leaderboard() -> dict:
    try:
        return _leaderboard(zoo_signature())
    except Exception as e:  # noqa: BLE001 - a broken leaderboard file must not break the page
        log.warning("leaderboard: %s", e)
        return {"scenarios": {}, "published": {}, "error": str(e)}


@st.cache_data(show_spinner=False, ttl=30)
def _entries(signature: str) -> list[dict]:
    zoo = _zoo()
    return [] if zoo is None else zoo.entries()


def zoo_entries() -> list[dict]:
    try:
        return _entries(zoo_signature())
    except Exception as e:  # noqa: BLE001
        log.warning("zoo entries: %s", e)
        return []


# --------------------------------------------------------------------------- references

def ref_for_zoo(name: str) -> str:
    return ZOO + name


def ref_for_session(model_id: str) -> str:
    return SESSION + model_id


def is_session(ref: str) -> bool:
    return ref.startswith(SESSION)


def session_entry(ref: str):
    return st.session_state.get("session_models", {}).get(ref[len(SESSION):])


def load(ref: str):
    """``(model, card)`` for a reference; raises ``ValueError`` with a readable message."""
    if ref.startswith(ZOO):
        try:
            return _load_zoo(ref[len(ZOO):], zoo_signature())
        except Exception as e:  # noqa: BLE001
            raise ValueError(f"could not load zoo model {ref[len(ZOO):]!r}: {e}") from e
    if ref.startswith(SESSION):
        entry = session_entry(ref)
        if entry is None:
            raise ValueError("that model you trained is gone (the page was reloaded?); train it again")
        return entry.model, entry.card
    raise ValueError(f"unknown model reference {ref!r}")


def label(ref: str) -> str:
    """A short human label: "DANN (zoo, 71.2 %)" or "DANN · your run 2 (66.0 %)"."""
    if ref.startswith(ZOO):
        name = ref[len(ZOO):]
        card = zoo_card(name) or {}
        acc = (card.get("metrics") or {}).get("target_acc")
        acc_text = f", {acc:.1f} %" if isinstance(acc, (int, float)) else ""
        return f"{labels.method_label(zoo_method(name))} (pretrained{acc_text})"
    entry = session_entry(ref)
    return entry.label if entry else "(a model you trained, gone since the page was reloaded)"


def method_of(ref: str) -> str:
    if ref.startswith(ZOO):
        return zoo_method(ref[len(ZOO):])
    entry = session_entry(ref)
    return entry.method if entry else "?"


def target_acc(ref: str) -> float | None:
    if ref.startswith(ZOO):
        card = zoo_card(ref[len(ZOO):]) or {}
        v = (card.get("metrics") or {}).get("target_acc")
        return float(v) if isinstance(v, (int, float)) else None
    entry = session_entry(ref)
    return entry.target_acc if entry else None


def refs(scenario, methods=None, exclude=()) -> list[str]:
    """References for a scenario: session models first (newest first), then the zoo's."""
    out = [ref_for_session(m.id) for m in state.session_models(scenario, methods) if m.method not in exclude]
    out += [ref_for_zoo(n) for n in zoo_names(scenario, methods) if zoo_method(n) not in exclude]
    return out


def _baseline_methods() -> list[str]:
    from core.methods import by_family

    return by_family("baseline")


def baseline_ref(scenario) -> str | None:
    """The source-only model to compare against: the zoo's, else this session's newest."""
    zoo = zoo_names(scenario, _baseline_methods())
    if zoo:
        return ref_for_zoo(zoo[0])
    mine = state.session_models(scenario, _baseline_methods())
    return ref_for_session(mine[0].id) if mine else None


def adapted_refs(scenario) -> list[str]:
    """Everything but the baseline for the scenario (adapted, oracle, distilled …)."""
    return refs(scenario, exclude=tuple(_baseline_methods()))


def default_adapted(options: list[str]) -> str:
    """The adapted model a page shows first: the zoo's recommended model for the scenario (the
    label-free choice), else the first adapted method in display order, else the first option.
    A model the user trains joins the options but is never chosen for them: it is one click away."""
    from core.methods import METHODS

    recommended = [r for r in options if r == recommended_ref(r)]
    adapted = [r for r in options if not is_session(r) and method_of(r) in METHODS
               and METHODS[method_of(r)].is_adapted()]
    return (recommended or adapted or options)[0]


def recommended_ref(ref: str) -> str | None:
    """``ref`` itself when the zoo's leaderboard marks its method as the scenario's recommended model."""
    if not ref.startswith(ZOO):
        return None
    from core.data import scenario_key
    from core.zoo import parse_name

    source, target, method = parse_name(ref[len(ZOO):])
    entry = (leaderboard().get("recommended") or {}).get(scenario_key(source, target)) or {}
    return ref if entry.get("method") == method else None


def recommended_zoo_name(scenario) -> str | None:
    """The zoo name of the scenario's recommended model (``"mnist->mnistm/self_ensembling"``), when
    the leaderboard names one and the zoo ships it."""
    method = ((leaderboard().get("recommended") or {}).get(labels.scenario_key(scenario)) or {}).get("method")
    names = zoo_names(scenario, [method]) if method else []
    return names[0] if names else None


RECOMMENDED_MARK = " · ✓ recommended"


def pick_adapted(scenario, key: str, label_text: str = "Adapted model") -> str | None:
    """A selectbox over the scenario's adapted models: the zoo's recommended one until the user picks
    another; models the user trains join the options. The pick is kept under ``key + "_chosen"`` too,
    so it outlives the widget (Streamlit forgets a widget's value on a page that does not draw it)."""
    options = adapted_refs(scenario)
    if not options:
        return None
    chosen_key = f"{key}_chosen"
    if st.session_state.get(key) not in options:
        chosen = st.session_state.get(chosen_key)
        st.session_state[key] = chosen if chosen in options else default_adapted(options)

    def keep() -> None:
        st.session_state[chosen_key] = st.session_state[key]

    names = labels_for(options)
    names = {r: names[r] + (RECOMMENDED_MARK if recommended_ref(r) else "") for r in options}
    return st.selectbox(label_text, options, key=key, format_func=names.get, on_change=keep,
                        help="The pretrained models of this scenario (✓ marks the one recommended without target "
                             "labels) and the models you trained here.")


def show_fixed(label_text: str, ref: str, help: str | None = None) -> None:
    """A disabled selectbox naming a model that is chosen for the user (e.g. the baseline)."""
    st.selectbox(label_text, [ref], format_func=labels_for([ref]).get, disabled=True, help=help)


def labels_for(options) -> dict[str, str]:
    """{reference: label}, computed now: format functions must not read the session state later."""
    return {ref: label(ref) for ref in options}
