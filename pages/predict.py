"""Predict: your pictures (or target test samples) through a source-only and an adapted model."""

import time

import streamlit as st

from core.inference.predictions import predict_batch, predict_uploads, rows_to_frame, summarize
from core.data.sampling import sample_indices
from core.inference.normalize import DEFAULT_INGEST, INGEST_CHOICES
from core.imageio.uploads import MAX_FILES, UploadCache, digest
from ui import adapt, estimate, inputs, labels, models, shell, state, widgets
from ui import universal as universal_model

shell.page_shell()  # shared setup when Streamlit runs this file on its own (see ui/state.py)

UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff"]
SOURCE_ONLY, ADAPTED, UNIVERSAL = "source only", "adapted", "universal"
MAX_WARNINGS = 20  # files named one by one; the rest are counted


@st.cache_resource(show_spinner=False)
def upload_cache() -> UploadCache:
    """Decoded uploads by content hash, for every session: a rerun decodes nothing it has seen."""
    return UploadCache()


def hashed(files) -> list[tuple]:
    """(name, bytes, sha256) per upload; each upload is hashed once (Streamlit gives it a file_id)."""
    known = st.session_state.get("predict_digests", {})
    known = {f.file_id: known.get(f.file_id) or digest(f.getvalue()) for f in files[:MAX_FILES]}
    st.session_state["predict_digests"] = known
    return [(f.name, f.getvalue, known.get(f.file_id)) for f in files]


scenario = state.scenario()
st.title("Predict")
st.caption(f"Scenario {labels.scenario_label(scenario)}. Each picture goes through a model trained on the "
           "source only and through an adapted one; where they disagree, adaptation changed the answer. Your own "
           "pictures also go through the universal digits model, and you can adapt a model to them.")

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

mode = st.radio("Pictures", ["Upload your own", "Samples from the target test set"], horizontal=True,
                key="predict_mode", label_visibility="collapsed")
uploading = mode == "Upload your own"
universal = universal_model.universal() if uploading else None  # the default model for pictures from elsewhere

if baseline is None or adapted is None:
    missing = " and ".join(x for x, ok in (("a source-only", baseline), ("an adapted", adapted)) if not ok)
    also = " Your own pictures still go through the universal digits model." if universal else ""
    st.info(f"This scenario needs {missing} model. {labels.ZOO_MISSING}{also}", icon=":material/info:")
    if universal is None:
        st.stop()

chosen, class_names, titles, cards, refs = {}, {}, {}, {}, {}
if baseline is not None and adapted is not None:
    try:
        (base_model, base_card), (adapted_model, adapted_card) = models.load(baseline), models.load(adapted)
    except ValueError as e:
        st.error(str(e))
        st.stop()
    chosen = {SOURCE_ONLY: base_model, ADAPTED: adapted_model}
    cards = {SOURCE_ONLY: base_card, ADAPTED: adapted_card}
    refs = {SOURCE_ONLY: baseline, ADAPTED: adapted}
    titles = {SOURCE_ONLY: "Source only", ADAPTED: labels.method_label(models.method_of(adapted), short=True)}
if universal is not None:
    chosen[UNIVERSAL], cards[UNIVERSAL] = universal
    refs[UNIVERSAL], titles[UNIVERSAL] = f"path:{universal_model.universal_path()}", "Universal"
class_names = {k: card.get("class_names") for k, card in cards.items()}
names = list(chosen)

rows, errors, started, normalize, choices = [], {}, time.perf_counter(), "none", {}
if uploading:
    files = st.file_uploader(
        "Upload one or more pictures", type=UPLOAD_TYPES, accept_multiple_files=True, key="predict_files",
        help=f"PNG, JPEG, WebP, BMP, GIF (first frame) or TIFF, up to 10 MB and 16 megapixels each (JPEG: "
             f"larger is fine), {MAX_FILES} files per batch. Pictures are resized to the model's input "
             "(28×28 for digits) without cropping unless *Centre like MNIST* is on: a single centred digit "
             "works best.")
    t1, t2, t3 = st.columns(3)
    use_camera = t1.toggle("Take a photo", key="predict_use_camera",
                           help="Take a picture of a digit with your camera; it joins the uploaded batch.")
    use_canvas = t2.toggle("Draw a digit", key="predict_use_canvas",
                           help="Draw a digit with the mouse or a finger; it joins the uploaded batch.")
    normalize = t3.selectbox("Read the pictures", INGEST_CHOICES, index=INGEST_CHOICES.index(DEFAULT_INGEST),
                             key="predict_normalize", format_func=inputs.NORMALIZE_LABELS.get,
                             help=inputs.NORMALIZE_HELP)
    extra = inputs.camera_and_drawing(use_camera, use_canvas)
    if not files and not extra:
        st.caption("No pictures yet — drop some above, take a photo or draw a digit, or switch to samples "
                   "from the target test set.")
        st.stop()
    rows, errors = predict_uploads(chosen, hashed(files or []) + extra, class_names=class_names,
                                   cache=upload_cache(), normalize=normalize, choices=choices)
