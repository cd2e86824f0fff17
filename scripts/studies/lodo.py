"""Leave-one-domain-out (LODO) over the embedded digit domains: the domain-generalisation benchmark.

For each embedded domain D (mnist, mnistm, syndigits, ucidigits) every method trains on the
*other three* pooled (``--source A+B+C``; the engine hands each method the source-domain ids) and
is scored on D's test split, which no run ever trains on. Plain pooling is ``source_only`` on the
multi-source; the domain-generalisation methods are every registered method of the
"generalization" family. The engine's ``target`` is D too, but these methods never look at target
pictures (tests/test_generalization.py checks that target pictures do not change a gradient).

    python scripts/studies/lodo.py                          # all DG methods + pooling, 1 seed, 1500 steps
    python scripts/studies/lodo.py --methods source_only dg_randomize --steps 300 --seeds 0 1
    python scripts/studies/lodo.py --table-only             # print the table from the JSON

Writes ``--out`` (default runs/lodo.json) after every run — a rerun skips the runs already there —
and prints a Markdown table: held-out test accuracy (%) per held-out domain, their mean, and the
mean accuracy on the *source* test splits (what a user could measure without the held-out labels).
Runs one at a time with one thread (the house rule on the shared 2-core machine).
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

from core.data import EMBEDDED  # noqa: E402
from core.methods import METHODS, ordered  # noqa: E402

# the backbone every LODO run (and the universal model, scripts/studies/universal.py) uses: the digits CNN
# with batch norm, so test-time adaptation (core.tta) can re-estimate and tune its statistics
MODEL = {"arch": "digits_cnn", "batch_norm": True}


def default_methods() -> list[str]:
    return ["source_only"] + [m for m in ordered() if METHODS[m].family == "generalization"]


def run_key(method: str, held_out: str, seed: int, steps: int, model: dict) -> str:
    return f"{method}|{held_out}|seed{seed}|{steps}|{json.dumps(model, sort_keys=True)}"


def train_one(method: str, held_out: str, seed: int, steps: int, model: dict, device: str,
              save_dir: Path | None = None) -> dict:
    from core.training.engine import train
    from core.training.recipes import recipe

    sources = "+".join(d for d in EMBEDDED if d != held_out)
    config = recipe(method, sources, held_out, steps=steps, seed=seed, eval_every=0, threads=1,
                    device=device, model=dict(model))
    out = save_dir / f"{method}-heldout-{held_out}-seed{seed}" if save_dir else None
    result = train(config, out_dir=out)
    return {"checkpoint": result.checkpoint, "method": method, "held_out": held_out, "sources": sources, "seed": seed, "steps": steps,
            "model": model, "held_out_acc": round(result.target_acc, 2),
            "source_acc": round(result.source_acc, 2), "seconds": round(result.seconds, 1)}


def summarise(runs: list[dict], methods: list[str], domains: list[str]) -> dict:
    """method -> {held-out domain: mean over seeds, "mean": mean over domains, "source": ...}."""
    table: dict[str, dict] = {}
    for m in methods:
        row: dict[str, float] = {}
        for d in domains:
            accs = [r["held_out_acc"] for r in runs if r["method"] == m and r["held_out"] == d]
            if accs:
                row[d], row[d + "_sd"] = mean_std(accs).values()
        if all(d in row for d in domains):
            row["mean"] = statistics.fmean(row[d] for d in domains)
            row["source"] = statistics.fmean(r["source_acc"] for r in runs if r["method"] == m)
        table[m] = row
    return table


def markdown(table: dict, domains: list[str], seeds: int) -> str:
    from core.methods import METHODS

    def cell(row, key):
        if key not in row:
            return "—"
        sd = row.get(key + "_sd", 0.0)
        return f"{row[key]:.1f} ± {sd:.1f}" if seeds > 1 else f"{row[key]:.1f}"

    head = "| method (trained on the other three) | " + " | ".join(f"held out: {d}" for d in domains) + \
        " | mean | source test (mean) |"
    lines = [head, "|" + "---|" * (len(domains) + 3)]
    for m, row in table.items():
        label = "pooling (source only)" if m == "source_only" else METHODS[m].label if m in METHODS else m
        mean = f"**{row['mean']:.1f}**" if "mean" in row else "—"
        src = f"{row['source']:.1f}" if "source" in row else "—"
        lines.append(f"| {label} | " + " | ".join(cell(row, d) for d in domains) + f" | {mean} | {src} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=None, help="default: source_only + every DG method")
    p.add_argument("--held-out", nargs="+", default=list(EMBEDDED), choices=list(EMBEDDED))
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--width", type=float, default=None, help="digits CNN width (default 1)")
    p.add_argument("--no-batch-norm", action="store_true", help="the digits CNN without batch norm")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs/lodo.json")
    p.add_argument("--save-dir", default=None, help="also save every model here (for test-time adaptation studies)")
    p.add_argument("--table-only", action="store_true", help="print the table from --out, train nothing")
    p.add_argument("--leaderboard", default=None, metavar="PATH",
                   help="also write the table into this leaderboard.json as its 'lodo' block (the Compare page)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    methods = args.methods or default_methods()
    model = dict(MODEL, batch_norm=not args.no_batch_norm)
    if args.width:
        model["width"] = args.width
    out = Path(args.out)
    data = json.loads(out.read_text()) if out.exists() else {"runs": []}
    done = {run_key(r["method"], r["held_out"], r["seed"], r["steps"], r["model"]) for r in data["runs"]}
    if not args.table_only:
        for held_out in args.held_out:
            for method in methods:
                for seed in args.seeds:
                    if run_key(method, held_out, seed, args.steps, model) in done:
                        continue
                    started = time.perf_counter()
                    run = train_one(method, held_out, seed, args.steps, model, args.device,
                                    Path(args.save_dir) if args.save_dir else None)
                    data["runs"].append(run)
                    print(f"{method:>20} held out {held_out:<10} seed {seed}: {run['held_out_acc']:5.1f} % "
                          f"(source {run['source_acc']:.1f} %, {time.perf_counter() - started:.0f} s)",
                          file=sys.stderr, flush=True)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    tmp = out.with_suffix(".tmp")
                    tmp.write_text(json.dumps(data, indent=1))
                    tmp.replace(out)
    runs = [r for r in data["runs"] if r["steps"] == args.steps and r["model"] == model and r["seed"] in args.seeds]
    table = summarise(runs, methods, args.held_out)
    data.update(table=table, steps=args.steps, model=model, seeds=args.seeds)
    if out.exists() or data["runs"]:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=1))
    print(markdown(table, args.held_out, len(args.seeds)))
    if args.leaderboard:
        write_leaderboard_block(Path(args.leaderboard), table, args)
    return 0


def write_leaderboard_block(path: Path, table: dict, args) -> None:
    """``leaderboard["lodo"] = {steps, seeds, how, domains, methods: {method: {domain: acc, mean, source}}}``."""
    from core.util.files import write_json_atomic

    board = json.loads(path.read_text(encoding="utf-8"))
    methods = {m: {k: round(v, 2) for k, v in row.items() if not k.endswith("_sd")}
               for m, row in table.items() if "mean" in row}
    board["lodo"] = {"steps": args.steps, "seeds": list(args.seeds), "domains": list(args.held_out),
                     "how": "python scripts/studies/lodo.py (train on the other embedded domains, test on the held-out one; "
                            "digits CNN with batch norm, one thread)", "methods": methods}
    write_json_atomic(path, board)


if __name__ == "__main__":
    sys.exit(main())
