"""Choosing without target labels: ``tune`` searches one method's settings, ``recommend`` picks a method.

Both train through :func:`core.engine.train` (which holds out the source validation split), gather
each model's evidence once (:func:`core.validators.gather_evidence`: logits and features on the
unlabelled target train images and the source validation split) and rank models by a label-free
validator (:mod:`core.validators`, higher is better). Target *test* labels, where the target has
them, are read only to report how good the choice was — never to make it::

    from core.selection import tune, recommend
    study = tune("dann", "mnist", "mnistm", trials=8, validator="im")
    study["best"]["params"], study["spearman"]      # chosen settings; validator-vs-accuracy rank correlation
    rec = recommend("mnist", "folder:my_pictures")
    rec["recommended"], rec["checkpoint"]

``tune`` samples with Optuna's TPE over the method's declared search space (each
``Hyper(search=...)``) plus the learning rate; a diverging trial (:class:`core.engine.TrainingError`)
is recorded as failed and the search goes on. ``storage`` (``sqlite:///study.db`` or any SQLAlchemy
URL) shares one study between processes or machines. ``recommend`` trains every candidate method
(the registry's unsupervised / source-free methods that need no target labels, plus source-only as
the fallback) with its default settings and keeps the one the validator scores highest.
Which validator is the default is decided by a measurement, ``scripts/validator_study.py``.
"""

from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path
from typing import Callable

from .engine import TrainingError
from .validators import VALIDATORS, ValidatorError, gather_evidence, get_validator, largest_class_share, score_all

# The validator recommend, tune and zoo rebuild use unless told otherwise; chosen by scripts/validator_study.py
# (its table is in docs/validators.md), never by target test accuracy of a particular run.
DEFAULT_VALIDATOR = "source_val_acc"
# The learning rate is searched for every method, beside its own Hyper(search=...) ranges.
LR_SEARCH = (3e-4, 3e-3, "log")
# Collapse guard (the same rule as test-time adaptation's, core.tta): a candidate whose largest
# predicted class on the unlabelled target takes more than this share above source-only's has
# collapsed onto a class and is not eligible, whatever its validator score. Label-free.
COLLAPSE_JUMP = 0.2
# Steps per candidate in recommend (see docs/validators.md for the measured wall time).
RECOMMEND_STEPS = 500
STORAGE_FORMS = ("sqlite:///PATH.db (a file shared by processes on one machine)",
                 "postgresql://USER:PASSWORD@HOST/DB or mysql://... (an SQLAlchemy URL whose driver is "
                 "installed; shared between machines)")

ProgressFn = Callable[[str, int, int], None]  # (what is running, step, total steps)


# ------------------------------------------------------------------------------ helpers

def candidate_methods() -> list[str]:
    """Methods ``recommend`` tries, in display order: every registered method whose family adapts
    with unlabelled target pictures (:data:`core.methods.ADAPTED_FAMILIES`), that needs no target
    labels and no *required* model reference (a teacher), and that does not opt out with
    ``recommendable = False``; plus source-only, the fallback, first."""
    from .methods import METHODS, baseline, ordered

    def eligible(cls) -> bool:
        needs_model = any(cls.hyperparameters[k].required for k in cls.model_hyperparameters())
        return (cls.is_adapted() and cls.target_labels == "none" and not needs_model
                and getattr(cls, "recommendable", True))

    fallback = baseline()
    return [fallback] + [n for n in ordered() if n != fallback and eligible(METHODS[n])]


def search_space(method: str) -> dict[str, tuple]:
    """``{"lr": LR_SEARCH, name: Hyper.search, ...}`` for every searchable hyperparameter of ``method``."""
    from .methods import get_method

    cls = get_method(method)
    return {"lr": LR_SEARCH, **{k: h.search for k, h in cls.hyperparameters.items()
                                if h.search is not None and h.kind == "value"}}


def _suggest(trial, space: dict[str, tuple], method: str) -> dict:
    """Sample one setting per search-space entry: (low, high, "log"|"linear") or a tuple of choices."""
    from .methods import get_method

    hypers = get_method(method).hyperparameters
    out = {}
    for name, spec in space.items():
        if len(spec) == 3 and spec[2] in ("log", "linear") and all(isinstance(v, (int, float)) for v in spec[:2]):
            low, high, scale = spec
            integer = name in hypers and isinstance(hypers[name].default, int) and not isinstance(hypers[name].default, bool)
            suggest = trial.suggest_int if integer else trial.suggest_float
            out[name] = suggest(name, int(low) if integer else float(low), int(high) if integer else float(high),
                                log=scale == "log")
        else:
            out[name] = trial.suggest_categorical(name, list(spec))
    return out