else:
    target = scenario[1]
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    with c1:
        k = st.slider("How many samples", 4, 64, 16, step=4, key="predict_k")
    with c2:
        if st.button("Draw other samples", icon=":material/shuffle:"):
            st.session_state["predict_round"] = st.session_state.get("predict_round", 0) + 1
    try:
        domain = widgets.test_split(target, chosen[ADAPTED].input_size)
    except Exception as e:  # noqa: BLE001
        st.error(f"Could not load the {labels.domain_label(target)} test set: {e}")
        st.stop()
    idx = sample_indices(len(domain), k, state.seed() * 1000 + st.session_state.get("predict_round", 0))
    rows = predict_batch(chosen, domain.images[idx], [f"{target} test #{i}" for i in idx],
                         labels=domain.labels[idx].tolist(), class_names=class_names)
elapsed_ms = 1000 * (time.perf_counter() - started)

for name, message in list(errors.items())[:MAX_WARNINGS]:
    st.warning(f"{widgets.code(name)} could not be read: {message}", icon=":material/broken_image:")
if len(errors) > MAX_WARNINGS:
    st.warning(f"{len(errors) - MAX_WARNINGS} more files could not be read either (the first "
               f"{MAX_WARNINGS} are named above).", icon=":material/broken_image:")
if not rows:
    st.info("None of the pictures could be read; see the messages above.")
    st.stop()

summary = summarize(rows, names)
m1, m2, m3, m4 = st.columns(4)
m1.metric("Pictures", f"{summary['n']}", help=f"Predicted in {elapsed_ms:.0f} ms on the CPU.")
if len(names) > 1:
    m2.metric("Models agree", widgets.pct(summary["agreement"], 0),
              help=f"Share of pictures where {', '.join(titles[m] for m in names)} give the same top answer.")
if summary["labelled"]:
    so, ad = summary["accuracy"][SOURCE_ONLY], summary["accuracy"][ADAPTED]
    m3.metric("Source-only accuracy", widgets.pct(so, 0))
    m4.metric("Adapted accuracy", widgets.pct(ad, 0), delta=f"{ad - so:+.0f} pts")
elif len(names) > 1:
    m3.metric("Disagreements", f"{sum(not r['agree'] for r in rows)}")

frame = rows_to_frame(rows, names)
st.download_button("Download predictions (CSV)", frame.to_csv(index=False).encode("utf-8"),
                   file_name=f"shiftlab-predictions-{scenario[0]}-{scenario[1]}.csv", mime="text/csv",
                   icon=":material/download:", on_click="ignore", key="predict_csv")
st.caption(f"Predicted in {elapsed_ms:.0f} ms. Pictures are shown as the first model sees them"
           + (" (centred like MNIST)." if normalize == "centre" else "."))
if normalize == "auto" and choices:
    st.caption(inputs.auto_reading_sentence({titles[m]: c.normalize for m, c in choices.items()}))
    with st.expander("How each model's reading was chosen"):
        st.caption("; ".join(f"**{titles[m]}**: {c.reason}" for m, c in choices.items()) + ".")
if uploading:  # each model's accuracy on these pictures, estimated without labels
    estimate.show_estimates({m: (chosen[m], cards[m], refs[m], titles[m]) for m in names}, rows)


def side_by_side() -> None:
    only_disagreements = st.toggle("Show only disagreements", key="predict_only_disagree", disabled=len(names) < 2)
    shown = [r for r in rows if not r["agree"]] if only_disagreements else rows
    if not shown:
        st.caption("The models agree on every picture.")
    widgets.prediction_grid(shown, names, titles, per_row=3 if len(names) < 3 else 2)
    with st.expander("All predictions as a table"):
        st.dataframe(frame, hide_index=True)


if not uploading:
    side_by_side()
    st.stop()

compare_tab, adapt_tab = st.tabs(["Models side by side", "Adapt to these pictures"])
with compare_tab:
    side_by_side()
with adapt_tab:
    scenario_models = {ADAPTED: f"{titles.get(ADAPTED)} model of {labels.scenario_label(scenario)}",
                       SOURCE_ONLY: f"Source-only model of {labels.scenario_label(scenario)}"}
    candidates = {m: {"model": chosen[m], "card": cards[m], "ref": refs[m],
                      "label": universal_model.universal_label(cards[m]) if m == UNIVERSAL else scenario_models[m]}
                  for m in (UNIVERSAL, ADAPTED, SOURCE_ONLY) if m in chosen}
    read = {m: (choices[m].normalize if m in choices else normalize) for m in candidates}
    adapt.adapt_panel(candidates, rows, skipped=list(errors), normalize=read, seed=state.seed())
