"""Does every Playground preset show the outcome its button names, on every seed? Runs each preset
(source-only beside its method, the preset's steps, one thread, fixed options) on seeds 0–4 and
prints the target errors, the feature distances and whether the outcome matches the preset's
``expect`` ("fixes": the method gains ≥ GAIN points; "hurts": it loses ≥ GAIN points while its
features align; "nothing": no gain ≥ GAIN).

    SHIFTLAB_SPEED=fixed python scripts/bench/playground_presets.py [--seeds 0,1,2,3,4] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def outcome(expect: str, base, method) -> bool:
    from core.training.playground import ALIGNED, GAIN

    gain = base.target_error - method.target_error
    if expect == "fixes":
        return gain >= GAIN
    if expect == "hurts":
        return gain <= -GAIN and method.distance <= base.distance - ALIGNED
    return gain < GAIN


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("SHIFTLAB_SPEED", "fixed")

    import torch

    from core.training.playground import PRESETS, Playground

    torch.set_num_threads(1)
    rows = []
    for p in PRESETS:
        for seed in (int(s) for s in args.seeds.split(",")):
            snap = Playground(p.source, p.target, p.method_name, steps=p.steps, seed=seed).run()
            base, method = snap.frames[snap.methods[0]], snap.frames[snap.methods[-1]]
            rows.append({"preset": p.key, "method": p.method_name, "seed": seed, "expect": p.expect,
                         "source_only_error": round(base.target_error, 1), "method_error": round(method.target_error, 1),
                         "source_only_distance": round(base.distance, 2), "method_distance": round(method.distance, 2),
                         "holds": outcome(p.expect, base, method)})
            r = rows[-1]
            print(f"{p.key:10s} {p.method_name:8s} seed {seed}: source only {r['source_only_error']:5.1f} % "
                  f"(d {r['source_only_distance']:.2f})  method {r['method_error']:5.1f} % (d {r['method_distance']:.2f})"
                  f"  {p.expect}: {'yes' if r['holds'] else 'NO'}", file=sys.stderr, flush=True)
    held = sum(r["holds"] for r in rows)
    print(f"{held} of {len(rows)} preset runs show their outcome", file=sys.stderr)
    if args.json:
        from core.training.speed import machine

        print(json.dumps({"processor": machine()["cpu"], "torch": torch.__version__, "rows": rows}))
    return 0 if held == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
