"""Measure the Playground: a 1,000-step run on one CPU core, the live picture's cost per frame, and
every point method's target accuracy against source-only on the toy covariate shifts.

    python scripts/bench/bench_playground.py            # prints a table and docs/performance.md's numbers
    python scripts/bench/bench_playground.py --json     # one JSON object on the last line

The redraw rate of the page itself is measured in a real browser by
tests/e2e/test_playground_browser.py (it prints it, and writes test-artifacts/playground-redraw-rate.txt).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from PIL import Image

    from core.methods import METHODS, baseline, default_method, runs_on_points
    from core.training.playground import Playground
    from ui.playground.raster import live_picture

    Playground("toy:moons", "toy:moons?rotate=35", default_method(), steps=20).run()  # warm up
    report = {"threads": torch.get_num_threads(), "steps": 1000}
    for label, method, compare in (("dann_alone", default_method(), False), ("source_only_alone", baseline(), False),
                                   ("side_by_side", default_method(), True)):
        times = timed(lambda: Playground("toy:moons", "toy:moons?rotate=35", method, steps=1000,
                                         compare=compare).run(), args.repeats)
        report[label] = {"best_s": round(min(times), 2), "median_s": round(statistics.median(times), 2)}
    snap = Playground("toy:moons", "toy:moons?rotate=35", default_method(), steps=200).run()

    def frame():
        buf = io.BytesIO()
        Image.fromarray(live_picture(snap)).save(buf, format="JPEG")

    frame()
    report["live_picture_ms"] = round(1000 * statistics.median(timed(frame, 20)), 1)
    table = {}
    for target in ("toy:moons?rotate=25", "toy:moons?rotate=35"):
        rows = {}
        for name in runs_on_points():
            started = time.perf_counter()
            f = Playground("toy:moons", target, name, steps=1000, compare=False).run().frames[name]
            rows[name] = {"target_acc": round(100 - f.target_error, 1), "source_acc": round(100 - f.source_error, 1),
                          "distance": round(f.distance, 2), "seconds": round(time.perf_counter() - started, 2),
                          "family": METHODS[name].family}
        table[target] = rows
    report["accuracy"] = table
    if args.json:
        print(json.dumps(report))
        return 0
    for key in ("dann_alone", "source_only_alone", "side_by_side"):
        print(f"{key:>18}: 1,000 steps best {report[key]['best_s']:.2f} s, median {report[key]['median_s']:.2f} s")
    print(f"{'live picture':>18}: {report['live_picture_ms']:.1f} ms a frame (drawn + JPEG)")
    for target, rows in table.items():
        base = rows[baseline()]["target_acc"]
        print(f"\ntoy:moons → {target}: target accuracy (source-only {base:.1f} %)")
        for name, r in rows.items():
            print(f"  {name:<14} {r['target_acc']:5.1f} %  ({r['target_acc'] - base:+5.1f})  d_A {r['distance']:.2f}  "
                  f"{r['seconds']:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
