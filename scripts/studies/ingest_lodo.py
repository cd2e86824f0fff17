"""How pictures are read by default (``--normalize auto``) and when test-time adaptation is kept:
both chosen on the leave-one-domain-out models, with rules declared before the numbers came in.

Every model saved by ``scripts/studies/lodo.py --save-dir DIR`` was trained on three embedded
domains; the fourth (held out) stands in for "pictures from elsewhere". No unseen fixture domain and
no user picture is looked at here: they are the check afterwards (docs/your-pictures.md).

1. **Ingest criterion.** For each held-out domain and draws of N unlabelled train pictures, each
   label-free criterion of :data:`core.inference.normalize.CRITERIA` picks "none" or "centre";
   its *loss* is the test accuracy of the better variant minus that of the pick.
   Declared rule: the default is the criterion with the lowest worst-case loss over the folds
   (ties: the lower mean loss, then the order of CRITERIA).
2. **TTA guard.** For each held-out domain, each variant, each TTA method, N ∈ {8, 32, 100, 500}
   and draws: the model adapted with every guard off, its test accuracy before and after, and the
   label-free statistics :func:`core.tta.guard.judge` reads. Each candidate rule (the guard as it
   was, plus the IM rule at tolerances 0, 0.02, 0.05, 0.1) keeps or adapts; its *harm* on a case
   is min(0, realised − before). Declared rule: the default is the rule with the smallest
   worst-case harm averaged over draws (ties: the larger mean gain, then the looser rule).

    python scripts/studies/lodo.py --methods dg_randomize --save-dir runs/lodo-models   # first
    python scripts/studies/ingest_lodo.py --models runs/lodo-models --out docs/benchmarks/ingest-lodo.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

SIZES = (8, 32, 100, 500)
RULES = {"entropy and collapse (before)": None, "+ IM, tolerance 0": 0.0, "+ IM, tolerance 0.02": 0.02,
         "+ IM, tolerance 0.05": 0.05, "+ IM, tolerance 0.1": 0.1}
OFF = {"max_share_jump": float("inf"), "entropy_tolerance": float("inf"), "im_tolerance": None}


def _acc(model, x, y) -> float:
    from core.evaluation import accuracy, predict_logits

    return accuracy(predict_logits(model, x), y)


def measure(models: Path, draws: int, sizes=SIZES) -> dict:
    from core import checkpoints
    from core.evaluation import predict_logits
    from core.inference.normalize import CRITERIA, VARIANTS
    from core.tta import ordered
    from core.tta.guard import adapt
    from core.tta.domain import load_pictures

    ingest, tta = [], []
    for folder in sorted(p for p in models.iterdir() if (p / "card.json").is_file()):
        model, card = checkpoints.load(folder)
        held_out, size, classes = card["target"], int(card["input_size"]), list(card["class_names"])
        data = {v: (load_pictures(held_out, "train", size, v, classes)[0], *load_pictures(held_out, "test", size, v, classes))
                for v in VARIANTS}
        accs = {v: _acc(model, data[v][1], data[v][2]) for v in VARIANTS}
        print(f"{held_out}: " + ", ".join(f"{v} {a:.1f}" for v, a in accs.items()), file=sys.stderr, flush=True)
        for n in sizes:
            for d in range(draws):
                pick = torch.randperm(len(data["none"][0]), generator=torch.Generator().manual_seed(d))[:n].sort().values
                scores = {c: {v: f(predict_logits(model, data[v][0][pick])) for v in VARIANTS} for c, f in CRITERIA.items()}
                ingest.append({"held_out": held_out, "n": n, "draw": d, "accuracy": accs, "scores": scores})
                for v in VARIANTS:
                    for method in ordered():
                        result = adapt(model, data[v][0][pick], method, seed=d, **OFF)
                        tta.append({"held_out": held_out, "normalize": v, "method": method, "n": n, "draw": d,
                                    "before_acc": accs[v], "after_acc": _acc(result.model, data[v][1], data[v][2]),
                                    "before": result.before, "after": result.after, "reference": result.reference})
    return {"ingest": ingest, "tta": tta}


def choose_criterion(ingest: list[dict]) -> dict:
    """Per criterion: the loss per fold (mean over sizes and draws), its worst case, its mean; the
    declared rule's pick."""
    from core.inference.normalize import CRITERIA, VARIANTS

    table = {}
    for c in CRITERIA:
        per_fold: dict[str, list[float]] = {}
        for row in ingest:
            best = max(row["accuracy"].values())
            scores = row["scores"][c]
            pick = max([v for v in VARIANTS], key=lambda v: scores[v])
            per_fold.setdefault(row["held_out"], []).append(best - row["accuracy"][pick])
        folds = {k: round(statistics.fmean(v), 2) for k, v in per_fold.items()}
        table[c] = {"loss_by_fold": folds, "worst": max(folds.values()), "mean": round(statistics.fmean(folds.values()), 2)}
    order = list(CRITERIA)
    chosen = min(order, key=lambda c: (table[c]["worst"], table[c]["mean"], order.index(c)))
    return {"criteria": table, "chosen": chosen,
            "rule": "lowest worst-case loss over the LODO folds (ties: lower mean loss, then the listed order)"}


