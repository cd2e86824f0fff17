"""scripts/studies/validator_study.py: EnsV, the pool-level score its report puts beside the validators."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "studies" / "validator_study.py"


def _study():
    spec = importlib.util.spec_from_file_location("validator_study", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(scenario: str, predicted: list[int], classes: int = 3, confidence: float = 0.9) -> dict:
    probs = torch.full((len(predicted), classes), (1 - confidence) / (classes - 1))
    probs[torch.arange(len(predicted)), torch.tensor(predicted)] = confidence
    return {"scenario": scenario, "scores": {}, "_target_probs": probs}


def test_ensemble_agreement_scores_each_model_against_the_pools_majority():
    study = _study()
    majority = [0, 1, 2, 0]
    rows = [_row("a", majority), _row("a", majority), _row("a", [1, 1, 1, 1]),  # two agree, one collapsed
            _row("b", [2, 2, 0, 0])]                                           # alone in its scenario
    study.add_ensemble_agreement(rows)
    scores = [r["scores"][study.ENSV] for r in rows]
    assert scores[0] == scores[1] == 1.0            # the majority is the pseudo-label
    assert scores[2] == 0.25                        # the collapsed model agrees on one picture of four
    assert scores[3] == 1.0                         # a pool of one agrees with itself
    assert all("_target_probs" not in r for r in rows)


def test_the_default_is_chosen_among_eligible_validators_only():
    study = _study()
    rows = []
    for i, acc in enumerate([10.0, 50.0, 90.0]):
        for sc in ("a", "b"):
            rows.append({"scenario": sc, "method": "m", "trial": i, "key": f"{sc}/m/{i}", "target_acc": acc,
                         "target_train_acc": acc, "scores": {"good": acc, "pool": acc, "bad": -acc}})
    result = study.analyse(rows, ["good", "bad", "pool"], eligible=["bad"])
    assert result["default"] == "bad"                       # the pool score ranks perfectly but is not eligible
    assert result["scenarios"]["a"]["validators"]["pool"]["rho_train"] == 1.0
