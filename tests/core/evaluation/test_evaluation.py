"""Tests for core.evaluation: metrics on hand-made cases, domain distances, the full report."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from core.data import TensorDomain
from core.evaluation import (
    accuracy, confusion, evaluate_accuracy, expected_calibration_error, extract_features, feature_mmd, model_report,
    per_class_accuracy, predict_logits, proxy_a_distance, reliability_curve,
)


class PixelOracle(nn.Module):
    """Predicts the class written (as value/255) into pixel (0, 0, 0) of each image, with a fixed margin.

    The logit of the predicted class is ``margin``, the others 0, so every prediction has the same known
    confidence e^m / (e^m + C − 1).
    """

    def __init__(self, num_classes: int, margin: float = 2.0):
        super().__init__()
        self.num_classes, self.margin = num_classes, margin
        self.dummy = nn.Parameter(torch.zeros(()))  # predict_logits looks up the device from a parameter

    def features(self, x):
        return x.flatten(1)[:, :4] + self.dummy

    def forward(self, x):
        cls = (x[:, 0, 0, 0] * 255).round().long().clamp(0, self.num_classes - 1)
        return nn.functional.one_hot(cls, self.num_classes).float() * self.margin + self.dummy


def _domain(written: list[int], labels: list[int], num_classes: int = 3) -> TensorDomain:
    x = torch.zeros(len(labels), 3, 8, 8, dtype=torch.uint8)
    x[:, 0, 0, 0] = torch.tensor(written, dtype=torch.uint8)
    return TensorDomain("toy", "test", x, torch.tensor(labels), [f"c{i}" for i in range(num_classes)])


def test_accuracy_percent():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0], [0.0, 1.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1, 1])) == pytest.approx(75.0)
    assert accuracy(logits, torch.tensor([0, 1, 0, 1])) == pytest.approx(100.0)


def test_per_class_accuracy_hand_case():
    y_true = np.array([0, 0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 2, 1, 0, 2])
    pc = per_class_accuracy(y_true, y_pred, 4)
    assert pc.shape == (4,)
    np.testing.assert_allclose(pc[:3], [50.0, 50.0, 100.0])
    assert math.isnan(pc[3])  # class 3 never occurs in y_true


def test_confusion_hand_case():
    y_true = [0, 0, 1, 2, 2, 2]
    y_pred = [0, 1, 1, 2, 0, 2]
    cm = confusion(y_true, y_pred, 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert confusion([0], [0], 4).shape == (4, 4)


def test_ece_zero_when_perfectly_calibrated():
    # confidence 1 and always right
    probs = np.eye(3)[[0, 1, 2, 1]]
    assert expected_calibration_error(probs, np.array([0, 1, 2, 1])) == pytest.approx(0.0, abs=1e-9)
    # confidence 0.75 and right 3 times out of 4
    probs = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(probs, np.array([0, 0, 0, 1])) == pytest.approx(0.0, abs=1e-9)


def test_ece_hand_case():
    # bin of conf 0.8 with 2/4 right: gap 0.3; bin of conf 0.6 with 2/2 right: gap 0.4
    probs = np.array([[0.8, 0.2]] * 4 + [[0.4, 0.6]] * 2)
    y = np.array([0, 0, 1, 1, 1, 1])
    expected = 100 * (4 / 6 * 0.3 + 2 / 6 * 0.4)
    assert expected_calibration_error(probs, y) == pytest.approx(expected, rel=1e-9)
    # all wrong at confidence 1 → 100 %
    assert expected_calibration_error(np.eye(2)[[0, 0]], np.array([1, 1])) == pytest.approx(100.0)


def test_reliability_curve_bins():
    probs = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45]])
    curve = reliability_curve(probs, np.array([0, 1, 0]), n_bins=10)
    assert curve["count"].sum() == 3
    assert curve["count"][9] == 2 and curve["count"][5] == 1
    assert curve["accuracy"][9] == pytest.approx(0.5)
    assert curve["confidence"][5] == pytest.approx(0.55)
    assert np.isnan(curve["accuracy"][0])


def test_proxy_a_distance_same_and_separable():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 5)), rng.normal(size=(400, 5))
    same = proxy_a_distance(a, b)
    assert 0.0 <= same < 0.4
    far = proxy_a_distance(a, b + 10.0)
    assert far == pytest.approx(2.0, abs=0.02)
    middle = proxy_a_distance(a, b + 1.0)
    assert same < middle < far
    assert proxy_a_distance(a, b + 1.0, seed=0) == middle  # deterministic given the seed


def test_feature_mmd():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(150, 6)), rng.normal(size=(150, 6))
    assert abs(feature_mmd(a, b)) < 0.03
    assert feature_mmd(a, b + 2.0) > 0.5
    assert isinstance(feature_mmd(a.astype(np.float32), b), float)


def test_predict_logits_accepts_uint8_and_float_and_restores_mode():
    model = PixelOracle(3)
    model.train()
    dom = _domain([0, 1, 2, 2, 1], [0, 1, 2, 2, 1])
    from_u8 = predict_logits(model, dom.images, batch_size=2)
    from_float = predict_logits(model, dom.float_images(), batch_size=3)
    torch.testing.assert_close(from_u8, from_float)
    assert from_u8.shape == (5, 3)
    assert model.training  # mode restored
    assert extract_features(model, dom.images, batch_size=2).shape == (5, 4)


def test_model_report_on_known_predictions():
    margin = 2.0
    written = [0, 0, 1, 1, 2, 2, 2, 0]
    labels = [0, 1, 1, 1, 2, 0, 2, 0]   # wrong: item 1 (true 1, pred 0), item 5 (true 0, pred 2)
    model = PixelOracle(3, margin)
    dom = _domain(written, labels)
    report = model_report(model, dom)
    assert report["n"] == 8
    assert report["accuracy"] == pytest.approx(75.0)
    assert report["accuracy"] == pytest.approx(evaluate_accuracy(model, dom))
    # per class: class 0 → 2/3, class 1 → 2/3, class 2 → 2/2
    np.testing.assert_allclose(report["per_class"], [200 / 3, 200 / 3, 100.0])
    assert report["confusion"].tolist() == [[2, 0, 1], [1, 2, 0], [0, 0, 2]]
    conf = math.exp(margin) / (math.exp(margin) + 2)
    assert report["ece"] == pytest.approx(100 * abs(0.75 - conf), rel=1e-5)


def test_model_report_on_a_real_model_is_consistent():
    from core.models import build_model

    torch.manual_seed(0)
    model = build_model({"arch": "digits_cnn", "num_classes": 10})
    g = torch.Generator().manual_seed(0)
    dom = TensorDomain("rand", "test", torch.randint(0, 256, (40, 3, 28, 28), dtype=torch.uint8, generator=g),
                       torch.randint(0, 10, (40,), generator=g))
    report = model_report(model, dom)
    assert report["n"] == 40 and len(report["per_class"]) == 10
    assert report["confusion"].sum() == 40
    assert 0.0 <= report["ece"] <= 100.0
    assert report["accuracy"] == pytest.approx(evaluate_accuracy(model, dom))
    assert set(report["reliability"]) == {"confidence", "accuracy", "count"}
    assert report["reliability"]["count"].sum() == 40


def test_evaluation_batches_are_bounded_by_pixels(monkeypatch):
    """A model with a large input size is evaluated in smaller batches: memory stays flat."""
    import core.evaluation as ev

    seen = []

    class Probe(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):
            seen.append(len(x))
            return x.mean((2, 3))

    big = torch.zeros(20, 3, 256, 256, dtype=torch.uint8)
    ev.predict_logits(Probe(), big, batch_size=512)
    assert max(seen) <= ev.EVAL_PIXEL_BUDGET // (256 * 256) and sum(seen) == 20
