"""Compare page blocks for label-free model selection (issue 11) and leave-one-domain-out (issue 12),
drawn from the zoo's leaderboard; each block says so in one line when its key is missing.

Leaderboard keys read here (per scenario key "mnist->mnistm"; accuracies in %):

- ``recommended[scenario] = {method, validator, score, target_acc_mean, source_only_acc_mean}``:
  chosen by a label-free validator;
- ``best_in_hindsight[scenario] = {method, target_acc_mean}``: chosen with target labels (reference);
- ``selection[scenario] = {validator, spearman, points: [{method, seed, score, target_acc,
  scores: {validator: value}}]}``: every candidate's validator score and true target accuracy;
- ``lodo = {steps, seeds, how, domains, methods: {method: {held_out_domain: acc, mean, source}}}``.

The rank correlation shown is Spearman's ρ between the chosen validator's scores and the true
target accuracies over the scenario's points (:func:`core.util.stats.spearman`), recomputed for
whichever validator the user picks.
"""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from . import labels

INFO = ":material/info:"


def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _pct(v) -> str:
    v = _num(v)
    return "—" if v is None else f"{v:.1f} %"


def _scenario_label(key: str) -> str:
    return labels.scenario_label(key)


def _validator_label(name: str | None) -> str:
    """A validator's declared label from core.validators' registry, else its name."""
    if not name:
        return "—"
    try:
        from core.validators import VALIDATORS

        cls = VALIDATORS.get(name)
        label = getattr(cls, "label", None)
        return label if isinstance(label, str) and label else name
    except Exception:  # noqa: BLE001 - a registry with another shape: the name will do
        return name


# ------------------------------------------------------------------ recommended vs hindsight

RECOMMENDED = "recommended (no target labels)"
HINDSIGHT = "best in hindsight (chosen with target labels, for reference only)"


def selection_rows(board: dict) -> list[dict]:
    """One row per scenario with a label-free recommendation: the two choices (method: target accuracy)
    and the selection gap (hindsight − recommended, points)."""
    rec, hind = board.get("recommended") or {}, board.get("best_in_hindsight") or {}
    rows = []
    for key in sorted(set(rec) | set(hind)):
        r, h = rec.get(key) or {}, hind.get(key) or {}
        r_acc, h_acc = _num(r.get("target_acc_mean")), _num(h.get("target_acc_mean"))
        so = _num(r.get("source_only_acc_mean"))
        rec_text = "—"
        if r.get("method"):
            rec_text = f"{labels.method_label(r['method'])}: {_pct(r_acc)}"
            agree = _num(r.get("seed_agreement"))
            extra = [f"{r_acc - so:+.1f} pts vs source only" if r_acc is not None and so is not None else None,
                     f"by {_validator_label(r.get('validator'))}" if r.get("validator") else None,
                     f"its seeds agree on {100 * agree:.0f} % of the pictures" if agree is not None else None]
            if any(extra):
                rec_text += f" ({', '.join(e for e in extra if e)})"
        rows.append({
            "scenario": _scenario_label(key),
            RECOMMENDED: rec_text,
            HINDSIGHT: f"{labels.method_label(h['method'])}: {_pct(h_acc)}" if h.get("method") else "—",
            "selection gap": "—" if r_acc is None or h_acc is None else f"{h_acc - r_acc:.1f} pts",
        })
    return rows


def _margin_points(board: dict) -> str:
    """The seed-agreement margin the leaderboard's choice used, in percentage points."""
    from core.selection import AGREEMENT_MARGIN

    margins = {r.get("agreement_margin") for r in (board.get("recommended") or {}).values() if isinstance(r, dict)}
    margins.discard(None)
    return f"{100 * (margins.pop() if len(margins) == 1 else AGREEMENT_MARGIN):g}"


def recommended_table(board: dict) -> None:
    rows = selection_rows(board)
    if not rows:
        st.info("This leaderboard has no label-free recommendation yet (rebuild the zoo: "
                "`python -m core zoo rebuild`).", icon=INFO)
        return
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption("**Recommended**: the model a label-free validator scores best, using only unlabelled target "
               "pictures — what you would get on your own data. Where the candidates were trained on several "
               "seeds, only those whose seeds give the same answer about as often as the steadiest one's "
               f"(within {_margin_points(board)} points) are ranked: a recipe whose seeds disagree is often far "
               "off on one of them. "
               "**Best in hindsight**: the method with the best "
               "target test accuracy, which needs the target labels adaptation exists to do without; it is shown "
               "for reference only. The *selection gap* is what choosing without labels costs. Target test "
               "accuracy, mean over seeds.")


