"""Train: pick a method and its settings, train in the background and watch it learn."""

import streamlit as st

from core.methods import METHODS, ordered
from ui import forms, labels, shell, state, training, widgets

shell.page_shell()  # shared setup when Streamlit runs this file on its own (see ui/state.py)

scenario = state.scenario()
st.title("Train")
st.caption(f"Scenario {labels.scenario_label(scenario)} on {state.device()} with seed {state.seed()} "
           "(change them in the sidebar). The run goes on in the background while you look elsewhere.")

demo = training.demo(scenario)  # the leaderboard's recommended method in a recipe of seconds
method_names = ordered()
training.follow_demo(demo, key="train_method")
method = st.selectbox("Method", method_names, key="train_method", format_func=labels.method_label,
                      on_change=training.remember_pick, args=("train_method",))
cls = METHODS[method]
st.caption(cls.summary + {"all": " Uses the target labels (an upper bound, not adaptation).",
                          "few": " Uses a few labelled target pictures."}.get(cls.target_labels, ""))
training.demo_caption(demo, method)

with st.form("train_form", border=True):
    config = forms.run_settings(method, scenario, key="train", demo=demo)
    submitted = st.form_submit_button("Start training", type="primary", icon=":material/play_arrow:",
                                      disabled=training.running())

if submitted:
    if config is not None and training.start_run(config):
        st.toast(f"Training {labels.method_label(method)} started.")

training.run_panel(key="train")

mine = state.session_models()
if mine:
    st.divider()
    st.subheader("Your models in this session")
    st.caption("They are kept while this browser tab is open; download a checkpoint to keep one.")
    for entry in mine:
        with st.container(border=True):
            a, b, c = st.columns([3, 2, 2], vertical_alignment="center")
            a.markdown(f"**{entry.label}**  \n{labels.scenario_label(entry.scenario)} · {entry.steps:,} steps · "
                       f"{entry.seconds:.0f} s")
            b.metric("Target accuracy", widgets.pct(entry.target_acc), label_visibility="collapsed")
            with c:
                training.download_button(entry, key=f"dl_{entry.id}", label="Download .zip")
