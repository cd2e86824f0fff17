"""Compare: the leaderboard, then two models of one scenario class by class."""

import pandas as pd
import streamlit as st

from ui import labels, models, selection, shell, state, widgets

shell.page_shell()  # shared setup when Streamlit runs this file on its own (see ui/state.py)

scenario = state.scenario()
st.title("Compare")

# ------------------------------------------------------------------------------- leaderboard
st.subheader("Leaderboard")
board = models.leaderboard()
scen_board = board.get("scenarios") or {}
published = board.get("published") or {}

if not scen_board:
    st.info(labels.ZOO_MISSING, icon=":material/info:")
else:
    from core.methods import ordered

    recommended = board.get("recommended") or {}
    # The recommendation of each scenario first, above the table: seen without scrolling.
    picks = [(k, r) for k, r in recommended.items() if k in scen_board and (r or {}).get("method")]
    if picks:
        for col, (skey, r) in zip(st.columns(len(picks)), picks):
            mean, so = r.get("target_acc_mean"), r.get("source_only_acc_mean")
            col.metric(f"✓ {labels.scenario_label(skey)}: {labels.method_label(r['method'])}",
                       "—" if mean is None else f"{mean:.1f} %",
                       delta=None if mean is None or so is None else f"{mean - so:+.1f} pts vs source only",
                       help="The model recommended without target labels (a label-free validator chose it), "
                            "mean target test accuracy over seeds.")
    method_order = ordered()
    not_built = (board.get("not_built") or {}).get("cells") or {}
    methods = sorted({m for s in scen_board.values() for m in s} | {m for ms in not_built.values() for m in ms},
                     key=lambda m: (method_order.index(m) if m in method_order else 99, m))
    table = {}
    for skey, entries in scen_board.items():
        col = labels.scenario_label(skey)
        for m in methods:
            e = entries.get(m) or {}
            mean, std = e.get("mean"), e.get("std")
            text = ("not built" if m in not_built.get(skey, []) else "—") if mean is None else (
                f"{mean:.1f} ± {std:.1f}" if std else f"{mean:.1f}")
            if m == (recommended.get(skey) or {}).get("method"):
                text += "  ✓ recommended"
            paper = ((published.get(skey) or {}).get("results") or {}).get(m)
            if paper is not None:
                text += f"  (paper {paper:.1f})"
            table.setdefault(labels.method_label(m), {})[col] = text
    frame = pd.DataFrame.from_dict(table, orient="index")
    # Every row shown at once (35 px a row plus the header): no ✓ hides in a scroll box.
    st.dataframe(frame, width="stretch", height=35 * (len(frame) + 1) + 3)
    seeds = board.get("seeds") or []
    st.caption(f"Target test accuracy (%), mean ± std over {len(seeds) or '?'} seed(s)"
               + ("; ✓ marks the model recommended without target labels" if recommended else "")
               + (f"; in brackets the published number for the same scenario and method. {board.get('published_note', '')}"
                  if published else "."))
    if not_built:
        st.caption(f"**not built**: {board['not_built'].get('why', '')}")
    failed = (board.get("build") or {}).get("failed") or {}
    if failed:
        st.caption("**runs that failed** (not counted in their cells): " + "; ".join(
            f"{labels.scenario_label(skey)}, {labels.method_label(m)} seed {f['seed']}: {f['error']}"
            for skey, by_method in failed.items() for m, fails in by_method.items() for f in fails))
    if board.get("tiny"):
        st.warning("This leaderboard comes from a tiny smoke-test zoo (a few steps per model): "
                   "its numbers mean nothing.", icon=":material/science:")

if published:
    with st.expander("Published reference results"):
        rows = []
        for skey, info in published.items():
            for m, v in (info.get("results") or {}).items():
                rows.append({"scenario": info.get("label", skey), "method": labels.method_label(m),
                             "target accuracy (%)": v, "source": info.get("citation", "")})
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

