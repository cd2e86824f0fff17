"""Every method trains on a device through the CLI, and its checkpoint reloads and scores on the CPU.

    python scripts/bench/gpu_smoke.py [--device cuda] [--steps 300] [--out DIR]

Prints one line per method: target accuracy at the end of training, the same checkpoint's
accuracy re-evaluated on the CPU (they must agree), images/s, and the fast path used.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
METHODS = ["source_only", "oracle", "finetune", "dann", "mmd", "adda", "self_training", "distill"]


def last_json(text: str) -> dict:
    return json.loads([line for line in text.splitlines() if line.startswith("{")][-1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for method in METHODS:
            ckpt = Path(tmp) / method
            extra = ["--set", "teacher=mnist->mnistm/dann"] if method == "distill" else []
            train = subprocess.run([sys.executable, "-m", "core", "train", "--method", method, "--device", args.device,
                                    "--steps", str(args.steps), "--json", "--quiet", "--out", str(ckpt), *extra],
                                   cwd=ROOT, capture_output=True, text=True, timeout=300)
            if train.returncode != 0:
                print(f"{method:<14} FAILED to train: {train.stderr.strip().splitlines()[-1:]}")
                failed += 1
                continue
            ev = subprocess.run([sys.executable, "-m", "core", "eval", "--checkpoint", str(ckpt), "--domain", "mnistm",
                                 "--device", "cpu", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
            t = last_json(train.stdout)
            card = json.loads((ckpt / "card.json").read_text()) if (ckpt / "card.json").exists() else {}
            accel = card.get("hyperparameters", {}).get("accel_used", "?")
            if ev.returncode != 0:
                print(f"{method:<14} FAILED to reload on the CPU: {ev.stderr.strip().splitlines()[-1:]}")
                failed += 1
                continue
            e = last_json(ev.stdout)
            agree = abs(e["accuracy"] - t["target_acc"]) <= 0.5
            failed += not agree
            print(f"{method:<14} {args.device} target {t['target_acc']:5.1f}%   reloaded on cpu {e['accuracy']:5.1f}%"
                  f"{'' if agree else ' (MISMATCH)'}   {t['images_per_s']:9.0f} img/s   accel {accel}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