def gap_rows(board: dict) -> list[dict]:
    """One row per validator: on each scenario the method it would have chosen (label-free) and what
    following it costs against the best in hindsight (``selection[scenario].gap_by_validator``)."""
    selection = board.get("selection") or {}
    keys = [k for k, v in selection.items() if isinstance(v, dict) and v.get("gap_by_validator")]
    names: list[str] = []
    for k in keys:
        names += [v for v in selection[k]["gap_by_validator"] if v not in names]
    rows = []
    for v in names:
        row = {"validator": _validator_label(v) + (" (default)" if any(
            ((board.get("recommended") or {}).get(k) or {}).get("validator") == v for k in keys) else "")}
        gaps = []
        for k in keys:
            g = selection[k]["gap_by_validator"].get(v)
            row[_scenario_label(k)] = "—" if not g else (f"{labels.method_label(g['method'])} "
                                                        f"({_pct(g.get('target_acc_mean'))}, gap {g['gap']:.1f})")
            if g and _num(g.get("gap")) is not None:
                gaps.append(g["gap"])
        row["worst gap (pts)"] = max(gaps) if gaps else None
        rows.append(row)
    return rows


def gap_table(board: dict) -> None:
    """Every validator's choice and selection gap on every scenario of the zoo."""
    rows = gap_rows(board)
    if not rows:
        st.info("This leaderboard has no per-validator selection gaps yet (rebuild the zoo: "
                "`python -m core zoo rebuild`).", icon=INFO)
        return
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption("What each label-free validator would have recommended on each scenario on its own (the seeds' "
               "agreement not read), and the *selection gap*: "
               "the best method's mean target test accuracy minus the chosen one's (0 is a perfect choice). "
               "Pool-aware validators (EnsV, MixVal) score each candidate among the others. Which validator is "
               "the default was decided by the lowest worst-case gap (docs/validators.md).")


# ------------------------------------------------------------------ validator vs accuracy

def validators_in(entry: dict) -> list[str]:
    """The validators whose scores the scenario's points carry: the chosen one first."""
    main = entry.get("validator")
    names = [main] if main else []
    for p in entry.get("points") or []:
        for name in (p.get("scores") or {}):
            if name not in names:
                names.append(name)
    return names


def points_frame(entry: dict, validator: str) -> pd.DataFrame:
    """Columns method, label, seed, score, target_acc for ``validator``; points without both dropped."""
    rows = []
    for p in entry.get("points") or []:
        scores = p.get("scores") or {}
        score = scores.get(validator)
        if score is None and validator == entry.get("validator"):
            score = p.get("score")
        score, acc = _num(score), _num(p.get("target_acc"))
        if score is None or acc is None:
            continue
        rows.append({"method": p.get("method", "?"), "label": labels.method_label(str(p.get("method", "?"))),
                     "seed": p.get("seed"), "score": score, "target_acc": acc})
    return pd.DataFrame(rows, columns=["method", "label", "seed", "score", "target_acc"])


def scatter(frame: pd.DataFrame, validator: str, rho: float | None, baseline: float | None = None):
    """Altair: validator score (x) vs true target accuracy (y), one colour per method."""
    import altair as alt

    rho_text = "n/a" if rho is None else f"{rho:.2f}"
    title = f"{_validator_label(validator)} vs target accuracy — Spearman ρ = {rho_text}"
    points = alt.Chart(frame).mark_circle(size=90, opacity=0.85).encode(
        x=alt.X("score:Q", title=f"{_validator_label(validator)} (label-free score, higher is better)",
                scale=alt.Scale(zero=False, padding=12)),
        y=alt.Y("target_acc:Q", title="target test accuracy (%)", scale=alt.Scale(zero=False, padding=12)),
        color=alt.Color("label:N", title="method", scale=alt.Scale(scheme="tableau10")),
        tooltip=[alt.Tooltip("label:N", title="method"), "seed:N",
                 alt.Tooltip("score:Q", format=".4g"),
                 alt.Tooltip("target_acc:Q", title="target acc. (%)", format=".1f")],
    )
    chart = points
    if baseline is not None:
        rule = alt.Chart(pd.DataFrame({"y": [baseline]})).mark_rule(strokeDash=[4, 4], color="gray").encode(y="y:Q")
        chart = points + rule
    return chart.properties(title=title, height=360)


