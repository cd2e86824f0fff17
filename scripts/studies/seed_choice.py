"""Can the label-free choice use the seeds? Every candidate on every seed, on fixture pools only.

    python -m core fixtures --out unseen
    python scripts/studies/seed_choice.py --source mnist --fixtures unseen --domains colour paper handwriting \\
        --out /tmp/seed-choice-a.json                # one process per core, each with some domains
    python scripts/studies/seed_choice.py --table /tmp/seed-choice-a.json /tmp/seed-choice-b.json \\
        --json docs/benchmarks/seed-choice.json

The zoo builds every method on three seeds and recommends the one whose *mean* validator score
(DEVN) is highest; the seeds' disagreement with each other — which needs no label — is not used.
Jiang et al. (ICLR 2022, "Assessing generalization of SGD via disagreement") found that two runs of
the same recipe that differ only in their seed disagree on the unlabelled test pictures about as
often as they err, so the seeds of a cell carry an accuracy estimate of their own:

    seed_agreement = mean over pairs of seeds j < k of (1/N) Σ_i 1[argmax z^(j)_i = argmax z^(k)_i]
                     (z^(k): seed k's logits on the N unlabelled target train pictures)

This study trains the candidates the zoo chooses among (source-only and the 11 methods that adapt
without target labels), each in its zoo recipe (``--steps`` shortens it; one thread), from
``--source`` to each fixture domain of ``python -m core fixtures`` on ``--seeds``, and keeps per run every single-model validator's score,
the largest class share (the collapse rule's input), the top class on each unlabelled target train
picture (for the agreement) and — for scoring the rules only — the target test accuracy. The
shipped scenarios' targets are never read.

**The rules compared** (each keeps :func:`core.selection.choice.choose`'s collapse filter, on the
seed-mean scores and shares, as the zoo does):

- ``devn``: the highest mean DEVN (the zoo's rule today).
- ``seed_agreement``: the highest seed agreement.
- ``devn_agreeing_T`` for T in 0.03, 0.05, 0.10: the highest mean DEVN among the candidates whose
  seed agreement is within T of the most agreeing candidate's.
- ``rank_mean``: the best mean of the two ranks (DEVN, seed agreement, over every scored
  candidate); ties to DEVN's order.

**How one is preferred, declared before the runs** (:data:`RULE`): per pool (source → fixture
domain) the selection gap is the best candidate's mean test accuracy over the seeds minus the chosen
one's. The rule with the lowest worst gap over the pools wins, the mean gap breaking ties within
1 point; ``devn``, listed first, keeps the choice unless another rule's worst gap is lower by more
than 1 point. The chosen method's spread over seeds is reported beside it.

**Added after the rules above were declared and run** (kept out of the preference: :data:`POST_HOC`):
``devn_kappa_0.03``, the zoo's rule with the seeds' agreement corrected for chance — Cohen's κ,
(p_o − p_e) / (1 − p_e) with p_e = Σ_c p^(j)_c p^(k)_c from the two seeds' class shares, averaged
over pairs (:func:`core.selection.choice.seed_kappa`) — prompted by a ``recommend`` pool (UCI digits → other printed
fonts) where two seeds that pile onto the same class agree more than two that are right.

Results are written after every (domain, seed); those already in ``--out`` are skipped, so a stopped
study resumes.
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

from core.selection.choice import seed_agreement, seed_kappa  # noqa: E402
from core.util.files import write_json_atomic  # noqa: E402

TIE_PTS = 1.0
FIRST = "devn"
THRESHOLDS = (0.03, 0.05, 0.10)
RULE = ("Per pool the selection gap is the best candidate's seed-mean test accuracy minus the chosen one's; "
        "the rule with the lowest worst gap over the pools wins, the mean gap breaking ties within "
        f"{TIE_PTS:g} point; {FIRST} (the zoo's rule) keeps the choice unless another rule's worst gap is "
        f"lower by more than {TIE_PTS:g} point.")


# ---- the runs ------------------------------------------------------------------------------------
def run_pool(source: str, target: str, seed: int, steps: int | None) -> dict:
    """Every candidate of the label-free choice on ``source → target`` with ``seed``, each in its zoo
    recipe (``steps``: shortened): {method: row}."""
    from core.selection.scoring import candidate_methods, run_config, runnable_candidates, train_and_score
    from core.training.engine import TrainingError
    from core.validators import ValidatorError

    names, _ = runnable_candidates(candidate_methods(), source, target)
    rows, domains = {}, None
    for name in names:
        config = run_config(name, source, target, seed, "cpu", steps, 1)
        try:
            done = train_and_score(config, "devn", domains=domains, require_score=False)
        except (TrainingError, ValidatorError) as err:
            rows[name] = {"error": str(err)}
            continue
        domains = done["domains"]
        rows[name] = {"scores": {k: round(v, 6) for k, v in done["scores"].items()},
                      "largest_class_share": round(done["largest_class_share"], 4),
                      "target_acc": round(done["target_acc"], 2), "seconds": round(done["seconds"], 1),
                      "target_top": done["evidence"].target_logits.argmax(1).tolist()}
        print(f"  {target} seed {seed} {name}: {rows[name]['target_acc']:.1f}%  devn "
              f"{rows[name]['scores'].get('devn')}  {rows[name]['seconds']:.0f} s", flush=True)
    return rows


# ---- the rules -----------------------------------------------------------------------------------
# how often the seeds agree: core.selection.choice.seed_agreement (the rule the zoo applies reads it too)
def summarise(pool: dict[int, dict]) -> dict[str, dict]:
    """{method: {acc_mean, acc_sd, devn, seed_agreement, largest_class_share, seconds, accs}} over the
    seeds where the method trained (``seconds``: a run's mean training and scoring time)."""
    methods = sorted({m for rows in pool.values() for m in rows}, key=lambda m: list(next(iter(pool.values()))).index(m)
                     if m in next(iter(pool.values())) else 99)
    out = {}
    for m in methods:
        runs = [rows[m] for rows in pool.values() if "error" not in rows.get(m, {"error": 1})]
        if not runs:
            continue
        accs = [r["target_acc"] for r in runs]
        devns = [r["scores"].get("devn") for r in runs if r["scores"].get("devn") is not None]
        out[m] = {"accs": accs, "acc_mean": statistics.fmean(accs),
                  "acc_sd": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                  "devn": statistics.fmean(devns) if devns else None,
                  "seed_agreement": seed_agreement([r["target_top"] for r in runs]),
                  "seed_kappa": seed_kappa([r["target_top"] for r in runs]),
                  "largest_class_share": statistics.fmean(r["largest_class_share"] for r in runs),
                  "seconds": statistics.fmean(r["seconds"] for r in runs)}
    return out


def choose_by(rule: str, summary: dict[str, dict]) -> str | None:
    """The method ``rule`` (see the module docstring) picks from ``summary`` through
    :func:`core.selection.choice.choose` — its collapse filter, its tie order — reading no test accuracy."""
    from core.selection.choice import choose, choose_agreeing

    scored = [m for m in summary if summary[m]["devn"] is not None]
    devn = {m: summary[m]["devn"] for m in scored}
    agree = {m: summary[m]["seed_agreement"] or 0.0 for m in scored}
    rank_d = {m: i for i, m in enumerate(sorted(scored, key=lambda m: -devn[m]))}
    rank_a = {m: i for i, m in enumerate(sorted(scored, key=lambda m: -agree[m]))}
    pool = {m: {"scores": {"devn": devn[m], "seed_agreement": agree[m],
                           "rank_mean": -(rank_d[m] + rank_a[m]) - rank_d[m] / (len(scored) + 1)},  # ties: DEVN's order
                "largest_class_share": summary[m]["largest_class_share"], "seed_agreement": agree[m]} for m in scored}
    if rule in ("devn", "seed_agreement", "rank_mean"):
        return choose(pool, rule)
    if rule.startswith("devn_agreeing_"):
        return choose_agreeing(pool, "devn", margin=float(rule.rsplit("_", 1)[1]))  # the zoo's rule at margin T
    if rule.startswith("devn_kappa_"):
        by_kappa = {m: {**c, "seed_agreement": summary[m]["seed_kappa"] or 0.0} for m, c in pool.items()}
        return choose_agreeing(by_kappa, "devn", margin=float(rule.rsplit("_", 1)[1]))
    raise ValueError(f"unknown rule {rule!r}; valid: {', '.join(RULES)}")


RULES = ["devn", "seed_agreement", *(f"devn_agreeing_{t:.2f}" for t in THRESHOLDS), "rank_mean"]
#: Rules added after the study's rules were declared and run: reported, never preferred.
POST_HOC = ["devn_kappa_0.03"]


def evaluate(pools: dict[str, dict[int, dict]]) -> dict:
    """Per rule: its choice, gap and the chosen method's spread on every pool with at least two seeds
    (a pool of one seed has no agreement to read, one where no run has a DEVN score nothing to choose
    by; both are listed as left out); worst and mean gap; and which rule :data:`RULE` prefers.
    ValueError when no pool is left."""
    left_out = sorted(p for p, pool in pools.items() if len(pool) < 2)  # no seeds to compare: not a pool for these rules
    summaries = {p: summarise(pool) for p, pool in pools.items() if p not in left_out}
    unscored = sorted(p for p, s in summaries.items() if all(row["devn"] is None for row in s.values()))
    summaries = {p: s for p, s in summaries.items() if p not in unscored}  # no DEVN score: nothing to choose from
    if not summaries:
        raise ValueError("no pool has two seeds and a DEVN score to choose by"
                         + (f" (without DEVN: {', '.join(unscored)})" if unscored else ""))
    by_rule = {rule: _rule_on_pools(rule, summaries) for rule in RULES}
    return {"rule": RULE, "rules": by_rule, "preferred": prefer(by_rule), "left_out_one_seed": left_out,
            **({"left_out_without_devn": unscored} if unscored else {}),
            "post_hoc": {rule: _rule_on_pools(rule, summaries) for rule in POST_HOC},
            "summaries": {p: {m: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
                              for m, row in s.items()} for p, s in summaries.items()}}


def _rule_on_pools(rule: str, summaries: dict[str, dict]) -> dict:
    """One rule's choice, its mean accuracy and spread, the best in hindsight and the gap per pool;
    the worst and mean gap and the mean spread over the pools."""
    per_pool = {}
    for p, s in summaries.items():
        chosen = choose_by(rule, s)
        best = max(s, key=lambda m: s[m]["acc_mean"])
        per_pool[p] = {"chosen": chosen, "acc": round(s[chosen]["acc_mean"], 2), "sd": round(s[chosen]["acc_sd"], 2),
                       "best": best, "gap": round(s[best]["acc_mean"] - s[chosen]["acc_mean"], 2)}
    gaps = [v["gap"] for v in per_pool.values()]
    return {"pools": per_pool, "worst_gap": max(gaps), "mean_gap": round(statistics.fmean(gaps), 2),
            "mean_sd": round(statistics.fmean(v["sd"] for v in per_pool.values()), 2)}


def prefer(by_rule: dict[str, dict]) -> str:
    """:data:`RULE` applied: the first rule keeps the choice unless another's worst gap is lower by more
    than :data:`TIE_PTS`; among those, the lowest worst gap, then the lowest mean gap."""
    first = by_rule[FIRST]
    better = [r for r, v in by_rule.items() if v["worst_gap"] < first["worst_gap"] - TIE_PTS]
    if not better:
        return FIRST
    low = min(by_rule[r]["worst_gap"] for r in better)
    near = [r for r in better if by_rule[r]["worst_gap"] <= low + TIE_PTS]
    return min(near, key=lambda r: (by_rule[r]["mean_gap"], by_rule[r]["worst_gap"]))


def load_pools(paths: list[str]) -> dict[str, dict[int, dict]]:
    pools: dict[str, dict[int, dict]] = {}
    for path in paths:
        for key, rows in json.loads(Path(path).read_text())["runs"].items():
            pool, seed = key.rsplit("/", 1)
            pools.setdefault(pool, {})[int(seed)] = rows
    return pools


def table(result: dict) -> str:
    lines = ["| rule | " + " | ".join(next(iter(result["rules"].values()))["pools"]) + " | worst gap | mean gap |",
             "|---" * (3 + len(next(iter(result["rules"].values()))["pools"])) + "|"]
    post_hoc = result.get("post_hoc", {})
    for rule, v in [*result["rules"].items(), *post_hoc.items()]:
        cells = [f"{c['chosen']} {c['acc']:.1f} ± {c['sd']:.1f} (gap {c['gap']:.1f})" for c in v["pools"].values()]
        label = f"{rule} (added after, not preferred)" if rule in post_hoc else rule
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {v['worst_gap']:.1f} | {v['mean_gap']:.1f} |")
    left = f"\nleft out (one seed only): {', '.join(result['left_out_one_seed'])}" if result["left_out_one_seed"] else ""
    if result.get("left_out_without_devn"):
        left += f"\nleft out (no run with a DEVN score): {', '.join(result['left_out_without_devn'])}"
    return "\n".join(lines) + f"\n\npreferred by the declared rule: {result['preferred']}" + left


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", default="mnist")
    ap.add_argument("--fixtures", default="/tmp/fixtures")
    ap.add_argument("--domains", nargs="+", default=None)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=None, help="steps per candidate (default: each method's zoo recipe)")
    ap.add_argument("--out", default=None, help="JSON the runs are written to (resumes from it)")
    ap.add_argument("--table", nargs="+", default=None, metavar="RUNS_JSON", help="only evaluate the rules on these runs")
    ap.add_argument("--json", default=None, help="with --table: write the evaluation (and the runs' summaries) here")
    args = ap.parse_args(argv)
    if args.table:
        result = evaluate(load_pools(args.table))
        print(table(result))
        if args.json:
            write_json_atomic(args.json, result)
        return 0
    if not args.out:
        ap.error("--out is needed to run (or --table to evaluate)")
    import torch

    torch.set_num_threads(1)
    fixtures = Path(args.fixtures)
    domains = args.domains or sorted(p.name for p in fixtures.iterdir() if (p / "test").is_dir())
    out = Path(args.out)
    data = json.loads(out.read_text()) if out.exists() else {"source": args.source, "runs": {}}
    for d in domains:  # a pool at a time: a stopped study leaves whole pools
        for seed in args.seeds:
            key = f"{args.source}->{d}/{seed}"
            if key in data["runs"]:
                continue
            started = time.perf_counter()
            data["runs"][key] = run_pool(args.source, f"folder:{fixtures / d}", seed, args.steps)
            write_json_atomic(out, data)
            print(f"{key}: {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
