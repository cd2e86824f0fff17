"""scripts/studies/classic_recipes.py: the declared rule (highest mean gain over the plain
source-only model; within 1 point the simpler variant) and the settings each variant trains with."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from scripts.studies import classic_recipes as study


def _run(method, variant, target, acc):
    return {"method": method, "variant": variant, "target": target, "seed": 0, "target_acc": acc}


def test_the_highest_mean_gain_wins_and_a_simpler_variant_within_one_point_takes_the_tie():
    runs = [_run("source_only", "recipe", "a", 40.0), _run("source_only", "recipe", "b", 30.0),
            # std has no source-only baseline of its own in the rule: gains are over the plain model
            _run("source_only", "std", "a", 99.0),
            _run("cdan", "recipe", "a", 41.0), _run("cdan", "recipe", "b", 31.0),     # +1.0
            _run("cdan", "bn", "a", 50.0), _run("cdan", "bn", "b", 40.0),             # +10.0
            _run("cdan", "std", "a", 51.5), _run("cdan", "std", "b", 40.0),           # +10.75
            _run("mcc", "recipe", "a", 30.0), _run("mcc", "recipe", "b", 20.0),       # −10.0
            _run("mcc", "bn+std", "a", 60.0), _run("mcc", "bn+std", "b", 50.0)]       # +20.0
    result = study.summary(runs)

    assert result["cdan"]["mean_gain"] == {"recipe": 1.0, "bn": 10.0, "std": 10.75}
    assert result["cdan"]["chosen"] == "bn"  # std is 0.75 better: within the point, bn is simpler
    assert result["mcc"]["chosen"] == "bn+std"
    assert "dann" not in result  # nothing measured, nothing chosen


@pytest.mark.parametrize("variant, model, weight", [("recipe", {}, 1.0), ("bn+weight0.3", {"batch_norm": True}, 0.3),
                                                    ("bn+std", {"batch_norm": True, "input_norm": "image"}, 1.0)])
def test_each_variant_trains_with_its_own_options_and_the_paper_weight_otherwise(monkeypatch, variant, model, weight):
    """The method's shipped recipe (MMD's batch norm and w = 0.3) never leaks into a variant."""
    seen = {}

    def fake_train(cfg):
        seen["cfg"] = cfg
        return SimpleNamespace(target_acc=50.0, source_acc=90.0)

    monkeypatch.setattr("core.training.engine.train", fake_train)
    row = study.run_one("mmd", variant, "mnist", "folder:/nowhere", 0)

    cfg = seen["cfg"]
    assert cfg.model == model and cfg.hparams["mmd_weight"] == weight
    assert cfg.steps == 1500 and cfg.threads == 1 and cfg.eval_every == 0
    assert row["variant"] == variant and row["target_acc"] == 50.0


def test_variants_added_for_one_method_are_tried_on_that_method_only():
    assert "bn+disc256" in study.variants_of("cdan") and "bn+disc256" not in study.variants_of("mcc")
    assert study.variants_of("mmd")[:2] == ["recipe", "bn"]  # the order ties are broken in
    runs = [_run("source_only", "recipe", "a", 40.0), _run("mcc", "recipe", "a", 41.0),
            _run("mcc", "bn+disc256", "a", 90.0)]  # a stray row of a variant mcc is not tried with
    assert study.summary(runs)["mcc"] == {"mean_gain": {"recipe": 1.0}, "chosen": "recipe"}


@pytest.mark.parametrize("method, variant, model, hparams", [
    ("cdan", "bn+std+drop0.5", {"batch_norm": True, "input_norm": "image"}, {"disc_dropout": 0.5, "domain_weight": 1.0}),
    ("cdan", "bn", {"batch_norm": True}, {"disc_dropout": 0.0, "domain_weight": 1.0}),
    ("mcc", "bn+ramp", {"batch_norm": True}, {"ramp": True, "mcc_weight": 1.0}),
    ("mcc", "recipe", {}, {"ramp": False, "mcc_weight": 1.0})])
def test_the_papers_settings_tried_later_train_with_their_own_hparams_and_the_papers_weight(monkeypatch, method, variant,
                                                                                           model, hparams):
    """The variants added for CDAN (the code's discriminator dropout) and MCC (the ramped weight)
    set their own setting over the paper's defaults; the others keep the paper's, never the
    shipped recipe's (which now has both)."""
    seen = {}

    def fake_train(cfg):
        seen["cfg"] = cfg
        return SimpleNamespace(target_acc=50.0, source_acc=90.0)

    monkeypatch.setattr("core.training.engine.train", fake_train)
    study.run_one(method, variant, "mnist", "folder:/nowhere", 0)
    assert seen["cfg"].model == model
    assert {k: seen["cfg"].hparams[k] for k in hparams} == hparams
    assert variant in study.variants_of(method)
