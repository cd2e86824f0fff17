"""Recipes for the classic alignment methods, chosen on fixture pairs (never the shipped scenarios).

    python -m core fixtures --out unseen
    python scripts/studies/classic_recipes.py --fixtures unseen [--seeds 0] [--out docs/benchmarks/classic-recipes.json]
    python scripts/studies/classic_recipes.py --table          # the table from the JSON, no training

Each variant (below) of DANN, CDAN, MCC and MMD, and source-only with the same model, trains with the
zoo's recipe otherwise (1,500 steps, batch 64 + 64, Adam 1e-3) from MNIST to fixture domains that
`python -m core fixtures` synthesises — their labels are ours to tune on. The shipped scenarios'
targets are never read. The rule: per method, the variant with the highest mean gain over the
zoo's source-only model (the recipe's, same pair and seed: the baseline the leaderboard compares
with) across the fixture pairs wins; a tie within 1 point goes to the simpler variant (the earlier
one in :data:`VARIANTS`). Source-only with the variants' model options is trained too, to show
what the options alone do.

One run at a time, one thread; results are written after every run and runs already in ``--out``
are skipped, so an interrupted study resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

if __name__ == "__main__":  # one thread per run; an importing test process keeps its own
    os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

METHODS = ("dann", "cdan", "mcc", "mmd")
WEIGHT = {"dann": "domain_weight", "cdan": "domain_weight", "mcc": "mcc_weight", "mmd": "mmd_weight"}
#: name → (model options, config overrides, hparams — "w" is the method's alignment weight —, and
#: the methods it is tried on, None for all). "bn+disc256" and "bn+lr3e-4" were added for CDAN alone,
#: whose best variant of the first six gained least of the adversarial methods on the fixture pairs
#: (+4.2); then the two methods still short of +10 on the shipped pair (which decided only which
#: methods got another look, never which variant won) got one idea each from their papers' setting: CDAN's discriminator with the code's dropout 0.5, and MCC's weight ramped up as
#: DANN's λ (the paper starts from ImageNet features, whose target predictions mean something at once).
VARIANTS = {
    "recipe": ({}, {}, {}, None),
    "bn": ({"batch_norm": True}, {}, {}, None),
    "weight0.3": ({}, {}, {"w": 0.3}, None),
    "bn+weight0.3": ({"batch_norm": True}, {}, {"w": 0.3}, None),
    # per-picture standardisation (self-ensembling's input): brightness and contrast carry no information
    "std": ({"input_norm": "image"}, {}, {}, None),
    "bn+std": ({"batch_norm": True, "input_norm": "image"}, {}, {}, None),
    # a discriminator sized to the 1,280-wide conditioned features rather than the paper's 1024-1024
    "bn+disc256": ({"batch_norm": True}, {}, {"disc_hidden": 256}, ("cdan",)),
    "bn+lr3e-4": ({"batch_norm": True}, {"lr": 3e-4}, {}, ("cdan",)),
    "bn+drop0.5": ({"batch_norm": True}, {}, {"disc_dropout": 0.5}, ("cdan",)),
    "bn+std+drop0.5": ({"batch_norm": True, "input_norm": "image"}, {}, {"disc_dropout": 0.5}, ("cdan",)),
    "ramp": ({}, {}, {"ramp": True}, ("mcc",)),
    "bn+ramp": ({"batch_norm": True}, {}, {"ramp": True}, ("mcc",)),
    "std+ramp": ({"input_norm": "image"}, {}, {"ramp": True}, ("mcc",)),
}
#: the variants whose model options source-only is trained with too (weights are not its own)
MODEL_VARIANTS = ("recipe", "bn", "std", "bn+std")


def variants_of(method: str) -> list[str]:
    """The variants ``method`` is trained with, in the order ties are broken."""
    return [v for v, (*_, methods) in VARIANTS.items() if methods is None or method in methods]


PAIRS = (("mnist", "mnistm_other"), ("mnist", "colour"))


def run_one(method: str, variant: str, source: str, target: str, seed: int) -> dict:
    from core.training.engine import train
    from core.training.recipes import recipe

    from core.methods import get_method

    model, config, hp, _ = VARIANTS[variant]
    cls = get_method(method)
    # the paper's value of every setting the shipped recipe changes, unless the variant sets it
    hparams = {k: cls.hyperparameters[k].default for k in (getattr(cls, "recipe", {}) or {}).get("hparams", {})}
    hparams.update({k: v for k, v in hp.items() if k != "w"})
    if method in WEIGHT:  # the paper's weight unless the variant sets one — never the recipe's chosen one
        hparams[WEIGHT[method]] = hp.get("w", cls.hyperparameters[WEIGHT[method]].default)
    cfg = recipe(method, source, target, seed=seed, threads=1, device="cpu", eval_every=0, model=dict(model),
                 hparams=hparams, **config)
    started = time.perf_counter()
    result = train(cfg)
    return {"method": method, "variant": variant, "source": source, "target": target, "seed": seed,
            "target_acc": round(result.target_acc, 2), "source_acc": round(result.source_acc, 2),
            "seconds": round(time.perf_counter() - started, 1)}


def summary(runs: list[dict]) -> dict:
    """Per method and variant: mean gain over the recipe's source-only (same pair and seed) and the winner."""
    base = {(r["variant"], r["target"], r["seed"]): r["target_acc"] for r in runs if r["method"] == "source_only"}
    out = {}
    for method in METHODS:
        gains = {}
        for variant in variants_of(method):
            got = [r["target_acc"] - base[("recipe", r["target"], r["seed"])]
                   for r in runs if r["method"] == method and r["variant"] == variant
                   and ("recipe", r["target"], r["seed"]) in base]
            if got:
                gains[variant] = round(statistics.fmean(got), 2)
        if gains:
            best = max(gains.values())
            winner = next(v for v in variants_of(method) if v in gains and gains[v] >= best - 1.0)
            out[method] = {"mean_gain": gains, "chosen": winner}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fixtures", default=None, help="the folder `python -m core fixtures --out` wrote")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--methods", nargs="*", default=["source_only", *METHODS],
                    help="which to train (source_only: the baselines); one process per core can each take some")
    ap.add_argument("--out", default="docs/benchmarks/classic-recipes.json")
    ap.add_argument("--table", action="store_true", help="print the summary from --out and stop")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    runs = json.loads(out.read_text())["runs"] if out.exists() else []
    if not args.table:
        if not args.fixtures:
            ap.error("--fixtures is needed to train")
        fixtures = Path(args.fixtures)
        done = {(r["method"], r["variant"], r["target"], r["seed"]) for r in runs}
        todo = [("source_only", v, t, s) for s in args.seeds for _, t in PAIRS for v in MODEL_VARIANTS
                if "source_only" in args.methods]
        todo += [(m, v, t, s) for s in args.seeds for m in args.methods if m != "source_only"
                 for v in variants_of(m) for _, t in PAIRS]
        todo = [j for j in todo if j not in done]
        for i, (m, v, t, s) in enumerate(todo, 1):
            try:
                r = run_one(m, v, "mnist", f"folder:{fixtures / t}", s)
            except Exception as err:  # a diverged run is a result too
                r = {"method": m, "variant": v, "source": "mnist", "target": t, "seed": s,
                     "error": f"{type(err).__name__}: {err}", "target_acc": float("nan"), "source_acc": float("nan")}
            r["target"] = t
            runs.append(r)
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps({"protocol": __doc__.split("\n\n")[2], "runs": runs}, indent=1))
            tmp.replace(out)
            print(f"[{i}/{len(todo)}] {m} {v} mnist->{t} seed {s}: target {r['target_acc']:.1f} "
                  f"source {r['source_acc']:.1f} ({r.get('seconds', 0):.0f} s)", file=sys.stderr, flush=True)
    result = summary(runs)
    data = {"protocol": __doc__.split("\n\n")[2], "runs": runs, "summary": result}
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(out)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
