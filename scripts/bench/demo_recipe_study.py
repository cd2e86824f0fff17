"""How the Train page's demo recipe was chosen: measured on the unseen fixture domains only.

    python -m core fixtures --out /tmp/fixtures
    taskset -c 0 python scripts/bench/demo_recipe_study.py --method self_ensembling --source mnist \
        --fixtures /tmp/fixtures --json docs/benchmarks/demo-recipe-self_ensembling.json --ship

For every candidate recipe (batch, steps, learning rate, warm start from the shipped source-only
model of the source or not) it trains ``--method`` from ``--source`` to each fixture domain
(``folder:FIXTURES/<name>``), one torch thread, and records the target accuracy on the fixture's
test split, its gain over the shipped source-only model of that source on the same pictures, the
wall seconds and the process CPU seconds of the run (training and the evaluations the demo makes; the
domains are loaded before the clock starts, as the app holds them in memory) and the steps per second. The shipped scenarios' targets are never read.

The rule (core.training.demo.RULE; declared before measuring, its last two clauses after AdaMatch's
fixture runs and before any shipped scenario was looked at): among the candidates whose median
CPU seconds per run fit the budget (``--budget``, 7 s: the 10 s from the click less what the app
adds to the run, core.training.demo.BUDGET_S), the highest mean gain over the fixture pairs; a
candidate within 1 point of it that is cheaper wins; a recipe gaining less than half of what another
method's shipped recipe from the same source gains is not shipped (core.training.demo.outclassed).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def baseline_model(source: str):
    """The shipped source-only model of ``source`` (the same network whatever the scenario's target):
    (its folder's name, its folder) — the folder the demo warm-starts from (core.training.demo)."""
    from pathlib import Path as _Path

    from core.training.demo import shipped_source_only

    folder = shipped_source_only(source, "")
    if folder is None:
        raise SystemExit(f"no shipped source-only model of {source!r}; build the zoo (python -m core zoo rebuild)")
    return f"{_Path(folder).parent.name}/{_Path(folder).name}", _Path(folder)


def run_one(method, source, target, batch, steps, lr, warm, eval_every, hparams) -> dict:
    from core.training.engine import train
    from core.training.plan import prepare_run
    from core.training.recipes import recipe

    cfg = recipe(method, source, target, steps=steps, batch_size=batch, lr=lr, threads=1, device="cpu",
                 eval_every=eval_every, pretrained=str(warm) if warm else None, hparams=dict(hparams))
    plan = prepare_run(cfg)
    plan.domains  # loaded before the clock starts: the app holds the scenario's domains in memory already
    wall, cpu = time.perf_counter(), time.process_time()
    result = train(plan)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"target_acc": round(result.target_acc, 2), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "steps_per_s": round(result.steps_done / max(wall, 1e-9), 2),
            "loop_steps_per_s": round(result.images_per_s / (2 * batch), 2)}


def _setting(text: str) -> tuple[str, object]:
    key, _, value = text.partition("=")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def main(argv=None) -> int:
    import torch

    from core.data import load_domain
    from core.evaluation.forward import evaluate_accuracy
    from core.checkpoints import load as load_checkpoint
    from core.training.demo import budget, eval_every

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", required=True)
    ap.add_argument("--source", default="mnist")
    ap.add_argument("--fixtures", default="/tmp/fixtures")
    ap.add_argument("--domains", nargs="+", default=None, help="fixture domains (default: every folder)")
    ap.add_argument("--batch", nargs="+", type=int, default=[32, 64])
    ap.add_argument("--steps", nargs="+", type=int, default=[60, 100, 150, 200])
    ap.add_argument("--lr", nargs="+", type=float, default=[1e-3, 3e-3])
    ap.add_argument("--warm", nargs="+", choices=["no", "yes"], default=["no", "yes"])
    ap.add_argument("--candidates", nargs="+", default=None, metavar="B,STEPS,LR,WARM[,K=V…]",
                    help="exactly these candidates instead of the grid, e.g. 32,100,0.003,yes 32,150,0.003,yes,randomize=0.3")
    ap.add_argument("--set", nargs="*", default=[], metavar="K=V", help="method settings for every candidate")
    ap.add_argument("--tier", choices=["quick", "fuller"], default="quick",
                    help="the demo tier the recipe is for (core.training.demo.tier): its budget, and where --ship writes")
    ap.add_argument("--budget", type=float, default=None, help="CPU s per run (default: the tier's)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--ship", action="store_true",
                    help="write the chosen recipe into the zoo's demo.json (core.training.demo.recipes_path)")
    ap.add_argument("--from-json", default=None, metavar="PATH",
                    help="train nothing: apply the rule to the candidates a study stored in PATH (with --ship, ship them)")
    args = ap.parse_args(argv)
    args.budget = budget(args.tier) if args.budget is None else args.budget
    if args.from_json:
        return rule_again(args, json.loads(Path(args.from_json).read_text()))
    torch.set_num_threads(1)

    hparams = dict(_setting(kv) for kv in args.set)
    fixtures = Path(args.fixtures)
    domains = args.domains or sorted(p.name for p in fixtures.iterdir() if (p / "test").is_dir())
    base_name, base_dir = baseline_model(args.source)
    base, _ = load_checkpoint(base_dir)
    baseline = {d: round(evaluate_accuracy(base.eval(), load_domain(f"folder:{fixtures / d}", "test")), 2) for d in domains}
    print(json.dumps({"baseline": base_name, "source_only_acc": baseline}), flush=True)

    if args.candidates:
        chains = []
        for text in args.candidates:
            b, n, lr, warm, *extra = text.split(",")
            chains.append([(warm, float(lr), int(b), int(n), dict(_setting(kv) for kv in extra))])
    else:
        chains = [[(warm, lr, batch, steps, {}) for steps in sorted(args.steps)]  # cheapest first
                  for warm, lr, batch in itertools.product(args.warm, args.lr, args.batch)]
    candidates = []
    for chain in chains:
        for warm, lr, batch, steps, own in chain:  # a chain stops once it is over the budget
            settings = {**hparams, **own}
            runs = {}
            for d in domains:
                r = run_one(args.method, args.source, f"folder:{fixtures / d}", batch, steps, lr,
                            base_dir if warm == "yes" else None, eval_every(steps), settings)
                r["gain"] = round(r["target_acc"] - baseline[d], 2)
                runs[d] = r
            cand = {"batch_size": batch, "steps": steps, "lr": lr, "warm_start": warm == "yes", "hparams": own,
                    "mean_gain": round(statistics.mean(r["gain"] for r in runs.values()), 2),
                    "min_gain": round(min(r["gain"] for r in runs.values()), 2),
                    "median_cpu_s": round(statistics.median(r["cpu_s"] for r in runs.values()), 2),
                    "median_wall_s": round(statistics.median(r["wall_s"] for r in runs.values()), 2),
                    "median_steps_per_s": round(statistics.median(r["steps_per_s"] for r in runs.values()), 2),
                    "runs": runs}
            candidates.append(cand)
            print(json.dumps({k: v for k, v in cand.items() if k != "runs"}), flush=True)
            if cand["median_cpu_s"] > args.budget:
                break
    out = {"method": args.method, "source": args.source, "fixtures": domains, "baseline": base_name,
           "source_only_acc": baseline, "settings": hparams, "tier": args.tier, "candidates": candidates,
           "torch_threads": 1, "command": "python scripts/bench/demo_recipe_study.py " + " ".join(argv or sys.argv[1:])}
    return rule_again(args, out)


def rule_again(args, out: dict) -> int:
    """Apply the rule (core.training.demo.choose and .outclassed, the tier's budget) to a study's
    ``candidates``; write the study to ``--json`` and, with ``--ship``, the choice to demo.json."""
    from core.training.demo import choose, outclassed, shipped_recipes

    candidates, domains, hparams = out["candidates"], out["fixtures"], out.get("settings", {})
    chosen = choose(candidates, args.budget)
    shipped = shipped_recipes(out["source"], args.tier) or {}
    beaten = outclassed(chosen, out["source"], shipped, out["method"], len(domains)) if chosen else None
    out.update({"tier": args.tier, "budget_cpu_s": args.budget,
                "chosen": {k: v for k, v in chosen.items() if k != "runs"} if chosen else None,
                "not_shipped_because": beaten})
    print(json.dumps(out["chosen"]))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1))
    if args.ship:
        ship(out["method"], out["source"],
             None if chosen is None or beaten else {**chosen, "hparams": {**hparams, **chosen["hparams"]}},
             domains, args.budget, why=beaten, which=args.tier)
    return 0


