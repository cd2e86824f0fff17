"""``python -m core estimate``: the JSON line, the range, and one clear line for each bad input."""

from __future__ import annotations

import json
import shutil

import pytest

from core.cli import main
from core.estimators import CARD_KEY, ESTIMATORS, MIN_PICTURES
from core.synth import write_domain
from core import zoo

MODEL = "mnist->ucidigits/source_only"
KEYS = {"model", "target", "split", "estimator", "estimated_acc", "low", "high", "n_pictures", "true_acc", "range_from"}


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    root = tmp_path_factory.mktemp("estimate")
    return {"enough": write_domain("handwriting", root / "enough", n_per_class=1, n_test_per_class=3),
            "few": write_domain("handwriting", root / "few", n_per_class=1, n_test_per_class=1)}


def _run(capsys, *argv):
    code = main(["estimate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("estimator", [None, "atc_ne", "doc", "agreement"])
def test_json_line_has_the_contract_keys(capsys, pictures, estimator):
    argv = ["--checkpoint", MODEL, "--target", f"folder:{pictures['enough']}", "--json"]
    code, out, err = _run(capsys, *argv, *(["--estimator", estimator] if estimator else []))
    assert code == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    assert set(res) == KEYS
    assert res["split"] == "test" and res["n_pictures"] == 30 and res["model"] == MODEL
    assert res["estimator"] == (estimator or json.loads(out.strip().splitlines()[-1])["estimator"])
    assert res["estimator"] in ESTIMATORS
    assert 0 <= res["low"] <= res["estimated_acc"] <= res["high"] <= 100
    assert 0 <= res["true_acc"] <= 100
    assert "estimate" in err  # the progress bar on stderr


def test_estimate_reads_the_split_eval_reads(capsys, pictures):
    spec = f"folder:{pictures['enough']}"
    assert main(["eval", "--checkpoint", MODEL, "--domain", spec, "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    code, out, _ = _run(capsys, "--checkpoint", MODEL, "--target", spec, "--json")
    res = json.loads(out.strip().splitlines()[-1])
    assert res["n_pictures"] == evaluated["n"] and res["true_acc"] == pytest.approx(evaluated["accuracy"], abs=0.05)


def test_too_few_pictures_is_one_line_saying_how_many(capsys, pictures):
    code, out, err = _run(capsys, "--checkpoint", MODEL, "--target", f"folder:{pictures['few']}", "--json")
    assert code == 2 and out == ""
    line = err.strip().splitlines()[-1]
    assert line.startswith("error:") and f"at least {MIN_PICTURES} pictures, got 10" in line


def test_unknown_estimator_lists_the_valid_ones(capsys, pictures):
    code, out, err = _run(capsys, "--checkpoint", MODEL, "--target", f"folder:{pictures['enough']}",
                          "--estimator", "nope")
    assert code == 2
    line = err.strip().splitlines()[-1]
    assert "unknown estimator 'nope'" in line and all(n in line for n in ESTIMATORS)


def test_a_source_that_cannot_be_loaded_is_named(capsys, pictures, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(zoo.model_dir(MODEL), folder)
    card = json.loads((folder / "card.json").read_text())
    card.pop(CARD_KEY, None)
    card["source"] = "folder:/nowhere/my-digits"
    (folder / "card.json").write_text(json.dumps(card))
    code, out, err = _run(capsys, "--checkpoint", str(folder), "--target", f"folder:{pictures['enough']}",
                          "--estimator", "atc_msp")
    assert code == 2
    line = err.strip().splitlines()[-1]
    assert "source domain 'folder:/nowhere/my-digits'" in line and "cannot be loaded" in line


def test_recommend_json_carries_the_recommended_models_estimate(capsys, tmp_path):
    code = main(["recommend", "--source", "mnist", "--target", "ucidigits", "--methods", "source_only,dann",
                 "--validator", "im", "--seeds", "1", "--out", str(tmp_path / "rec"), "--steps", "20", "--threads", "1",
                 "--device", "cpu", "--json", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    res = json.loads(out.strip().splitlines()[-1])
    assert res["estimator"] in ESTIMATORS
    assert 0 <= res["estimated_low"] <= res["estimated_acc"] <= res["estimated_high"] <= 100
    assert res["estimate_range_from"]
