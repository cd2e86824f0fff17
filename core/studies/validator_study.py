"""Which validator to trust, judged by what a user loses by following it: the *selection gap*.

For a pool of candidates trained on one scenario, each with every validator's label-free score
and (for reporting) its target test accuracy, a validator's choice is
:func:`core.selection.choose` (the collapse rule included) and its gap is

    gap_v = accuracy of the best candidate in hindsight − accuracy of the candidate v chose   (≥ 0)

Pools come from three places, and are judged alike:

* ``recommend`` from MNIST to the fixture domains (``python -m core fixtures``; one seed, every
  candidate; ``scripts/studies/recommend_unseen.py --seeds 1``) — the pools that *choose*: their labels are
  the project's own, and no shipped scenario's target is among them;
* the zoo's scenarios (``leaderboard.json``, ``selection.points``): every candidate on seeds 0–2;
  the choice is method-level, on the mean score over seeds, as the zoo recommends
  (:func:`method_pool`), and accuracies are means over seeds — a check, never used to choose
  (choosing on them would choose by the shipped scenarios' target labels);
* ``recommend`` on the leave-one-domain-out folds of the embedded domains (one seed, every
  candidate; ``scripts/studies/recommend_lodo.py``, one seed by default) — a check too: their held-out domains are
  shipped targets.

:func:`declare_default` applies the rule: the default validator is the one with the **lowest
worst-case gap over the fixture pools**; ties go to the lower mean gap there, then to the higher
mean rank correlation on the checks, then to the registry's order.
"""

from __future__ import annotations

import itertools
import statistics

from ..util.stats import spearman

RULE = ("the lowest worst-case selection gap over the fixture pools (MNIST → the fixture domains; ties: the "
        "lower mean gap there, then the higher mean Spearman ρ on the checks, then the registry's order); the "
        "zoo's scenarios and the LODO folds only check it")


def method_pool(points: list[dict]) -> dict[str, dict]:
    """The zoo's run-level points (``{method, seed, scores, target_acc, largest_class_share}``) as
    method-level candidates: mean score per validator, mean largest-class share, mean accuracy."""
    by_method: dict[str, list[dict]] = {}
    for p in points:
        by_method.setdefault(p["method"], []).append(p)
    pool = {}
    for method, runs in by_method.items():
        names = {v for r in runs for v in (r.get("scores") or {})}
        scores = {v: statistics.fmean(r["scores"][v] for r in runs if r["scores"].get(v) is not None)
                  for v in names if any(r["scores"].get(v) is not None for r in runs)}
        shares = [r["largest_class_share"] for r in runs if r.get("largest_class_share") is not None]
        accs = [r["target_acc"] for r in runs if r.get("target_acc") is not None]
        pool[method] = {"scores": scores, "largest_class_share": statistics.fmean(shares) if shares else None,
                        "target_acc": statistics.fmean(accs) if accs else None, "n": len(runs)}
    return pool


def run_pool(candidates: list[dict]) -> dict[str, dict]:
    """``recommend``'s candidate rows as a pool (the ones that trained and have a test accuracy)."""
    return {c["method"]: {"scores": c.get("scores") or {}, "largest_class_share": c.get("largest_class_share"),
                          "target_acc": c.get("target_acc"), "n": 1}
            for c in candidates if c.get("error") is None and c.get("target_acc") is not None}


def gap(pool: dict[str, dict], validator: str) -> dict | None:
    """What following ``validator`` gives on ``pool``: ``{chosen, chosen_acc, best, best_acc, gap}``
    (None when it scores no candidate)."""
    from ..selection import choose

    chosen = choose(pool, validator)
    if chosen is None:
        return None
    best = max(pool, key=lambda m: pool[m]["target_acc"])
    return {"chosen": chosen, "chosen_acc": round(pool[chosen]["target_acc"], 2), "best": best,
            "best_acc": round(pool[best]["target_acc"], 2),
            "gap": round(pool[best]["target_acc"] - pool[chosen]["target_acc"], 2)}


def correlation(points: list[dict], validator: str) -> float | None:
    """Spearman's ρ between a validator's scores and the accuracies over a pool's runs."""
    return spearman([(p.get("scores") or {}).get(validator) for p in points], [p.get("target_acc") for p in points])


def study(scenarios: dict[str, list[dict]], lodo: dict[str, list[dict]], fixtures: dict[str, list[dict]],
          validators: list[str]) -> dict:
    """Every validator's gap (and ρ) on every pool. ``scenarios``: scenario key → the zoo's points;
    ``lodo`` / ``fixtures``: fold or domain → recommend's candidate rows. Returns
    ``{validators: {v: {scenarios, lodo, fixtures: {name: gap dict}, rho: {name: ρ}, worst, mean (over
    the fixture pools, which choose), check_worst, check_mean (over the scenarios and LODO folds),
    mean_rho}}, default, rule}``."""
    pools = {"scenarios": {k: method_pool(p) for k, p in scenarios.items()},
             "lodo": {k: run_pool(c) for k, c in lodo.items()},
             "fixtures": {k: run_pool(c) for k, c in fixtures.items()}}
    runs = {**{k: p for k, p in scenarios.items()},
            **{f"lodo:{k}": [dict(c, scores=c.get("scores") or {}) for c in v] for k, v in lodo.items()}}
    table = {}
    for v in validators:
        row = {kind: {name: gap(pool, v) for name, pool in kinds.items()} for kind, kinds in pools.items()}
        chosen_on = [g["gap"] for g in row["fixtures"].values() if g is not None]
        checked = [g["gap"] for kind in ("scenarios", "lodo") for g in row[kind].values() if g is not None]
        rhos = {name: correlation(points, v) for name, points in runs.items()}
        row.update(rho=rhos,
                   worst=max(chosen_on) if chosen_on else None, mean=round(statistics.fmean(chosen_on), 2) if chosen_on else None,
                   check_worst=max(checked) if checked else None,
                   check_mean=round(statistics.fmean(checked), 2) if checked else None,
                   mean_rho=round(statistics.fmean([r for r in rhos.values() if r is not None]), 3)
                   if any(r is not None for r in rhos.values()) else None)
        table[v] = row
    return {"validators": table, "default": declare_default(table, validators), "rule": RULE}


