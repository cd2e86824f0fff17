"""Default training recipes: the settings behind the CLI defaults, the zoo and the README table.

A recipe is a dict of :class:`core.engine.TrainConfig` fields. ``recipe(method, source, target)``
merges the common defaults with the method's own.
"""

from __future__ import annotations

from .engine import TrainConfig

# Adam at a constant 1e-3. Measured on MNIST → MNIST-M, seed 0: with the paper's annealing
# lr₀/(1+10p)^0.75, DANN reached 43.0 % after 3,000 steps (peaking at 49 % near step 1,000); at a
# constant rate it reached 54.2 % after 1,500 steps and 68.4 % after 4,000, still rising, while
# source-only plateaus near 41 % by step 500.
COMMON = {"steps": 1500, "batch_size": 64, "lr": 1e-3, "optimizer": "adam", "lr_anneal": False,
          "eval_every": 100}

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
    # PixelDA's batch of 32; 2,000 steps ≈ 64k source pictures, about 6 min on one quiet core
    "pixel_gan": {"steps": 2000, "batch_size": 32},
}

# Steps per zoo model (the same as a default CLI run, which finishes within 90 s on 2 CPU cores).
ZOO_STEPS = 1500

# The scenarios the zoo ships, the app's default first.
SCENARIOS = [("mnist", "mnistm"), ("mnist", "ucidigits"), ("syndigits", "mnist"), ("mnist", "syndigits")]
ZOO_METHODS = ["source_only", "oracle", "finetune", "dann", "mmd", "adda", "self_training"]
ADAPTED_METHODS = ["dann", "mmd", "adda", "self_training"]  # candidates for the distillation teacher


def recipe(method: str, source: str = "mnist", target: str = "mnistm", **overrides) -> TrainConfig:
    """The default :class:`TrainConfig` for ``method`` on ``source → target``, with ``overrides``."""
    spec = {**COMMON, **METHOD_OVERRIDES.get(method, {})}
    hparams = {**spec.pop("hparams", {}), **overrides.pop("hparams", {})}
    return TrainConfig(method=method, source=source, target=target, **{**spec, **overrides}, hparams=hparams)