def ship(method: str, source: str, chosen: dict | None, domains: list[str], budget: float, why: str | None = None,
         which: str = "quick") -> Path:
    """Write ``chosen`` as ``method``'s demo recipe into the zoo's demo.json (the other methods' kept):
    the quick tier's ``recipes``, or the fuller tier's ``fuller.recipes[source]``. ``chosen`` None
    removes the method's recipe from that tier — no candidate fits the budget and gains, or ``why``
    (another method's recipe outclasses it: core.training.demo.outclassed)."""
    from core.training.demo import fixture_pairs, recipes_path

    path = recipes_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    data.setdefault("about", "The Train page's demo recipe per recommended method (core.training.demo): chosen by "
                             "the rule in core.training.demo.RULE on the six unseen fixture domains (python -m core "
                             "fixtures), never on the shipped scenarios' target labels. Measurements: "
                             "docs/benchmarks/demo-recipe-<method>.json; docs/first-minutes.md.")
    if which == "quick":
        data["budget_cpu_s"] = budget
        recipes = data.setdefault("recipes", {})
    else:
        fuller = data.setdefault("fuller", {})
        fuller["budget_cpu_s"] = budget
        fuller["about"] = ("Recipes of the fuller tier (core.training.demo.tier: every scenario but the one the app "
                           "opens on), per source, over the quick ones.")
        recipes = fuller.setdefault("recipes", {}).setdefault(source, {})
    if chosen is None:
        recipes.pop(method, None)
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        reason = why or (f"no candidate fits the budget of {budget:g} CPU s and gains on average over the "
                         "fixtures")
        print(f"{reason}: {method} has no demo recipe in {path}")
        return path
    recipes[method] = {"steps": chosen["steps"], "batch_size": chosen["batch_size"], "lr": chosen["lr"],
                       "warm_start": chosen["warm_start"], "hparams": chosen["hparams"],
                       "fixture_mean_gain": chosen["mean_gain"], "median_cpu_s": chosen["median_cpu_s"],
                       "fixture_pairs": fixture_pairs(source, len(domains))}
    ordered = sorted(recipes.items())
    recipes.clear()
    recipes.update(ordered)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"shipped {method}'s demo recipe into {path}")
    return path


if __name__ == "__main__":
    raise SystemExit(main())