def study_name(method: str, source: str, target: str, validator: str) -> str:
    """The Optuna study name shared by every process tuning the same thing."""
    return f"shiftlab:{method}:{source}->{target}:{validator}"


def open_storage(url: str | None):
    """An Optuna storage for ``url`` (None: in memory). SQLite gets a generous lock timeout so
    several processes can share one file. Unsupported URLs raise ValueError listing valid forms."""
    if url is None:
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    forms = "; ".join(STORAGE_FORMS)
    try:
        parsed = make_url(url)
        parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as err:
        raise ValueError(f"unsupported storage {url!r} ({type(err).__name__}: {err}); valid: {forms}") from None
    except ImportError as err:
        raise ValueError(f"storage {url!r} needs a database driver that is not installed ({err}); "
                         f"valid: {forms}") from None
    import optuna

    kwargs = {"connect_args": {"timeout": 60}} if parsed.get_backend_name() == "sqlite" else {}
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        folder = Path(parsed.database).expanduser().parent
        if not folder.is_dir():
            raise ValueError(f"storage {url!r}: folder {str(folder)!r} does not exist")
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


def check_validator(name: str, target: str, source: str):
    """The validator ``name`` (unknown names list the valid ones), after checking the target has
    enough unlabelled train images for it — before any training."""
    from .data import load_domain

    validator = get_validator(name)
    if validator.uses_target:
        src = load_domain(source, "train")
        validator.check_target_count(len(load_domain(target, "train", src.input_size)), len(src.classes))
    return validator


def target_test_accuracy(model, source_classes: list[str], target: str) -> float | None:
    """Accuracy (%) on the target *test* split, for reporting only; classes matched by name.

    None when the target has no test labels that name source classes (an unlabelled folder, a
    new label space) or no test split at all.
    """
    import torch

    from .data import DomainError, load_domain
    from .evaluation import predict_logits

    try:
        test = load_domain(target, "test", int(getattr(model, "input_size", 28)))
    except DomainError:
        return None
    if not set(test.classes) <= set(source_classes) or len(test) == 0:
        return None
    if model.num_classes != len(source_classes):
        return None
    index = torch.tensor([source_classes.index(c) for c in test.classes])
    predicted = predict_logits(model, test.images).argmax(1)
    return 100.0 * (predicted == index[test.labels]).double().mean().item()


def collapsed(share: float | None, baseline_share: float | None, jump: float = COLLAPSE_JUMP) -> bool:
    """Whether a model whose most-predicted target class takes ``share`` of the unlabelled target
    images has collapsed, against source-only's ``baseline_share`` (unknown shares never count)."""
    return share is not None and baseline_share is not None and share > baseline_share + jump


def spearman(scores: list[float], accuracies: list[float]) -> float | None:
    """Spearman rank correlation of validator scores with true accuracies (None: < 3 pairs or a constant)."""
    pairs = [(s, a) for s, a in zip(scores, accuracies) if s is not None and a is not None]
    if len(pairs) < 3:
        return None
    from scipy.stats import spearmanr

    rho = spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic
    return None if rho is None or not math.isfinite(rho) else round(float(rho), 4)


def train_and_score(config, validator: str, progress: ProgressFn | None = None, label: str = "",
                    all_validators: bool = True) -> dict:
    """Train ``config`` (a :class:`core.config.TrainConfig`), gather its evidence once and score it.

    Returns ``{"result": TrainResult, "evidence": Evidence, "score": the validator's score, "scores":
    {validator: score} (all of them, or only ``validator``), "validator_errors": {...}, "target_acc":
    reporting-only accuracy or None, "source_val_acc", "seconds"}``. Raises :class:`TrainingError` (diverged) and
    :class:`ValidatorError` (the chosen validator cannot score this model).
    """
    from .engine import train

    started = time.perf_counter()
    on_step = None
    if progress is not None:
        on_step = lambda p: progress(label or config.method, p.step, p.total)  # noqa: E731
    result = train(config, progress=on_step)
    ev = gather_evidence(result.model, config.source, config.target)
    scores, errors = score_all(ev, list(VALIDATORS) if all_validators else [validator])
    if validator not in scores:
        raise ValidatorError(errors.get(validator, f"validator {validator!r} gave no score"))
    source_classes = list(result.card["class_names"])
    return {"result": result, "evidence": ev, "score": scores[validator], "scores": scores, "validator_errors": errors,
            "largest_class_share": largest_class_share(ev),
            "target_acc": target_test_accuracy(result.model, source_classes, config.target),
            "source_val_acc": _num(result.source_val_acc), "seconds": time.perf_counter() - started}


