"""Training and scoring one candidate without target labels — the step every selection repeats.

    done = train_and_score(config, "source_val_acc")   # trains, gathers evidence once, scores it
    done["score"], done["scores"], done["largest_class_share"], done["target_acc"]  # the last for reporting

A candidate's *evidence* (:func:`core.validators.gather_evidence`: logits and features on the
unlabelled target train images and the source validation split) is gathered once, from the very
tensors the run trained on (``plan.domains``), and scored by every validator. Target *test* labels,
where the target has them, are read only to report how good a choice was — never to make it.
"""

from __future__ import annotations

import time
from typing import Callable

from ..methods.registry import is_candidate
from ..util.stats import rounded
from ..validators import VALIDATORS, ValidatorError, gather_evidence, get_validator, largest_class_share, score_all

# The validator recommend and the zoo use unless told otherwise; chosen by the validator study's
# declared rule (docs/validators.md: the lowest worst-case selection gap over the zoo's scenarios and
# the LODO folds), never by target test accuracy of a particular run.
DEFAULT_VALIDATOR = "devn"
# Where the default cannot see its pool — fewer candidates than EnsV needs, or tune, whose trials are
# scored one by one as they finish — the single-model validator the same rule puts first.
SINGLE_MODEL_DEFAULT = "devn"


def default_validator(n_candidates: int | None = None) -> str:
    """The validator to use when none is named: :data:`DEFAULT_VALIDATOR` for a pool of
    ``n_candidates`` it can score, else :data:`SINGLE_MODEL_DEFAULT` (``None``: a single model or
    trials scored as they finish)."""
    chosen = get_validator(DEFAULT_VALIDATOR)
    if chosen.pool and (n_candidates is None or n_candidates < chosen.min_pool):
        return SINGLE_MODEL_DEFAULT
    return DEFAULT_VALIDATOR
# Steps per candidate in recommend (see docs/validators.md for the measured wall time).
RECOMMEND_STEPS = 500

ProgressFn = Callable[[str, int, int], None]  # (what is running, step, total steps)


def candidate_methods() -> list[str]:
    """The candidates (:func:`is_candidate`) in display order, source-only first."""
    from ..methods import baseline, ordered

    fallback = baseline()
    return [fallback] + [n for n in ordered() if n != fallback and is_candidate(n)]


def runnable_candidates(names: list[str], source: str, target: str) -> tuple[list[str], list[dict]]:
    """``(kept, skipped)``: on point domains (the toy data sets) the methods that need pictures are
    skipped — listed as ``{method, reason}`` — instead of failing; elsewhere every name is kept."""
    from ..data import DomainError, input_kind
    from ..methods import get_method

    try:
        points = "points" in (input_kind(source), input_kind(target))
    except DomainError:
        return list(names), []  # the run plan refuses the mixed names with its own line
    if not points:
        return list(names), []
    skipped = [{"method": n, "reason": "needs pictures; toy domains are 2-D points"}
               for n in names if get_method(n).needs_pictures]
    gone = {s["method"] for s in skipped}
    return [n for n in names if n not in gone], skipped


def check_validator(name: str, target: str, source: str):
    """The validator ``name`` (unknown names list the valid ones), after checking the target has
    enough unlabelled train images for it — before any training."""
    from ..data import load_domain

    validator = get_validator(name)
    if validator.uses_target:
        src = load_domain(source, "train")
        validator.check_target_count(len(load_domain(target, "train", src.input_size)), len(src.classes))
    return validator


def target_test_accuracy(model, source_classes: list[str], target) -> float | None:
    """Accuracy (%) on the target *test* split — a domain name or its loaded test split — for
    reporting only; classes matched by name (:func:`core.data.align_classes`).

    None when the target has no test labels that name source classes (an unlabelled folder, a
    new label space) or no test split at all.
    """
    from ..data import DomainError, align_classes, load_domain
    from ..evaluation import evaluate_accuracy

    if isinstance(target, str):
        try:
            target = load_domain(target, "test", int(getattr(model, "input_size", 28)))
        except DomainError:
            return None
    if not set(target.classes) <= set(source_classes) or len(target) == 0 or model.num_classes != len(source_classes):
        return None
    return evaluate_accuracy(model, align_classes(target, source_classes))


