"""Sensitivity of the adaptation methods to their main knob, across the zoo's scenarios and seeds.

    python scripts/studies/sweep.py [--device cuda] [--seeds 3] [--steps 1500] [--out sweep.json]

Trains source-only, DANN (domain weight × learning-rate annealing) and MMD (weight) with the zoo's
recipe otherwise, and prints mean ± sd target accuracy per scenario. It reads target *test* labels
to score every setting, so it shows how much a knob matters, not a fair way to choose one (an
unsupervised method cannot see those labels). Meant for a GPU: 120 runs take minutes there.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.util.stats import mean_std  # noqa: E402

from core.training.engine import train  # noqa: E402
from core.training.recipes import recipe  # noqa: E402
from core.data import scenario_key  # noqa: E402
from core.zoo import SCENARIOS  # noqa: E402

SETTINGS = [
    ("source_only", {}, {}),
    *[("dann", {"lr_anneal": anneal}, {"domain_weight": w}) for anneal in (False, True) for w in (0.1, 0.3, 1.0)],
    *[("mmd", {}, {"mmd_weight": w}) for w in (0.3, 1.0, 3.0)],
]


def label(method: str, config: dict, hparams: dict) -> str:
    parts = [f"{k}={v}" for k, v in hparams.items()] + (["lr annealed"] if config.get("lr_anneal") else [])
    return method + (f" ({', '.join(parts)})" if parts else "")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows, started = [], time.perf_counter()
    for method, config, hparams in SETTINGS:
        row = {"setting": label(method, config, hparams)}
        for source, target in SCENARIOS:
            accs = []
            for seed in range(args.seeds):
                cfg = recipe(method, source, target, seed=seed, device=args.device, steps=args.steps, eval_every=0,
                             hparams=hparams, **config)
                try:
                    accs.append(train(cfg).target_acc)
                except Exception as err:  # noqa: BLE001 - a diverged run is a result too
                    print(f"  {row['setting']} {source}->{target} seed {seed}: {err}", file=sys.stderr)
                    accs.append(float("nan"))
            row[scenario_key(source, target)] = accs
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    names = [s.key for s in SCENARIOS]
    print("| setting | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for row in rows:
        cells = []
        for name in names:
            ok = [a for a in row[name] if a == a]
            cells.append("{mean:.1f} ± {std:.1f}".format(**mean_std(ok))
                         + (f" ({len(row[name]) - len(ok)} diverged)" if len(ok) < len(row[name]) else "")
                         if ok else "diverged")
        print(f"| {row['setting']} | " + " | ".join(cells) + " |")
    print(f"{len(rows) * len(names) * args.seeds} runs in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    if args.out:
        Path(args.out).write_text(json.dumps({"steps": args.steps, "seeds": args.seeds, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
