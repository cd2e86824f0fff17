"""How well does each label-free validator track true target accuracy? The measurement behind
``core.selection.DEFAULT_VALIDATOR``.

Two phases, so validators can be re-scored without retraining:

    # 1. train a population of models per scenario and keep each model's evidence (resumable)
    OMP_NUM_THREADS=1 python scripts/studies/validator_study.py train [--steps 500] [--trials 3]
    # 2. score every model with *every* registered validator, from the same stored evidence
    python scripts/studies/validator_study.py report [--json]

Population: on each shipped scenario (core.zoo.SCENARIOS), for every adapted method that needs
no target labels (core.selection.candidate_methods) ``--trials`` models — the recipe's default
settings first, then settings drawn at random from the method's search space (Hyper.search plus
the learning rate, as ``core tune`` searches them), each with its own seed — plus source-only at the
default and one random learning rate. Diverging runs are recorded and left out of the ranks.

Report, per scenario and validator: the Spearman rank correlation of the score with
  * the accuracy on the very target *train* images the validators scored (their labels exist for
    the shipped domains; the choice of the default uses this one), and
  * the target *test* accuracy (reported, never used to choose);
and the test accuracy of the model each validator would pick, beside the best and source-only.
The default is the validator whose *worst* scenario correlation (train labels) is highest, and a
leave-one-scenario-out line says whether choosing on three scenarios picks a validator that holds
on the fourth.

Files (not committed): ``--out`` (default runs/validator-study): records.jsonl (one line per
model) and evidence/<key>.pt (logits and features, ~1 MB each).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

DEFAULT_OUT = REPO / "runs" / "validator-study"


def scenario_key(source: str, target: str) -> str:
    return f"{source}->{target}"


def load_records(out: Path) -> list[dict]:
    path = out / "records.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _settings_for(method: str, key: str, index: int):
    """Trial 0: the recipe's defaults (lr None, no overrides); later: a random draw from the search space."""
    import optuna

    from core.selection.tune import search_space, suggest as _suggest

    if index == 0:
        return None, {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=zlib.crc32(key.encode())))
    space = search_space(method)
    params = _suggest(study.ask(), space, method)
    return params.pop("lr"), params


