"""Streamlit helpers shared by the pages of the ShiftLab app (kept outside ``pages/`` so that
``st.navigation`` does not list them).

    ui.state     session state: the shared sidebar (scenario, device, seed), the session id,
                 models trained in this session
    ui.models    the zoo and session models behind one "model reference", cached loaders,
                 model pickers
    ui.training  start / watch / cancel a background training run (core.jobs) and show its result
    ui.widgets   galleries, prediction cards, charts

Nothing here does maths: it calls :mod:`core` and lays out what comes back.
"""
