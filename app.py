"""ShiftLab dashboard — run with ``streamlit run app.py``.

The entrypoint: page setup, the navigation over pages/, and the sidebar every page shares
(scenario, device, seed), whose values live in ``st.session_state`` (see ui/state.py).

Streamlit treats a folder called ``pages`` next to the entrypoint as an old-style multipage app
until some session has called st.navigation, so on a fresh server a first visit to /predict (and
streamlit.testing on every run) executes that page file alone. Every page therefore starts with
``ui.shell.page_shell()``, which does this file's setup when it did not run.
"""

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # `core` and `ui` importable however the app is started
    sys.path.insert(0, str(ROOT))

from ui import shell, state, training  # noqa: E402

shell.lean_process()  # within a hosted app's memory: no Triton without CUDA, a lean allocator (ui/shell.py)

import torch  # noqa: E402

# One intra-op thread: the app's inputs are tiny 28×28 batches, and on a shared 1–2 core host a
# second thread waits on cores busy with training or other sessions (scripts/bench/bench_app.py measured
# 16-image predictions at ~290 ms with 2 threads vs ~10 ms with 1 while a training job ran).
torch.set_num_threads(1)

st.set_page_config(**shell.PAGE_CONFIG)

state.init()
training.heartbeat()  # this tab is still open: its run (if any) keeps its slot
training.collect_finished()  # a run that ended while the user was elsewhere joins the session's models

PAGES = {
    section: [st.Page(path, title=title, icon=icon, default=(path, title, icon) == shell.HOME)
              for path, title, icon in pages]
    for section, pages in shell.NAVIGATION.items()
}

page = st.navigation(PAGES)
state.sidebar()
if training.running():
    st.sidebar.caption(":material/autorenew: A training run is in progress (see Train).")
    with st.sidebar:
        training.keep_alive()
with shell.app_shell():
    page.run()
