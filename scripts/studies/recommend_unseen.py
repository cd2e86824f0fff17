"""Does ``recommend`` beat source-only on digit domains the project has never seen?

For every domain written by ``python -m core fixtures --out DIR`` (phone photos on paper, other
photos under MNIST-M's recipe, colour on colour, dark on light, synthesised handwriting, other
printed fonts), run

    python -m core recommend --source SOURCE --target folder:DIR/DOMAIN --json --threads 2

exactly as a user would (the default validator, the default candidates, 500 steps and two seeds each), keep its
JSON, and print a table: the recommended method, its target test accuracy beside source-only's
(both for reporting only: the test labels take no part in the choice) and the wall time.

    python -m core fixtures --out unseen
    python scripts/studies/recommend_unseen.py --fixtures unseen --out runs/recommend-unseen

Resumable: a domain whose JSON is already in ``--out`` is not run again (``--summary`` only reads).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # core, for the one-seed comparison (the runs themselves call the CLI)


def run_one(source: str, domain_dir: Path, out: Path, threads: int, extra: list[str] = ()) -> dict:
    """Run the CLI on one fixture domain; return its JSON (also written to ``out/<domain>.json``)."""
    return run_recommend(source, f"folder:{domain_dir}", domain_dir.name, out, threads, extra)


def run_recommend(source: str, target: str, name: str, out: Path, threads: int, extra: list[str] = ()) -> dict:
    """``python -m core recommend --source SOURCE --target TARGET --json`` as a user runs it; its JSON,
    also written to ``out/<name>.json`` (the checkpoint to ``out/<name>/``)."""
    cmd = [sys.executable, "-m", "core", "recommend", "--source", source, "--target", target,
           "--out", str(out / name), "--json", "--quiet", "--threads", str(threads), *extra]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{name}: recommend exited {done.returncode}: {done.stderr.strip()[-500:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    (out / f"{name}.json").write_text(json.dumps(result, indent=1))
    return result


def accuracies(result: dict) -> dict[str, tuple[float | None, float | None]]:
    """Per candidate: (the first seed's model's target test accuracy — the model ``recommend`` saves
    when it chooses that candidate — and the mean over its seeds, None with one seed). Reads both
    layouts of the JSON: ``target_acc`` the first seed's with ``target_acc_mean`` beside it, and the
    earlier one where ``target_acc`` was the mean and ``per_seed`` held the first seed's."""
    out = {}
    for c in result.get("candidates", []):
        if c.get("error") is not None or c.get("target_acc") is None:
            continue
        per_seed = c.get("per_seed") or []
        first = per_seed[0]["target_acc"] if per_seed else c["target_acc"]
        mean = c.get("target_acc_mean", c["target_acc"] if per_seed else None)
        out[c["method"]] = (first, mean)
    return out


def one_seed_choice(result: dict) -> str | None:
    """What ``recommend --seeds 1`` would have chosen from the same runs: the validator alone on each
    candidate's first seed (a first seed is the very run a one-seed ``recommend`` makes); None
    without several seeds."""
    from core.selection.choice import choose

    if result.get("seeds", 1) < 2:
        return None
    pool = {c["method"]: {"scores": {"v": c["per_seed"][0]["score"]},
                          "largest_class_share": c["per_seed"][0]["largest_class_share"]}
            for c in result["candidates"] if c.get("per_seed") and c["per_seed"][0]["error"] is None}
    return choose(pool, "v")