def declare_default(table: dict[str, dict], order: list[str]) -> str | None:
    """The declared rule (:data:`RULE`) applied to :func:`study`'s table."""
    scored = [v for v in order if table[v]["worst"] is not None]
    if not scored:
        return None
    return min(scored, key=lambda v: (table[v]["worst"], table[v]["mean"], -(table[v]["mean_rho"] or -1.0),
                                      order.index(v)))


def rank_mean(pool: dict[str, dict], members: tuple[str, ...]) -> dict[str, dict]:
    """``pool`` with one more score, ``"+".join(members)``: the mean over ``members`` of each
    candidate's rank within the pool, scaled to [0, 1] (1 = that validator's best). Candidates
    missing a member's score get none. Ranks, not raw scores, because validators' scales differ."""
    name = "+".join(members)
    scored = [m for m in pool if all((pool[m]["scores"] or {}).get(v) is not None for v in members)]
    ranks = {m: 0.0 for m in scored}
    top = max(len(scored) - 1, 1)
    for v in members:
        values = sorted(pool[m]["scores"][v] for m in scored)
        for m in scored:
            x = pool[m]["scores"][v]
            below, equal = sum(y < x for y in values), values.count(x)
            ranks[m] += ((below + (equal - 1) / 2) / top) / len(members)
    return {m: {**c, "scores": {**(c["scores"] or {}), **({name: ranks[m]} if m in ranks else {})}}
            for m, c in pool.items()}


def combinations(scenarios: dict[str, list[dict]], lodo: dict[str, list[dict]], fixtures: dict[str, list[dict]],
                 validators: list[str], sizes=(2, 3)) -> list[dict]:
    """Every rank-mean combination of ``sizes`` validators (:func:`rank_mean`), judged like a single
    validator: its gaps on the fixture pools (``worst``, ``mean``) and on the checks. Sorted as the
    rule sorts (worst, then mean, over the fixture pools)."""
    pools = {"fixtures": {k: run_pool(c) for k, c in fixtures.items()},
             "scenarios": {k: method_pool(p) for k, p in scenarios.items()},
             "lodo": {k: run_pool(c) for k, c in lodo.items()}}
    rows = []
    for size in sizes:
        for members in itertools.combinations(validators, size):
            name = "+".join(members)
            row = {"members": list(members)}
            for kind, kinds in pools.items():
                row[kind] = {k: gap(rank_mean(pool, members), name) for k, pool in kinds.items()}
            chosen_on = [g["gap"] for g in row["fixtures"].values() if g is not None]
            checked = [g["gap"] for kind in ("scenarios", "lodo") for g in row[kind].values() if g is not None]
            if not chosen_on:
                continue
            row.update(worst=max(chosen_on), mean=round(statistics.fmean(chosen_on), 2),
                       check_worst=max(checked) if checked else None,
                       check_mean=round(statistics.fmean(checked), 2) if checked else None)
            rows.append(row)
    return sorted(rows, key=lambda r: (r["worst"], r["mean"]))


def _num(value, fmt: str = "{:.1f}") -> str:
    return "—" if value is None else fmt.format(value)


def markdown(result: dict) -> str:
    """The study's tables: gaps on the fixture pools (what chooses), then on the zoo's scenarios and
    the LODO folds (the checks)."""
    table = result["validators"]
    first = next(iter(table.values()))
    scen, lodo, fix = list(first["scenarios"]), list(first["lodo"]), list(first["fixtures"])

    def cell(g):
        return "—" if g is None else f"{g['gap']:.1f} ({g['chosen']})"

    lines = ["| validator (chooses: MNIST → fixture domains) | " + " | ".join(fix) + " | worst | mean |",
             "|---" * (len(fix) + 3) + "|"]
    for v, row in table.items():
        mark = " ★" if v == result["default"] else ""
        lines.append(f"| {v}{mark} | " + " | ".join(cell(row["fixtures"][k]) for k in fix)
                     + f" | {_num(row['worst'])} | {_num(row['mean'])} |")
    if scen or lodo:
        lines += ["", "| validator (the checks: shipped scenarios, LODO folds) | " + " | ".join(scen) + " | "
                  + " | ".join(f"LODO {k}" for k in lodo) + " | worst | mean | mean ρ |",
                  "|---" * (len(scen) + len(lodo) + 4) + "|"]
        for v, row in table.items():
            cells = [cell(row["scenarios"][k]) for k in scen] + [cell(row["lodo"][k]) for k in lodo]
            lines.append(f"| {v} | " + " | ".join(cells) + f" | {_num(row['check_worst'])} | "
                         f"{_num(row['check_mean'])} | {_num(row['mean_rho'], '{:+.2f}')} |")
    return "\n".join(lines)
