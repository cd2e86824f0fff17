"""Tests for core.methods: the registry, hyperparameter checks, and that every method really trains.

Runs use tiny step counts on MNIST → UCI digits (the smallest embedded pair) with fp32 on the CPU.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
import torch

from core.data.splits import few_shot_indices
from core.training.config import TrainConfig
from core.training.engine import train
from core.methods import METHODS, Batch, Context, Method, get_method
from core.models import build_model

SHIPPED = ["source_only", "oracle", "finetune", "dann", "mmd", "adda", "self_training", "distill", "pixel_gan",
           "dg_randomize", "mixstyle", "randomize_mixstyle", "dg_coral"]
ALL = sorted(METHODS)  # the contract tests enumerate the registry: a new method file is covered at once


def _config(method: str, steps: int = 4, **kw) -> TrainConfig:
    base = dict(method=method, source="mnist", target="ucidigits", steps=steps, batch_size=16,
                eval_every=0, seed=0, device="cpu", precision="fp32")
    base.update(kw)
    return TrainConfig(**base)


def _ctx(**kw) -> Context:
    digits = [str(i) for i in range(10)]
    base = dict(device=torch.device("cpu"), source_classes=digits, target_classes=digits, steps=10,
                generator=torch.Generator().manual_seed(0))
    base.update(kw)
    return Context(**base)


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before: dict, after: dict) -> list[str]:
    return [k for k in before if k in after and before[k].is_floating_point() and not torch.equal(before[k], after[k])]


@pytest.fixture(scope="module")
def teacher_path(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("teacher") / "teacher"
    result = train(_config("source_only", steps=3), out_dir=out)
    assert result.checkpoint and Path(result.checkpoint).exists()
    return result.checkpoint


@pytest.fixture
def spy_steps(monkeypatch):
    """Wrap ``cls.train_step`` to record the method instance, the eval model's state before the first step,
    and every batch and loss dict."""
    records: dict = {}

    def install(cls):
        original = cls.train_step

        def train_step(self, batch, progress):
            if "method" not in records:
                records["method"] = self
                records["initial"] = _state(self.eval_model())
            records.setdefault("batches", []).append(batch)
            records.setdefault("progress", []).append(progress)
            out = original(self, batch, progress)
            records.setdefault("losses", []).append({k: float(v) for k, v in out.items()})
            return out

        monkeypatch.setattr(cls, "train_step", train_step)
        return records

    return install


# ---------------------------------------------------------------------------- registry

def test_registry_lists_every_method():
    assert set(SHIPPED) <= set(METHODS)  # and the newer ones (tests/core/methods/test_*.py)
    for name, cls in METHODS.items():
        assert cls.name == name and issubclass(cls, Method)
        assert cls.summary
        assert cls.target_labels in ("none", "few", "all")
        for h in cls.hyperparameters.values():
            assert h.help
            if h.low is not None and isinstance(h.default, (int, float)) and not isinstance(h.default, bool):
                assert h.low <= h.default <= h.high
    assert METHODS["oracle"].target_labels == "all"
    assert METHODS["finetune"].target_labels == "few"
    assert all(METHODS[m].target_labels == "none" for m in ("source_only", "dann", "mmd", "adda", "self_training"))


def test_get_method_unknown_lists_valid():
    assert get_method("dann") is METHODS["dann"]
    with pytest.raises(ValueError) as err:
        get_method("danny")
    msg = str(err.value)
    assert "danny" in msg
    for name in ALL:
        assert name in msg


def test_unknown_hyperparameter_raises_listing_valid():
    model = build_model({"arch": "digits_cnn", "num_classes": 10})
    with pytest.raises(ValueError) as err:
        get_method("dann")(model, _ctx(), domain_wieght=0.5)
    msg = str(err.value)
    assert "domain_wieght" in msg and "domain_weight" in msg and "disc_hidden" in msg
    with pytest.raises(ValueError, match="valid: none"):
        get_method("source_only")(model, _ctx(), alpha=0.5)
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        train(_config("mmd", hparams={"mmd_wt": 1.0}))


def test_hyperparameters_are_cast_to_the_default_type():
    model = build_model({"arch": "digits_cnn", "num_classes": 10})
    m = get_method("dann")(model, _ctx(), domain_weight=1, disc_hidden=32.0)
    assert isinstance(m.hp["domain_weight"], float) and m.hp["domain_weight"] == 1.0
    assert isinstance(m.hp["disc_hidden"], int) and m.hp["disc_hidden"] == 32
    assert m.discriminator.net[0].out_features == 32


def test_unknown_optimizer_raises():
    model = build_model({"arch": "digits_cnn", "num_classes": 10})
    with pytest.raises(ValueError, match="optimizer"):
        get_method("source_only")(model, _ctx(), optimizer="rmsprop")


def test_learning_rate_annealing():
    model = build_model({"arch": "digits_cnn", "num_classes": 10})
    m = get_method("source_only")(model, _ctx(), lr=0.01)
    m.anneal(m.optimizer, 1.0)
    assert m.optimizer.param_groups[0]["lr"] == pytest.approx(0.01 / 11 ** 0.75)
    m.anneal(m.optimizer, 0.0)
    assert m.optimizer.param_groups[0]["lr"] == pytest.approx(0.01)
    flat = get_method("source_only")(model, _ctx(), lr=0.01, lr_anneal=False)
    flat.anneal(flat.optimizer, 0.9)
    assert flat.optimizer.param_groups[0]["lr"] == pytest.approx(0.01)
    sgd = get_method("source_only")(model, _ctx(), optimizer="sgd")
    assert isinstance(sgd.optimizer, torch.optim.SGD)


# ---------------------------------------------------------------------------- every method trains

@pytest.mark.parametrize("name", ALL)
def test_every_method_trains_and_changes_its_parameters(name, spy_steps, teacher_path):
    rec = spy_steps(METHODS[name])
    hparams = {k: teacher_path for k in METHODS[name].model_hyperparameters()
               if METHODS[name].hyperparameters[k].required}  # a teacher, where one is needed
    steps = 4
    result = train(_config(name, steps=steps, hparams=hparams))
    assert result.steps_done == steps and not result.cancelled
    assert len(result.history) == steps and [h["step"] for h in result.history] == list(range(1, steps + 1))
    assert rec["progress"] == [i / steps for i in range(steps)]
    for losses in rec["losses"]:
        assert "loss" in losses and all(math.isfinite(v) for v in losses.values())
    final = _state(result.model)
    changed = _changed(rec["initial"], final)
    assert changed, f"{name}: no parameter changed in {steps} steps"
    assert all(torch.isfinite(v).all() for v in final.values() if v.is_floating_point())
    assert result.model is rec["method"].eval_model()
    assert 0.0 <= result.target_acc <= 100.0
    # what the method is handed each step
    for batch in rec["batches"]:
        assert isinstance(batch, Batch)
        assert batch.xs.shape == batch.xt.shape == (16, 3, 28, 28)
        assert batch.xs.dtype == torch.float32 and 0.0 <= batch.xs.min() and batch.xs.max() <= 1.0
        assert (batch.yt is not None) == (METHODS[name].target_labels != "none")


def test_oracle_trains_on_target_labels(spy_steps):
    rec = spy_steps(METHODS["oracle"])
    train(_config("oracle", steps=3))
    from core.data import load_domain

    tgt = load_domain("ucidigits", "train")
    rows = {img.numpy().tobytes(): int(lbl) for img, lbl in zip(tgt.images, tgt.labels)}
    for batch in rec["batches"]:
        for x, y in zip(batch.xt, batch.yt):
            key = (x * 255).round().to(torch.uint8).numpy().tobytes()
            assert rows[key] == int(y)  # the true label of that target image


def test_dann_logs_domain_loss_and_lambda_ramp():
    result = train(_config("dann", steps=5))
    lambdas = [h["lambda"] for h in result.history]
    assert all("domain" in h and "cls" in h for h in result.history)
    assert lambdas[0] == 0.0 and all(b > a for a, b in zip(lambdas, lambdas[1:])) and lambdas[-1] < 1.0
    for h in result.history:
        assert h["loss"] == pytest.approx(h["cls"] + h["domain"], rel=1e-5)
        assert 0.0 < h["domain"] < 2.0


def test_dann_domain_weight_scales_lambda():
    result = train(_config("dann", steps=3, hparams={"domain_weight": 0.5}))
    from core.models import dann_lambda

    assert result.history[-1]["lambda"] == pytest.approx(0.5 * dann_lambda(2 / 3))


@pytest.mark.parametrize("method, hparams", [("dann", {"domain_weight": 0.0}), ("mmd", {"mmd_weight": 0.0})])
def test_zero_adaptation_weight_reduces_to_source_only(method, hparams):
    """With the alignment term switched off, the classifier must train exactly like source_only:
    the reversed domain gradient (λ = 0) or the MMD penalty (w = 0) must not reach the network."""
    base = train(_config("source_only", steps=4))
    adapted = train(_config(method, steps=4, hparams=hparams))
    a, b = base.model.state_dict(), adapted.model.state_dict()
    assert a.keys() == b.keys()
    for k in a:  # the joint source+target forward pass may round differently from a source-only one
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5)
    assert [h["cls"] for h in adapted.history] == pytest.approx([h["cls"] for h in base.history], rel=1e-4)


def test_mmd_logs_mmd_term():
    result = train(_config("mmd", steps=3))
    assert all("mmd" in h and math.isfinite(h["mmd"]) for h in result.history)


def test_self_training_mask_rate_logged():
    hist = train(_config("self_training", steps=5, hparams={"threshold": 0.0, "source_only_fraction": 0.3})).history
    # steps 1-2 (p = 0, 0.2) are the source-only phase; from p = 0.4 on every image passes a threshold of 0
    assert [h["mask_rate"] for h in hist] == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert hist[0]["pseudo"] == 0.0 and hist[-1]["pseudo"] > 0.0
    strict = train(_config("self_training", steps=3, hparams={"threshold": 1.0, "source_only_fraction": 0.0})).history
    assert all(0.0 <= h["mask_rate"] <= 1.0 for h in strict)
    assert strict[0]["mask_rate"] == 0.0  # an untrained network is never 100 % sure


# ---------------------------------------------------------------------------- ADDA

def test_adda_freezes_the_source_encoder_through_the_engine(monkeypatch):
    adda_cls = METHODS["adda"]
    seen: dict = {}
    original = adda_cls._start_adaptation

    def start(self):
        seen["method"] = self
        seen["source_at_start"] = _state(self.model)
        original(self)
        seen["target_at_start"] = _state(self.target_model)

    monkeypatch.setattr(adda_cls, "_start_adaptation", start)
    result = train(_config("adda", steps=6, hparams={"pretrain_fraction": 0.5},
                           model={"arch": "digits_cnn", "batch_norm": True}))
    method = seen["method"]
    assert method.adapting and result.model is method.target_model
    assert [h.get("disc") is not None for h in result.history] == [False] * 3 + [True] * 3
    # M_s and C: bit-for-bit unchanged (parameters and BN statistics)
    after = _state(method.model)
    for k, v in seen["source_at_start"].items():
        assert torch.equal(after[k], v), f"source encoder changed: {k}"
    assert not any(p.requires_grad for p in method.model.parameters())
    # M_t started as a copy of M_s and did move; the head C is shared and frozen
    for k, v in seen["target_at_start"].items():
        assert torch.equal(v, seen["source_at_start"][k])
    target_after = _state(method.target_model)
    assert _changed(seen["target_at_start"], {k: v for k, v in target_after.items() if k.startswith("backbone.")})
    assert method.target_model.head is method.model.head
    assert torch.equal(target_after["head.weight"], seen["source_at_start"]["head.weight"])


def test_adda_stages_when_driven_directly():
    torch.manual_seed(0)
    model = build_model({"arch": "digits_cnn", "num_classes": 10, "width": 0.5})
    adda = get_method("adda")(model, _ctx(), pretrain_fraction=0.5, disc_hidden=32)
    g = torch.Generator().manual_seed(1)
    batch = Batch(torch.rand(8, 3, 28, 28, generator=g), torch.randint(0, 10, (8,), generator=g),
                  torch.rand(8, 3, 28, 28, generator=g))
    init = _state(adda.model)
    out = adda.step(batch, 0.0)
    assert set(out) == {"loss", "cls"} and not adda.adapting and adda.eval_model() is adda.model
    assert _changed(init, _state(adda.model))  # pre-training moves M_s
    adda.step(batch, 0.25)
    snapshot = _state(adda.model)
    disc_before = _state(adda.discriminator)
    for p in (0.5, 0.6, 0.7, 0.8):
        out = adda.step(batch, p)
        assert {"loss", "disc", "target_enc", "disc_acc"} <= set(out)
    assert adda.eval_model() is adda.target_model
    now = _state(adda.model)
    assert all(torch.equal(now[k], snapshot[k]) for k in snapshot)
    assert _changed(snapshot, _state(adda.target_model))
    assert _changed(disc_before, _state(adda.discriminator))
    # the adversarial players use Adam with β₁ = 0.5
    assert adda.opt_target.param_groups[0]["betas"] == (0.5, 0.999)
    assert adda.opt_disc.param_groups[0]["betas"] == (0.5, 0.999)


# ---------------------------------------------------------------------------- finetune

def test_few_shot_indices():
    labels = torch.tensor([0] * 7 + [1] * 2 + [2] * 5)
    idx = few_shot_indices(labels, 3, torch.Generator().manual_seed(0))
    assert torch.bincount(labels[idx]).tolist() == [3, 2, 3]  # fewer if a class is smaller
    assert idx.tolist() == sorted(set(idx.tolist()))
    again = few_shot_indices(labels, 3, torch.Generator().manual_seed(0))
    assert torch.equal(idx, again)


def test_finetune_sees_only_shots_labelled_target_images_per_class(spy_steps):
    from core.data import load_domain

    rec = spy_steps(METHODS["finetune"])
    shots, seed = 2, 5
    train(_config("finetune", steps=5, seed=seed, hparams={"shots": shots}))
    tgt = load_domain("ucidigits", "train")
    keep = few_shot_indices(tgt.labels, shots, torch.Generator().manual_seed(seed))
    allowed = {tgt.images[i].numpy().tobytes(): int(tgt.labels[i]) for i in keep}
    assert len(keep) == 10 * shots
    seen = set()
    for batch in rec["batches"]:
        assert batch.yt is not None
        for x, y in zip(batch.xt, batch.yt):
            key = (x * 255).round().to(torch.uint8).numpy().tobytes()
            assert key in allowed, "finetune saw a target image outside its few-shot set"
            assert allowed[key] == int(y)
            seen.add(key)
    assert len(seen) <= 10 * shots
    counts = torch.bincount(torch.tensor([allowed[k] for k in seen]), minlength=10)
    assert (counts <= shots).all()


def _png(colour) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (28, 28), colour).save(buf, format="PNG")
    return buf.getvalue()


def test_finetune_new_label_space(tmp_path, spy_steps):
    root = tmp_path / "shapes"
    for cls, colour in {"circle": (250, 20, 20), "square": (20, 250, 20), "star": (20, 20, 250)}.items():
        (root / cls).mkdir(parents=True)
        for i in range(10):
            (root / cls / f"{i}.png").write_bytes(_png(tuple(max(0, c - 5 * i) for c in colour)))
    rec = spy_steps(METHODS["finetune"])
    result = train(_config("finetune", steps=4, target=f"folder:{root}", hparams={"shots": 3}),
                   out_dir=tmp_path / "ckpt")
    method = rec["method"]
    assert method.new_label_space
    assert result.model.num_classes == 3 and result.model is method.target_model
    assert method.model.num_classes == 10  # the source head stays
    assert result.model.backbone is method.model.backbone  # shared feature extractor
    assert result.card["class_names"] == ["circle", "square", "star"]
    assert math.isnan(result.source_acc)
    assert rec["losses"][0]["target_cls"] > 0
    for batch in rec["batches"]:
        assert batch.yt.max() < 3
    with torch.no_grad():
        assert result.model(torch.rand(2, 3, 28, 28)).shape == (2, 3)
    # the new head was trained
    assert _changed(rec["initial"], _state(result.model))
    from core import checkpoints

    loaded, card = checkpoints.load(result.checkpoint)
    assert loaded.num_classes == 3 and card["class_names"] == ["circle", "square", "star"]


def test_oracle_on_a_new_label_space(tmp_path):
    root = tmp_path / "shapes"
    for k, cls in enumerate(["circle", "square", "star"]):
        (root / cls).mkdir(parents=True)
        for i in range(5):
            (root / cls / f"{i}.png").write_bytes(_png((80 * k, 20 * i, 100)))
    result = train(_config("oracle", steps=2, target=f"folder:{root}"), out_dir=tmp_path / "ckpt")
    assert result.model.num_classes == 3
    assert result.card["class_names"] == ["circle", "square", "star"]


# ---------------------------------------------------------------------------- distill

def test_distill_student_is_smaller_and_learns_from_the_teacher(teacher_path, spy_steps):
    from core import checkpoints

    rec = spy_steps(METHODS["distill"])
    result = train(_config("distill", steps=3, hparams={"teacher": teacher_path, "student_width": 0.5,
                                                        "temperature": 2.0, "alpha": 0.5}))
    teacher, _ = checkpoints.load(teacher_path)
    method = rec["method"]
    assert sum(p.numel() for p in result.model.parameters()) < sum(p.numel() for p in teacher.parameters()) / 2
    assert result.model.spec["width"] == 0.5
    assert all(not p.requires_grad for p in method.teacher.parameters())
    for losses in rec["losses"]:
        assert losses["loss"] == pytest.approx(0.5 * losses["kd"] + 0.5 * losses["cls"], rel=1e-5)
    # the teacher does not change while the student trains
    reloaded, _ = checkpoints.load(teacher_path)
    for (k, v), (_, w) in zip(method.teacher.state_dict().items(), reloaded.state_dict().items()):
        assert torch.equal(v, w), k


def test_distill_without_teacher_raises():
    with pytest.raises(ValueError, match="teacher"):
        train(_config("distill", steps=1))
