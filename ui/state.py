"""Session state shared by every page: the sidebar settings, the session id and session models."""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from pathlib import Path
from dataclasses import dataclass, field

import streamlit as st

from .labels import method_label, scenario_label


def available_scenarios() -> list[tuple[str, str]]:
    """The scenarios the sidebar offers: the ones the zoo ships (:data:`core.zoo.SCENARIOS`)."""
    from core import zoo

    return [tuple(s) for s in zoo.scenarios()]


def available_devices() -> list[str]:
    from core.util.device import available_devices as devices

    try:
        return devices()
    except Exception:  # noqa: BLE001
        return ["cpu"]


# --------------------------------------------------------------------------- session state

def init() -> None:
    """Defaults for everything the pages read (idempotent; call at the top of app.py)."""
    ss = st.session_state
    ss.setdefault("session_id", uuid.uuid4().hex)
    ss.setdefault("session_models", {})   # id -> SessionModel
    ss.setdefault("collected_jobs", set())  # job ids whose result was added to session_models
    scenarios = available_scenarios()
    if ss.get("scenario") not in scenarios:
        ss["scenario"] = scenarios[0]
    devices = available_devices()
    if ss.get("device") not in devices:
        ss["device"] = devices[0]
    if not isinstance(ss.get("seed"), int):
        ss["seed"] = 0


def sidebar() -> None:
    """The settings every page shares, in the sidebar; values land in st.session_state."""
    with st.sidebar:
        st.selectbox("Scenario", available_scenarios(), key="scenario", format_func=scenario_label,
                     help="Source domain (labelled, what models learn from) → target domain "
                          "(where they must work, labels unseen).")
        st.selectbox("Device", available_devices(), key="device",
                     help="Where new training runs go. Predictions and evaluations run on the CPU.")
        st.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="seed",
                        help="Seeds training runs and the sample galleries; the same seed gives the same run.")
        models = st.session_state.get("session_models", {})
        if models:
            st.caption(f"{len(models)} model(s) trained here, kept until this tab is closed or reloaded.")


def scenario() -> tuple[str, str]:
    return tuple(st.session_state.get("scenario") or available_scenarios()[0])


def device() -> str:
    return st.session_state.get("device", "cpu")


def seed() -> int:
    return int(st.session_state.get("seed", 0))


def session_id() -> str:
    return st.session_state.setdefault("session_id", uuid.uuid4().hex)


# --------------------------------------------------------------------------- session models

@dataclass
class SessionModel:
    """A model trained in this browser session (kept in st.session_state, on the CPU)."""

    id: str
    method: str
    source: str
    target: str
    model: object
    card: dict
    checkpoint: str | None
    target_acc: float
    source_acc: float
    steps: int
    seconds: float
    number: int
    created: float = field(default_factory=time.time)
    zip_bytes: bytes | None = None
    extras: dict = field(default_factory=dict)  # name -> module saved beside the classifier (a GAN's generator)

    @property
    def scenario(self) -> tuple[str, str]:
        return self.source, self.target

    @property
    def label(self) -> str:
        return f"{method_label(self.method)} · your run {self.number} ({self.target_acc:.1f} %)"


def session_models(scenario=None, methods=None) -> list[SessionModel]:
    """This session's models, newest first, optionally for one scenario and some methods."""
    models = list(st.session_state.get("session_models", {}).values())
    if scenario is not None:
        models = [m for m in models if m.scenario == tuple(scenario)]
    if methods is not None:
        models = [m for m in models if m.method in methods]
    return sorted(models, key=lambda m: m.created, reverse=True)


def add_session_model(job_id: str, result, config) -> SessionModel:
    """Keep a finished run's model in this session (moved to the CPU for predictions)."""
    models = st.session_state.setdefault("session_models", {})
    model = result.model.to("cpu").eval()
    entry = SessionModel(
        id=job_id, method=config.method, source=config.source, target=config.target, model=model,
        card=dict(result.card), checkpoint=result.checkpoint, target_acc=float(result.target_acc),
        source_acc=float(result.source_acc), steps=int(result.steps_done), seconds=float(result.seconds),
        number=len(models) + 1, extras=_extras(result))
    models[job_id] = entry
    return entry


def _extras(result) -> dict:
    """The run's other exported modules (a pixel-level GAN's generator), on the CPU: the run folder
    that also holds them is deleted when the session trains again."""
    try:
        exported = result.method.export_modules() if result.method is not None else {}
        return {name: module.to("cpu").eval() for name, module in exported.items()}
    except Exception as e:  # noqa: BLE001 - the classifier is what matters
        logging.getLogger(__name__).warning("could not keep the run's extra modules: %s", e)
        return {}


def checkpoint_zip(entry: SessionModel) -> bytes:
    """The session model as a checkpoint zip (weights + card), from its folder while it exists,
    else from the model in memory (run folders are temporary)."""
    from core.checkpoints import save_zip, to_zip_bytes

    if entry.checkpoint and Path(entry.checkpoint).is_dir():
        return to_zip_bytes(entry.checkpoint)
    with tempfile.TemporaryDirectory(prefix="shiftlab-zip-") as tmp:
        path = save_zip(entry.model, entry.card, Path(tmp) / f"{entry.method}.zip", half=False)
        return path.read_bytes()
