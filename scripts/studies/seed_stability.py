"""How steady a method's recipe is over seeds, and which variant of it to ship — on fixture pairs only.

    python -m core fixtures --out unseen
    python scripts/studies/seed_stability.py --method self_training --source syndigits --fixtures unseen \\
        --variants recipe threshold=0.95 source_only_fraction=0.5 --domains colour paper handwriting \\
        --out /tmp/stability-a.json                  # one process per core, each with some domains
    python scripts/studies/seed_stability.py --table /tmp/stability-a.json /tmp/stability-b.json \\
        --json docs/benchmarks/seed-stability-self_training.json

Each variant — ``recipe`` is the zoo's recipe as shipped; ``KEY=VALUE,KEY=VALUE`` sets the method's
settings over it, ``model.KEY=VALUE`` the network's options (``model.input_norm=image``) — trains from ``--source`` to each fixture domain that ``python -m core fixtures``
synthesises (their labels are ours to choose on) on every seed, with the zoo's recipe otherwise
(1,500 steps, batch 64 + 64, Adam 1e-3, one thread). The baseline is the zoo's source-only recipe on
the same pair and seed. The shipped scenarios' targets are never read.

The rule, declared before the runs: per variant and fixture domain, the gain over source-only on
each seed; a variant's score is the mean over the domains of (mean gain over seeds − standard
deviation over seeds), so a point of spread costs as much as a point of gain. The variant with the
highest score wins; a variant listed earlier (the shipped recipe first) within 1 point of it wins the
tie. The leaderboard's spread over seeds is the recommended model's; this is how a recipe's
steadiness becomes part of its choice.

Results are written after every run; runs already in ``--out`` are skipped, so a stopped study resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

if __name__ == "__main__":  # one thread per run; an importing test process keeps its own
    os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.util.files import write_json_atomic  # noqa: E402

TIE_PTS = 1.0
BASELINE = "source_only"


def parse_variant(text: str) -> dict:
    """``recipe`` → {}; ``a=1,b=x`` → {"a": 1, "b": "x"} (numbers and booleans read as such)."""
    if text == "recipe":
        return {}
    out = {}
    for kv in text.split(","):
        key, sep, value = kv.partition("=")
        if not sep or not key:
            raise SystemExit(f"a variant is 'recipe' or KEY=VALUE[,KEY=VALUE], not {text!r}")
        try:
            out[key] = json.loads(value)  # 0.95, 3, true
        except ValueError:
            out[key] = value  # a name: none, image
    return out


def run_one(method: str, variant: str, source: str, target_dir: Path, seed: int) -> dict:
    """One 1,500-step run of ``method`` (its recipe, ``variant``'s settings over it) → its accuracies."""
    from core.training.engine import train
    from core.training.recipes import recipe

    settings = parse_variant(variant)
    model = {k.removeprefix("model."): v for k, v in settings.items() if k.startswith("model.")}
    hparams = {k: v for k, v in settings.items() if not k.startswith("model.")}
    common = dict(seed=seed, threads=1, device="cpu", eval_every=0, hparams=hparams)
    shipped_model = recipe(method, source, f"folder:{target_dir}", **common).model
    cfg = recipe(method, source, f"folder:{target_dir}", **common, model={**shipped_model, **model})
    started = time.perf_counter()
    result = train(cfg)
    return {"method": method, "variant": variant, "source": source, "target": target_dir.name, "seed": seed,
            "target_acc": round(result.target_acc, 2), "source_acc": round(result.source_acc, 2),
            "seconds": round(time.perf_counter() - started, 1)}


def summary(runs: list[dict], variants: list[str]) -> dict:
    """Per variant: per domain the gains over source-only on each seed, their mean and spread, the
    variant's score (mean over domains of mean − std), and the winner by the rule above."""
    runs = [r for r in runs if r.get("target_acc") is not None]  # failed runs are listed, not scored
    base = {(r["source"], r["target"], r["seed"]): r["target_acc"] for r in runs if r["method"] == BASELINE}
    table = {}
    for variant in variants:
        per_domain = {}
        for r in runs:
            key = (r["source"], r["target"], r["seed"])
            if r["method"] == BASELINE or r["variant"] != variant or key not in base:
                continue
            per_domain.setdefault(r["target"], {})[r["seed"]] = round(r["target_acc"] - base[key], 2)
        rows = {}
        for domain, gains in sorted(per_domain.items()):
            values = [gains[s] for s in sorted(gains)]
            rows[domain] = {"gains": values, "mean": round(statistics.fmean(values), 2),
                            "std": round(statistics.stdev(values), 2) if len(values) > 1 else None}
        complete = [row for row in rows.values() if row["std"] is not None]
        table[variant] = {
            "domains": rows,
            "mean_gain": round(statistics.fmean(r["mean"] for r in complete), 2) if complete else None,
            "mean_std": round(statistics.fmean(r["std"] for r in complete), 2) if complete else None,
            "score": round(statistics.fmean(r["mean"] - r["std"] for r in complete), 2) if complete else None,
        }
    scored = [v for v in variants if table[v]["score"] is not None]
    winner = None
    if scored:
        best = max(table[v]["score"] for v in scored)
        winner = next(v for v in scored if table[v]["score"] >= best - TIE_PTS)
    return {"variants": table, "chosen": winner}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", default="self_training")
    ap.add_argument("--source", default="syndigits")
    ap.add_argument("--fixtures", help="the folder `python -m core fixtures --out` wrote")
    ap.add_argument("--domains", nargs="*", help="fixture domains (default: every folder in --fixtures)")
    ap.add_argument("--variants", nargs="+", default=["recipe"], help="'recipe' or KEY=VALUE[,KEY=VALUE]")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--out", default="seed-stability.json")
    ap.add_argument("--table", nargs="*", metavar="JSON", help="merge these studies' runs, print the summary, stop")
    ap.add_argument("--json", help="with --table: write the merged runs and the summary here")
    args = ap.parse_args(argv)
    for variant in args.variants:
        parse_variant(variant)  # a malformed variant is refused before any run
    if args.table is not None:
        studies = [json.loads(Path(p).read_text()) for p in args.table]
        runs = [r for s in studies for r in s["runs"]]
        variants = list(dict.fromkeys(v for s in studies for v in s["variants"]))
        data = {"protocol": __doc__.split("\n\n")[2] + "\n\n" + __doc__.split("\n\n")[3],
                "method": studies[0]["method"], "variants": variants,
                "measured_on": [{k: s.get(k) for k in ("machine", "date")} for s in studies], "runs": runs,
                "summary": summary(runs, variants)}
        if args.json:
            write_json_atomic(Path(args.json), data)
        print(json.dumps(data["summary"], indent=1))
        return 0
    if not args.fixtures:
        ap.error("--fixtures is needed to train")
    import torch

    from core.training.speed import machine

    torch.set_num_threads(1)
    fixtures = Path(args.fixtures)
    domains = args.domains or sorted(p.name for p in fixtures.iterdir() if p.is_dir())
    out = Path(args.out)
    runs = json.loads(out.read_text())["runs"] if out.exists() else []
    done = {(r["method"], r["variant"], r["target"], r["seed"]) for r in runs}
    todo = [(BASELINE, "recipe", d, s) for s in args.seeds for d in domains]
    todo += [(args.method, v, d, s) for s in args.seeds for v in args.variants for d in domains]
    todo = [job for job in todo if job not in done]
    for i, (method, variant, domain, seed) in enumerate(todo, 1):
        try:
            r = run_one(method, variant, args.source, fixtures / domain, seed)
        except Exception as err:  # a diverged run is recorded as failed, never as a number
            r = {"method": method, "variant": variant, "source": args.source, "target": domain, "seed": seed,
                 "error": f"{type(err).__name__}: {err}", "target_acc": None, "source_acc": None}
        runs.append(r)
        write_json_atomic(out, {"method": args.method, "variants": args.variants, "machine": machine(),
                     "date": time.strftime("%Y-%m-%d"), "runs": runs})
        print(f"[{i}/{len(todo)}] {method} {variant} {args.source}->{domain} seed {seed}: target "
              f"{r['target_acc']} source {r['source_acc']} ({r.get('seconds', 0):.0f} s)", file=sys.stderr, flush=True)
    print(json.dumps(summary(runs, args.variants), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
