"""scripts/studies/negative_transfer.py: the class structure of a model's target predictions
(purity, classes mostly right) and the measurement of a shipped model against its own card."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scripts.studies import negative_transfer as study


def test_a_permutation_is_pure_but_wrong_and_a_scramble_is_neither():
    true = np.repeat(np.arange(4), 24)
    permuted = (true + 1) % 4
    scrambled = np.tile(np.arange(4), 24)  # every class's pictures spread evenly over all four
    assert study.class_structure(true, true, 4) == {"accuracy": 100.0, "purity": 1.0, "classes_mostly_right": 4,
                                                   "most_common": [0, 1, 2, 3]}
    assert study.class_structure(true, permuted, 4)["purity"] == 1.0
    assert study.class_structure(true, permuted, 4)["classes_mostly_right"] == 0
    spread = study.class_structure(true, scrambled, 4)
    assert spread["purity"] == 0.25 and spread["accuracy"] == 25.0


def test_a_class_missing_from_the_pictures_is_left_out_of_the_purity():
    out = study.class_structure(np.array([0, 0, 2]), np.array([0, 0, 1]), 3)
    assert out["purity"] == 1.0 and out["classes_mostly_right"] == 1


def test_a_shipped_model_reads_what_its_card_says(tmp_path):
    from core.zoo import card

    row = study.measure("mnist->syndigits", "self_ensembling")
    assert row["accuracy"] == pytest.approx(card("mnist->syndigits/self_ensembling")["metrics"]["target_acc"], abs=0.15)
    assert 0.0 <= row["proxy_a_distance"] <= 2.0 and row["mmd2"] >= 0.0
    assert study.main(["--scenario", "mnist->syndigits", "--methods", "source_only", "--json", str(tmp_path / "o.json")]) == 0
    saved = json.loads((tmp_path / "o.json").read_text())
    assert saved["scenarios"]["mnist->syndigits"][0]["method"] == "source_only" and "purity" in saved["about"]
