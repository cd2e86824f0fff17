"""SHOT: phase 2 never reads source images, the head stays frozen; IM and cluster pseudo-labels."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from core.training.engine import train
from core.losses import cluster_pseudo_labels, information_maximization, nearest_centroid
from core.methods import METHODS, Batch, get_method

from .adaptation_util import changed, make_batch, make_config, make_ctx, make_model, snapshot


def test_information_maximization_terms():
    ent, div = information_maximization(torch.eye(4) * 50)
    assert abs(ent.item()) < 1e-4 and div.item() == pytest.approx(-math.log(4), abs=1e-3)
    ent, div = information_maximization(torch.tensor([[50.0, 0, 0, 0]] * 4))  # confident, one class
    assert abs(ent.item()) < 1e-4 and abs(div.item()) < 1e-3
    ent, div = information_maximization(torch.zeros(4, 4))  # uniform
    assert ent.item() == pytest.approx(math.log(4), abs=1e-3)


def test_cluster_pseudo_labels_find_the_clusters_even_when_the_predictions_are_off():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 16, generator=g) * 4
    truth = torch.arange(3).repeat_interleave(30)
    features = centres[truth] + torch.randn(90, 16, generator=g) * 0.5
    probs = F.one_hot(truth, 3).float() * 0.5 + 0.5 / 3
    flip = torch.rand(90, generator=g) < 0.3  # a third of the predictions point at the wrong class
    probs[flip] = probs[flip].roll(1, dims=1)
    assert (probs.argmax(1) == truth).float().mean() < 0.8
    centroids, labels = cluster_pseudo_labels(features, probs)
    assert (labels == truth).float().mean() > 0.95
    assert torch.equal(nearest_centroid(features, centroids), labels)
    assert torch.allclose(centroids.norm(dim=1), torch.ones(3))


def _shot(steps=10, **hp):
    hp = {"source_fraction": 0.5, "bank_size": 16, **hp}
    return get_method("shot")(make_model(), make_ctx(steps=steps), **hp)


def test_shot_phase_two_never_reads_source_images_and_keeps_the_head_frozen():
    shot = _shot()
    batch = make_batch()
    for p in (0.0, 0.2, 0.4):  # phase 1: the source model, label smoothing
        out = shot.step(batch, p)
        assert set(out) == {"loss", "cls"} and not shot.adapting
    head = snapshot(shot.model.head)
    backbone = snapshot(shot.model.backbone)
    g = torch.Generator().manual_seed(5)
    for k, p in enumerate((0.5, 0.6, 0.7, 0.8, 0.9)):
        poisoned = Batch(torch.full((8, 3, 28, 28), float("nan")), torch.full((8,), -1, dtype=torch.long),
                         torch.rand(8, 3, 28, 28, generator=g))
        out = shot.step(poisoned, p)
        assert shot.adapting and all(math.isfinite(v) for v in out.values()), out
        assert out["bank_full"] == (1.0 if k >= 1 else 0.0)  # 16 vectors: full after two batches of 8
        if k >= 1:
            assert out["pseudo"] > 0  # the cluster pseudo-labels are in use
    assert not any(p.requires_grad for p in shot.model.head.parameters())
    assert all(torch.equal(v, head[k]) for k, v in snapshot(shot.model.head).items())
    assert changed(backbone, snapshot(shot.model.backbone))
    assert all(torch.isfinite(v).all() for v in shot.model.state_dict().values())
    # the phase-2 optimiser holds the feature extractor's parameters only
    held = {id(p) for group in shot.optimizer.param_groups for p in group["params"]}
    assert held == {id(p) for p in shot.model.backbone.parameters()}


def test_shot_information_maximisation_makes_target_predictions_confident_and_diverse():
    shot = get_method("shot")(make_model(), make_ctx(steps=100), lr=3e-3, source_fraction=0.05, pseudo_weight=0.0,
                              adapt_lr_scale=1.0)  # the property at a given rate (the default runs at 0.1×)
    from core.data import load_domain
    from core.util.modes import unit_float

    xt = unit_float(load_domain("ucidigits", "train").images[:32])
    batch = Batch(torch.full_like(xt, float("nan")), torch.zeros(32, dtype=torch.long), xt)
    first = shot.step(batch, 0.5)
    for k in range(30):
        last = shot.step(batch, 0.5 + k / 100)
    assert last["ent"] < first["ent"] - 0.2
    assert last["div"] < -1.5  # the mean prediction stays spread over the classes (log 10 ≈ 2.3)


def test_shot_adapts_a_given_source_model_from_the_first_step(tmp_path, monkeypatch):
    from core import checkpoints

    source = train(make_config("source_only", steps=3), out_dir=tmp_path / "src")
    seen = {}
    cls = METHODS["shot"]
    original = cls.train_step

    def spy(self, batch, progress):
        out = original(self, batch, progress)
        seen.setdefault("keys", []).append(set(out))
        return out

    monkeypatch.setattr(cls, "train_step", spy)
    result = train(make_config("shot", steps=3, hparams={"source_model": result_path(source)}))
    assert all("ent" in k and "cls" not in k for k in seen["keys"])  # no source training at all
    loaded, _ = checkpoints.load(source.checkpoint)
    assert torch.equal(result.model.head.weight, loaded.head.weight)  # the source hypothesis, frozen
    assert changed(snapshot(loaded.backbone), snapshot(result.model.backbone))
    assert result.card["hyperparameters"]["source_model"] == source.checkpoint


def result_path(result) -> str:
    assert result.checkpoint and Path(result.checkpoint).exists()
    return result.checkpoint
