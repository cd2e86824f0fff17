"""What the Train page would tell a user without labels about each scenario's default run.

    taskset -c 1 python scripts/bench/demo_verdicts.py --json docs/benchmarks/demo-verdicts.json

For every shipped scenario it trains the demo run the page offers (core.training.demo.demo_for, seed
0, one torch thread), estimates its accuracy on the target's test pictures without their labels
(core.inference.estimate.estimate_images, the default estimator) and the shipped source-only
model's on the same pictures, and writes the page's sentence (ui.estimate.versus) beside both
models' true accuracies — which the sentence never reads.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    import torch

    from core.data import load_domain
    from core.inference.estimate import estimate_images
    from core.methods import baseline
    from core.training.demo import demo_for
    from core.training.engine import train
    from core.training.plan import prepare_run
    from core.zoo import SCENARIOS, make_name
    from core.zoo.refs import load_ref
    from ui.estimate import versus

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for source, target in SCENARIOS:
        demo = demo_for(source, target)
        result = train(prepare_run(demo.config(seed=0, device="cpu", threads=1)))
        images = load_domain(target, "test", size=int(result.card["input_size"]),
                             classes=result.card["class_names"]).images
        run = estimate_images(result.model.eval(), result.card, images)
        ref = make_name(source, target, baseline())
        base_model, base_card = load_ref(ref)
        base = estimate_images(base_model, base_card, images, ref=ref)
        base_acc = (base_card.get("metrics") or {}).get("target_acc")
        rows.append({"scenario": f"{source}->{target}", "method": demo.method, "tier": demo.tier, "steps": demo.steps,
                     "run_true_acc": round(result.target_acc, 1),
                     "run_estimate": {k: round(run[k], 1) for k in ("estimated_acc", "low", "high")},
                     "source_only_true_acc": round(base_acc, 1) if base_acc is not None else None,
                     "source_only_estimate": {k: round(base[k], 1) for k in ("estimated_acc", "low", "high")},
                     "estimator": run["estimator"], "says": versus(run, base, "the pretrained source-only model")})
        print(json.dumps(rows[-1]), flush=True)
    out = {"command": "python scripts/bench/demo_verdicts.py " + " ".join(argv or sys.argv[1:]), "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
