"""How every adaptation method does on the shipped scenarios, against source-only, over seeds.

    python scripts/studies/method_study.py                       # all methods × 4 scenarios × seeds 0 1 2
    python scripts/studies/method_study.py --methods shot mcc --seeds 0 --scenarios mnist:mnistm
    python scripts/studies/method_study.py --methods "dann:domain_weight=0.3"      # a variant
    python scripts/studies/method_study.py --table                # the table from the JSON, no training

Every run is the default recipe (core/training/recipes.py: 1,500 steps, batch 64 + 64, Adam 1e-3) through
:func:`core.training.engine.train`, one thread, one run at a time. Results go to a JSON file (``--out``),
written after every run; runs already in it are skipped, so an interrupted study resumes.

Besides target *test* accuracy (reported, never used to choose anything), each run records what a
user without target labels could see: source test accuracy (source validation) and, on the
*unlabelled* target train images, the mean prediction entropy and the entropy of the mean
prediction (log 10 ≈ 2.30 when the predicted classes are balanced; near 0 means collapse).

The printed Markdown table gives mean ± sd of target accuracy per method and scenario, the gain
over source-only of the same seeds, and marks the project's targets: ✓ where the mean gain reaches
the scenario's target (+30, +20, +15, +5 points), ✗ where the mean is more than 2 points below
source-only.
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

from core.util.stats import mean_std  # noqa: E402

from core.data import Scenario  # noqa: E402
from core.zoo import SCENARIOS  # noqa: E402  (the shipped ones)
TARGET_GAIN = {("mnist", "mnistm"): 30.0, ("mnist", "ucidigits"): 20.0, ("syndigits", "mnist"): 15.0,
               ("mnist", "syndigits"): 5.0}
HARM = 2.0  # a model more than this many points below source-only counts as harmful


def default_methods() -> list[str]:
    """source_only, then every method that adapts with unlabelled target images (registry order)."""
    from core.methods import METHODS, ordered

    return ["source_only"] + [m for m in ordered() if METHODS[m].is_adapted()]


def parse_variant(spec: str) -> tuple[str, dict]:
    """``"dann:domain_weight=0.3,disc_hidden=256"`` → ("dann", {"domain_weight": "0.3", ...})."""
    name, _, rest = spec.partition(":")
    hparams = dict(kv.split("=", 1) for kv in rest.split(",") if kv)
    return name, hparams


def label_free_stats(model: torch.nn.Module, target: str) -> dict:
    """Prediction statistics on the unlabelled target train images (labels never read)."""
    from core.data import load_domain
    from core.losses import entropy_rows
    from core.util.modes import unit_float

    images = load_domain(target, "train").images
    model.eval()
    probs = []
    with torch.no_grad():
        for i in range(0, len(images), 500):
            probs.append(torch.softmax(model(unit_float(images[i:i + 500])).float(), 1))
    p = torch.cat(probs)
    mean = p.mean(0)
    return {"target_mean_entropy": float(entropy_rows(p).mean()),
            "target_marginal_entropy": float(-(mean * mean.clamp_min(1e-12).log()).sum()),
            "target_predicted_classes": int((torch.bincount(p.argmax(1), minlength=p.shape[1]) > 0).sum())}


def run_one(spec: str, source: str, target: str, seed: int, steps: int | None) -> dict:
    from core.training.engine import train
    from core.training.recipes import recipe

    method, hparams = parse_variant(spec)
    overrides = {"seed": seed, "threads": 1, "device": "cpu", "eval_every": 250, "hparams": hparams}
    if steps:
        overrides["steps"] = steps
    config = recipe(method, source, target, **overrides)
    started = time.perf_counter()
    result = train(config)
    curve = [(h["step"], round(h["target_acc"], 1)) for h in result.history if "target_acc" in h]
    return {"method": spec, "source": source, "target": target, "seed": seed, "steps": config.steps,
            "target_acc": round(result.target_acc, 2), "source_acc": round(result.source_acc, 2),
            "seconds": round(time.perf_counter() - started, 1), "curve": curve,
            **label_free_stats(result.model, target)}


def shipped_runs(path: str = "pretrained/leaderboard.json") -> list[dict]:
    """The shipped zoo's leaderboard (same recipe, seeds 0-2) as runs named ``zoo:METHOD``, to put
    the methods this study does not re-run beside it (their gains are taken against zoo:source_only)."""
    file = Path(__file__).resolve().parents[2] / path
    if not file.exists():
        return []
    board = json.loads(file.read_text())
    runs = []
    for scen, methods in board["scenarios"].items():
        source, target = Scenario.parse(scen)
        for m, cell in methods.items():
            for seed, acc, src in zip(cell["seeds"], cell["values"], cell.get("source_values", cell["values"])):
                runs.append({"method": f"zoo:{m}", "source": source, "target": target, "seed": seed,
                             "steps": board.get("steps", 1500), "target_acc": acc, "source_acc": src})
    return runs


def key(r: dict) -> tuple:
    return (r["method"], r["source"], r["target"], int(r["seed"]), int(r["steps"]))


def table(runs: list[dict], methods: list[str] | None = None, steps: int | None = None) -> str:
    """Markdown: one row per method, one column per scenario, mean ± sd (gain vs source-only)."""
    from core.training.recipes import COMMON

    steps = steps or COMMON["steps"]
    runs = [r for r in runs if r["steps"] == steps or r["method"] in ("source_only", "zoo:source_only")
            and r["steps"] == COMMON["steps"]]
    methods = methods or list(dict.fromkeys(r["method"] for r in runs))
    scen = [s for s in SCENARIOS if any((r["source"], r["target"]) == s for r in runs)]
    by = {}
    for r in runs:
        by.setdefault((r["method"], r["source"], r["target"]), {})[r["seed"]] = r
    head = "| method | " + " | ".join(f"{s} → {t} (target +{TARGET_GAIN[(s, t)]:g})" for s, t in scen) + " |"
    lines = [head, "|---" * (len(scen) + 1) + "|"]
    for m in methods:
        cells = []
        for s, t in scen:
            got = by.get((m, s, t), {})
            base = by.get(("zoo:source_only" if m.startswith("zoo:") else "source_only", s, t), {})
            if not got:
                cells.append("—")
                continue
            accs = [got[k]["target_acc"] for k in sorted(got)]
            mean, sd = mean_std(accs).values()
            cell = f"{mean:.1f} ± {sd:.1f}"
            if m not in ("source_only", "zoo:source_only") and base:
                shared = [k for k in got if k in base]
                if shared:
                    gain = statistics.mean(got[k]["target_acc"] - base[k]["target_acc"] for k in shared)
                    worst = min(got[k]["target_acc"] - base[k]["target_acc"] for k in shared)
                    mark = " ✓" if gain >= TARGET_GAIN[(s, t)] else (" ✗" if gain < -HARM else "")
                    cell += f" ({gain:+.1f}, worst seed {worst:+.1f}){mark}"
            cell += f" [n={len(accs)}]"
            cells.append(cell)
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", nargs="*", help="method names or variants NAME:key=value,... (default: all)")
    ap.add_argument("--scenarios", nargs="*", help="SOURCE:TARGET (default: the four shipped ones)")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=None, help="steps per run (default: the recipe's)")
    ap.add_argument("--out", default="docs/benchmarks/method-study.json")
    ap.add_argument("--table", action="store_true", help="print the table from --out and stop")
    ap.add_argument("--zoo", nargs="*", default=None,
                    help="also show these methods' shipped leaderboard rows (zoo:METHOD; default with --table: "
                         "source_only dann mmd adda self_training)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    out = Path(args.out)
    runs = json.loads(out.read_text())["runs"] if out.exists() else []
    methods = args.methods or default_methods()
    scenarios = [tuple(s.split(":")) for s in args.scenarios] if args.scenarios else SCENARIOS
    if not args.table:
        done = {key(r) for r in runs}
        from core.training.recipes import COMMON

        steps = args.steps or COMMON["steps"]
        todo = [(m, s, t, seed) for seed in args.seeds for s, t in scenarios for m in methods
                if (m, s, t, seed, steps if m != "source_only" else COMMON["steps"]) not in done]
        for i, (m, s, t, seed) in enumerate(todo, 1):
            run_steps = None if m == "source_only" else args.steps
            try:
                r = run_one(m, s, t, seed, run_steps)
            except Exception as err:  # a diverged run is a result too
                r = {"method": m, "source": s, "target": t, "seed": seed, "steps": run_steps or COMMON["steps"],
                     "error": f"{type(err).__name__}: {err}", "target_acc": float("nan"), "source_acc": float("nan")}
            runs.append(r)
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps({"runs": runs}, indent=1))
            tmp.replace(out)
            print(f"[{i}/{len(todo)}] {m} {s}->{t} seed {seed}: target {r['target_acc']:.1f} "
                  f"source {r['source_acc']:.1f} ({r.get('seconds', 0):.0f} s)", file=sys.stderr, flush=True)
    shown = [m for m in methods if any(r["method"] == m for r in runs)] if args.methods else None
    zoo = args.zoo if args.zoo is not None else (["source_only", "dann", "mmd", "adda", "self_training"] if args.table else [])
    if zoo:
        extra = [r for r in shipped_runs() if r["method"][4:] in zoo]
        names = list(dict.fromkeys(r["method"] for r in runs)) if shown is None else shown
        shown = names + [f"zoo:{m}" for m in zoo]
        runs = runs + extra
    print(table(runs, shown, args.steps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
