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


def best_in_hindsight(result: dict) -> dict | None:
    """The candidate with the highest target test accuracy (reporting only), or None without labels."""
    scored = [c for c in result.get("candidates", []) if c.get("error") is None and c.get("target_acc") is not None]
    return max(scored, key=lambda c: c["target_acc"]) if scored else None


def table(results: dict[str, dict]) -> str:
    """One row per domain: the choice, its test accuracy (over several seeds the mean, the saved
    first seed's in brackets), source-only's, the gain, the best candidate in hindsight and the gap."""
    rows = ["| unseen target | recommended (no target labels) | its test acc. | source-only | gain | best in hindsight | gap | wall time |",
            "|---|---|---|---|---|---|---|---|"]
    fmt = lambda v: "—" if v is None else f"{v:.1f}"  # noqa: E731
    for name, r in results.items():
        acc, base = r["target_acc"], r["source_only_acc"]
        gain = "—" if acc is None or base is None else f"{acc - base:+.1f}"
        shown = fmt(acc) + (f" ({r['checkpoint_target_acc']:.1f})" if r.get("seeds", 1) > 1
                            and r.get("checkpoint_target_acc") is not None else "")
        best = best_in_hindsight(r)
        hindsight, gap = ("—", "—") if best is None or acc is None else (
            f"{best['method']} {best['target_acc']:.1f}", f"{best['target_acc'] - acc:.1f}")
        rows.append(f"| {name} | {r['recommended']} | {shown} | {fmt(base)} | {gain} | {hindsight} | {gap} | "
                    f"{r['seconds']:.0f} s |")
    gains = [r["target_acc"] - r["source_only_acc"] for r in results.values()
             if r["target_acc"] is not None and r["source_only_acc"] is not None]
    if gains:
        rows.append(f"\nbeats source-only on {sum(g > 0 for g in gains)} of {len(gains)}; "
                    f"mean gain {sum(gains) / len(gains):+.1f} points; slowest run "
                    f"{max(r['seconds'] for r in results.values()):.0f} s")
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
