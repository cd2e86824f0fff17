"""Alignment: source and target features in 2-D, before and after adaptation."""

import streamlit as st

from ui import labels, models, shell, state, widgets

shell.page_shell()  # shared setup when Streamlit runs this file on its own (see ui/state.py)

scenario = state.scenario()
source, target = scenario
st.title("Alignment")
st.caption(
    f"Each dot is a test picture of {labels.domain_label(source)} (circles) or {labels.domain_label(target)} "
    "(diamonds), placed by the model's features (a joint UMAP of both domains). A source-only model keeps "
    "the domains apart; adaptation should mix them while keeping the classes apart. Click a dot to see its picture.")

baseline = models.baseline_ref(scenario)
c1, c2, c3 = st.columns([2, 2, 1.2], vertical_alignment="bottom")
with c1:
    if baseline:
        models.show_fixed("Source-only model", baseline)
with c2:
    adapted = models.pick_adapted(scenario, key="align_adapted")
with c3:
    colour_by = st.radio("Colour by", ["domain", "class"], horizontal=True, key="align_colour",
                         format_func=str.capitalize)

if baseline is None and adapted is None:
    st.info(labels.ZOO_MISSING, icon=":material/info:")
    st.stop()

if any(ref and models.is_session(ref) for ref in (baseline, adapted)):
    st.radio("Map for your own models", ["umap", "pca"], horizontal=True, key="align_projection",
             format_func={"umap": "UMAP (truer neighbourhoods, ~10–30 s once)", "pca": "PCA (instant)"}.get,
             help="Pretrained models come with a precomputed map; maps of the models you trained are "
                  "computed here once and then kept.")


@st.cache_resource(show_spinner=False, max_entries=16)
def _session_alignment(model_id: str, _model, source: str, target: str, method: str):
    from core.evaluation.embedding import compute_alignment

    size = int(_model.input_size)
    return compute_alignment(_model, widgets.test_split(source, size), widgets.test_split(target, size),
                             n_per_domain=500, method=method, seed=0)


def alignment_for(ref: str):
    """The precomputed map of a zoo model, or one computed (and cached) for a session model."""
    if not models.is_session(ref):
        return models.zoo_alignment(ref[len(models.ZOO):])
    entry = models.session_entry(ref)
    if entry is None:
        raise ValueError("that model you trained is gone (the page was reloaded?); train it again")
    projection = st.session_state.get("align_projection", "umap")
    what = "UMAP of 1,000 pictures, ~10–30 s the first time" if projection == "umap" else "PCA"
    with st.spinner(f"Computing the feature map of {entry.label} ({what})…"):
        return _session_alignment(entry.id, entry.model, entry.source, entry.target, projection)


maps = {}
for role, ref in (("Source only", baseline), ("Adapted", adapted)):
    if ref is None:
        continue
    try:
        maps[role] = (ref, alignment_for(ref))
    except Exception as e:  # noqa: BLE001 - e.g. a zoo without precomputed maps
        st.warning(f"No feature map for {models.label(ref)}: {e}")

if not maps:
    st.stop()

base_stats = maps.get("Source only", (None, None))[1]
cols = st.columns(len(maps), gap="large")
selected = None
for col, (role, (ref, amap)) in zip(cols, maps.items()):
    with col:
        st.markdown(f"**{role}** · {models.label(ref)}")
        fig = widgets.alignment_figure(amap, colour_by, source, target)
        event = st.plotly_chart(fig, key=f"align_chart_{role}", on_select="rerun", selection_mode="points",
                                config={"displayModeBar": False, "scrollZoom": True})
        points = (event or {}).get("selection", {}).get("points", []) if event else []
        if points and points[0].get("customdata") is not None:
            selected = (role, points[0]["customdata"])
        m1, m2 = st.columns(2)
        is_adapted = role == "Adapted" and base_stats is not None
        m1.metric("Proxy A-distance", f"{amap.proxy_a_distance:.2f}",
                  delta=widgets.delta(amap.proxy_a_distance - base_stats.proxy_a_distance) if is_adapted else None,
                  delta_color="inverse",
                  help="2(1 − 2ε), ε the error of a linear classifier telling the domains apart from the "
                       "features: 0 = indistinguishable, 2 = fully separable. Lower is better aligned.")
        m2.metric("MMD²", f"{amap.mmd:.3f}",
                  delta=widgets.delta(amap.mmd - base_stats.mmd, "+.3f") if is_adapted else None, delta_color="inverse",
                  help="Maximum mean discrepancy between the source and target features (multi-kernel). "
                       "Lower is better aligned.")

st.divider()
if selected is None:
    st.caption("Click a dot in either map to see the picture behind it.")
else:
    role, (dom, index, _) = selected
    name = source if int(dom) == 0 else target
    try:
        domain = widgets.test_split(name)
        index = int(index)
        img_col, text_col = st.columns([1, 4], vertical_alignment="center")
        with img_col:
            from ui.images import upscale_nearest

            st.image(upscale_nearest(domain.images[index], 5), width=140)
        with text_col:
            label = domain.classes[int(domain.labels[index])]
            st.markdown(f"**{labels.domain_label(name)}** test picture #{index} · label **{label}** "
                        f"(clicked in the {role.lower()} map)")
    except Exception as e:  # noqa: BLE001
        st.warning(f"Could not show that picture: {e}")
