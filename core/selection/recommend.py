"""``recommend``: train every candidate method and keep the one a label-free validator scores highest.

    rec = recommend("mnist", "folder:my_pictures")
    rec["recommended"], rec["checkpoint"]

Every candidate (:func:`core.selection.scoring.candidate_methods`: source-only first, then each
method that adapts without target labels) trains with its default settings; the choice among them
is :func:`core.selection.choice.choose_agreeing` — the rule the zoo applies: every candidate trains on
:data:`DEFAULT_SEEDS` seeds, its scores are the means over them, and candidates whose seeds give
different answers on the unlabelled target are passed over before the validator ranks the rest.
``seeds=1`` takes about 0.6 of the time and lets the validator alone choose
(:func:`core.selection.choice.choose`).
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

from ..checkpoints import save
from ..inference.estimate import estimate_fields
from ..evaluation import collapsed
from ..methods import baseline, get_method
from ..training.engine import TrainingError
from ..util.stats import rounded
from ..validators import ValidatorError, get_validator
from .choice import choose_agreeing, mean_scores, seed_agreement, seed_kappa
from .scoring import (RECOMMEND_STEPS, default_validator, ProgressFn, candidate_methods, check_validator, run_config,
                      runnable_candidates, score_pool, settings_of, train_and_score)


def check_pool(validator: str, names: list[str]) -> None:
    """ValueError when ``validator`` scores a candidate among the others (EnsV, MixVal) and
    ``names`` are too few candidates to make its pool."""
    chosen_by = get_validator(validator)
    if chosen_by.pool and len(names) < chosen_by.min_pool:
        raise ValueError(f"validator {validator!r} needs a pool of at least {chosen_by.min_pool} candidates, got "
                         f"{len(names)} ({', '.join(names)})")


def recommend(source: str, target: str, validator: str | None = None, seed: int = 0, device: str = "auto",
              out_dir: str | Path | None = None, steps: int | None = None, methods: list[str] | None = None,
              threads: int | None = None, progress: ProgressFn | None = None, seeds: int | None = None) -> dict:
    """Train every candidate method (:func:`candidate_methods`, or ``methods``) on ``source → target``
    with its default settings, score each with ``validator`` (default :func:`default_validator` for
    the candidates that can train) and keep the best score among those whose predictions have not
    collapsed onto a class and whose seeds agree (with one seed: :func:`~core.selection.choice.choose`);
    its checkpoint is saved in ``out_dir`` (default ``runs/recommend-SOURCE-TARGET-TIME``). ``seeds``
    (1–:data:`MAX_SEEDS`, default :data:`DEFAULT_SEEDS`): each candidate trains on seeds ``seed``,
    ``seed + 1``, …; with two or more its row holds the mean scores over them, ``seed_agreement`` and
    ``per_seed``, and the choice reads the agreement (:func:`~core.selection.choice.choose_agreeing`).
    The checkpoint is the chosen method's first seed, and every ``target_acc`` (the top level's,
    each candidate's, ``source_only_acc``) is the first seed's model's — the one saved, or the one
    that would have been — with ``target_acc_mean`` over the seeds beside it.

    Returns ``{source, target, validator, recommended, checkpoint, target_acc, source_only_acc,
    candidates: [{method, settings, score, scores, target_acc, source_val_acc, seconds, error}
    (+ target_acc_mean, seed_agreement, seed_kappa, per_seed with seeds ≥ 2)], target_acc_mean and
    source_only_acc_mean (seeds ≥ 2),
    skipped: [{method, reason}] (methods that need pictures, on toy point domains), estimated_acc,
    estimated_low, estimated_high, estimator (the recommended model's accuracy on the target test
    pictures estimated without labels, :func:`core.inference.estimate.estimate_fields`),
    seconds}``; target accuracies are for reporting (None where the target test split has no
    labels) and never take part in the choice. A candidate that diverges is listed with its error.
    """
    started = time.perf_counter()
    seeds = DEFAULT_SEEDS if seeds is None else seeds
    check_seeds(seeds)
    names, skipped = _candidates(methods, source, target)
    validator = validator or default_validator(len(names))
    check_validator(validator, target, source)
    check_pool(validator, names)
    steps = steps or RECOMMEND_STEPS
    by_seed, domains = [], None
    for k in range(seeds):
        rows_k, trained_k, domains = _train_candidates(names, source, target, validator, seed + k, device, steps,
                                                       threads, progress, domains, seeded_labels=seeds > 1)
        by_seed.append((rows_k, trained_k))
    score_pool([d for _, trained_k in by_seed for d in trained_k.values()])  # one pool: every seed's runs
    for rows_k, trained_k in by_seed:
        _score_rows(rows_k, trained_k, validator)
    rows, trained = by_seed[0]
    if seeds > 1:
        rows = [_over_seeds([rows_k[i] for rows_k, _ in by_seed], [t.get(r["method"]) for _, t in by_seed],
                            seed, validator) for i, r in enumerate(rows)]
        _mark_collapsed(rows)
    failed = {r["method"] for r in rows if r["error"] is not None}  # on any seed: not recommended
    best_name = choose_agreeing({r["method"]: r for r in rows}, validator, eligible=lambda m: m not in failed)
    if best_name is None:
        raise TrainingError("no candidate could be trained and scored: "
                            + "; ".join(f"{r['method']}: {r['error']}" for r in rows))
    best = next(r for r in rows if r["method"] == best_name)
    checkpoint = _save_choice(trained[best_name]["result"], best, rows, validator, source, target, out_dir, seeds)
    fallback = next((r for r in rows if r["method"] == baseline()), None)
    return {"source": source, "target": target, "validator": validator, "recommended": best_name,
            "checkpoint": checkpoint, "target_acc": best["target_acc"],
            **({"target_acc_mean": best["target_acc_mean"]} if seeds > 1 else {}),
            "source_only_acc": None if fallback is None else fallback["target_acc"],
            **({"source_only_acc_mean": None if fallback is None else fallback["target_acc_mean"]} if seeds > 1 else {}),
            "candidates": rows, "skipped": skipped, "steps": steps, "seed": seed, "seeds": seeds,
            **estimate_fields(trained[best_name]["result"].model, trained[best_name]["result"].card, target),
            "seconds": round(time.perf_counter() - started, 2)}


def _candidates(methods: list[str] | None, source: str, target: str) -> tuple[list[str], list[dict]]:
    """The candidate names that can train on these domains, and the skipped ones with why; an
    unknown name, or no name left, raises ValueError."""
    names = list(methods) if methods else candidate_methods()
    for name in names:
        get_method(name)
    names, skipped = runnable_candidates(names, source, target)  # on toy points: no picture methods
    if not names:
        raise ValueError("no candidate can train on these domains: " + "; ".join(
            f"{s['method']}: {s['reason']}" for s in skipped))
    return names, skipped


#: The most seeds ``recommend`` trains each candidate on.
MAX_SEEDS = 5

#: Seeds per candidate when none are asked for. Chosen on the six unseen fixture domains
#: (``python -m core fixtures``; never the shipped scenarios), 500 steps a run: with two seeds and the
#: agreement rule the saved model (the chosen method's first seed) was within 1.0 point of the best
#: candidate's on every domain (mean 0.2), against 8.3 (mean 1.9) with one seed and the validator
#: alone, at 1.7x the time (docs/choosing.md, docs/benchmarks/recommend-unseen-2seeds/).
DEFAULT_SEEDS = 2


def check_seeds(seeds) -> None:
    """ValueError unless ``seeds`` is a whole number from 1 to :data:`MAX_SEEDS` (before any work)."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= MAX_SEEDS:
        raise ValueError(f"seeds must be a whole number from 1 to {MAX_SEEDS}, got {seeds!r}")