def _num(x, digits: int = 4):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else round(float(x), digits)


def _config(method, source, target, seed, device, steps, threads, lr=None, hparams=None):
    from .recipes import recipe

    given = {k: v for k, v in {"steps": steps, "lr": lr, "threads": threads}.items() if v is not None}
    return recipe(method, source, target, seed=seed, device=device, eval_every=0, hparams=dict(hparams or {}),
                  **given)


def _settings(config) -> dict:
    from .methods import get_method

    hp = {k: h.default for k, h in get_method(config.method).hyperparameters.items() if h.kind == "value"}
    return {"lr": config.lr, "steps": config.steps, **hp, **config.hparams}


# ------------------------------------------------------------------------------ tune

def tune(method: str, source: str, target: str, trials: int = 10, validator: str = DEFAULT_VALIDATOR,
         storage: str | None = None, seed: int = 0, device: str = "auto", steps: int | None = None,
         out_dir: str | Path | None = None, threads: int | None = None,
         progress: ProgressFn | None = None) -> dict:
    """Search ``method``'s settings on ``source → target`` with Optuna TPE, scored by ``validator``.

    Every trial trains with the run's ``seed`` (so trials differ only in their settings), is scored
    by the validator (all validators' scores are recorded too) and, where the target test split has
    labels, records its target accuracy for reporting. A trial that diverges is recorded as failed.
    ``storage``: None (in memory) or an SQLAlchemy URL shared by processes (``sqlite:///tune.db``);
    the study is named by :func:`study_name` and resumed if it exists. ``out_dir``: each trial's
    checkpoint is saved in ``out_dir/trial-NNN`` and the best one's path reported.

    Returns ``{method, source, target, validator, study, trials: [{number, state, params, score,
    scores, target_acc, source_val_acc, seconds, error, checkpoint}], best: {number, params, score,
    target_acc, checkpoint} | None, spearman, completed, failed, seconds}`` — ``spearman`` is the
    rank correlation between validator score and target accuracy over all completed trials.
    """
    import optuna

    from .methods import get_method

    started = time.perf_counter()
    get_method(method)
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    store = open_storage(storage)  # a bad URL fails before any domain is loaded
    check_validator(validator, target, source)
    name = study_name(method, source, target, validator)
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials are reported in the result
    # in memory: reproducible from the seed; shared: mix in who is asking, so workers explore apart
    sampler_seed = seed if store is None else hash((seed, os.uname().nodename, os.getpid())) % (2 ** 31)
    sampler = optuna.samplers.TPESampler(seed=sampler_seed, n_startup_trials=5)
    study = optuna.create_study(study_name=name, storage=store, direction="maximize", sampler=sampler,
                                load_if_exists=True)
    space = search_space(method)
    out = Path(out_dir) if out_dir is not None else None

    def objective(trial):
        params = _suggest(trial, space, method)
        lr = params.pop("lr")
        config = _config(method, source, target, seed, device, steps, threads, lr=lr, hparams=params)
        trial.set_user_attr("steps", config.steps)
        trial.set_user_attr("seed", seed)
        try:
            done = train_and_score(config, validator, progress, label=f"trial {trial.number} {method}")
        except (TrainingError, ValidatorError) as err:  # recorded as a failed trial; the search goes on
            trial.set_user_attr("error", str(err))
            return float("nan")
        for key in ("target_acc", "source_val_acc"):
            trial.set_user_attr(key, _num(done[key]))
        trial.set_user_attr("scores", {k: _num(v, 6) for k, v in done["scores"].items()})
        trial.set_user_attr("seconds", round(done["seconds"], 2))
        if out is not None:
            from .checkpoints import save

            path = save(done["result"].model, done["result"].card, out / f"trial-{trial.number:03d}")
            trial.set_user_attr("checkpoint", str(path))
        return done["score"]

    study.optimize(objective, n_trials=trials)
    rows = [_trial_row(t) for t in study.trials]
    completed = [r for r in rows if r["state"] == "COMPLETE"]
    best = max(completed, key=lambda r: r["score"], default=None)
    return {
        "method": method, "source": source, "target": target, "validator": validator, "study": name,
        "storage": storage, "trials": rows,
        "best": None if best is None else {k: best[k] for k in ("number", "params", "score", "target_acc", "checkpoint")},
        "spearman": spearman([r["score"] for r in completed], [r["target_acc"] for r in completed]),
        "completed": len(completed), "failed": sum(r["state"] == "FAIL" for r in rows),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _trial_row(t) -> dict:
    attrs = t.user_attrs
    return {"number": t.number, "state": t.state.name, "params": dict(t.params),
            "score": None if t.value is None else _num(t.value, 6), "scores": attrs.get("scores", {}),
            "target_acc": attrs.get("target_acc"), "source_val_acc": attrs.get("source_val_acc"),
            "seconds": attrs.get("seconds"), "error": attrs.get("error"), "checkpoint": attrs.get("checkpoint"),
            "steps": attrs.get("steps"), "seed": attrs.get("seed")}


# ------------------------------------------------------------------------------ recommend

def recommend(source: str, target: str, validator: str = DEFAULT_VALIDATOR, seed: int = 0, device: str = "auto",
              out_dir: str | Path | None = None, steps: int | None = None, methods: list[str] | None = None,
              threads: int | None = None, progress: ProgressFn | None = None) -> dict:
    """Train every candidate method (:func:`candidate_methods`, or ``methods``) on ``source → target``
    with its default settings, score each with ``validator`` and keep the best that has not collapsed
    (:func:`collapsed`: its most-predicted target class may not take more than :data:`COLLAPSE_JUMP`
    above source-only's share of the unlabelled target images); its checkpoint is saved in ``out_dir`` (default ``runs/recommend-SOURCE-TARGET-TIME``).

    Returns ``{source, target, validator, recommended, checkpoint, target_acc, source_only_acc,
    candidates: [{method, settings, score, scores, target_acc, source_val_acc, seconds, error}],
    seconds}``; target accuracies are for reporting (None where the target test split has no
    labels) and never take part in the choice. A candidate that diverges is listed with its error.
    """
    from .checkpoints import save
    from .methods import baseline, get_method

    started = time.perf_counter()
    names = list(methods) if methods else candidate_methods()
    for name in names:
        get_method(name)
    check_validator(validator, target, source)
    steps = steps or RECOMMEND_STEPS
    rows, kept = [], {}
    for name in names:
        config = _config(name, source, target, seed, device, steps, threads)
        row = {"method": name, "settings": _settings(config), "score": None, "scores": {}, "target_acc": None,
               "source_val_acc": None, "largest_class_share": None, "collapsed": False, "seconds": None, "error": None}
        try:
            done = train_and_score(config, validator, progress, label=name)
        except (TrainingError, ValidatorError) as err:
            row["error"] = str(err)
        else:
            kept[name] = done["result"]
            row.update(score=_num(done["score"], 6), scores={k: _num(v, 6) for k, v in done["scores"].items()},
                       target_acc=_num(done["target_acc"]), source_val_acc=done["source_val_acc"],
                       largest_class_share=_num(done["largest_class_share"]), seconds=round(done["seconds"], 2))
        rows.append(row)
    base_share = next((r["largest_class_share"] for r in rows if r["method"] == baseline()), None)
    for r in rows:
        r["collapsed"] = r["method"] != baseline() and collapsed(r["largest_class_share"], base_share)
    scored = [r for r in rows if r["score"] is not None and not r["collapsed"]]
    if not scored:
        raise TrainingError("no candidate could be trained and scored: "
                            + "; ".join(f"{r['method']}: {r['error']}" for r in rows))
    best = max(scored, key=lambda r: r["score"])  # first in display order wins a tie (source-only first)
    out = Path(out_dir) if out_dir is not None else Path("runs") / (
        f"recommend-{_slug(source)}-{_slug(target)}-{time.strftime('%Y%m%d-%H%M%S')}")
    result = kept[best["method"]]
    card = {**result.card, "selection": {"validator": validator, "score": best["score"],
                                         "candidates": [r["method"] for r in rows]}}
    checkpoint = str(save(result.model, card, out))
    fallback = next((r for r in rows if r["method"] == baseline()), None)
    return {"source": source, "target": target, "validator": validator, "recommended": best["method"],
            "checkpoint": checkpoint, "target_acc": best["target_acc"],
            "source_only_acc": None if fallback is None else fallback["target_acc"],
            "candidates": rows, "steps": steps, "seed": seed, "seconds": round(time.perf_counter() - started, 2)}


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name.split(":", 1)[-1]).name or name)[:40]
