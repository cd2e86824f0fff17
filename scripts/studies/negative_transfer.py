"""Why a shipped model transfers negatively, measured: did its features align, and did the classes?

    python scripts/studies/negative_transfer.py --scenario "mnist->syndigits" "syndigits->mnist" \\
        --methods source_only dann cdan cdan_e mmd mcc self_training self_ensembling \\
        --json docs/benchmarks/negative-transfer.json

For each shipped model (seed 0) of the scenario: target test accuracy; how far apart the two
domains' features are — the proxy A-distance (0 indistinguishable … 2 separable) and the
multi-kernel MMD², both stored with the model (``alignment.npz``, 500 pictures a domain); and on
the target test pictures, per true class, the share of its pictures that go to the class most of
them are given (*purity*: 1 when every picture of a digit lands in one class, 0.1 when they spread
evenly) and whether that class is the right one. Aligned features with low purity mean the
alignment matched the two domains as wholes but not digit to digit.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def class_structure(true: np.ndarray, predicted: np.ndarray, num_classes: int) -> dict:
    """Per true class, the most common prediction and its share; their mean (purity) and how many are right.

    >>> class_structure(np.array([0, 0, 1, 1]), np.array([1, 1, 0, 1]), 2)
    {'accuracy': 25.0, 'purity': 0.75, 'classes_mostly_right': 0, 'most_common': [1, 0]}
    """
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (true, predicted), 1)
    present = confusion.sum(1) > 0
    top = confusion.argmax(1)
    purity = (confusion.max(1)[present] / confusion.sum(1)[present]).mean()
    return {"accuracy": round(float((true == predicted).mean() * 100), 1), "purity": round(float(purity), 2),
            "classes_mostly_right": int((top[present] == np.flatnonzero(present)).sum()),
            "most_common": top.tolist()}


def measure(scenario: str, method: str) -> dict:
    """One shipped model's accuracy, stored feature distances and class structure on the target test split."""
    from core.data import load_domain
    from core.evaluation.forward import predict_logits
    from core.zoo import alignment, load

    name = f"{scenario}/{method}"
    model, _ = load(name)
    domain = load_domain(scenario.split("->")[1], "test")
    predicted = predict_logits(model, domain.images).argmax(1).numpy()
    stored = alignment(name)
    return {"method": method, "proxy_a_distance": round(stored.proxy_a_distance, 2), "mmd2": round(stored.mmd, 3),
            **class_structure(domain.labels.numpy(), predicted, model.num_classes)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", nargs="+", default=["mnist->syndigits"])
    ap.add_argument("--methods", nargs="+", default=["source_only", "dann", "cdan", "mmd", "mcc", "self_ensembling"])
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    out = {}
    for scenario in args.scenario:
        out[scenario] = [measure(scenario, m) for m in args.methods]
        for r in out[scenario]:
            print(f"{scenario:18s} {r['method']:16s} acc {r['accuracy']:5.1f}  PAD {r['proxy_a_distance']:.2f}  "
                  f"MMD² {r['mmd2']:.3f}  purity {r['purity']:.2f}  classes mostly right {r['classes_mostly_right']}/10")
    if args.json:
        Path(args.json).write_text(json.dumps({"about": __doc__.split("\n\n")[2], "scenarios": out}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
