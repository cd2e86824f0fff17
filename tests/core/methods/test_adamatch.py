"""AdaMatch: relative threshold, distribution alignment, logit interpolation across BN statistics, warm-up."""

from __future__ import annotations

import pytest
import torch

from core.training.engine import train
from core.losses import distribution_alignment, relative_confidence_threshold
from core.methods import get_method

from .adaptation_util import make_batch, make_config, make_ctx, make_model


def test_relative_threshold_is_tau_times_the_mean_source_confidence():
    p = torch.softmax(torch.randn(12, 10, generator=torch.Generator().manual_seed(0)) * 2, 1)
    assert relative_confidence_threshold(p, 0.9).item() == pytest.approx(0.9 * p.max(1).values.mean().item())
    assert relative_confidence_threshold(torch.eye(10), 0.8).item() == pytest.approx(0.8)
    assert relative_confidence_threshold(torch.full((4, 10), 0.1), 0.9).item() == pytest.approx(0.09)


def test_distribution_alignment_formula_and_effect():
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(16, 4, generator=g), 1)
    mean, prior = torch.tensor([0.4, 0.3, 0.2, 0.1]), torch.tensor([0.1, 0.2, 0.3, 0.4])
    expected = p * prior / mean
    expected = expected / expected.sum(1, keepdim=True)
    torch.testing.assert_close(distribution_alignment(p, mean, prior), expected)
    # aligning a batch to its own mean with a uniform prior flattens its class distribution
    skewed = torch.softmax(torch.randn(64, 4, generator=g) + torch.tensor([3.0, 0, 0, 0]), 1)
    aligned = distribution_alignment(skewed, skewed.mean(0), torch.full((4,), 0.25))
    assert aligned.mean(0).max() < skewed.mean(0).max() - 0.2
    assert torch.allclose(aligned.sum(1), torch.ones(64))


def test_adamatch_rebuilds_the_digits_cnn_with_batch_norm_and_saves_that_spec(tmp_path):
    ada = get_method("adamatch")(make_model(), make_ctx())
    assert ada.model.spec["batch_norm"] is True
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in ada.model.modules())
    result = train(make_config("adamatch", steps=2), out_dir=tmp_path / "ada")
    from core import checkpoints

    loaded, card = checkpoints.load(result.checkpoint)
    assert loaded.spec["batch_norm"] is True
    x = torch.rand(4, 3, 28, 28)
    torch.testing.assert_close(loaded(x), result.model.eval()(x))


def test_adamatch_interpolates_logits_and_keeps_the_source_only_pass_out_of_the_running_statistics(monkeypatch):
    ada = get_method("adamatch")(make_model(), make_ctx())
    batch = make_batch()
    calls = []
    bn = next(m for m in ada.model.modules() if isinstance(m, torch.nn.BatchNorm2d))

    def record(module, args, out):
        calls.append((len(args[0]), bn.running_mean.clone(), module.momentum))

    bn.register_forward_hook(record)
    before = bn.running_mean.clone()
    out = ada.step(batch, 0.0)
    (n_src, mean_after_src, momentum_src), (n_joint, mean_after_joint, momentum_joint) = calls
    assert n_src == 16 and n_joint == 32          # weak + strong source; then all four views
    assert momentum_src == 0.0 and momentum_joint == 0.1
    assert torch.equal(mean_after_src, before)     # the source-only pass left the statistics alone
    assert not torch.equal(mean_after_joint, before)
    assert bn.momentum == 0.1
    assert out["mu"] == 0.0                        # warm-up: no target loss at p = 0
    # the source logits are a per-element mix of the two passes
    lam_seen = {}
    real_rand = torch.rand

    def fake_rand(*shape, **kw):
        lam = real_rand(*shape, **kw)
        lam_seen["lam"] = lam
        return lam

    monkeypatch.setattr(torch, "rand", fake_rand)
    out = ada.step(batch, 0.6)
    assert lam_seen["lam"].shape == (16, 10) and 0 <= lam_seen["lam"].min() and lam_seen["lam"].max() <= 1
    assert out["mu"] == pytest.approx(1.0)
    assert 0.0 < out["threshold"] <= 0.9


def test_adamatch_ramp_and_running_class_distributions():
    from core.methods.mean_teacher import cosine_ramp

    assert [round(cosine_ramp(p, 0.5), 4) for p in (0.0, 0.25, 0.5, 0.9)] == [0.0, 0.5, 1.0, 1.0]
    ada = get_method("adamatch")(make_model(), make_ctx())
    skewed = torch.tensor([[0.9] + [0.1 / 9] * 9] * 8)
    uniform = torch.full((8, 10), 0.1)
    aligned = ada.align(skewed, uniform)
    # the target's mean is over the batches seen (one), not padded with uniform placeholders
    expected = distribution_alignment(skewed, skewed.mean(0), 0.999 * torch.full((10,), 0.1) + 0.001 * uniform.mean(0))
    torch.testing.assert_close(aligned, expected)
    for _ in range(200):  # once the window holds only this skew, class 0 loses its excess
        aligned = ada.align(skewed, uniform)
    torch.testing.assert_close(aligned, torch.full((8, 10), 0.1), atol=2e-3, rtol=0)
