"""``tune``: search one method's settings with Optuna, scored by a label-free validator.

    study = tune("dann", "mnist", "mnistm", trials=8, validator="im")
    study["best"]["params"], study["spearman"]      # chosen settings; validator-vs-accuracy rank correlation

Optuna's TPE samples the method's declared search space (each ``Hyper(search=...)``) plus the
learning rate; a diverging trial (:class:`core.training.engine.TrainingError`) is recorded as failed
and the search goes on. ``storage`` (``sqlite:///study.db`` or any SQLAlchemy URL) shares one study
between processes or machines.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..checkpoints import save
from ..data.scenarios import scenario_key
from ..methods import get_method
from ..training.engine import TrainingError
from ..util.stats import rounded, spearman
from ..validators import ValidatorError, get_validator
from .scoring import ProgressFn, default_validator, check_validator, run_config, score_pool, train_and_score

# The learning rate is searched for every method, beside its own Hyper(search=...) ranges.
LR_SEARCH = (3e-4, 3e-3, "log")
STORAGE_FORMS = ("sqlite:///PATH.db (a file shared by processes on one machine)",
                 "postgresql://USER:PASSWORD@HOST/DB or mysql://... (an SQLAlchemy URL whose driver is "
                 "installed; shared between machines)")


def search_space(method: str) -> dict[str, tuple]:
    """``{"lr": LR_SEARCH, name: Hyper.search, ...}`` for every searchable hyperparameter of ``method``."""
    cls = get_method(method)
    return {"lr": LR_SEARCH, **{k: h.search for k, h in cls.hyperparameters.items()
                                if h.search is not None and h.kind == "value"}}


def suggest(trial, space: dict[str, tuple], method: str) -> dict:
    """Sample one setting per search-space entry: (low, high, "log"|"linear") or a tuple of choices."""
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
    return f"shiftlab:{method}:{scenario_key(source, target)}:{validator}"


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
def check_shared_pool(validator: str, storage: str | None) -> None:
    """ValueError when a pool-aware ``validator`` (a trial scored among the others) would tune a study
    shared through ``storage``: this process cannot see the other processes' trials."""
    if storage is not None and get_validator(validator).pool:
        raise ValueError(f"validator {validator!r} scores a trial among the others, which a study shared between "
                         "processes (--storage) cannot see; tune without --storage, or choose a single-model validator")


def tune(method: str, source: str, target: str, trials: int = 10, validator: str | None = None,
         storage: str | None = None, seed: int = 0, device: str = "auto", steps: int | None = None,
         out_dir: str | Path | None = None, threads: int | None = None,
         progress: ProgressFn | None = None) -> dict:
    """Search ``method``'s settings on ``source → target`` with Optuna TPE, scored by ``validator``.

    ``validator`` defaults to :func:`default_validator` (trials are scored as they finish, so the
    single-model default). Every trial trains with the run's ``seed`` (so trials differ only in their settings), is scored
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
    started = time.perf_counter()
    get_method(method)
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    validator = validator or default_validator()
    check_shared_pool(validator, storage)
    store = open_storage(storage)  # a bad URL fails before any domain is loaded
    check_validator(validator, target, source)
    name = study_name(method, source, target, validator)
    study = _open_study(name, store, seed)
    objective = _Objective(method, source, target, validator, seed=seed, device=device, steps=steps, threads=threads,
                           out=Path(out_dir) if out_dir is not None else None, progress=progress)
    study.optimize(objective, n_trials=trials)
    rows = [_trial_row(t) for t in study.trials]
    if objective.pooled:  # the final pool: every trial scored among all the others
        objective.rescore(rows)
    completed = [r for r in rows if r["state"] == "COMPLETE" and r["score"] is not None]
    best = max(completed, key=lambda r: r["score"], default=None)
    return {
        "method": method, "source": source, "target": target, "validator": validator, "study": name,
        "storage": storage, "trials": rows,
        "best": None if best is None else {k: best[k] for k in ("number", "params", "score", "target_acc", "checkpoint")},
        "spearman": spearman([r["score"] for r in completed], [r["target_acc"] for r in completed]),
        "completed": len(completed), "failed": sum(r["state"] == "FAIL" for r in rows),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _open_study(name: str, store, seed: int):
    """The Optuna study ``name`` (created, or resumed from ``store``), maximising, sampled by TPE."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials are reported in the result
    # in memory: reproducible from the seed; shared: mix in who is asking, so workers explore apart
    sampler_seed = seed if store is None else hash((seed, os.uname().nodename, os.getpid())) % (2 ** 31)
    sampler = optuna.samplers.TPESampler(seed=sampler_seed, n_startup_trials=5)
    return optuna.create_study(study_name=name, storage=store, direction="maximize", sampler=sampler,
                               load_if_exists=True)


