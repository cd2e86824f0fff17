"""Playground: a domain gap you can drag, with the theory drawn as the methods train."""

import streamlit as st

from ui import playground, shell

shell.page_shell()  # shared setup when Streamlit runs this file on its own (see ui/state.py)

st.title("Playground")
st.caption("Two-class points, a shift you choose, and a method trained beside source-only on the same points "
           "from the same start — a thousand steps take a few seconds. Watch the decision regions, the "
           "domain discriminator and the features move, and the three terms of the adaptation bound with them.")

playground.presets()
settings = playground.controls()
playground.pictures_note()
st.code(f"source {settings['source']}   target {settings['target']}", language=None)

autostart = st.session_state.pop("pg_autostart", False)
if st.button("Train", type="primary", icon=":material/play_arrow:", key="pg_train",
             disabled=settings["error"] is not None) or (autostart and settings["error"] is None):
    playground.start(settings)

if playground.running():
    playground.live()
elif not playground.result(settings):  # a finished run of another shift: show the shift now chosen
    playground.show_preview(settings)
