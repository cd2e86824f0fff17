"""Distill: a small student taught by an adapted teacher — size, speed and accuracy side by side."""

from pathlib import Path

import pandas as pd
import streamlit as st

from ui import forms, labels, models, shell, state, training, widgets

shell.page_shell()  # shared setup when Streamlit runs this file on its own (see ui/state.py)

scenario = state.scenario()
st.title("Distill")
st.caption("Knowledge distillation (Hinton et al. 2015) trains a narrower *student* to copy the softened "
           "predictions of an adapted *teacher*, on source and target pictures. The student keeps most of the "
           "teacher's target accuracy at a fraction of its size and latency.")


def _teacher_ref(student_ref: str) -> str | None:
    """The teacher of a distilled model: a zoo name in its card, or a session model's checkpoint."""
    _, card = models.load(student_ref)
    from core.methods import METHODS

    cls = METHODS.get(card.get("method"))
    names = cls.model_hyperparameters() if cls else []
    teacher = str((card.get("hyperparameters") or {}).get(names[0]) or "") if names else ""
    if not teacher:
        return None
    if teacher in models.zoo_names():
        return models.ref_for_zoo(teacher)
    for entry in state.session_models():
        if entry.checkpoint and Path(entry.checkpoint) == Path(teacher):
            return models.ref_for_session(entry.id)
    return None


@st.cache_data(show_spinner="Timing the models on the CPU…", max_entries=64)
def _facts(ref_key: str, _model) -> dict:
    from core.checkpoints import size_bytes
    from core.inference.predictions import latency_ms
    from core.models import count_parameters

    return {"params": count_parameters(_model),
            "size_fp32": size_bytes(_model), "size_fp16": size_bytes(_model, half=True),
            "latency_1": latency_ms(_model, batch_size=1, repeats=30)["median"],
            "latency_64": latency_ms(_model, batch_size=64, repeats=10)["median"]}


from core.methods import by_family  # noqa: E402

STUDENT_METHODS = by_family("student")
students = models.refs(scenario, STUDENT_METHODS)
if not students:
    st.info("No distilled model for this scenario yet. Run one below (it needs an adapted teacher), or "
            f"build the zoo. {labels.ZOO_MISSING}", icon=":material/info:")
else:
    st.session_state.setdefault("distill_student", students[0])
    if st.session_state["distill_student"] not in students:
        st.session_state["distill_student"] = students[0]
    student = st.selectbox("Distilled model", students, key="distill_student",
                           format_func=models.labels_for(students).get)
    teacher = None
    try:
        teacher = _teacher_ref(student)
    except ValueError as e:
        st.error(str(e))
    pair = [("Teacher", teacher), ("Student", student)] if teacher else [("Student", student)]
    if teacher is None:
        st.caption("The teacher of this model is not available here; showing the student alone.")
    rows, facts = {}, {}
    for role, ref in pair:
        try:
            model, card = models.load(ref)
        except ValueError as e:
            st.warning(str(e))
            continue
        f = _facts(ref + "|" + models.zoo_signature(), model)
        facts[role] = f
        acc = models.target_acc(ref)
        rows[f"{role}: {models.label(ref)}"] = {
            "parameters": f"{f['params']:,}",
            "size on disk (fp32)": f"{f['size_fp32'] / 1024:,.0f} KB",
            "size on disk (fp16)": f"{f['size_fp16'] / 1024:,.0f} KB",
            "CPU latency, 1 picture": f"{f['latency_1']:.2f} ms",
            "CPU latency, 64 pictures": f"{f['latency_64']:.1f} ms",
            "target test accuracy": widgets.pct(acc),
        }
    if "Teacher" in facts and "Student" in facts:
        t, s = facts["Teacher"], facts["Student"]
        ta, sa = models.target_acc(teacher), models.target_acc(student)
        c1, c2, c3 = st.columns(3)
        c1.metric("Size, student ÷ teacher", f"{100 * s['size_fp32'] / t['size_fp32']:.0f} %",
                  help="Weights as a safetensors file, fp32.")
        c2.metric("CPU latency, student ÷ teacher", f"{100 * s['latency_64'] / t['latency_64']:.0f} %",
                  help="Median CPU time of one forward pass on 64 pictures.")
        if ta is not None and sa is not None:
            c3.metric("Student accuracy", widgets.pct(sa), delta=f"{sa - ta:+.1f} pts vs teacher")
    if rows:
        st.dataframe(pd.DataFrame(rows), width="stretch")
        st.caption("Latency: median wall-clock time of a forward pass on this server's CPU (single process, "
                   "other work may be running).")


def _default_teacher(method: str) -> None:
    """The teacher starts as the scenario's recommended model (the leaderboard's label-free choice)
    when the zoo ships it and it is an adapted model that can teach (else the form's first adapted
    model); the user's pick stands until they leave the page."""
    from core.methods import METHODS

    recommended = models.recommended_zoo_name(scenario)
    cls = METHODS.get(models.zoo_method(recommended)) if recommended else None
    if cls is None or not cls.is_adapted() or recommended not in forms.model_options(scenario):
        return
    for name in METHODS[method].model_hyperparameters():
        st.session_state.setdefault(f"distill_{method}_{name}", recommended)


st.divider()
st.subheader("Run a distillation")
_default_teacher(STUDENT_METHODS[0])
with st.form("distill_form", border=True):
    config = forms.run_settings(STUDENT_METHODS[0], scenario, key="distill")
    submitted = st.form_submit_button("Start distillation", type="primary", icon=":material/play_arrow:",
                                      disabled=training.running())
if submitted and config is not None and training.start_run(config):
    st.toast("Distillation started.")
training.run_panel(key="distill")
