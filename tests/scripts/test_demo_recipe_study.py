"""scripts/bench/demo_recipe_study.py --ship: the chosen recipe lands in the zoo's demo.json, the
other methods' recipes are kept, and the Train page's demo reads it back."""

from __future__ import annotations

import json

import torch

from scripts.bench.demo_recipe_study import ship


def test_ship_writes_the_chosen_recipe_beside_the_others(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIFTLAB_ZOO_DIR", str(tmp_path))
    (tmp_path / "demo.json").write_text(json.dumps({"about": "kept", "recipes": {
        "self_training": {"steps": 100, "batch_size": 32, "lr": 0.003, "warm_start": True, "hparams": {}}}}))
    chosen = {"batch_size": 32, "steps": 60, "lr": 0.003, "warm_start": True, "hparams": {"threshold": 0.9},
              "mean_gain": 21.5, "median_cpu_s": 6.9}
    path = ship("dann", "mnist", chosen, ["colour", "paper"], 8.0)

    data = json.loads(path.read_text())
    assert data["about"] == "kept" and data["budget_cpu_s"] == 8.0
    assert set(data["recipes"]) == {"dann", "self_training"}
    assert data["recipes"]["dann"] == {"steps": 60, "batch_size": 32, "lr": 0.003, "warm_start": True,
                                       "hparams": {"threshold": 0.9}, "fixture_mean_gain": 21.5,
                                       "median_cpu_s": 6.9, "fixture_pairs": "mnist -> 2 fixture domains"}

    from core.training.demo import shipped_recipes

    assert shipped_recipes()["dann"]["steps"] == 60


def test_ship_starts_a_missing_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIFTLAB_ZOO_DIR", str(tmp_path))
    chosen = {"batch_size": 16, "steps": 40, "lr": 0.001, "warm_start": False, "hparams": {},
              "mean_gain": 3.0, "median_cpu_s": 2.0}
    data = json.loads(ship("mmd", "syndigits", chosen, ["paper"], 8.0).read_text())
    assert list(data["recipes"]) == ["mmd"] and "about" in data


def test_ship_without_a_choice_removes_the_methods_recipe(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIFTLAB_ZOO_DIR", str(tmp_path))
    (tmp_path / "demo.json").write_text(json.dumps({"recipes": {"adamatch": {"steps": 50}, "dann": {"steps": 60}}}))
    data = json.loads(ship("adamatch", "mnist", None, ["paper"], 8.0).read_text())
    assert list(data["recipes"]) == ["dann"]


def test_main_does_not_ship_a_recipe_another_methods_from_the_same_source_outclasses(tmp_path, monkeypatch, capsys):
    """The study's --ship leaves a method out when its chosen recipe gains under half of another
    method's shipped recipe from the same source (core.training.demo.outclassed)."""
    import scripts.bench.demo_recipe_study as study

    monkeypatch.setenv("SHIFTLAB_ZOO_DIR", str(tmp_path))
    (tmp_path / "demo.json").write_text(json.dumps({"recipes": {
        "adamatch": {"steps": 50, "fixture_mean_gain": 1.0, "fixture_pairs": "mnist -> 1 fixture domains"},
        "self_ensembling": {"steps": 150, "fixture_mean_gain": 30.0, "fixture_pairs": "mnist -> 1 fixture domains"}}}))
    (tmp_path / "fx" / "paper" / "test").mkdir(parents=True)
    monkeypatch.setattr(study, "baseline_model", lambda source: ("mnist-mnistm/source_only", tmp_path))
    monkeypatch.setattr("core.checkpoints.load", lambda path: (torch.nn.Linear(1, 1), {}))
    monkeypatch.setattr("core.data.load_domain", lambda name, split: None)
    monkeypatch.setattr("core.evaluation.forward.evaluate_accuracy", lambda model, domain: 20.0)
    monkeypatch.setattr(study, "run_one", lambda *a, **k: {"target_acc": 30.0, "wall_s": 5.0, "cpu_s": 5.0,
                                                           "steps_per_s": 10.0, "loop_steps_per_s": 10.0})
    out = tmp_path / "study.json"
    assert study.main(["--method", "adamatch", "--fixtures", str(tmp_path / "fx"), "--candidates",
                       "32,50,0.003,yes", "--json", str(out), "--ship"]) == 0
    assert "self_ensembling" in capsys.readouterr().out.splitlines()[-1]  # the reason it says is the true one
    result = json.loads(out.read_text())
    assert result["chosen"]["mean_gain"] == 10.0 and "self_ensembling" in result["not_shipped_because"]
    assert set(json.loads((tmp_path / "demo.json").read_text())["recipes"]) == {"self_ensembling"}


def test_ship_into_the_fuller_tier_keeps_the_quick_recipes_and_files_it_under_its_source(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIFTLAB_ZOO_DIR", str(tmp_path))
    (tmp_path / "demo.json").write_text(json.dumps({"budget_cpu_s": 7.0, "recipes": {
        "self_ensembling": {"steps": 150, "batch_size": 32, "lr": 0.003, "warm_start": True, "hparams": {}}}}))
    chosen = {"batch_size": 32, "steps": 200, "lr": 0.003, "warm_start": True, "hparams": {"ema": 0.9},
              "mean_gain": 25.0, "median_cpu_s": 24.0}
    data = json.loads(ship("adamatch", "syndigits", chosen, ["paper"], 27.0, which="fuller").read_text())
    assert data["budget_cpu_s"] == 7.0 and list(data["recipes"]) == ["self_ensembling"]  # the quick tier untouched
    assert data["fuller"]["budget_cpu_s"] == 27.0
    assert data["fuller"]["recipes"]["syndigits"]["adamatch"]["steps"] == 200

    from core.training.demo import shipped_recipes

    assert set(shipped_recipes("syndigits", "fuller")) == {"self_ensembling", "adamatch"}
    assert set(shipped_recipes("mnist", "fuller")) == {"self_ensembling"}  # another source: the quick ones only
    assert set(shipped_recipes()) == {"self_ensembling"}
    data = json.loads(ship("adamatch", "syndigits", None, ["paper"], 27.0, which="fuller").read_text())
    assert data["fuller"]["recipes"]["syndigits"] == {}


def test_the_rule_applies_again_to_a_stored_study_with_the_tiers_budget(tmp_path, monkeypatch):
    """--from-json trains nothing: it reads the candidates back, applies the tier's budget and the
    outclassed clause against that tier's recipes, and ships."""
    import scripts.bench.demo_recipe_study as study

    monkeypatch.setenv("SHIFTLAB_ZOO_DIR", str(tmp_path))
    (tmp_path / "demo.json").write_text(json.dumps({"recipes": {}, "fuller": {"recipes": {"mnist": {
        "self_ensembling": {"steps": 450, "fixture_mean_gain": 40.0, "fixture_pairs": "mnist -> 1 fixture domains"}}}}}))
    stored = {"method": "adamatch", "source": "mnist", "fixtures": ["paper"], "settings": {}, "candidates": [
        {"batch_size": 32, "steps": 150, "lr": 0.003, "warm_start": True, "hparams": {}, "mean_gain": 25.0,
         "median_cpu_s": 20.0},
        {"batch_size": 32, "steps": 250, "lr": 0.003, "warm_start": True, "hparams": {}, "mean_gain": 30.0,
         "median_cpu_s": 30.0}]}
    (tmp_path / "stored.json").write_text(json.dumps(stored))
    out = tmp_path / "again.json"
    common = ["--method", "adamatch", "--from-json", str(tmp_path / "stored.json"), "--json", str(out), "--ship"]
    assert study.main(common + ["--tier", "fuller"]) == 0
    result = json.loads(out.read_text())
    assert result["budget_cpu_s"] == 27.0 and result["chosen"]["steps"] == 150  # 250 steps is over the budget
    assert result["not_shipped_because"] is None                                # +25 ≥ half of +40
    assert json.loads((tmp_path / "demo.json").read_text())["fuller"]["recipes"]["mnist"]["adamatch"]["steps"] == 150
    assert study.main(common + ["--tier", "quick"]) == 0                        # nothing fits 7 s
    assert json.loads(out.read_text())["chosen"] is None
