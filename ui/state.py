"""Session state shared by every page: the sidebar settings, the session id and session models."""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass, field

import streamlit as st

DOMAIN_LABELS = {
    "mnist": "MNIST",
    "mnistm": "MNIST-M",
    "syndigits": "SynDigits",
    "ucidigits": "UCI digits",
    "mnist_full": "MNIST (full)",
    "usps": "USPS",
    "svhn": "SVHN",
}

# The dashboard's pages by section: (file, title, icon); the first is the home page. app.py builds
# st.navigation from this, and page_shell() the same links when a page file runs on its own.
NAVIGATION: dict[str, list[tuple[str, str, str]]] = {
    "Learn": [("pages/overview.py", "Overview", ":material/home:")],
    "Try": [("pages/predict.py", "Predict", ":material/image_search:"),
            ("pages/alignment.py", "Alignment", ":material/scatter_plot:"),
            ("pages/compare.py", "Compare", ":material/leaderboard:")],
    "Build": [("pages/train.py", "Train", ":material/model_training:"),
              ("pages/distill.py", "Distill", ":material/compress:")],
}

HOME = next(iter(NAVIGATION.values()))[0]

PAGE_CONFIG = dict(
    page_title="ShiftLab", page_icon=":material/swap_horiz:", layout="wide",
    menu_items={"About": "ShiftLab — domain adaptation you can see: train, compare and try models that "
                         "carry what they learned to a new domain."},
)

METHOD_LABELS = {
    "source_only": "Source only",
    "oracle": "Train on target (oracle)",
    "finetune": "Fine-tune (few labels)",
    "dann": "DANN",
    "mmd": "MMD",
    "adda": "ADDA",
    "self_training": "Self-training",
    "distill": "Distillation",
}

ZOO_MISSING = "No pretrained models yet — run `python -m core zoo rebuild` (or train one on the Train page)."


def domain_label(name: str) -> str:
    return DOMAIN_LABELS.get(name, name)


def method_label(name: str) -> str:
    return METHOD_LABELS.get(name, name.replace("_", " ").capitalize())


def scenario_label(scenario) -> str:
    source, target = scenario
    return f"{domain_label(source)} → {domain_label(target)}"


def scenario_key(scenario) -> str:
    return f"{scenario[0]}->{scenario[1]}"


def available_scenarios() -> list[tuple[str, str]]:
    """The scenarios the sidebar offers: the recipes' (which the zoo ships) then any other zoo ones."""
    from core import recipes

    found = [tuple(s) for s in recipes.SCENARIOS]
    try:
        from core import zoo

        for s in zoo.scenarios():
            if tuple(s) not in found:
                found.append(tuple(s))
    except Exception:  # noqa: BLE001 - the zoo is optional
        pass
    return found


def available_devices() -> list[str]:
    from core.device import available_devices as devices

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
            st.caption(f"{len(models)} model(s) trained in this session.")


_SHELL_KEY = "_inside_app_shell"


@contextlib.contextmanager
def app_shell():
    """app.py runs the chosen page inside this, after it set up state and the sidebar."""
    st.session_state[_SHELL_KEY] = True
    try:
        yield
    finally:
        st.session_state[_SHELL_KEY] = False


def page_shell() -> None:
    """First line of every page: when Streamlit runs a page file on its own (its legacy ``pages/``
    folder mode: a fresh server's first deep link, streamlit.testing), do app.py's shared setup —
    session defaults, finished runs collected, the sidebar — so the page behaves the same."""
    if st.session_state.get(_SHELL_KEY):
        return
    from . import training

    st.set_page_config(**PAGE_CONFIG)
    init()
    training.collect_finished()
    _page_links()
    sidebar()


def _page_links() -> None:
    """In the legacy mode Streamlit lists the pages/ file names ("app", "alignment", …); hide that
    list and show the same sections, titles and icons as app.py's navigation instead."""
    from streamlit.errors import StreamlitAPIException

    st.markdown("<style>[data-testid='stSidebarNav'] {display: none;}</style>", unsafe_allow_html=True)
    with st.sidebar:
        for section, pages in NAVIGATION.items():
            st.caption(section)
            for path, title, icon in pages:
                try:
                    st.page_link(path, label=title, icon=icon)
                except StreamlitAPIException:  # the page file itself is the main script (no pages known)
                    return
        st.divider()


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
        number=len(models) + 1)
    models[job_id] = entry
    return entry
