"""Test-time adaptation (core.tta): what each method may change, episodic copies, the label-free
guard, small batches, clear errors, and the ``python -m core adapt`` command."""

from __future__ import annotations

import json

import pytest
import torch

from core import checkpoints
from core.data import load_domain
from core.models import build_model
from core.evaluation import label_free_stats
from core.tta import (ADAPTED, KEPT, TTA_METHODS, TTAMethod, adapt, batch_norm_layers, distinct_pictures, register,
                      reestimate_bn_statistics)

DIGITS = [str(i) for i in range(10)]
NO_GUARD = {"max_share_jump": 1.0, "entropy_tolerance": float("inf")}


@pytest.fixture(scope="module")
def trained():
    """A BN digits CNN trained briefly on MNIST (a model with something to lose)."""
    torch.manual_seed(0)
    model = build_model({"arch": "digits_cnn", "batch_norm": True})
    mnist = load_domain("mnist", "train")
    g = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(40):  # plain SGD steps
        idx = torch.randint(0, len(mnist), (32,), generator=g)
        loss = torch.nn.functional.cross_entropy(model(mnist.float_images(idx)), mnist.labels[idx])
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.05 * p.grad
    return model.eval()


@pytest.fixture(scope="module")
def target():
    return load_domain("mnistm", "test").float_images(torch.arange(48))


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _changed(before, after):
    return {k for k in before if before[k].is_floating_point() and not torch.equal(before[k], after[k])}


def test_registry_has_the_three_methods():
    assert {"bn_stats", "tent", "shot_im"} <= set(TTA_METHODS)
    for cls in TTA_METHODS.values():
        assert cls.summary and cls.min_images >= 1


def test_bn_statistics_follow_the_target_pictures(trained, target):
    result = adapt(trained, target, "bn_stats", prior=0.0, **NO_GUARD)
    first = batch_norm_layers(result.model)[0]
    conv_out = result.model.backbone.conv[0](result.model.backbone.normalize(target))
    assert torch.allclose(first.running_mean, conv_out.mean((0, 2, 3)), atol=1e-4)
    assert torch.allclose(first.running_var, conv_out.var((0, 2, 3), unbiased=True), rtol=1e-3)
    # nothing but the statistics changed
    assert {k.rsplit(".", 1)[1] for k in _changed(_state(trained), _state(result.model))} <= {"running_mean", "running_var"}


def test_the_source_prior_interpolates_statistics(trained, target):
    source_mean = batch_norm_layers(trained)[0].running_mean.clone()
    alone = adapt(trained, target, "bn_stats", prior=0.0, **NO_GUARD).model
    half = adapt(trained, target, "bn_stats", prior=float(len(target)), **NO_GUARD).model
    assert torch.allclose(batch_norm_layers(half)[0].running_mean,
                          (source_mean + batch_norm_layers(alone)[0].running_mean) / 2, atol=1e-5)


def test_tent_updates_only_batch_norm_affine_parameters(trained, target):
    result = adapt(trained, target, "tent", steps=3, lr=1e-2, **NO_GUARD)
    changed = _changed(_state(trained), _state(result.model))
    bn_names = {n for n, m in result.model.named_modules() if m in batch_norm_layers(result.model)}
    assert changed and all(k.rsplit(".", 1)[0] in bn_names for k in changed)
    assert any(k.endswith(".weight") for k in changed) and any(k.endswith(".bias") for k in changed)


def test_shot_im_trains_the_features_and_keeps_the_head_frozen(trained, target):
    result = adapt(trained, target, "shot_im", steps=3, lr=1e-3, **NO_GUARD)
    changed = _changed(_state(trained), _state(result.model))
    assert not any(k.startswith("head.") for k in changed)
    assert any(k.startswith("backbone.conv.0.") for k in changed)  # the feature extractor learned
    assert torch.equal(result.model.head.weight, trained.head.weight)


@pytest.mark.parametrize("method", sorted(TTA_METHODS))
def test_the_model_passed_in_is_never_modified(trained, target, method):
    before = _state(trained)
    flags = [p.requires_grad for p in trained.parameters()]
    settings = {"steps": 2} if "steps" in TTA_METHODS[method].hyperparameters else {}
    result = adapt(trained, target, method, **settings, **NO_GUARD)
    assert result.model is not trained and result.verdict == ADAPTED
    assert not _changed(before, _state(trained))
    assert [p.requires_grad for p in trained.parameters()] == flags and not trained.training
    again = adapt(trained, target, method, **settings, **NO_GUARD)  # episodic: the same start, the same result
    assert all(torch.equal(a, b) for a, b in zip(_state(result.model).values(), _state(again.model).values()))