def train_population(out: Path, scenarios, methods, trials: int, steps: int, threads: int) -> None:
    from core.data import load_domain
    from core.training.engine import TrainingError
    from core.selection import run_config as _config, train_and_score
    from core.util.stats import rounded as _num
    from core.validators import ValidatorError
    from core.validators.evidence import TARGET_CAP, sample_indices

    (out / "evidence").mkdir(parents=True, exist_ok=True)
    done = {r["key"] for r in load_records(out)}
    plan = []
    for source, target in scenarios:
        for method in methods:
            n = 2 if method == "source_only" else trials
            plan += [(source, target, method, i) for i in range(n)]
    todo = [p for p in plan if f"{scenario_key(p[0], p[1])}/{p[2]}/{p[3]}" not in done]
    print(f"{len(plan)} models planned, {len(plan) - len(todo)} done, {len(todo)} to train", file=sys.stderr)
    for k, (source, target, method, i) in enumerate(todo, 1):
        key = f"{scenario_key(source, target)}/{method}/{i}"
        lr, hparams = _settings_for(method, key, i)
        config = _config(method, source, target, seed=i, device="cpu", steps=steps, threads=threads, lr=lr,
                         hparams=hparams)
        record = {"key": key, "scenario": scenario_key(source, target), "method": method, "trial": i, "seed": i,
                  "steps": steps, "lr": config.lr, "hparams": config.hparams}
        started = time.perf_counter()
        try:
            result = train_and_score(config, "source_val_acc")
        except (TrainingError, ValidatorError) as err:
            record.update(error=str(err))
        else:
            ev = result["evidence"]
            tgt = load_domain(target, "train")
            labels = tgt.labels[sample_indices(len(tgt), TARGET_CAP)]
            torch.save({name: getattr(ev, name) for name in ev.__dataclass_fields__} | {"target_labels": labels},
                       out / "evidence" / f"{key.replace('/', '__').replace('->', '-')}.pt")
            record.update(target_acc=_num(result["target_acc"]), source_val_acc=result["source_val_acc"],
                          target_train_acc=_num(100.0 * (ev.target_logits.argmax(1) == labels).double().mean().item()),
                          scores={k: _num(v, 6) for k, v in result["scores"].items()})
        record["seconds"] = round(time.perf_counter() - started, 1)
        with open(out / "records.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        acc = record.get("target_acc")
        print(f"[{k}/{len(todo)}] {key}: target {acc}  ({record['seconds']} s)"
              + (f"  FAILED: {record['error']}" if "error" in record else ""), file=sys.stderr, flush=True)


def rescore(out: Path, records: list[dict]) -> list[dict]:
    """Every registered validator's score for every stored model, from its stored evidence."""
    from core.validators import VALIDATORS, Evidence, score_all

    rows = []
    for r in records:
        if "error" in r:
            continue
        path = out / "evidence" / f"{r['key'].replace('/', '__').replace('->', '-')}.pt"
        blob = torch.load(path, weights_only=True)
        ev = Evidence(**{k: v for k, v in blob.items() if k != "target_labels"})
        scores, errors = score_all(ev, list(VALIDATORS))
        rows.append({**r, "scores": scores, "validator_errors": errors,
                     "_target_probs": ev.target_logits.float().softmax(1)})
    add_ensemble_agreement(rows)
    return rows


ENSV = "ensv (pool)"


def add_ensemble_agreement(rows: list[dict]) -> None:
    """EnsV (Hu, Luo, Liang & Foo, NeurIPS 2024): per scenario, average every model's softmax on the
    unlabelled target images, take the argmax as pseudo-labels, and score each model by its
    agreement with them,

        EnsV(f_k) = mean_i 1[argmax f_k(x_i) = argmax (1/K) Σ_j f_j(x_i)]

    A score of the *pool*, not of one model (it needs every candidate), so it is reported beside
    the registered validators and never a candidate for the default. In place: ``scores[ENSV]``."""
    for sc in {r["scenario"] for r in rows}:
        group = [r for r in rows if r["scenario"] == sc]
        pseudo = torch.stack([r["_target_probs"] for r in group]).mean(0).argmax(1)
        for r in group:
            r["scores"][ENSV] = float((r["_target_probs"].argmax(1) == pseudo).float().mean())
    for r in rows:
        r.pop("_target_probs")


def spearman(x, y):
    from scipy.stats import spearmanr

    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def analyse(rows: list[dict], validators: list[str], eligible: list[str] | None = None) -> dict:
    """Rank correlations and picks of every score in ``validators``; the default is chosen among
    ``eligible`` (default: all of them) by the declared rule."""
    eligible = validators if eligible is None else eligible
    scenarios = sorted({r["scenario"] for r in rows}, key=lambda s: [r["scenario"] for r in rows].index(s))
    table = {}
    for sc in scenarios:
        group = [r for r in rows if r["scenario"] == sc]
        best = max(r["target_acc"] for r in group)
        src = [r["target_acc"] for r in group if r["method"] == "source_only" and r["trial"] == 0]
        table[sc] = {"n": len(group), "best_acc": best, "source_only_acc": src[0] if src else None,
                     "validators": {}}
        for v in validators:
            g = [r for r in group if v in r["scores"]]
            s = [r["scores"][v] for r in g]
            pick = max(g, key=lambda r: r["scores"][v]) if g else None
            table[sc]["validators"][v] = {
                "rho_train": spearman(s, [r["target_train_acc"] for r in g]),
                "rho_test": spearman(s, [r["target_acc"] for r in g]),
                "picked": None if pick is None else pick["key"].split("/", 1)[1],
                "picked_acc": None if pick is None else pick["target_acc"],
            }

    def worst(v, among):
        vals = [table[sc]["validators"][v]["rho_train"] for sc in among]
        return min(((x if math.isfinite(x) else -1.0) for x in vals), default=float("nan"))

    default = max(eligible, key=lambda v: worst(v, scenarios))
    loso = {}
    for held in scenarios if len(scenarios) > 1 else []:
        rest = [s for s in scenarios if s != held]
        chosen = max(eligible, key=lambda v: worst(v, rest))
        loso[held] = {"chosen_on_rest": chosen, "rho_test_on_held": table[held]["validators"][chosen]["rho_test"]}
    return {"scenarios": table, "default": default, "worst_rho_train": {v: worst(v, scenarios) for v in validators},
            "leave_one_out": loso}


def markdown(result: dict, validators: list[str]) -> str:
    sc = list(result["scenarios"])
    lines = ["| validator | " + " | ".join(f"{s} ρ train / test" for s in sc) + " | worst ρ (train) |",
             "|---|" + "---|" * (len(sc) + 1)]
    for v in validators:
        cells = []
        for s in sc:
            c = result["scenarios"][s]["validators"][v]
            cells.append(f"{c['rho_train']:+.2f} / {c['rho_test']:+.2f}")
        lines.append(f"| {v} | " + " | ".join(cells) + f" | {result['worst_rho_train'][v]:+.2f} |")
    lines += ["", "| test accuracy of the model picked | " + " | ".join(sc) + " |", "|---|" + "---|" * len(sc)]
    lines.append("| best of the population (oracle) | " + " | ".join(f"{result['scenarios'][s]['best_acc']:.1f}" for s in sc) + " |")
    lines.append("| source only (default) | " + " | ".join(
        "—" if result["scenarios"][s]["source_only_acc"] is None else f"{result['scenarios'][s]['source_only_acc']:.1f}"
        for s in sc) + " |")
    for v in validators:
        lines.append(f"| {v} | " + " | ".join(
            f"{result['scenarios'][s]['validators'][v]['picked_acc']:.1f} ({result['scenarios'][s]['validators'][v]['picked']})"
            for s in sc) + " |")
    lines += ["", f"default (highest worst-scenario ρ on target-train labels): **{result['default']}**", ""]
    for held, d in result["leave_one_out"].items():
        lines.append(f"- chosen without {held}: {d['chosen_on_rest']}, whose ρ (test) on {held} is {d['rho_test_on_held']:+.2f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    from core.training.recipes import SCENARIOS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="phase", required=True)
    t = sub.add_parser("train")
    t.add_argument("--steps", type=int, default=500)
    t.add_argument("--trials", type=int, default=3, help="models per adapted method and scenario")
    t.add_argument("--methods", default=None, help="comma-separated (default: source_only + candidate methods)")
    t.add_argument("--scenario", action="append", metavar="SOURCE->TARGET")
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--out", default=str(DEFAULT_OUT))
    r = sub.add_parser("report")
    r.add_argument("--out", default=str(DEFAULT_OUT))
    r.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.phase == "train":
        from core.selection import candidate_methods

        torch.set_num_threads(args.threads)
        scenarios = [tuple(s.split("->")) for s in args.scenario] if args.scenario else SCENARIOS
        methods = args.methods.split(",") if args.methods else candidate_methods()
        train_population(out, scenarios, methods, args.trials, args.steps, args.threads)
        return 0
    from core.validators import VALIDATORS

    rows = rescore(out, load_records(out))
    registered = list(VALIDATORS)
    result = analyse(rows, registered + [ENSV], eligible=registered)
    print(json.dumps(result) if args.json else markdown(result, registered + [ENSV]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
