"""Deep CORAL: the covariance term pulls the domains' feature covariances together, a zero weight
is source-only, and it trains on pictures through the engine as every method does."""

from __future__ import annotations

import math

import torch

from core.methods import get_method
from core.training.engine import train

from .adaptation_util import make_batch, make_config, make_ctx, make_model


def test_a_zero_weight_is_source_only_and_the_term_is_logged():
    cls = get_method("coral")
    batch = make_batch()
    plain = cls(make_model(), make_ctx(), coral_weight=0.0).loss(batch, 0.5)
    base = get_method("source_only")(make_model(), make_ctx()).loss(batch, 0.5)
    assert torch.allclose(plain["loss"], base["loss"]) and plain["coral"] >= 0


def test_training_lowers_the_covariance_gap():
    """On points: the target is the source's moons scaled ×2, so its features spread twice as wide
    until the covariance term pulls them in (the point MLP's 2-D features)."""
    from core.data import load_domain
    from core.methods import Batch
    from core.models import build_model

    cls = get_method("coral")
    src, tgt = load_domain("toy:moons", "train"), load_domain("toy:moons?scale=2", "train")

    def trained(weight: float) -> float:
        torch.manual_seed(0)
        ctx = make_ctx(steps=300, source_classes=["A", "B"], target_classes=["A", "B"])
        method = cls(build_model({"arch": "mlp", "num_classes": 2}), ctx, lr=1e-2, coral_weight=weight)
        g = torch.Generator().manual_seed(0)
        for step in range(300):
            i, j = torch.randint(0, 1000, (128,), generator=g), torch.randint(0, 1000, (128,), generator=g)
            method.step(Batch(src.images[i], src.labels[i], tgt.images[j]), step / 300)
        return float(method.loss(Batch(src.images, src.labels, tgt.images), 1.0)["coral"])

    assert trained(100.0) < trained(0.0) / 4


def test_it_trains_on_pictures_through_the_engine():
    result = train(make_config("coral", steps=3))
    assert result.steps_done == 3 and math.isfinite(result.history[-1]["coral"])