class _Objective:
    """One trial of :func:`tune`: sample settings, train, score; what it learns is kept as trial
    attributes. A pool-aware validator scores each trial among this process's completed ones."""

    def __init__(self, method, source, target, validator, *, seed, device, steps, threads, out, progress):
        self.method, self.source, self.target, self.validator = method, source, target, validator
        self.seed, self.device, self.steps, self.threads = seed, device, steps, threads
        self.out, self.progress = out, progress
        self.space = search_space(method)
        self.domains = None  # the scenario's splits, loaded by the first trial and read by the others
        self.pooled = get_validator(validator).pool
        self.pool: dict[int, dict] = {}  # this process's completed trials, for a pool-aware validator

    def __call__(self, trial) -> float:
        params = suggest(trial, self.space, self.method)
        lr = params.pop("lr")
        config = run_config(self.method, self.source, self.target, self.seed, self.device, self.steps, self.threads,
                            lr=lr, hparams=params)
        trial.set_user_attr("steps", config.steps)
        trial.set_user_attr("seed", self.seed)
        try:
            done = train_and_score(config, self.validator, self.progress, label=f"trial {trial.number} {self.method}",
                                   domains=self.domains)
            self.domains = done["domains"]
        except (TrainingError, ValidatorError) as err:  # recorded as a failed trial; the search goes on
            trial.set_user_attr("error", str(err))
            return float("nan")
        if self.pooled:  # its score among the trials so far (all of them are scored again at the end)
            self.pool[trial.number] = done
            score_pool(list(self.pool.values()), [self.validator])
        for key in ("target_acc", "source_val_acc"):
            trial.set_user_attr(key, rounded(done[key]))
        trial.set_user_attr("scores", {k: rounded(v, 6) for k, v in done["scores"].items()})
        trial.set_user_attr("seconds", round(done["seconds"], 2))
        if self.out is not None:
            path = save(done["result"].model, done["result"].card, self.out / f"trial-{trial.number:03d}")
            trial.set_user_attr("checkpoint", str(path))
        return done["scores"][self.validator] if self.pooled else done["score"]

    def rescore(self, rows: list[dict]) -> None:
        """Score every trial of the pool among all the others and write the scores into ``rows``."""
        score_pool(list(self.pool.values()), [self.validator])
        for r in rows:
            if r["number"] in self.pool:
                r["score"] = rounded(self.pool[r["number"]]["scores"].get(self.validator), 6)
                r["scores"][self.validator] = r["score"]


def _trial_row(t) -> dict:
    attrs = t.user_attrs
    return {"number": t.number, "state": t.state.name, "params": dict(t.params),
            "score": None if t.value is None else rounded(t.value, 6), "scores": attrs.get("scores", {}),
            "target_acc": attrs.get("target_acc"), "source_val_acc": attrs.get("source_val_acc"),
            "seconds": attrs.get("seconds"), "error": attrs.get("error"), "checkpoint": attrs.get("checkpoint"),
            "steps": attrs.get("steps"), "seed": attrs.get("seed")}
