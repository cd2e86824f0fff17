"""The Playground's background run: one :class:`core.training.playground.Playground` per browser
session, trained in a child process (see ``Playground.start``) and kept in ``st.session_state``."""

from __future__ import annotations

import streamlit as st

from .. import state

FRAME_S = 0.1     # the run draws a frame at least this often, however busy the machine
RUN_KEY = "pg_run"


def current():
    return st.session_state.get(RUN_KEY)


def running() -> bool:
    run = current()
    return run is not None and not run.latest().finished


def start(settings: dict) -> bool:
    """Start a run with ``settings`` (:func:`controls`); an error is shown as one line."""
    from core.training.playground import Playground

    old = current()
    if old is not None:
        old.cancel()
    try:
        run = Playground(settings["source"], settings["target"], settings["method"], steps=settings["steps"],
                         seed=state.seed(), threads=1, frame_seconds=FRAME_S)  # one intra-op thread: see app.py (two collapse here)
    except ValueError as err:  # DomainError is one
        st.error(str(err), icon=":material/error:")
        return False
    st.session_state[RUN_KEY] = run.start(process=True)  # see Playground.start: the redraws would slow a thread
    return True