def _train_candidates(names, source, target, validator, seed, device, steps, threads, progress, domains=None,
                      seeded_labels=False):
    """Train and score each candidate with its default settings: one row per candidate (a run that
    fails keeps its error), ``{name: train_and_score's result}`` for those that trained, and the
    loaded domains (shared by the next seed's runs)."""
    rows, trained = [], {}
    for name in names:
        config = run_config(name, source, target, seed, device, steps, threads)
        row = {"method": name, "settings": settings_of(config), "score": None, "scores": {}, "target_acc": None,
               "source_val_acc": None, "largest_class_share": None, "collapsed": False, "seconds": None, "error": None}
        try:
            done = train_and_score(config, validator, progress, label=f"{name} seed {seed}" if seeded_labels else name,
                                   domains=domains)
        except (TrainingError, ValidatorError) as err:
            row["error"] = str(err)
        else:
            trained[name], domains = done, done["domains"]  # one set of tensors
            guard = done["result"].card.get("collapse_guard") or {}
            row.update(target_acc=rounded(done["target_acc"]), source_val_acc=done["source_val_acc"],
                       largest_class_share=rounded(done["largest_class_share"]), seconds=round(done["seconds"], 2),
                       restored_step=guard.get("restored_step"))
        rows.append(row)
    return rows, trained, domains


