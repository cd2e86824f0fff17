"""Overview: what a domain gap is, shown on the chosen scenario, and where to go next."""

import streamlit as st

from ui import labels, models, shell, state, widgets

shell.page_shell()  # shared setup when Streamlit runs this file on its own (see ui/state.py)

scenario = state.scenario()
source, target = scenario
src_name, tgt_name = labels.domain_label(source), labels.domain_label(target)

st.title("ShiftLab")
st.markdown("##### Models that still work when the pictures change")

st.markdown(
    f"A model trained on one kind of picture — the **source** domain, here *{src_name}* — often "
    f"fails on pictures that look different — the **target** domain, here *{tgt_name}* — even "
    "when they show the same things. That drop is the **domain gap**. *Domain adaptation* trains "
    "with the labelled source pictures **plus unlabelled target pictures**, and learns features "
    "that do not care which domain a picture came from, so what was learned on the source carries over."
)

try:
    from core.data import describe_domains

    descriptions = describe_domains()
except Exception:  # noqa: BLE001
    descriptions = {}

left, right = st.columns(2, gap="large")
for col, name, role in ((left, source, "Source"), (right, target, "Target")):
    with col:
        st.subheader(f"{role}: {labels.domain_label(name)}")
        st.caption(descriptions.get(name, "")
                   + (" — labelled; what the model learns from." if role == "Source"
                      else " — labels are not used for training; where the model must work."))
        try:
            widgets.gallery(widgets.test_split(name), k=16, seed=state.seed())
        except Exception as e:  # noqa: BLE001 - e.g. a downloadable domain while offline
            st.warning(f"Could not load {labels.domain_label(name)}: {e}")

st.caption("16 random pictures from each test split (change the seed in the sidebar for others); "
           "the number under each is its label.")

st.divider()
st.subheader(f"How big is the gap? {labels.scenario_label(scenario)}")
board = models.leaderboard()
key = labels.scenario_key(scenario)
ours = (board.get("scenarios") or {}).get(key) or {}
paper = ((board.get("published") or {}).get(key) or {})
paper_results = paper.get("results") or {}


def _mean(method):
    entry = ours.get(method) or {}
    return entry.get("mean"), entry.get("std")


def _fmt(mean, std):
    if mean is None:
        return "—"
    return f"{mean:.1f} %" + (f" ± {std:.1f}" if std else "")


def _shipped_line(method, n_seeds) -> str | None:
    """One line: the figure above is the mean over seeds; the pretrained model the other pages use is
    one seed of it, with that seed's own accuracy (its model card's)."""
    names = models.zoo_names(scenario, [method]) if method else []
    if not names:
        return None
    card = models.zoo_card(names[0]) or {}
    acc, seed = (card.get("metrics") or {}).get("target_acc"), card.get("seed")
    mean = (ours.get(method) or {}).get("mean")
    if not isinstance(acc, (int, float)) or mean is None:
        return None
    over = f"the mean over {n_seeds} seeds" if n_seeds and n_seeds > 1 else "the leaderboard's"
    one = f"seed {seed}" if seed is not None else "one seed"
    return (f"{labels.method_label(method)}: {mean:.1f} % is {over}; the pretrained model that Predict, Compare "
            f"and the other pages use is {one} of them, at **{acc:.1f} %** — shown there as "
            f"\"{models.label(models.ref_for_zoo(names[0]))}\".")


from core.methods import METHODS, by_family  # noqa: E402

BASELINE = next(iter(by_family("baseline")), None)
UPPER = next(iter(by_family("upper_bound")), None)
recommended = ((board.get("recommended") or {}).get(key) or {}).get("method")
adapted = {m: e for m, e in ours.items() if m in METHODS and METHODS[m].is_adapted() and e.get("mean") is not None}
if recommended in ours:
    best, best_tag = recommended, "recommended (no target labels)"
    best_how = "recommended without target labels (a label-free validator chose it)"
else:  # an older leaderboard without a label-free choice
    best = max(adapted, key=lambda m: adapted[m]["mean"]) if adapted else None
    best_tag = "best in hindsight (chosen with target labels, for reference only)"
    best_how = "the best in hindsight: chosen with target labels, for reference only"
so_mean, so_std = _mean(BASELINE)
or_mean, or_std = _mean(UPPER)

if not ours:
    st.info(labels.ZOO_MISSING, icon=":material/info:")
else:
    so_src = (ours.get(BASELINE) or {}).get("source_mean")
    c0, c1, c2, c3 = st.columns(4)
    c0.metric(f"Source only, on {src_name}", _fmt(so_src, (ours.get(BASELINE) or {}).get("source_std")),
              help="The source-only model on test pictures of its own domain: what it can do.")
    c1.metric(f"Source only, on {tgt_name}", _fmt(so_mean, so_std),
              delta=f"{so_mean - so_src:+.1f} pts: the gap" if so_mean is not None and so_src is not None else None,
              help="The same model on the target domain: the gap, untreated.")
    if best:
        b_mean, b_std = _mean(best)
        delta = f"{b_mean - so_mean:+.1f} pts" if so_mean is not None else None
        if best == BASELINE:  # the validator found no adapted model better than the source-only one
            c2.metric(f"Recommended ({labels.method_label(best)})", _fmt(b_mean, b_std),
                      help="No adaptation method scored above the source-only model by a label-free validator "
                           "with seeds that answer alike on this scenario, so it recommends not adapting.")
        else:
            c2.metric(f"Adapted ({labels.method_label(best)})", _fmt(b_mean, b_std), delta=delta,
                      help=f"An unsupervised adaptation method trained without target labels; {best_how}.")
        c2.caption(best_tag)
    else:
        c2.metric("Adapted", "—")
    c3.metric("Train on target (oracle)", _fmt(or_mean, or_std),
              help="Trained on labelled target pictures: the ceiling adaptation aims for.")
    n_seeds = len(board.get("seeds") or []) or None
    st.caption("Test accuracy" + (f", mean ± std over {n_seeds} seeds" if n_seeds and n_seeds > 1 else "")
               + ". Every method and scenario: **Compare**.")
    shipped = _shipped_line(best, n_seeds)
    if shipped:
        st.caption(shipped)
if paper_results:
    pub = " · ".join(f"{labels.method_label(m)} {v:.1f} %" for m, v in paper_results.items())
    st.caption(f"Published for {paper.get('label', key)}: {pub} — {paper.get('citation', '')}. "
               f"{board.get('published_note', '')}")

st.divider()
st.subheader("Where next")
NEXT = [
    ("pages/predict.py", "Predict", ":material/image_search:",
     "Upload your own pictures; see source-only and adapted predictions side by side."),
    ("pages/train.py", "Train", ":material/model_training:",
     "Train a method yourself in under a minute and watch it learn."),
    ("pages/alignment.py", "Alignment", ":material/scatter_plot:",
     "Watch the two domains' features line up after adaptation."),
    ("pages/translate.py", "Translate", ":material/palette:",
     "See a pixel-level GAN redraw source digits in the target's style."),
    ("pages/compare.py", "Compare", ":material/leaderboard:",
     "Leaderboard, per-class accuracy, confusion and calibration."),
    ("pages/distill.py", "Distill", ":material/compress:",
     "Shrink an adapted model: teacher vs student in size, speed and accuracy."),
]
for col, (path, title, icon, text) in zip(st.columns(len(NEXT)), NEXT):
    with col, st.container(border=True, height="stretch"):
        st.page_link(path, label=title, icon=icon)
        st.caption(text)
