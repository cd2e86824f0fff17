"""Tests for core.training.engine: determinism, progress and cancel, divergence, checkpoints, and the accuracy gain."""

from __future__ import annotations

import math
import threading

import pytest
import torch

from core import checkpoints
from core.data import load_domain
from core.training.config import Progress, TrainConfig
from core.training.engine import TrainingError, seed_everything, train
from core.training.speed import autocast_dtype, native_bf16
from core.evaluation import evaluate_accuracy, predict_logits
from core.methods import METHODS


def _config(method: str = "dann", steps: int = 5, **kw) -> TrainConfig:
    base = dict(method=method, source="mnist", target="ucidigits", steps=steps, batch_size=16,
                eval_every=0, seed=0, device="cpu", precision="fp32")
    base.update(kw)
    return TrainConfig(**base)


def _assert_same_run(a, b):
    assert a.history == b.history
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    assert a.target_acc == b.target_acc
    assert (a.source_acc == b.source_acc) or (math.isnan(a.source_acc) and math.isnan(b.source_acc))


# ---------------------------------------------------------------------------- determinism

@pytest.mark.parametrize("method", ["dann", "self_training"])
def test_same_seed_same_result_fp32(method):
    a = train(_config(method, steps=5, seed=3))
    b = train(_config(method, steps=5, seed=3))
    _assert_same_run(a, b)
    c = train(_config(method, steps=5, seed=4))
    assert c.history != a.history


def test_same_seed_same_result_default_precision():
    cfg = dict(steps=4, seed=1)
    a = train(_config("mmd", precision="auto", **cfg))
    b = train(_config("mmd", precision="auto", **cfg))
    _assert_same_run(a, b)
    assert a.card["hyperparameters"]["precision"] == "auto"


def test_bf16_precision_trains():
    result = train(_config("dann", steps=3, precision="bf16"))
    assert all(math.isfinite(v) for h in result.history for k, v in h.items() if k != "step")
    # the evaluated model is still an fp32 network
    assert all(p.dtype == torch.float32 for p in result.model.parameters())


def test_autocast_dtype():
    cpu = torch.device("cpu")
    assert autocast_dtype("fp32", cpu) is None
    assert autocast_dtype("bf16", cpu) is torch.bfloat16
    assert autocast_dtype("auto", cpu) is (torch.bfloat16 if native_bf16(cpu) else None)
    with pytest.raises(ValueError, match="precision"):
        autocast_dtype("fp8", cpu)


def test_seed_everything_returns_seeded_generator():
    g1, g2 = seed_everything(5), seed_everything(5)
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))


# ---------------------------------------------------------------------------- progress and cancel

def test_progress_callback_gets_step_total_losses():
    seen: list[Progress] = []
    result = train(_config("dann", steps=4, eval_every=2), progress=seen.append)
    assert [p.step for p in seen] == [1, 2, 3, 4]
    assert all(p.total == 4 for p in seen)
    for p, h in zip(seen, result.history):
        assert {"loss", "cls", "domain"} <= set(p.losses)
        assert p.losses["loss"] == h["loss"]
        assert p.elapsed >= 0 and p.images_per_s > 0
    assert seen[0].metrics == {} and "target_acc" in seen[2].metrics  # evaluated at step 2
    assert "target_acc" in result.history[1] and "target_acc" in result.history[-1]
    assert result.history[-1]["target_acc"] == result.target_acc


def test_cancel_from_progress_callback_stops_after_step_3():
    cancel = threading.Event()

    def on_progress(p: Progress):
        if p.step == 3:
            cancel.set()

    result = train(_config("source_only", steps=50), progress=on_progress, cancel=cancel)
    assert result.cancelled is True
    assert result.steps_done == 3 and len(result.history) == 3
    assert result.card["cancelled"] is True
    assert result.card["hyperparameters"]["steps_done"] == 3
    assert 0.0 <= result.target_acc <= 100.0  # the partly trained model is still evaluated


def test_cancel_before_start_returns_untrained_model():
    cancel = threading.Event()
    cancel.set()
    result = train(_config("source_only", steps=10), cancel=cancel)
    assert result.cancelled and result.steps_done == 0 and result.history == []


# ---------------------------------------------------------------------------- divergence

def test_nan_loss_raises_training_error(monkeypatch):
    def nan_loss(self, batch, progress):
        ce = self.cross_entropy(self.model(batch.xs), batch.ys)
        return {"loss": ce * float("nan"), "cls": ce}

    monkeypatch.setattr(METHODS["source_only"], "loss", nan_loss)
    with pytest.raises(TrainingError) as err:
        train(_config("source_only", steps=5))
    msg = str(err.value)
    assert "step 1" in msg and "nan" in msg.lower() and "learning rate" in msg


def test_diverging_learning_rate_raises_training_error():
    with pytest.raises(TrainingError, match="step"):
        train(_config("source_only", steps=30, lr=10.0, optimizer="sgd", lr_anneal=False))


