"""The universal digits model: every embedded domain, the best domain-generalisation recipe.

    python -m core zoo universal [--out pretrained/universal] [--steps 4000] [--seed 0]   # the recipe: core.studies.universal
    python scripts/studies/universal.py train [...]        # the same, from here
    python scripts/studies/universal.py evaluate --unseen DIR [--model pretrained/universal] [--json FILE]

``train`` fits the digits CNN with batch norm (so test-time adaptation has statistics to
re-estimate, :mod:`core.tta`) on mnist + mnistm + syndigits + ucidigits train splits with
:func:`core.studies.universal.lodo_winner` — the method that scored best on the leave-one-domain-out benchmark
(scripts/studies/lodo.py: trained on three embedded domains, judged on the fourth; no unseen domain and no
target test label chose it) — and writes an fp16 checkpoint (≈ 0.4 MB) whose card lists the test
accuracy on every embedded domain. Deterministic for a seed on the CPU, one thread.

``evaluate`` is the honest final benchmark on unseen domains (ImageFolder trees such as
``python -m core fixtures --out DIR`` writes: DIR/<domain>/{train,test}/<class>/...): accuracy on each
domain's test split without adaptation, with and without :func:`core.imageio.centre_like_mnist`;
then each test-time adaptation method adapted to ≤ 500 unlabelled train pictures of each domain
(before/after accuracy, the guard's verdict, seconds), and the time to adapt to 100 pictures on
one CPU thread. Prints Markdown tables; ``--json`` writes everything.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402


from core.studies.universal import DEFAULT_OUT, STEPS, lodo_winner, train_universal  # noqa: E402


# ------------------------------------------------------------------------------------ evaluate

def _accuracy(model, x, y) -> float:
    from core.evaluation import accuracy, predict_logits

    return round(accuracy(predict_logits(model, x), y), 2)


def evaluate(model_ref: str, unseen: Path, tta_methods: list[str], max_images: int = 500, seed: int = 0) -> dict:
    from core.zoo.refs import load_ref
    from core.tta import adapt
    from core.tta.domain import load_pictures

    model, card = load_ref(model_ref)
    size = int(card["input_size"])
    domains = sorted(p.name for p in unseen.iterdir() if (p / "test").is_dir())
    out = {"model": model_ref, "unseen": str(unseen), "domains": {}, "timing_100": {}}
    for name in domains:
        spec = f"folder:{unseen / name}"
        row = {}
        for normalize in ("none", "centre"):
            test_x, test_y = load_pictures(spec, "test", size, normalize)
            train_x, _ = load_pictures(spec, "train", size, normalize)  # unlabelled: labels unused
            pick = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(seed))[:max_images]
            row[normalize] = {"accuracy": _accuracy(model, test_x, test_y), "n_test": len(test_y), "tta": {}}
            for method in tta_methods:
                result = adapt(model, train_x[pick.sort().values], method, seed=seed)
                row[normalize]["tta"][method] = {
                    "after": _accuracy(result.model, test_x, test_y), "verdict": result.verdict,
                    "reason": result.reason, "seconds": round(result.seconds, 2), "n_images": result.n_images}
            print(f"{name:>14} {normalize:>6}: {row[normalize]['accuracy']:5.1f} % | " + " | ".join(
                f"{m} {r['after']:.1f} ({'ok' if r['verdict'] == 'adapted' else 'kept'})"
                for m, r in row[normalize]["tta"].items()), file=sys.stderr, flush=True)
        out["domains"][name] = row
    # the time to adapt to 100 pictures on one thread (the first domain's train split)
    torch.set_num_threads(1)
    if domains:
        x, _ = load_pictures(f"folder:{unseen / domains[0]}", "train", size, "none")
        for method in tta_methods:
            out["timing_100"][method] = round(adapt(model, x[:100], method, seed=seed).seconds, 2)
    return out


def markdown(result: dict) -> str:
    domains = list(result["domains"])
    lines = ["| unseen domain | no adaptation | centred like MNIST |", "|---|---|---|"]
    for d in domains:
        r = result["domains"][d]
        lines.append(f"| {d} | {r['none']['accuracy']:.1f} | {r['centre']['accuracy']:.1f} |")
    methods = list(next(iter(result["domains"].values()))["none"]["tta"]) if domains else []
    if methods:
        lines += ["", "| unseen domain | preprocessing | before | " + " | ".join(f"after {m}" for m in methods) + " |",
                  "|---|---|---|" + "---|" * len(methods)]
        for d in domains:
            for normalize in ("none", "centre"):
                r = result["domains"][d][normalize]
                cells = [f"{r['tta'][m]['after']:.1f}" + ("" if r["tta"][m]["verdict"] == "adapted" else " (kept)")
                         for m in methods]
                lines.append(f"| {d} | {normalize} | {r['accuracy']:.1f} | " + " | ".join(cells) + " |")
    if result.get("timing_100"):
        lines += ["", "Seconds to adapt to 100 pictures, one CPU thread: " +
                  ", ".join(f"{m} {s:.2f} s" for m, s in result["timing_100"].items())]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the universal model")
    t.add_argument("--out", default=str(DEFAULT_OUT))
    t.add_argument("--steps", type=int, default=STEPS)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--method", default=None, help="default: the leave-one-domain-out winner (core.studies.universal.lodo_winner)")
    t.add_argument("--device", default="cpu")
    e = sub.add_parser("evaluate", help="accuracy on unseen domains, with and without centring, and TTA")
    e.add_argument("--model", default=str(DEFAULT_OUT))
    e.add_argument("--unseen", required=True, help="folder of ImageFolder domains (python -m core fixtures --out DIR)")
    e.add_argument("--tta", nargs="*", default=None, help="TTA methods (default: all)")
    e.add_argument("--max-images", type=int, default=500)
    e.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.command == "train":
        print(json.dumps(train_universal(Path(args.out), args.steps, args.seed, args.method or lodo_winner(), args.device)))
        return 0
    from core.tta import ordered

    result = evaluate(args.model, Path(args.unseen), ordered() if args.tta is None else args.tta, args.max_images)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