# ------------------------------------------------------------------------------- label-free selection
if scen_board or any(board.get(k) for k in ("recommended", "best_in_hindsight", "selection", "lodo")):
    st.divider()
    st.subheader("Choosing a model without target labels")
    selection.recommended_table(board)
    st.markdown("##### What each validator would have chosen")
    selection.gap_table(board)
    st.markdown("##### Does the validator's score track the true accuracy?")
    selection.selection_scatter(board, labels.scenario_key(scenario))
    st.subheader("Domains never seen: leave one domain out")
    selection.lodo_table(board)

# ------------------------------------------------------------------------------- one scenario
st.divider()
st.subheader(f"Class by class: {labels.scenario_label(scenario)}")
baseline = models.baseline_ref(scenario)
c1, c2 = st.columns(2)
with c1:
    if baseline:
        models.show_fixed("Source-only model", baseline)
with c2:
    adapted = models.pick_adapted(scenario, key="compare_adapted")
    if adapted and models.recommended_ref(adapted) and any(models.is_session(r) for r in models.adapted_refs(scenario)):
        st.caption("Your trained models are in this list too; the recommended model stays until you pick another.")
    if adapted:  # what a user without labels would be told, beside the measured accuracy below
        from ui import estimate

        st.caption(estimate.recommended_estimate_line(adapted, scenario[1]))
if baseline is None and adapted is None:
    st.info(f"No models for this scenario yet. {labels.ZOO_MISSING}", icon=":material/info:")
    st.stop()


@st.cache_data(show_spinner="Evaluating on the target test set…", max_entries=64)
def _report(ref_key: str, _model, target: str):
    from core.evaluation import model_report

    return model_report(_model, widgets.test_split(target, int(_model.input_size)))


reports = {}
for role, ref in (("Source only", baseline), ("Adapted", adapted)):
    if ref is None:
        continue
    try:
        model, _ = models.load(ref)
        reports[role] = _report(ref + "|" + models.zoo_signature(), model, scenario[1])
    except Exception as e:  # noqa: BLE001
        st.warning(f"Could not evaluate {models.label(ref)}: {e}")
if not reports:
    st.stop()

names = list(reports)
short = {n: n if n == "Source only" else f"Adapted ({labels.method_label(models.method_of(adapted))})" for n in names}
cols = st.columns(len(names) * 2)
for i, n in enumerate(names):
    r = reports[n]
    base_acc = reports[names[0]]["accuracy"]
    cols[2 * i].metric(f"{short[n]}: accuracy", widgets.pct(r["accuracy"]),
                       delta=widgets.delta(r["accuracy"] - base_acc, "+.1f", " pts") if i else None)
    cols[2 * i + 1].metric(f"{short[n]}: ECE", widgets.pct(r["ece"]),
                           delta=widgets.delta(r["ece"] - reports[names[0]]["ece"], "+.1f", " pts") if i else None,
                           delta_color="inverse",
                           help="Expected calibration error: the average gap between confidence and accuracy "
                                "(15 bins). Lower is better.")

class_names = reports[names[0]]["class_names"]
st.plotly_chart(widgets.per_class_figure(class_names, {short[n]: list(reports[n]["per_class"]) for n in names}),
                key="compare_per_class")

heat_cols = st.columns(len(names))
for col, n in zip(heat_cols, names):
    with col:
        st.plotly_chart(widgets.confusion_figure(reports[n]["confusion"], class_names, f"Confusion — {short[n]}"),
                        key=f"compare_confusion_{n}")

st.plotly_chart(widgets.reliability_figure({short[n]: reports[n]["reliability"] for n in names}),
                key="compare_reliability")
st.caption("A well-calibrated model is right 80 % of the time when it says 80 %: its line follows the diagonal. "
           "Under a domain shift models are usually over-confident (below the diagonal). "
           f"Evaluated on all {reports[names[0]]['n']:,} target test pictures.")