@pytest.mark.parametrize("method", sorted(TTA_METHODS))
def test_eight_pictures_are_enough(trained, target, method):
    result = adapt(trained, target[:8], method)
    assert result.verdict in (ADAPTED, KEPT) and result.n_images == 8
    assert set(result.before) >= {"mean_entropy", "max_class_share", "classes_predicted"}
    logits = result.model(target[:4])
    assert logits.shape == (4, 10) and torch.isfinite(logits).all()


@pytest.mark.parametrize("method", sorted(TTA_METHODS))
def test_too_few_pictures_is_a_clear_error(trained, target, method):
    need = TTA_METHODS[method].min_images
    with pytest.raises(ValueError, match=rf"at least {need} pictures.*got {need - 1}"):
        adapt(trained, target[:need - 1], method)


def test_batch_norm_methods_refuse_a_model_without_batch_norm(target):
    plain = build_model({"arch": "digits_cnn"})
    with pytest.raises(ValueError, match="no(ne)?.*BatchNorm|BatchNorm.*none"):
        adapt(plain, target, "tent")
    assert adapt(plain, target, "shot_im", steps=1).n_images == len(target)  # SHOT-IM needs no BN


def test_unknown_method_or_setting_lists_the_valid_ones(trained, target):
    with pytest.raises(ValueError, match="bn_stats"):
        adapt(trained, target, "tent2")
    with pytest.raises(ValueError, match="steps"):
        adapt(trained, target, "tent", stepz=3)


def test_guard_keeps_the_original_on_one_picture_repeated(trained, target):
    repeated = target[:1].repeat(32, 1, 1, 1)
    assert distinct_pictures(repeated) == 1 and distinct_pictures(target) == len(target)
    for method in TTA_METHODS:
        result = adapt(trained, repeated, method)
        assert result.verdict == KEPT and result.model is trained
        assert "distinct" in result.reason


@pytest.fixture
def saboteurs():
    """Two TTA methods that break a model on purpose: one collapses every prediction onto class 3,
    one flattens the logits (entropy up)."""

    @register
    class Collapse(TTAMethod):
        name = "test_collapse"
        summary = "test only"

        def adapt_in_place(self, model, images, generator):
            with torch.no_grad():
                model.head.bias[3] += 100.0

    @register
    class Flatten(TTAMethod):
        name = "test_flatten"
        summary = "test only"

        def adapt_in_place(self, model, images, generator):
            with torch.no_grad():  # logits × 0.01: the same argmax, flatter probabilities
                model.head.weight.mul_(0.01)
                model.head.bias.mul_(0.01)

    yield
    TTA_METHODS.pop("test_collapse")
    TTA_METHODS.pop("test_flatten")


def test_guard_keeps_the_original_when_predictions_collapse(trained, target, saboteurs):
    result = adapt(trained, target, "test_collapse")
    assert result.verdict == KEPT and result.model is trained
    assert "collapsed" in result.reason and result.after["max_class_share"] == 1.0
    assert result.before["max_class_share"] < 0.8


@pytest.mark.parametrize("reference", ["statistics", "original"])
def test_guard_keeps_the_original_when_entropy_rises(trained, target, saboteurs, reference):
    result = adapt(trained, target, "test_flatten", entropy_reference=reference)
    assert result.verdict == KEPT and "entropy" in result.reason
    assert result.after["mean_entropy"] > result.before["mean_entropy"]


def test_few_pictures_get_few_steps():
    from core.tta.shot_im import ShotIM

    tta = ShotIM()
    g = torch.Generator().manual_seed(0)
    assert len(list(tta.minibatches(8, 64, 30, g, epochs=5))) == 5        # 5 passes over 8 pictures
    assert len(list(tta.minibatches(100, 64, 30, g, epochs=5))) == 8      # ⌈5 · 100 / 64⌉
    assert len(list(tta.minibatches(500, 64, 30, g, epochs=5))) == 30     # the step budget
    assert all(len(i) == 8 for i in tta.minibatches(8, 64, 30, g, epochs=5))


def test_reestimation_leaves_eval_mode_and_original_momentum(trained, target):
    import copy

    model = copy.deepcopy(trained)
    reestimate_bn_statistics(model, target)
    assert not model.training and all(m.momentum == 0.1 for m in batch_norm_layers(model))


def test_label_free_stats(trained, target):
    stats = label_free_stats(trained, target)
    assert 0 <= stats["mean_entropy"] <= torch.log(torch.tensor(10.0)) + 1e-4
    assert 0.1 <= stats["max_class_share"] <= 1.0 and 1 <= stats["classes_predicted"] <= 10


