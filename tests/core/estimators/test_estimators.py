"""Tests for core.estimators: the maths of each estimator, the source fit, the range, the registry,
and the card a short training run writes."""

from __future__ import annotations

import json

import pytest
import torch

from core import estimators as E
from core.estimators import (ESTIMATORS, MIN_PICTURES, EstimatorError, Inputs, atc_threshold, fit_source,
                             get_estimator, msp)
from core.estimators.agreement import agreement


def _logits_with_conf(confs: list[float], labels: list[int], correct: list[bool], c: int = 10) -> torch.Tensor:
    """Logits whose softmax has max prob ``conf`` on the label (correct) or on another class (wrong)."""
    rows = []
    for p, y, ok in zip(confs, labels, correct):
        rest = (1 - p) / (c - 1)
        probs = torch.full((c,), rest)
        probs[y if ok else (y + 1) % c] = p
        rows.append(torch.log(probs))
    return torch.stack(rows)


def _separable(n: int, share_right: float, seed: int = 0):
    """A perfectly calibrated-by-rank model: right pictures at confidence 0.95, wrong ones at 0.55."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    k = round(share_right * n)
    correct = [True] * k + [False] * (n - k)
    confs = [0.95 if ok else 0.55 for ok in correct]
    return _logits_with_conf(confs, labels.tolist(), correct), labels


# ------------------------------------------------------------------------------------ the source fit

@pytest.mark.parametrize("acc", [0.1, 0.37, 0.5, 0.9, 1.0])
def test_atc_threshold_leaves_the_accuracy_above_it(acc):
    scores = torch.rand(1000, generator=torch.Generator().manual_seed(1))
    t = atc_threshold(scores, acc)
    assert (scores > t).double().mean().item() == pytest.approx(acc, abs=1e-3)


def test_fit_source_keeps_accuracy_confidence_and_thresholds():
    val, labels = _separable(200, 0.8)
    fit = fit_source(val, labels)
    assert fit["val_acc"] == pytest.approx(0.8)
    assert fit["val_conf"] == pytest.approx(0.8 * 0.95 + 0.2 * 0.55, abs=1e-6)
    assert 0.55 < fit["thresholds"]["msp"] < 0.95
    assert fit["n_val"] == 200
    json.dumps(fit, allow_nan=False)  # a card block: strict JSON


# ------------------------------------------------------------------------------------ the estimators

@pytest.mark.parametrize("name", ["atc_msp", "atc_ne"])
@pytest.mark.parametrize("target_acc", [0.3, 0.6, 0.95])
def test_atc_is_exact_when_confidence_separates_right_from_wrong(name, target_acc):
    val, labels = _separable(200, 0.8)
    fit = fit_source(val, labels)
    target, _ = _separable(300, target_acc, seed=2)  # the same calibration, another accuracy
    assert get_estimator(name, params={}).estimate(Inputs(target, fit)) == pytest.approx(target_acc, abs=1e-9)


def test_doc_equals_source_accuracy_when_target_is_as_confident_as_source():
    val, labels = _separable(200, 0.7)
    fit = fit_source(val, labels)
    assert get_estimator("doc", params={}).estimate(Inputs(val.clone(), fit)) == pytest.approx(0.7, abs=1e-9)


def test_doc_drops_by_the_drop_in_confidence():
    val, labels = _separable(200, 0.9)
    fit = fit_source(val, labels)
    target = _logits_with_conf([0.6] * 50, [0] * 50, [True] * 50)
    drop = fit["val_conf"] - msp(target).mean().item()
    assert get_estimator("doc", params={}).estimate(Inputs(target, fit)) == pytest.approx(0.9 - drop, abs=1e-9)


def _hot(y: list[int], c: int = 10) -> torch.Tensor:
    return 8 * torch.nn.functional.one_hot(torch.tensor(y), c).float()


def test_agreement_counts_agreement_with_the_pool_mean():
    pool = [_hot([1] * 40), _hot([1] * 30 + [2] * 10), _hot([1] * 40)]
    model = _hot([1] * 25 + [3] * 15)
    assert agreement(model, pool) == pytest.approx(25 / 40)


def test_agreement_estimate_is_monotone_in_agreement():
    pool = [_hot([i % 10 for i in range(60)]), _hot([i % 10 for i in range(60)])]
    est = get_estimator("agreement", params={"a": 0.8, "b": 0.1})
    values = []
    for k in range(0, 61, 6):  # the model agrees with the pool on the first k pictures
        y = [i % 10 if i < k else (i + 1) % 10 for i in range(60)]
        values.append(est.estimate(Inputs(_hot(y), pool=pool)))
    assert values == sorted(values) and values[0] < values[-1]
    assert values[-1] == pytest.approx(0.9) and values[0] == pytest.approx(0.1)


def test_agreement_map_is_least_squares_line():
    params = ESTIMATORS["agreement"].fit_map([0.2, 0.5, 0.8], [0.1, 0.4, 0.7])
    assert params["a"] == pytest.approx(1.0) and params["b"] == pytest.approx(-0.1)


def test_agreement_refuses_a_pool_on_other_pictures():
    with pytest.raises(EstimatorError, match="same pictures"):
        agreement(_hot([0] * 30), [_hot([0] * 20), _hot([0] * 20)])


# ------------------------------------------------------------------------------------ bad input

def test_too_few_pictures_says_how_many_are_needed():
    val, labels = _separable(100, 0.8)
    with pytest.raises(EstimatorError, match=f"at least {MIN_PICTURES} pictures, got 5"):
        get_estimator("atc_msp").estimate(Inputs(val[:5], fit_source(val, labels)))


def test_missing_source_fit_and_small_pool_are_one_line_each():
    z = _hot([0] * 30)
    with pytest.raises(EstimatorError, match="source validation fit"):
        get_estimator("doc").estimate(Inputs(z, None))
    with pytest.raises(EstimatorError, match="at least 2 other shipped models"):
        get_estimator("agreement").estimate(Inputs(z, pool=[z]))


def test_unknown_estimator_lists_the_valid_ones():
    with pytest.raises(ValueError) as err:
        get_estimator("nope")
    for name in ESTIMATORS:
        assert name in str(err.value)


def test_one_file_is_an_estimator():
    @E.register
    class Half(E.Estimator):
        name = "half_for_test"
        needs = ()

        def raw(self, inp):
            return 0.5

    try:
        assert get_estimator("half_for_test").estimate(Inputs(_hot([0] * 30))) == 0.5
        with pytest.raises(ValueError, match="registered twice"):
            E.register(Half)
    finally:
        ESTIMATORS.unregister("half_for_test")


def test_default_is_a_registered_estimator():
    assert E.default_name() in ESTIMATORS


# ------------------------------------------------------------------------------------ the range

@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_range_contains_the_estimate_held_out_and_bootstrap(name, monkeypatch, tmp_path):
    val, labels = _separable(200, 0.8)
    target, _ = _separable(60, 0.5, seed=3)
    inp = Inputs(target, fit_source(val, labels), [target.clone(), _separable(60, 0.7, seed=4)[0]])
    est = get_estimator(name, params={})
    for calib in ({"estimators": {name: {"half_width": 0.05, "n_pairs": 10, "n_pictures": 300}}}, {}):
        path = tmp_path / "calibration.json"
        path.write_text(json.dumps(calib))
        monkeypatch.setattr("core.estimators.base.CALIBRATION_PATH", path)
        res = E.result(est, inp)
        assert 0 <= res["low"] <= res["estimated_acc"] <= res["high"] <= 100
        assert ("held-out" in res["range_from"]) == bool(calib)
        if calib:  # fewer pictures than the study's: wider than the held-out error alone
            assert res["high"] - res["low"] > 2 * 5 - 1e-9
    assert "pictures like these" in E.sentence(res)


def test_bootstrap_range_narrows_with_more_pictures():
    val, labels = _separable(200, 0.8)
    fit = fit_source(val, labels)
    est = get_estimator("atc_msp", params={})
    small, large = _separable(40, 0.5, seed=5)[0], _separable(2000, 0.5, seed=5)[0]
    lo_s, hi_s = E.bootstrap(est, Inputs(small, fit))
    lo_l, hi_l = E.bootstrap(est, Inputs(large, fit))
    assert hi_l - lo_l < hi_s - lo_s


# ------------------------------------------------------------------------------------ the card

def test_a_short_training_run_keeps_the_source_fit_in_its_card(tmp_path):
    from core import checkpoints
    from core.estimators import CARD_KEY, check_source_fit
    from core.training.config import TrainConfig
    from core.training.engine import train

    result = train(TrainConfig(method="source_only", source="mnist", target="ucidigits", steps=3, batch_size=16,
                               eval_every=0, seed=0, device="cpu", precision="fp32"), out_dir=tmp_path / "run")
    fit = check_source_fit(result.card.get(CARD_KEY))
    assert fit is not None
    assert 100 * fit["val_acc"] == pytest.approx(result.source_val_acc, abs=1e-6)
    _, card = checkpoints.load(tmp_path / "run")
    assert card[CARD_KEY] == result.card[CARD_KEY]