def selection_scatter(board: dict, scenario_key: str) -> None:
    """The scatter of one scenario (the sidebar's when it has points, else a picker over those that do)."""
    from core.util.stats import spearman

    selection = board.get("selection") or {}
    keys = [k for k, v in selection.items() if isinstance(v, dict) and v.get("points")]
    if not keys:
        st.info("This leaderboard has no validator scores per candidate yet, so there is no score-vs-accuracy "
                "plot (rebuild the zoo: `python -m core zoo rebuild`).", icon=INFO)
        return
    if st.session_state.get("compare_sel_scenario") not in keys:
        st.session_state["compare_sel_scenario"] = scenario_key if scenario_key in keys else keys[0]
    c1, c2 = st.columns(2)
    with c1:
        key = st.selectbox("Scenario", keys, key="compare_sel_scenario", format_func=_scenario_label)
    entry = selection[key]
    names = validators_in(entry)
    with c2:
        if len(names) > 1:
            if st.session_state.get("compare_validator") not in names:
                st.session_state["compare_validator"] = names[0]
            validator = st.selectbox("Validator", names, key="compare_validator", format_func=_validator_label,
                                     help="Every point carries several label-free scores: pick one to see how well "
                                          "it tracks the true accuracy. The zoo's recommendation uses the first.")
        else:
            validator = names[0] if names else "score"
            st.caption(f"Validator: **{_validator_label(validator)}**")
    frame = points_frame(entry, validator)
    if frame.empty:
        st.info(f"No point of {_scenario_label(key)} has a {_validator_label(validator)} score.", icon=INFO)
        return
    rho = spearman(frame["score"].tolist(), frame["target_acc"].tolist())
    baseline = _num(((board.get("recommended") or {}).get(key) or {}).get("source_only_acc_mean"))
    st.altair_chart(scatter(frame, validator, rho, baseline), key="compare_selection_scatter")
    rho_text = "not defined (fewer than 3 points, or a constant)" if rho is None else f"**{rho:.2f}**"
    st.caption(f"Spearman rank correlation between {_validator_label(validator)} and true target accuracy over "
               f"{len(frame)} trained candidates of {_scenario_label(key)}: ρ = {rho_text}. 1 means the validator "
               "ranks the models exactly as their accuracy does, 0 that it cannot tell them apart. Each point is "
               "one method and seed; the accuracy uses target test labels and only grades the validator"
               + (", the dashed line is the source-only model." if baseline is not None else "."))


# ------------------------------------------------------------------ leave one domain out

def lodo_frame(lodo: dict) -> pd.DataFrame:
    """Rows: methods (registry labels, registry order); columns: held-out domains, mean, on sources."""
    from core.methods import ordered

    domains = list(lodo.get("domains") or [])
    methods = lodo.get("methods") or {}
    order = ordered()
    names = sorted(methods, key=lambda m: (order.index(m) if m in order else len(order), m))
    table = {}
    for m in names:
        accs = methods[m] or {}
        row = {labels.domain_label(d): _num(accs.get(d)) for d in domains}
        row["mean"] = _num(accs.get("mean"))
        if any("source" in (methods[x] or {}) for x in names):
            row["on its training domains"] = _num(accs.get("source"))
        table[labels.method_label(m)] = row
    return pd.DataFrame.from_dict(table, orient="index")


def lodo_table(board: dict) -> None:
    lodo = board.get("lodo")
    if not isinstance(lodo, dict) or not lodo.get("methods"):
        st.info("This leaderboard has no leave-one-domain-out results yet.", icon=INFO)
        return
    frame = lodo_frame(lodo)
    st.dataframe(frame.style.format("{:.1f}", na_rep="—"), width="stretch")
    seeds = lodo.get("seeds") or []
    n_seeds = len(seeds) if isinstance(seeds, list) else seeds
    bits = [f"{lodo['steps']:,} steps" if isinstance(lodo.get("steps"), int) else None,
            f"{n_seeds} seed(s)" if n_seeds else None]
    st.caption("Leave one domain out: each column trains on every other domain and tests on the one held out, "
               "which it never saw, not even unlabelled — domain generalisation. Test accuracy (%)"
               + (f", {', '.join(b for b in bits if b)}" if any(bits) else "") + "."
               + (f" How: {lodo['how']}" if isinstance(lodo.get("how"), str) else ""))
