"""Default training recipes: the settings behind the CLI defaults, the zoo and the results table (docs/results.md).

A recipe is a :class:`core.training.config.TrainConfig`: the common defaults below, then the method's own
``recipe`` overrides (a class attribute of the method, declared in its file), then the caller's.
"""

from __future__ import annotations

from .config import TrainConfig

# Adam at a constant 1e-3. Measured on MNIST → MNIST-M, seed 0: with the paper's annealing
# lr₀/(1+10p)^0.75, DANN reached 43.0 % after 3,000 steps (peaking at 49 % near step 1,000); at a
# constant rate it reached 54.2 % after 1,500 steps and 68.4 % after 4,000, still rising, while
# source-only plateaus near 41 % by step 500.
COMMON = {"steps": 1500, "batch_size": 64, "lr": 1e-3, "optimizer": "adam", "lr_anneal": False,
          "eval_every": 100}

# Steps per zoo model (the same as a default CLI run, which finishes within 90 s on 2 CPU cores).
ZOO_STEPS = 1500


# Point domains (the 2-D toy data sets): the point MLP, and a higher constant Adam rate — the
# network has 4.5k parameters, and 1,000 steps of batch 64 + 64 take about a second on one core
# (scripts/bench/bench_playground.py). Steps are the method's own if its recipe sets them, else these.
POINTS = {"arch": "mlp", "steps": 1000, "batch_size": 64, "lr": 1e-2, "eval_every": 100}


def recipe(method: str, source: str = "mnist", target: str = "mnistm", **overrides) -> TrainConfig:
    """The default :class:`TrainConfig` for ``method`` on ``source → target``, with ``overrides``.

    On point domains (``toy:…``) the common defaults are :data:`POINTS` (the point MLP) and the
    method's ``points_recipe`` is applied over its ``recipe``; an ``arch`` of None means "the one
    the domains call for"."""
    from ..data import DomainError, input_kind
    from ..methods import get_method

    cls = get_method(method)
    try:
        points = input_kind(source) == "points"
    except DomainError:
        points = False  # the plan refuses the mixed name, listing why
    spec = {**COMMON, **(POINTS if points else {}), **dict(getattr(cls, "recipe", {}) or {})}
    if points:
        own = dict(cls.points_recipe or {})
        spec["hparams"] = {**spec.get("hparams", {}), **own.pop("hparams", {})}
        spec.update(own)
        spec["steps"] = POINTS["steps"] if "steps" not in own else spec["steps"]
    if overrides.get("arch", "") is None:
        overrides.pop("arch")
    hparams = {**spec.pop("hparams", {}), **overrides.pop("hparams", {})}
    return TrainConfig(method=method, source=source, target=target, **{**spec, **overrides}, hparams=hparams)
