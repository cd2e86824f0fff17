"""Self-training with distribution alignment: pseudo-labels stay spread on a collapse-prone model."""

from __future__ import annotations

import math

import pytest
import torch

from core.training.engine import train
from core.methods import get_method

from .adaptation_util import make_config, make_ctx, make_model


def _collapsed_self_training(alignment):
    """A model that calls (almost) every image a 3: the collapse seen on MNIST → UCI digits."""
    model = make_model()
    with torch.no_grad():
        model.head.bias.copy_(torch.full((10,), -2.0))
        model.head.bias[3] = 2.0
    return get_method("self_training")(model, make_ctx(), alignment=alignment, threshold=0.0, source_only_fraction=0.0)


def _pseudo_histogram(st, steps=20):
    hist = torch.zeros(10)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        with torch.no_grad():
            probs = st.aligned(torch.softmax(st.model(torch.rand(32, 3, 28, 28, generator=g)), 1))
        hist += torch.bincount(probs.argmax(1), minlength=10)
    return hist


def test_self_training_alignment_keeps_pseudo_labels_spread_on_a_collapse_pronemodel():
    plain = _pseudo_histogram(_collapsed_self_training("none"))
    assert plain[3] == plain.sum()  # without alignment: one class takes every pseudo-label
    for alignment in ("uniform", "source"):
        st = _collapsed_self_training(alignment)
        spread = _pseudo_histogram(st)
        assert (spread > 0).sum() >= 6, spread
        assert spread.max() < 0.5 * spread.sum(), spread


def test_self_training_logs_pseudo_label_spread_and_rejects_unknown_alignment():
    hist = train(make_config("self_training", steps=4, hparams={"threshold": 0.0, "source_only_fraction": 0.25})).history
    assert hist[0]["pseudo_spread"] == 0.0 and hist[0]["mask_rate"] == 0.0  # the source-only phase
    assert all(0.0 <= h["pseudo_spread"] <= math.log(10) + 1e-6 for h in hist)
    assert all(h["mask_rate"] == 1.0 for h in hist[1:])
    with pytest.raises(ValueError, match="source, uniform, none"):
        get_method("self_training")(make_model(), make_ctx(), alignment="sideways")
