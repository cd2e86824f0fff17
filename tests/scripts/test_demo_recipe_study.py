"""scripts/bench/demo_recipe_study.py --ship: the chosen recipe lands in the zoo's demo.json, the
other methods' recipes are kept, and the Train page's demo reads it back."""

from __future__ import annotations

import json

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
