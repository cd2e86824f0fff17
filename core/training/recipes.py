"""Default training recipes: the settings behind the CLI defaults, the zoo and the README table.

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


def recipe(method: str, source: str = "mnist", target: str = "mnistm", **overrides) -> TrainConfig:
    """The default :class:`TrainConfig` for ``method`` on ``source → target``, with ``overrides``."""
    from ..methods import get_method

    spec = {**COMMON, **dict(getattr(get_method(method), "recipe", {}) or {})}
    hparams = {**spec.pop("hparams", {}), **overrides.pop("hparams", {})}
    return TrainConfig(method=method, source=source, target=target, **{**spec, **overrides}, hparams=hparams)
