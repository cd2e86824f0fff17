"""The frame around every page: page config, the navigation, and the shared setup a page needs when
Streamlit runs its file on its own (a fresh server's first deep link, streamlit.testing)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import streamlit as st

from . import state, training

# The dashboard's pages by section: (file, title, icon); the first is the home page. app.py builds
# st.navigation from this, and page_shell() the same links when a page file runs on its own.
NAVIGATION: dict[str, list[tuple[str, str, str]]] = {
    "Learn": [("pages/overview.py", "Overview", ":material/home:"),
              ("pages/playground.py", "Playground", ":material/toys:")],
    "Try": [("pages/predict.py", "Predict", ":material/image_search:"),
            ("pages/alignment.py", "Alignment", ":material/scatter_plot:"),
            ("pages/translate.py", "Translate", ":material/palette:"),
            ("pages/compare.py", "Compare", ":material/leaderboard:")],
    "Build": [("pages/train.py", "Train", ":material/model_training:"),
              ("pages/distill.py", "Distill", ":material/compress:")],
}

HOME = next(iter(NAVIGATION.values()))[0]

# The tab's icon is a file shipped with the app: a ":material/…:" or emoji page icon makes the browser
# fetch the picture from a font or emoji server outside the machine (the sidebar's and pages' material
# icons are drawn from the font Streamlit bundles, and fetch nothing). tests/e2e/test_offline.py checks.
FAVICON = str(Path(__file__).resolve().parent / "assets" / "favicon.png")

PAGE_CONFIG = dict(
    page_title="ShiftLab", page_icon=FAVICON, layout="wide",
    menu_items={"About": "ShiftLab — domain adaptation you can see: train, compare and try models that "
                         "carry what they learned to a new domain."},
)




#: Allocations of this many bytes and more come from mmap in the app's process (see lean_process).
MMAP_FROM = 2 ** 20
#: The heap's free top is given back past this many bytes.
TRIM_FROM = 2 * 2 ** 20
#: While a training run goes on: a digits step's activations (2–5 MB at batch 32–64) stay on the heap
#: and are reused instead of being mapped and faulted in anew every step (see training_allocator).
TRAIN_MMAP_FROM = 8 * 2 ** 20
TRAIN_TRIM_FROM = 16 * 2 ** 20


def _glibc():
    """glibc as a ctypes library, or None on another platform or C library (musl: its defaults stand)."""
    import sys

    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - both exist, or this is not glibc
    except (OSError, AttributeError):
        return None
    return libc


def tune_allocator(mmap_from: int = MMAP_FROM, trim_from: int = TRIM_FROM) -> bool:
    """glibc's allocator for this process: at most two arenas, blocks of ``mmap_from`` bytes and more
    from mmap, the heap's free top trimmed past ``trim_from`` (see :func:`lean_process`). False, and
    nothing changed, without glibc."""
    libc = _glibc()
    if libc is None:
        return False
    libc.mallopt(-8, 2)          # M_ARENA_MAX
    libc.mallopt(-3, mmap_from)  # M_MMAP_THRESHOLD (also stops it growing)
    libc.mallopt(-1, trim_from)  # M_TRIM_THRESHOLD
    return True


def lean_process() -> None:
    """Keep the dashboard's server process within a hosted app's memory (about 1 GB; measured by
    scripts/bench/crowd_memory.py, see docs/deploying.md). Idempotent; app.py calls it first.

    - Without a CUDA device, Triton is marked absent: every optimizer torch builds (a training run, a
      test-time adaptation) imports torch._dynamo, which imports Triton only to ask whether it is
      there — about 80 MB resident with the CUDA build of torch, for kernels a CPU never runs.
    - glibc's allocator: at most two arenas (each Streamlit session and each training run is a thread,
      and every thread's arena keeps its freed memory); blocks of :data:`MMAP_FROM` and more from mmap
      and the heap's free top trimmed past :data:`TRIM_FROM`, fixed, so big buffers (an evaluation
      batch, a decoded upload) go back to the system when freed instead of holding the heap at its
      high-water mark, while a training step's smaller ones are reused. (From 128 KiB every
      activation of a digits step was mapped and faulted in anew: the Train page's demo trained
      1.4× slower; measured in docs/deploying.md.)
    - The startup heap is frozen (:func:`freeze_startup_heap`).
    """
    import sys

    if sys.modules.get("_shiftlab_lean"):
        return
    sys.modules["_shiftlab_lean"] = sys  # a marker: done once per process
    import torch

    if "triton" not in sys.modules and not torch.cuda.is_available():
        sys.modules["triton"] = None  # importlib then answers "no module named triton"
    tune_allocator()
    from core import jobs

    jobs.manager().on_busy_change = training_allocator
    freeze_startup_heap()


def training_allocator(busy: bool) -> None:
    """The job manager's ``on_busy_change``: while a run trains, allocations up to
    :data:`TRAIN_MMAP_FROM` come from the heap; when the last run ends the app's lean settings return
    and :func:`release_free_memory` gives the heap's free pages back.

    Measured (docs/deploying.md, scripts/bench/allocator_speed.py): the Train page's demo submitted
    alone on one core trained in 11.9–12.9 s so, against 17.0–18.7 s with 1 MiB throughout; kept for
    the whole process, 8 MiB raised the crowd's peak to 952 MB, over the hosted budget (872 MB so).
    """
    if busy:
        tune_allocator(TRAIN_MMAP_FROM, TRAIN_TRIM_FROM)
    else:
        tune_allocator()
        release_free_memory()


def release_free_memory() -> bool:
    """glibc's ``malloc_trim(0)``: free pages anywhere in every arena go back to the system. False
    without glibc."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


def freeze_startup_heap() -> int:
    """Import what every page and a training run need, then move every object alive — the modules,
    classes and functions of torch, Streamlit, plotly and core: ~236,000 objects — out of the
    cyclic garbage collector's reach (:func:`gc.freeze`). Returns how many objects were frozen.

    Why: Streamlit runs a full collection after every script run (``runner.postScriptGC``), and a
    live training view reruns its fragment every 1.5 s. Each full collection walked the whole
    startup heap — about 115 ms on the 2-core Intel Xeon — holding the GIL while the training
    thread waited: a py-spy profile of the server during the Train page's demo put 13 % of all
    samples in that collection. Frozen objects are still freed by reference counting; only a
    reference cycle among them would outlive its use, and they are imported modules that live as
    long as the process. What sessions create afterwards is collected as before.
    """
    import gc

    import plotly.graph_objects  # noqa: F401 - the charts of every page

    import core.methods  # noqa: F401 - the registry, every method's file
    import core.training.engine  # noqa: F401 - what a run imports on its first step

    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


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
    lean_process()
    st.set_page_config(**PAGE_CONFIG)
    state.init()
    training.heartbeat()
    training.collect_finished()
    _page_links()
    state.sidebar()


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


