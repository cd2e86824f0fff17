"""Default training recipes: the settings behind the CLI defaults, the zoo and the README table.

A recipe is a dict of :class:`core.engine.TrainConfig` fields. ``recipe(method, source, target)``
merges the common defaults with the method's own.
"""

from __future__ import annotations

from .engine import TrainConfig

COMMON = {"steps": 1000, "batch_size": 64, "lr": 1e-3, "optimizer": "adam", "eval_every": 100}

# Per-method overrides (hyperparameters under "hparams").
METHOD_OVERRIDES: dict[str, dict] = {
    "source_only": {},
    "oracle": {},
    "finetune": {"hparams": {"shots": 10, "alpha": 0.5}},
    "dann": {},
    "mmd": {},
    "adda": {},
    "self_training": {},
    "distill": {},
}

# The scenarios the zoo ships, the app's default first.
SCENARIOS = [("mnist", "mnistm"), ("mnist", "ucidigits"), ("syndigits", "mnist"), ("mnist", "syndigits")]
ZOO_METHODS = ["source_only", "oracle", "finetune", "dann", "mmd", "adda", "self_training"]
ADAPTED_METHODS = ["dann", "mmd", "adda", "self_training"]  # candidates for the distillation teacher


def recipe(method: str, source: str = "mnist", target: str = "mnistm", **overrides) -> TrainConfig:
    """The default :class:`TrainConfig` for ``method`` on ``source → target``, with ``overrides``."""
    spec = {**COMMON, **METHOD_OVERRIDES.get(method, {})}
    hparams = {**spec.pop("hparams", {}), **overrides.pop("hparams", {})}
    return TrainConfig(method=method, source=source, target=target, **{**spec, **overrides}, hparams=hparams)
