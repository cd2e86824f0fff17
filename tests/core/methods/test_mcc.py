"""MCC: ~0 for confident diverse predictions, larger for confused ones, bounded in [0, 1]."""

from __future__ import annotations

import math

import pytest
import torch

from core.training.engine import train
from core.losses import minimum_class_confusion

from .adaptation_util import make_config


def test_mcc_is_zero_for_confident_diverse_predictions_and_larger_for_confused_ones():
    confident = torch.eye(10).repeat(3, 1) * 40          # every class, one-hot
    assert minimum_class_confusion(confident).item() < 1e-3
    g = torch.Generator().manual_seed(0)
    confused = torch.randn(30, 10, generator=g) * 0.3     # nearly uniform
    torn = torch.eye(10).repeat(3, 1) * 10 + torch.eye(10).roll(1, 1).repeat(3, 1) * 9  # each torn between k, k+1
    values = [minimum_class_confusion(z).item() for z in (confident, torn, confused)]
    assert values[0] < 0.05 < values[1] < values[2] - 0.2
    # a batch of identical predictions, however confident, is all confusion: 1 − 1/C
    assert minimum_class_confusion(torch.zeros(30, 10)).item() == pytest.approx(0.9, abs=1e-6)
    assert minimum_class_confusion(torch.eye(10)[:1].repeat(30, 1) * 40).item() == pytest.approx(0.9, abs=1e-6)


def test_mcc_is_bounded_and_finite_for_any_logits():
    g = torch.Generator().manual_seed(1)
    for scale in (0.0, 0.1, 1.0, 10.0, 1e3):
        for _ in range(5):
            z = torch.randn(16, 10, generator=g) * scale
            v = minimum_class_confusion(z)
            assert math.isfinite(v.item()) and -1e-6 <= v.item() <= 1.0
    collapsed = torch.zeros(16, 10)
    collapsed[:, 3] = 100.0  # one class takes all: columns of other classes are empty
    assert math.isfinite(minimum_class_confusion(collapsed).item())


def test_mcc_gradient_sharpens_and_separates_target_predictions():
    z = (torch.randn(20, 10, generator=torch.Generator().manual_seed(2)) * 2).requires_grad_(True)
    opt = torch.optim.SGD([z], lr=50.0)
    first = minimum_class_confusion(z).item()
    for _ in range(50):
        opt.zero_grad()
        minimum_class_confusion(z).backward()
        opt.step()
    assert minimum_class_confusion(z).item() < first / 2
    assert len(z.argmax(1).unique()) >= 5  # still several classes, not one


def test_mcc_method_adds_the_weighted_confusion_to_the_source_loss():
    hist = train(make_config("mcc", steps=3, hparams={"mcc_weight": 2.0})).history
    for h in hist:
        assert 0.0 <= h["mcc"] <= 1.0
        assert h["loss"] == pytest.approx(h["cls"] + 2.0 * h["mcc"], rel=1e-5)


def test_the_ramped_weight_rises_from_zero_with_the_dann_schedule():
    from core.models import dann_lambda

    hist = train(make_config("mcc", steps=4, hparams={"mcc_weight": 2.0, "ramp": True})).history
    assert hist[0]["loss"] == pytest.approx(hist[0]["cls"], rel=1e-6)  # p = 0: no confusion term yet
    for k, h in enumerate(hist):
        assert h["loss"] == pytest.approx(h["cls"] + 2.0 * dann_lambda(k / 4) * h["mcc"], rel=1e-5)


def test_the_diversity_term_adds_log_c_less_the_entropy_of_the_mean_target_prediction():
    hist = train(make_config("mcc", steps=3, hparams={"mcc_weight": 1.0, "diversity_weight": 0.5})).history
    for h in hist:
        assert 0.0 <= h["diversity"] <= math.log(10) + 1e-6
        assert h["loss"] == pytest.approx(h["cls"] + h["mcc"] + 0.5 * h["diversity"], rel=1e-5)
    assert "diversity" not in train(make_config("mcc", steps=1)).history[0]  # β = 0: the paper's MCC


def test_the_diversity_gradient_spreads_a_batch_that_crowds_into_one_class():
    from core.losses import information_maximization

    z = torch.zeros(20, 10)
    z[:, 3] = 3.0
    z = (z + torch.randn(20, 10, generator=torch.Generator().manual_seed(3)) * 0.5).requires_grad_(True)
    opt = torch.optim.SGD([z], lr=5.0)
    for _ in range(30):
        opt.zero_grad()
        information_maximization(z)[1].backward()
        opt.step()
    share = (z.argmax(1) == 3).float().mean().item()
    assert share < 0.5  # the crowded class gave pictures back


def test_the_diversity_term_ramps_with_the_confusion_weight():
    from core.models import dann_lambda

    hist = train(make_config("mcc", steps=4, hparams={"mcc_weight": 2.0, "diversity_weight": 0.5, "ramp": True})).history
    assert hist[0]["loss"] == pytest.approx(hist[0]["cls"], rel=1e-6)  # p = 0: neither term yet
    for k, h in enumerate(hist):
        assert h["loss"] == pytest.approx(h["cls"] + dann_lambda(k / 4) * (2.0 * h["mcc"] + 0.5 * h["diversity"]), rel=1e-5)


def test_the_point_domains_keep_the_papers_mcc_and_pictures_get_the_diversity_term():
    from core.training.recipes import recipe

    points = recipe("mcc", "toy:moons", "toy:moons_rot").hparams
    assert points.get("diversity_weight", 0.0) == 0.0 and points["ramp"] is False
    assert recipe("mcc", "mnist", "mnistm").hparams["diversity_weight"] == 1.0