def _score_rows(rows: list[dict], trained: dict, validator: str) -> None:
    """Fill each row's scores (the pool-aware validators' already added by :func:`score_pool`), its
    ``score`` under ``validator`` and whether its predictions collapsed against source-only's."""
    for row in rows:
        if row["method"] in trained:
            done = trained[row["method"]]
            row["scores"] = {k: rounded(v, 6) for k, v in done["scores"].items()}
            row["score"] = row["scores"].get(validator)
            if row["score"] is None and row["error"] is None:
                row["error"] = done["validator_errors"].get(validator, f"validator {validator!r} gave no score")
    _mark_collapsed(rows)


def _mark_collapsed(rows: list[dict]) -> None:
    base_share = next((r["largest_class_share"] for r in rows if r["method"] == baseline()), None)
    for r in rows:
        r["collapsed"] = r["method"] != baseline() and collapsed(r["largest_class_share"], base_share)


def _mean(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def _over_seeds(rows: list[dict], done: list[dict | None], first_seed: int, validator: str) -> dict:
    """One candidate's row over its seeds: its scores, source validation accuracy, class share and
    ``target_acc_mean`` the means over the seeds that trained, its ``target_acc`` the first seed's
    (the model :func:`recommend` saves), ``seed_agreement`` (and, for studies, the chance-corrected
    ``seed_kappa``) from their top classes on the unlabelled target and each seed's own figures in
    ``per_seed``. A seed that failed gives the
    candidate its error and a ``score`` of None, and :func:`recommend` passes over it: a recipe that
    diverges on one seed in two is not recommended."""
    ok = [r for r in rows if r["error"] is None]
    out = {**rows[0], "per_seed": [{"seed": first_seed + k, **{f: r[f] for f in (
        "score", "target_acc", "source_val_acc", "largest_class_share", "seconds", "error")}} for k, r in enumerate(rows)]}
    out.update(scores=mean_scores(r["scores"] for r in ok),
               target_acc=rows[0]["target_acc"], target_acc_mean=rounded(_mean(r["target_acc"] for r in ok)),
               source_val_acc=rounded(_mean(r["source_val_acc"] for r in ok)),
               largest_class_share=rounded(_mean(r["largest_class_share"] for r in ok)),
               seconds=rounded(sum(r["seconds"] or 0.0 for r in ok), 2),
               error=next((f"seed {first_seed + k}: {r['error']}" for k, r in enumerate(rows) if r["error"]), None))
    out["score"] = None if out["error"] else out["scores"].get(validator)
    tops = [d["evidence"].target_logits.argmax(1).tolist() for d in done if d is not None and d.get("evidence") is not None]
    out["seed_agreement"] = rounded(seed_agreement(tops), 6) if len(tops) == len(rows) else None
    out["seed_kappa"] = rounded(seed_kappa(tops), 6) if len(tops) == len(rows) else None  # recorded; the rule reads the agreement
    return out


def _save_choice(result, best: dict, rows: list[dict], validator: str, source: str, target: str,
                 out_dir: str | Path | None, seeds: int = 1) -> str:
    """Save the chosen run's model with a card that says how it was chosen; returns its path."""
    out = Path(out_dir) if out_dir is not None else Path("runs") / (
        f"recommend-{_slug(source)}-{_slug(target)}-{time.strftime('%Y%m%d-%H%M%S')}")
    how = {"validator": validator, "score": best["score"], "candidates": [r["method"] for r in rows]}
    if seeds > 1:  # the score is the mean over the seeds; these weights are the first seed's
        how.update(seeds=seeds, score_is="mean over seeds", seed_agreement=best.get("seed_agreement"),
                   rule="choose_agreeing")
    card = {**result.card, "selection": how}
    return str(save(result.model, card, out))


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name.split(":", 1)[-1]).name or name)[:40]