def run_config(method, source, target, seed=0, device="auto", steps=None, threads=None, lr=None, hparams=None):
    """The recipe of ``method`` as a selection trains it: no evaluations during the run (target test
    labels are not looked at while choosing), and the given overrides."""
    from ..training.recipes import recipe

    given = {k: v for k, v in {"steps": steps, "lr": lr, "threads": threads}.items() if v is not None}
    return recipe(method, source, target, seed=seed, device=device, eval_every=0, hparams=dict(hparams or {}),
                  **given)


def settings_of(config) -> dict:
    """What a candidate was trained with: learning rate, steps and every value hyperparameter."""
    from ..methods import get_method

    hp = {k: h.default for k, h in get_method(config.method).hyperparameters.items() if h.kind == "value"}
    return {"lr": config.lr, "steps": config.steps, **hp, **config.hparams}


def train_and_score(config, validator: str, progress: ProgressFn | None = None, label: str = "",
                    all_validators: bool = True, out_dir=None, domains=None, require_score: bool = True) -> dict:
    """Train ``config`` (a :class:`core.training.config.TrainConfig`), gather its evidence once and score it.

    ``out_dir``: save the checkpoint there; ``domains``: the run's splits already loaded by another
    candidate of the same scenario (:attr:`core.training.plan.RunPlan.domains`), read instead of
    loading them again; ``require_score=False``: a model the validators cannot score is kept with a
    None score (its errors in ``validator_errors``). Returns ``{"result": TrainResult, "evidence": Evidence, "score": the
    validator's score (None for a pool-aware validator: :func:`score_pool` scores those once the
    pool is trained), "scores": {validator: score} (every single-model one, or only ``validator``),
    "validator_errors": {...}, "largest_class_share", "target_acc": reporting-only accuracy or None,
    "source_val_acc", "seconds", "domains"}``. Raises :class:`TrainingError` (diverged) and
    :class:`ValidatorError` (the chosen validator cannot score this model).
    """
    from ..training.engine import train
    from ..training.plan import prepare_run

    started = time.perf_counter()
    on_step = None
    if progress is not None:
        on_step = lambda p: progress(label or config.method, p.step, p.total)  # noqa: E731
    plan = prepare_run(config)
    if domains is not None:
        plan.with_domains(domains)
    result = train(plan, progress=on_step, out_dir=out_dir)
    data = plan.domains
    ev = gather_evidence(result.model, data.source_train, data.target_train)
    names = list(VALIDATORS) if all_validators else [validator]
    scores, errors = score_all(ev, [n for n in names if not VALIDATORS[n].pool])  # pools: scored by the caller
    if validator not in scores and require_score and not VALIDATORS[validator].pool:
        raise ValidatorError(errors.get(validator, f"validator {validator!r} gave no score"))
    source_classes = list(result.card["class_names"])
    return {"result": result, "evidence": ev, "score": scores.get(validator), "scores": scores, "validator_errors": errors,
            "largest_class_share": largest_class_share(ev),
            "target_acc": target_test_accuracy(result.model, source_classes, data.target_test),
            "source_val_acc": rounded(result.source_val_acc), "seconds": time.perf_counter() - started,
            "domains": data}


def score_pool(done: list[dict], names=None) -> None:
    """Add the pool-aware validators' scores (:data:`core.validators.VALIDATORS` with ``pool``) to
    every trained candidate of ``done`` (each a :func:`train_and_score` result), in place: each is
    scored relative to the others. Candidates whose evidence is missing are left out of the pool."""
    from ..validators import score_pool_all

    pool = [d for d in done if d.get("evidence") is not None]
    pooled = [n for n in (names or VALIDATORS) if VALIDATORS[n].pool]
    if not pool or not pooled:
        return
    for d, (scores, errors) in zip(pool, score_pool_all([d["evidence"] for d in pool], pooled)):
        d["scores"].update(scores)
        d["validator_errors"].update(errors)
