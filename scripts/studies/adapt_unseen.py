"""Are users' pictures read right by default? ``python -m core adapt`` on domains never seen.

For every domain written by ``python -m core fixtures --out DIR`` run, exactly as a user would,

    python -m core adapt --target folder:DIR/DOMAIN --json [--normalize none|centre]

with no options (``--normalize auto``, the universal model, SHOT-IM behind the guard; ``--method``
runs another adaptation the same way) and, beside
it for reference, each fixed normalisation; keep every JSON and print a table: the test accuracy
before and after adaptation per way of reading, what ``auto`` chose and the guard's verdict. The
test labels only report; nothing here feeds back into a default (those were chosen on the embedded
leave-one-domain-out folds: ``scripts/studies/ingest_lodo.py``, docs/ingest.md).

    python -m core fixtures --out unseen
    python scripts/studies/adapt_unseen.py --fixtures unseen --out docs/benchmarks/adapt-unseen

Resumable: a JSON already in ``--out`` is read, not run again.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WAYS = ("auto", "none", "centre")


def run_adapt(domain_dir: Path, way: str, out: Path, threads: int, method: str | None = None) -> dict:
    """One ``core adapt`` run (``way`` "auto" passes no ``--normalize``: the default; ``method`` None
    passes no ``--method``: the default); its JSON."""
    path = out / (f"{domain_dir.name}-{way}.json" if method is None else f"{domain_dir.name}-{way}-{method}.json")
    if path.is_file():
        return json.loads(path.read_text())
    cmd = [sys.executable, "-m", "core", "adapt", "--target", f"folder:{domain_dir}", "--json",
           "--threads", str(threads)] + ([] if way == "auto" else ["--normalize", way]) \
        + ([] if method is None else ["--method", method])
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{domain_dir.name}/{way}: adapt exited {done.returncode}: {done.stderr.strip()[-500:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    path.write_text(json.dumps(result, indent=1))
    return result


def table(results: dict[str, dict[str, dict]]) -> str:
    rows = ["| unseen domain | default (auto): reads as | before → after | verdict | none: before → after | "
            "centre: before → after |", "|---|---|---|---|---|---|"]
    for name, by_way in results.items():
        auto, none, centre = (by_way[w] for w in WAYS)
        arrow = lambda r: f"{r['before_acc']:.1f} → {r['after_acc']:.1f}"  # noqa: E731
        rows.append(f"| {name} | {auto['normalize']} | {arrow(auto)} | {auto['verdict']} | {arrow(none)} | {arrow(centre)} |")
    best = [max(by_way["none"]["after_acc"], by_way["centre"]["after_acc"]) - by_way["auto"]["after_acc"]
            for by_way in results.values()]
    below = sum(r["auto"]["after_acc"] < r["auto"]["before_acc"] for r in results.values())
    rows.append(f"\nauto's largest shortfall against the better fixed way: {max(best):.1f} points; "
                f"adaptation below its own starting point on {below} of {len(results)} domains")
    return "\n".join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fixtures", required=True, help="folder written by python -m core fixtures")
    p.add_argument("--out", default="runs/adapt-unseen")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--method", help="a test-time adaptation other than the default (bn_stats, tent)")
    args = p.parse_args(argv)
    fixtures, out = Path(args.fixtures), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    domains = sorted(d for d in fixtures.iterdir() if d.is_dir())
    if not domains:
        print(f"no domains in {fixtures}: run python -m core fixtures --out {fixtures} first", file=sys.stderr)
        return 2
    results = {}
    for d in domains:
        results[d.name] = {w: run_adapt(d, w, out, args.threads, args.method) for w in WAYS}
        print(f"{d.name}: " + ", ".join(f"{w} {r['after_acc']:.1f}" for w, r in results[d.name].items()),
              file=sys.stderr, flush=True)
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
