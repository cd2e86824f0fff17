"""The new methods are registered with their families and each trains a few steps through
core.training.engine.train.
"""

from __future__ import annotations

import math

import pytest
import torch

from core.training.engine import train
from core.methods import METHODS
from core.models import build_model

from .adaptation_util import make_config

NEW = ["cdan", "cdan_e", "mcc", "shot", "adamatch"]


def test_the_new_methods_are_registered_with_their_families():
    assert set(NEW) <= set(METHODS)
    assert METHODS["shot"].family == "source_free"
    assert all(METHODS[m].family == "unsupervised" for m in ("cdan", "cdan_e", "mcc", "adamatch"))
    assert all(METHODS[m].target_labels == "none" and METHODS[m].is_adapted() for m in NEW)
    assert METHODS["shot"].model_hyperparameters() == ["source_model"]
    assert not METHODS["shot"].hyperparameters["source_model"].required


@pytest.mark.parametrize("name", NEW + ["self_training"])
def test_trains_through_the_engine(name):
    steps = 4
    hp = {"source_fraction": 0.5, "bank_size": 64} if name == "shot" else {}
    hp = {"source_only_fraction": 0.25} if name == "self_training" else hp
    result = train(make_config(name, steps=steps, hparams=hp))
    assert result.steps_done == steps and len(result.history) == steps
    for h in result.history:
        assert all(math.isfinite(v) for v in h.values() if isinstance(v, float))
    initial = build_model(result.model.spec)  # not the same init, but the same shapes
    assert set(initial.state_dict()) == set(result.model.state_dict())
    assert all(torch.isfinite(v).all() for v in result.model.state_dict().values() if v.is_floating_point())
    assert 0.0 <= result.target_acc <= 100.0