@pytest.mark.parametrize("field, value", [("lr", 1e8), ("steps", 0), ("steps", -5), ("batch_size", 0),
                                          ("batch_size", 10_000_000), ("warmup", 1.5), ("seed", -1),
                                          ("lr", float("nan")), ("steps", 2.5)])
def test_out_of_range_settings_are_refused_before_any_work(field, value, monkeypatch):
    import core.data.run_domains as run_domains

    monkeypatch.setattr(run_domains, "load_run_domains", lambda *a, **k: pytest.fail("loaded data"))
    with pytest.raises(ValueError, match=field):
        train(_config("source_only", **{field: value}))


def test_unknown_method_fails_before_any_work():
    with pytest.raises(ValueError, match="valid methods"):
        train(_config("nonexistent"))


# ---------------------------------------------------------------------------- checkpoints

def test_checkpoint_written_and_loadable(tmp_path):
    out = tmp_path / "run"
    result = train(_config("dann", steps=3), out_dir=out)
    assert result.checkpoint == str(out)
    assert (out / "model.safetensors").exists() and (out / "card.json").exists()
    model, card = checkpoints.load(out)
    assert card["method"] == "dann" and card["source"] == "mnist" and card["target"] == "ucidigits"
    assert card["class_names"] == [str(i) for i in range(10)]
    assert card["metrics"]["target_acc"] == pytest.approx(result.target_acc)
    assert card["hyperparameters"]["steps"] == 3 and card["hyperparameters"]["domain_weight"] == 1.0
    assert len(card["history"]) == 3
    test = load_domain("ucidigits", "test")
    torch.testing.assert_close(predict_logits(model, test.images), predict_logits(result.model, test.images))
    assert evaluate_accuracy(model, test) == pytest.approx(result.target_acc, abs=0.21)  # ≤ 1 near-tie image


def test_no_checkpoint_without_out_dir():
    assert train(_config("source_only", steps=1)).checkpoint is None


def test_result_fields():
    result = train(_config("mmd", steps=2))
    assert result.steps_done == 2 and not result.cancelled
    assert result.seconds > 0 and result.images_per_s > 0
    assert 0.0 <= result.source_acc <= 100.0
    assert result.card["method"] == "mmd" and result.card["model"]["arch"] == "digits_cnn"


# ---------------------------------------------------------------------------- the accuracy gain
#
# MNIST → UCI digits, seed 0, fp32 on the CPU, SGD with momentum 0.9 at a constant lr 0.01 (the DANN paper's
# optimiser), 600 steps of 64 + 64 images. Observed on the dev machine:
#     source_only 66.2 %   mmd 74.6 % (+8.4)   dann 65.0 % (−1.2)   (fused SGD; before it 66.4 / 74.6 / 62.8)
# (seed 1, before fused SGD: 60.2 / 64.6 / 63.6). MMD gains robustly from step ~250 on; DANN oscillates by ±5 points between
# evaluations and does not beat the baseline reliably here, with SGD or with the recipes' constant-lr Adam
# (seed 0: 52.0 vs 66.2 % at 600 steps, 59.0 vs 67.2 % at 800; mmd 71.4 / 74.6 %), so no DANN test here.

GAIN = dict(source="mnist", target="ucidigits", steps=600, batch_size=64, optimizer="sgd", lr=0.01,
            lr_anneal=False, eval_every=0, seed=0, device="cpu", precision="fp32")
MARGIN = 3.0  # percentage points on the 500 target test images


@pytest.fixture(scope="module")
def gain_accuracy():
    cache: dict[str, float] = {}

    def acc(method: str) -> float:
        if method not in cache:
            cache[method] = train(TrainConfig(method=method, **GAIN)).target_acc
            print(f"\n{method}: target accuracy {cache[method]:.1f} %")
        return cache[method]

    return acc


@pytest.mark.slow
def test_mmd_beats_source_only_on_mnist_to_ucidigits(gain_accuracy):
    baseline, mmd = gain_accuracy("source_only"), gain_accuracy("mmd")
    assert mmd >= baseline + MARGIN, f"mmd {mmd:.1f} % vs source_only {baseline:.1f} %"


# DANN's gain where the domain gap is one of appearance: MNIST → MNIST-M with the recipe (Adam 1e-3,
# constant). In longer runs (seed 0, bf16) source-only plateaus near 41 % by step 500 while DANN is at
# 45.6 % by step 500 and keeps rising (57.8 % at 1,500 steps, 68.4 % at 4,000); this test takes 600 steps.
MNISTM_GAIN = dict(source="mnist", target="mnistm", steps=600, batch_size=64, eval_every=0, seed=0,
                   device="cpu", precision="fp32")


@pytest.mark.slow
def test_dann_beats_source_only_on_mnist_to_mnistm():
    baseline = train(TrainConfig(method="source_only", **MNISTM_GAIN)).target_acc
    dann = train(TrainConfig(method="dann", **MNISTM_GAIN)).target_acc
    assert dann >= baseline + MARGIN, f"dann {dann:.1f} % vs source_only {baseline:.1f} %"