def choose_guard(tta: list[dict]) -> dict:
    """Per rule: realised accuracy change vs the unadapted model per case (mean over draws), its
    worst case (harm), its mean; the declared rule's pick."""
    from core.tta.guard import ADAPTED, judge

    table = {}
    for name, tol in RULES.items():
        cases: dict[tuple, list[float]] = {}
        kept = 0
        for row in tta:
            verdict, _ = judge(row["before"], row["after"], row["reference"], im_tolerance=tol)
            realised = row["after_acc"] if verdict == ADAPTED else row["before_acc"]
            kept += verdict != ADAPTED
            key = (row["held_out"], row["normalize"], row["method"], row["n"])
            cases.setdefault(key, []).append(realised - row["before_acc"])
        means = {k: statistics.fmean(v) for k, v in cases.items()}
        worst_key = min(means, key=means.get)
        table[name] = {"tolerance": tol, "worst_change": round(means[worst_key], 2),
                       "worst_case": "/".join(map(str, worst_key)), "mean_change": round(statistics.fmean(means.values()), 2),
                       "kept_share": round(kept / len(tta), 3)}
    order = list(RULES)
    chosen = min(order, key=lambda r: (-table[r]["worst_change"], -table[r]["mean_change"], -order.index(r)))
    always = {k: statistics.fmean(r["after_acc"] - r["before_acc"] for r in tta if (r["held_out"], r["normalize"],
                                                                                    r["method"], r["n"]) == k)
              for k in {(r["held_out"], r["normalize"], r["method"], r["n"]) for r in tta}}
    return {"rules": table, "chosen": chosen, "always_adapt_worst": round(min(always.values()), 2),
            "always_adapt_mean": round(statistics.fmean(always.values()), 2),
            "rule": "smallest worst-case harm vs the unadapted model, averaged over draws (ties: larger mean gain, "
                    "then the looser rule)"}


def markdown(result: dict) -> str:
    crit = result["criterion"]
    folds = sorted(next(iter(crit["criteria"].values()))["loss_by_fold"])
    lines = ["| criterion | " + " | ".join(f"loss, held-out {f}" for f in folds) + " | worst | mean |",
             "|---|" + "---|" * (len(folds) + 2)]
    for c, row in crit["criteria"].items():
        mark = " ★" if c == crit["chosen"] else ""
        lines.append(f"| {c}{mark} | " + " | ".join(f"{row['loss_by_fold'][f]:.2f}" for f in folds)
                     + f" | {row['worst']:.2f} | {row['mean']:.2f} |")
    guard = result["guard"]
    lines += ["", "| guard rule | worst change vs unadapted (points) | its case | mean change | kept |", "|---|---|---|---|---|"]
    for name, row in guard["rules"].items():
        mark = " ★" if name == guard["chosen"] else ""
        lines.append(f"| {name}{mark} | {row['worst_change']:+.2f} | {row['worst_case']} | {row['mean_change']:+.2f} | "
                     f"{100 * row['kept_share']:.0f} % |")
    lines.append(f"| always adapt | {guard['always_adapt_worst']:+.2f} | | {guard.get('always_adapt_mean', float('nan')):+.2f} | 0 % |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="runs/lodo-models")
    p.add_argument("--draws", type=int, default=3)
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--out", default="runs/ingest-lodo.json")
    p.add_argument("--table-only", action="store_true", help="analyse --out again, measure nothing")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    if args.table_only:
        data = json.loads(out.read_text())
    else:
        started = time.perf_counter()
        data = measure(Path(args.models), args.draws, args.sizes)
        data["seconds"] = round(time.perf_counter() - started, 1)
    data["criterion"] = choose_criterion(data["ingest"])
    data["guard"] = choose_guard(data["tta"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1))
    print(markdown(data))
    print(f"\nchosen criterion: {data['criterion']['chosen']}; chosen guard rule: {data['guard']['chosen']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