def table(results: dict[str, dict]) -> str:
    """One row per domain: the choice and its saved model's test accuracy (over several seeds the
    mean in brackets), source-only's, the gain, the best candidate in hindsight and the gap between
    the saved models (and between the means over seeds, where there are several)."""
    rows = ["| unseen target | recommended (no target labels) | its test acc. (mean over seeds) | source-only | gain | "
            "best in hindsight | gap | gap of the means | one seed would choose (gap) | wall time |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    fmt = lambda v: "—" if v is None else f"{v:.1f}"  # noqa: E731
    gains, gaps, one_gaps = [], [], []
    for name, r in results.items():
        accs = accuracies(r)
        acc, mean = accs.get(r["recommended"], (r["target_acc"], None))
        base = accs.get("source_only", (r["source_only_acc"], None))[0]
        gain = "—" if acc is None or base is None else f"{acc - base:+.1f}"
        if acc is not None and base is not None:
            gains.append(acc - base)
        shown = fmt(acc) + ("" if mean is None else f" ({mean:.1f})")
        hindsight, gap, mean_gap, one = "—", "—", "—", "—"
        if accs and acc is not None:
            best = max(accs, key=lambda m: accs[m][0])
            hindsight, gap = f"{best} {accs[best][0]:.1f}", f"{accs[best][0] - acc:.1f}"
            gaps.append(accs[best][0] - acc)
            means = {m: v[1] for m, v in accs.items() if v[1] is not None}
            if mean is not None and means:
                mean_gap = f"{max(means.values()) - mean:.1f}"
            single = one_seed_choice(r)
            if single in accs:
                one_gaps.append(accs[best][0] - accs[single][0])
                one = f"{single} ({one_gaps[-1]:.1f})"
        rows.append(f"| {name} | {r['recommended']} | {shown} | {fmt(base)} | {gain} | {hindsight} | {gap} | "
                    f"{mean_gap} | {one} | {r['seconds']:.0f} s |")
    if gains:
        rows.append(f"\nbeats source-only on {sum(g > 0 for g in gains)} of {len(gains)}; "
                    f"mean gain {sum(gains) / len(gains):+.1f} points; slowest run "
                    f"{max(r['seconds'] for r in results.values()):.0f} s")
    if gaps:
        rows.append(f"gap to the best candidate in hindsight: worst {max(gaps):.1f}, mean {sum(gaps) / len(gaps):.1f}")
    if one_gaps:
        rows.append(f"one seed, the validator alone, on the same first seeds: worst {max(one_gaps):.1f}, "
                    f"mean {sum(one_gaps) / len(one_gaps):.1f}")
    return "\n".join(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fixtures", required=True, help="the folder `python -m core fixtures --out` wrote")
    ap.add_argument("--out", default=str(REPO / "runs" / "recommend-unseen"))
    ap.add_argument("--source", default="mnist")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--domains", default=None, help="comma-separated subset (default: every domain folder)")
    ap.add_argument("--summary", action="store_true", help="only print the table of the JSON already in --out")
    ap.add_argument("--steps", type=int, default=None, help="steps per candidate (default: recommend's)")
    ap.add_argument("--methods", default=None, help="candidates (default: recommend's)")
    ap.add_argument("--seeds", type=int, default=None,
                    help="seeds per candidate (default: recommend's, 2); 1: the validator alone chooses")
    args = ap.parse_args(argv)

    fixtures, out = Path(args.fixtures), Path(args.out)
    if not fixtures.is_dir():
        print(f"error: {fixtures} is not a folder (make one with `python -m core fixtures --out {fixtures}`)",
              file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    names = sorted(d.name for d in fixtures.iterdir() if (d / "train").is_dir())
    if args.domains:
        wanted = [d.strip() for d in args.domains.split(",") if d.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            print(f"error: unknown domain(s) {unknown}; valid: {names}", file=sys.stderr)
            return 2
        names = wanted
    results = {}
    for name in names:
        saved = out / f"{name}.json"
        if saved.exists():
            results[name] = json.loads(saved.read_text())
        elif not args.summary:
            print(f"recommend {args.source} → {name} …", file=sys.stderr, flush=True)
            extra = [*(["--steps", str(args.steps)] if args.steps else []),
                     *(["--methods", args.methods] if args.methods else []),
                     *(["--seeds", str(args.seeds)] if args.seeds else [])]
            results[name] = run_one(args.source, fixtures / name, out, args.threads, extra)
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
