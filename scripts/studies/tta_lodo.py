"""Test-time adaptation on the leave-one-domain-out models: how the TTA defaults were chosen.

Every model saved by ``scripts/studies/lodo.py --save-dir DIR`` was trained on three embedded domains; here
it is adapted to N unlabelled *train* pictures of the fourth (the held-out one) and scored on that
domain's test split — the same protocol as LODO itself, so no unseen fixture and no label of the
pictures adapted to is looked at. For each N, method and setting: the mean accuracy change over
``--draws`` random picture sets, and how often the guard kept the original.

    python scripts/studies/lodo.py --save-dir runs/lodo-models          # first
    python scripts/studies/tta_lodo.py --models runs/lodo-models --method-filter dg_randomize
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

# (method, settings) pairs compared; the first of each method is its default (tent: lr 3e-3)
GRID = [
    ("bn_stats", {}), ("bn_stats", {"prior": 0.0}), ("bn_stats", {"prior": 32.0}),
    ("tent", {}), ("tent", {"lr": 1e-3}), ("tent", {"epochs": 20.0}),
    ("shot_im", {}), ("shot_im", {"lr": 3e-4}), ("shot_im", {"epochs": 20.0}),
]


def main(argv=None) -> int:
    from core import checkpoints
    from core.data import load_domain
    from core.evaluation import accuracy, predict_logits
    from core.tta import adapt

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="runs/lodo-models")
    p.add_argument("--method-filter", default=None, help="only models trained with this method")
    p.add_argument("--sizes", type=int, nargs="+", default=[8, 32, 100, 500])
    p.add_argument("--draws", type=int, default=3)
    p.add_argument("--out", default="runs/tta_lodo.json")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for folder in sorted(Path(args.models).iterdir()):
        if not (folder / "card.json").exists():
            continue
        model, card = checkpoints.load(folder)
        if args.method_filter and card["method"] != args.method_filter:
            continue
        held_out = card["target"]
        train_x = load_domain(held_out, "train").float_images()
        test = load_domain(held_out, "test")
        base = accuracy(predict_logits(model, test.images), test.labels)
        for n in args.sizes:
            for method, settings in GRID:
                gains, kept = [], 0
                for draw in range(args.draws if n < len(train_x) else 1):
                    pick = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(draw))[:n]
                    result = adapt(model, train_x[pick], method, seed=draw, **settings)
                    after = accuracy(predict_logits(result.model, test.images), test.labels)
                    gains.append(after - base)
                    kept += not result.adapted
                row = {"model": card["method"], "held_out": held_out, "n": n, "tta": method, "settings": settings,
                       "before": round(base, 2), "gain": round(statistics.fmean(gains), 2),
                       "kept": f"{kept}/{len(gains)}"}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1))
    # mean gain per (n, method, settings) over the held-out domains
    print("| N | TTA | settings | mean gain (points) | guard kept |\n|---|---|---|---|---|")
    order = [(m, json.dumps(s)) for m, s in GRID]
    keys = sorted({(r["n"], r["tta"], json.dumps(r["settings"])) for r in rows},
                  key=lambda k: (k[0], order.index(k[1:]) if k[1:] in order else len(order)))
    for n, method, settings in keys:
        sel = [r for r in rows if (r["n"], r["tta"], json.dumps(r["settings"])) == (n, method, settings)]
        kept = sum(int(r["kept"].split("/")[0]) for r in sel), sum(int(r["kept"].split("/")[1]) for r in sel)
        print(f"| {n} | {method} | {settings or 'default'} | {statistics.fmean(r['gain'] for r in sel):+.1f} | "
              f"{kept[0]}/{kept[1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
