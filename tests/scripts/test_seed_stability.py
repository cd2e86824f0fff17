"""scripts/studies/seed_stability.py: the declared rule (mean over domains of mean gain − spread over
seeds; within 1 point the variant listed earlier), the settings each variant trains with, and bad
variants refused before any run."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from scripts.studies import seed_stability as study


def _run(method, variant, domain, seed, acc):
    return {"method": method, "variant": variant, "source": "syndigits", "target": domain, "seed": seed,
            "target_acc": acc}


def _baseline(domain, accs):
    return [_run("source_only", "recipe", domain, s, a) for s, a in enumerate(accs)]


def test_a_steady_variant_beats_a_higher_but_spread_one():
    runs = _baseline("a", [50.0, 50.0, 50.0]) + _baseline("b", [40.0, 40.0, 40.0])
    # recipe: gains +20 / +10 / 0 on a (mean 10, std 10) and +10 on b every seed (std 0): score 5.0
    runs += [_run("self_training", "recipe", "a", s, 50.0 + g) for s, g in enumerate([20.0, 10.0, 0.0])]
    runs += [_run("self_training", "recipe", "b", s, 50.0) for s in range(3)]
    # steady: +8 on every seed of both domains: score 8.0, mean gain lower
    runs += [_run("self_training", "threshold=0.95", d, s, base + 8.0)
             for d, base in (("a", 50.0), ("b", 40.0)) for s in range(3)]
    result = study.summary(runs, ["recipe", "threshold=0.95"])

    recipe, steady = result["variants"]["recipe"], result["variants"]["threshold=0.95"]
    assert recipe["domains"]["a"] == {"gains": [20.0, 10.0, 0.0], "mean": 10.0, "std": 10.0}
    assert recipe["mean_gain"] == 10.0 and recipe["score"] == 5.0
    assert steady["mean_gain"] == 8.0 and steady["mean_std"] == 0.0 and steady["score"] == 8.0
    assert result["chosen"] == "threshold=0.95"


def test_the_variant_listed_first_takes_a_tie_within_one_point_and_failed_runs_are_not_scored():
    runs = _baseline("a", [50.0, 50.0])
    runs += [_run("self_training", "recipe", "a", s, 60.0) for s in range(2)]          # score 10
    runs += [_run("self_training", "ema=0.999", "a", s, 60.8) for s in range(2)]        # score 10.8
    runs += [{**_run("self_training", "ema=0.999", "a", 2, None), "error": "diverged"}]  # listed, not scored
    result = study.summary(runs, ["recipe", "ema=0.999"])
    assert result["variants"]["ema=0.999"]["domains"]["a"]["gains"] == [10.8, 10.8]
    assert result["chosen"] == "recipe"


def test_a_variant_sets_its_settings_over_the_shipped_recipe_and_trains_the_zoo_run(monkeypatch, tmp_path):
    seen = {}

    def fake_train(cfg):
        seen["cfg"] = cfg
        return SimpleNamespace(target_acc=70.0, source_acc=90.0)

    monkeypatch.setattr("core.training.engine.train", fake_train)
    row = study.run_one("self_training", "threshold=0.95,alignment=uniform", "syndigits", tmp_path / "paper", 1)
    cfg = seen["cfg"]
    assert cfg.hparams["threshold"] == 0.95 and cfg.hparams["alignment"] == "uniform"
    assert cfg.steps == 1500 and cfg.batch_size == 64 and cfg.threads == 1 and cfg.seed == 1
    assert cfg.target == f"folder:{tmp_path / 'paper'}"
    assert row == {"method": "self_training", "variant": "threshold=0.95,alignment=uniform", "source": "syndigits",
                   "target": "paper", "seed": 1, "target_acc": 70.0, "source_acc": 90.0, "seconds": row["seconds"]}


def test_a_model_option_is_set_over_the_shipped_networks_options(monkeypatch, tmp_path):
    """A variant's network options go over the shipped recipe's (MCC ships batch norm): a variant that
    sets one option keeps the others; one turning batch norm off drops it."""
    from core.training.recipes import recipe

    shipped = recipe("mcc").model
    assert shipped.get("batch_norm") is True
    seen = []
    monkeypatch.setattr("core.training.engine.train",
                        lambda cfg: seen.append(cfg) or SimpleNamespace(target_acc=1.0, source_acc=1.0))
    study.run_one("mcc", "model.input_norm=image", "mnist", tmp_path / "colour", 0)
    study.run_one("mcc", "model.batch_norm=false,model.input_norm=image,mcc_weight=0.3", "mnist", tmp_path / "colour", 0)
    study.run_one("mcc", "recipe", "mnist", tmp_path / "colour", 0)
    assert seen[0].model == {**shipped, "input_norm": "image"}
    assert seen[1].model == {**shipped, "batch_norm": False, "input_norm": "image"} and seen[1].hparams["mcc_weight"] == 0.3
    assert seen[2].model == shipped and seen[2].hparams["ramp"] is True


@pytest.mark.parametrize("text, parsed", [("recipe", {}), ("ema=0.999", {"ema": 0.999}),
                                          ("source_only_fraction=0.5,ramp=true,alignment=none",
                                           {"source_only_fraction": 0.5, "ramp": True, "alignment": "none"})])
def test_variants_read_numbers_booleans_and_names(text, parsed):
    assert study.parse_variant(text) == parsed


def test_a_malformed_variant_is_refused_before_any_run(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(study, "run_one", lambda *a: pytest.fail("trained despite a bad variant"))
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        study.main(["--fixtures", str(tmp_path), "--variants", "recipe", "threshold", "--out", str(tmp_path / "o.json")])


def test_table_merges_the_per_core_studies(tmp_path, capsys):
    a = {"method": "self_training", "variants": ["recipe"], "runs": _baseline("a", [50.0, 50.0])
         + [_run("self_training", "recipe", "a", s, 55.0) for s in range(2)]}
    b = {"method": "self_training", "variants": ["recipe"], "runs": _baseline("b", [40.0, 40.0])
         + [_run("self_training", "recipe", "b", s, 41.0) for s in range(2)]}
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    assert study.main(["--table", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                       "--json", str(tmp_path / "all.json")]) == 0
    merged = json.loads((tmp_path / "all.json").read_text())
    assert merged["summary"]["variants"]["recipe"]["mean_gain"] == 3.0
    assert merged["summary"]["chosen"] == "recipe" and "rule" in merged["protocol"]
