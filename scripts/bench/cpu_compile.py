"""Does ``torch.compile`` pay on this CPU? DANN (MNIST → MNIST-M) through ``python -m core train``,
eager against the compiled loss (inductor), with and without inductor's C++ wrapper, pairs run
side by side and repeated; median images/s of each, and each one's ratio to eager.

    python scripts/bench/cpu_compile.py [--steps 400] [--repeat 3] [--threads 1] [--json FILE]

``images_per_s`` is the engine's own count over the loop (compilation happens in the first steps,
so it is included: what a user of ``--accel compile`` waits for). Inductor's *freezing* option
applies to inference graphs only (it folds parameters as constants), so a training step cannot
use it; it is not a row here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

ROWS = {
    "eager (the engine's CPU default)": ({}, ["--accel", "off"]),
    "torch.compile (inductor)": ({}, ["--accel", "compile"]),
    "torch.compile + C++ wrapper": ({"TORCHINDUCTOR_CPP_WRAPPER": "1"}, ["--accel", "compile"]),
}


def run(env_extra: dict, args: list[str], steps: int, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "core", "train", "--method", "dann", "--source", "mnist", "--target", "mnistm",
               "--steps", str(steps), "--threads", str(threads), "--json", "--quiet", "--out", out, *args]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": str(threads), **env_extra})
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"images_per_s": result["images_per_s"], "seconds": result["seconds"], "target_acc": result["target_acc"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.steps < 1 or args.repeat < 1 or args.threads < 1:
        ap.error("--steps, --repeat and --threads must be at least 1")
    runs: dict[str, list[dict]] = {name: [] for name in ROWS}
    for _ in range(args.repeat):  # interleaved, so a busy moment hits every row alike
        for name, (env_extra, extra) in ROWS.items():
            runs[name].append(run(env_extra, extra, args.steps, args.threads))
    eager = [r["images_per_s"] for r in runs[next(iter(ROWS))] if "images_per_s" in r]
    table = {}
    for name, rs in runs.items():
        rates = [r["images_per_s"] for r in rs if "images_per_s" in r]
        errors = [r["error"] for r in rs if "error" in r]
        table[name] = {"runs": rs, "median_images_per_s": statistics.median(rates) if rates else None,
                       "ratio_to_eager": round(statistics.median(rates) / statistics.median(eager), 3)
                       if rates and eager else None, "errors": errors}
        print(f"{name:<36} {table[name]['median_images_per_s'] or '—':>8} img/s  "
              f"×{table[name]['ratio_to_eager'] or '—'}  {'; '.join(errors)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"steps": args.steps, "repeat": args.repeat, "threads": args.threads,
                                               "rows": table}, indent=1))
    return 0 if all(t["median_images_per_s"] for t in table.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