def test_cli_adapt_writes_a_checkpoint_and_one_json_line(trained, tmp_path, capsys):
    from core.cli import main

    card = checkpoints.make_card(trained, method="source_only", source="mnist", target="mnist", class_names=DIGITS)
    checkpoints.save(trained, card, tmp_path / "model")
    code = main(["adapt", "--model", str(tmp_path / "model"), "--target", "ucidigits", "--method", "bn_stats",
                 "--max-images", "32", "--out", str(tmp_path / "adapted"), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"model", "method", "target", "before_acc", "after_acc", "seconds", "checkpoint", "verdict"} <= set(summary)
    assert summary["n_images"] == 32 and summary["method"] == "bn_stats"
    model, card = checkpoints.load(summary["checkpoint"])
    assert card["tta"]["verdict"] == summary["verdict"] and card["target"] == "ucidigits"
    assert card["metrics"]["target_acc"] == pytest.approx(summary["after_acc"], abs=1e-3)


def test_cli_adapt_reports_too_few_pictures(trained, tmp_path, capsys):
    from core.cli import main

    card = checkpoints.make_card(trained, method="source_only", source="mnist", target="mnist", class_names=DIGITS)
    checkpoints.save(trained, card, tmp_path / "model")
    code = main(["adapt", "--model", str(tmp_path / "model"), "--target", "ucidigits", "--max-images", "5"])
    assert code == 2 and "at least 8 pictures" in capsys.readouterr().err


def test_cli_adapt_says_how_it_read_the_pictures(trained, tmp_path, capsys):
    from core.cli import main
    from core.inference.normalize import DEFAULT_CRITERION, VARIANTS

    card = checkpoints.make_card(trained, method="source_only", source="mnist", target="mnist", class_names=DIGITS)
    checkpoints.save(trained, card, tmp_path / "model")
    base = ["adapt", "--model", str(tmp_path / "model"), "--target", "ucidigits", "--method", "bn_stats",
            "--max-images", "32", "--json"]
    assert main(base) == 0
    auto = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert auto["normalize"] in VARIANTS and DEFAULT_CRITERION in auto["normalize_reason"]
    assert main([*base, "--normalize", "centre"]) == 0
    fixed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert fixed["normalize"] == "centre" and fixed["normalize_reason"] == "asked for"
    if auto["normalize"] == "centre":
        assert fixed["before_acc"] == pytest.approx(auto["before_acc"], abs=1e-6)
    with pytest.raises(SystemExit) as refused:
        main([*base, "--normalize", "sideways"])
    assert refused.value.code == 2 and "'none', 'centre', 'auto'" in capsys.readouterr().err


def test_the_small_adam_matches_torch_adam():
    from core.tta.base import Adam

    torch.manual_seed(0)
    a = torch.randn(6, requires_grad=True)
    b = a.detach().clone().requires_grad_(True)
    reference, ours = torch.optim.Adam([a], lr=0.01), Adam([b], lr=0.01)
    for _ in range(20):
        for p, opt in ((a, reference), (b, ours)):
            opt.zero_grad()
            (p ** 3).sum().backward()
            opt.step()
    assert torch.allclose(a, b, atol=1e-6)


def test_cli_adapt_checks_its_arguments_before_any_work(trained, tmp_path, capsys):
    from core.cli import main

    card = checkpoints.make_card(trained, method="source_only", source="mnist", target="mnist", class_names=DIGITS)
    checkpoints.save(trained, card, tmp_path / "model")
    base = ["adapt", "--model", str(tmp_path / "model")]
    assert main([*base, "--target", "ucidigits", "--set", "stepz=3"]) == 2
    assert "unknown setting" in capsys.readouterr().err
    assert main([*base, "--target", "ucidigits", "--set", "steps=-1"]) == 2
    assert "steps" in capsys.readouterr().err
    assert main([*base, "--target", "nosuchdomain"]) == 2
    assert "unknown domain" in capsys.readouterr().err
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert main([*base, "--target", "ucidigits", "--out", str(tmp_path / "busy")]) == 2
    assert "holding other files" in capsys.readouterr().err


def test_the_shipped_universal_model_is_a_small_batch_norm_checkpoint():
    from core.data import EMBEDDED
    from core.tta.domain import DEFAULT_MODEL

    model, card = checkpoints.load(DEFAULT_MODEL)
    assert batch_norm_layers(model), "TTA needs BatchNorm statistics"
    assert card["source"].split("+") == list(EMBEDDED) and card["class_names"] == DIGITS
    assert all(p.dtype == torch.float32 for p in model.parameters())  # fp16 on disk, fp32 when loaded
    from pathlib import Path

    size = sum(f.stat().st_size for f in Path(DEFAULT_MODEL).iterdir())
    assert size < 600_000, f"the universal model should stay small ({size} bytes)"
