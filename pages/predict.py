"""Predict: your pictures (or target test samples) through a source-only and an adapted model."""

import time

import streamlit as st

from core.inference import predict_batch, predict_uploads, rows_to_frame, summarize
from core.sampling import sample_indices
from ui import labels, models, shell, state, widgets

shell.page_shell()  # shared setup when Streamlit runs this file on its own (see ui/state.py)

UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff"]
SOURCE_ONLY, ADAPTED = "source only", "adapted"

scenario = state.scenario()
st.title("Predict")
st.caption(f"Scenario {labels.scenario_label(scenario)}. Each picture goes through a model trained on the "
           "source only and through an adapted one; where they disagree, adaptation changed the answer.")

baseline = models.baseline_ref(scenario)
left, right = st.columns(2)
with left:
    if baseline:
        models.show_fixed("Source-only model", baseline,
                          help="Trained on the labelled source domain only: the baseline.")
    else:
        st.selectbox("Source-only model", ["(none)"], disabled=True)
with right:
    adapted = models.pick_adapted(scenario, key="predict_adapted")
    if adapted is None:
        st.selectbox("Adapted model", ["(none)"], disabled=True)

if baseline is None or adapted is None:
    missing = " and ".join(x for x, ok in (("a source-only", baseline), ("an adapted", adapted)) if not ok)
    st.info(f"This scenario needs {missing} model. {labels.ZOO_MISSING}", icon=":material/info:")
    st.stop()

try:
    (base_model, base_card), (adapted_model, adapted_card) = models.load(baseline), models.load(adapted)
except ValueError as e:
    st.error(str(e))
    st.stop()
chosen = {SOURCE_ONLY: base_model, ADAPTED: adapted_model}
class_names = {SOURCE_ONLY: base_card.get("class_names"), ADAPTED: adapted_card.get("class_names")}
adapted_method = models.method_of(adapted)
titles = {SOURCE_ONLY: "Source only", ADAPTED: labels.method_label(adapted_method, short=True)}

mode = st.radio("Pictures", ["Upload your own", "Samples from the target test set"], horizontal=True,
                key="predict_mode", label_visibility="collapsed")

rows, errors, started = [], {}, time.perf_counter()
if mode == "Upload your own":
    files = st.file_uploader(
        "Upload one or more pictures", type=UPLOAD_TYPES, accept_multiple_files=True, key="predict_files",
        help="PNG, JPEG, WebP, BMP, GIF (first frame) or TIFF, up to 10 MB each. Pictures are resized "
             "to the model's input (28×28 for digits) without cropping: a single centred digit works best.")
    if not files:
        st.caption("No pictures yet — drop some above, or switch to samples from the target test set.")
        st.stop()
    rows, errors = predict_uploads(chosen, [(f.name, f.getvalue()) for f in files], class_names=class_names)
else:
    target = scenario[1]
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    with c1:
        k = st.slider("How many samples", 4, 64, 16, step=4, key="predict_k")
    with c2:
        if st.button("Draw other samples", icon=":material/shuffle:"):
            st.session_state["predict_round"] = st.session_state.get("predict_round", 0) + 1
    try:
        domain = widgets.test_split(target, adapted_model.input_size)
    except Exception as e:  # noqa: BLE001
        st.error(f"Could not load the {labels.domain_label(target)} test set: {e}")
        st.stop()
    idx = sample_indices(len(domain), k, state.seed() * 1000 + st.session_state.get("predict_round", 0))
    rows = predict_batch(chosen, domain.images[idx], [f"{target} test #{i}" for i in idx],
                         labels=domain.labels[idx].tolist(), class_names=class_names)
elapsed_ms = 1000 * (time.perf_counter() - started)

for name, message in errors.items():
    st.warning(f"{widgets.code(name)} could not be read: {message}", icon=":material/broken_image:")
if not rows:
    st.info("None of the pictures could be read; see the messages above.")
    st.stop()

summary = summarize(rows, [SOURCE_ONLY, ADAPTED])
m1, m2, m3, m4 = st.columns(4)
m1.metric("Pictures", f"{summary['n']}", help=f"Predicted in {elapsed_ms:.0f} ms on the CPU.")
m2.metric("Models agree", widgets.pct(summary["agreement"], 0),
          help="Share of pictures where source-only and adapted give the same top answer.")
if summary["labelled"]:
    so, ad = summary["accuracy"][SOURCE_ONLY], summary["accuracy"][ADAPTED]
    m3.metric("Source-only accuracy", widgets.pct(so, 0))
    m4.metric("Adapted accuracy", widgets.pct(ad, 0), delta=f"{ad - so:+.0f} pts")
else:
    m3.metric("Disagreements", f"{sum(not r['agree'] for r in rows)}")

frame = rows_to_frame(rows, [SOURCE_ONLY, ADAPTED])
st.download_button("Download predictions (CSV)", frame.to_csv(index=False).encode("utf-8"),
                   file_name=f"shiftlab-predictions-{scenario[0]}-{scenario[1]}.csv", mime="text/csv",
                   icon=":material/download:", on_click="ignore", key="predict_csv")
st.caption(f"Predicted in {elapsed_ms:.0f} ms. Pictures are shown as the models see them.")

only_disagreements = st.toggle("Show only disagreements", key="predict_only_disagree")
shown = [r for r in rows if not r["agree"]] if only_disagreements else rows
if not shown:
    st.caption("The models agree on every picture.")
widgets.prediction_grid(shown, [SOURCE_ONLY, ADAPTED], titles)

with st.expander("All predictions as a table"):
    st.dataframe(frame, hide_index=True)
