"""``core.selection`` (tune, recommend) and their CLI: JSON contracts, checkpoints, shared studies,
clear errors, failed trials — all at tiny step counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.methods import METHODS, Method, register, unregister
from core.util.settings import Hyper
from tests.support.runs import fail_run, record_runs

REPO = Path(__file__).resolve().parents[3]
TINY = ["--steps", "20", "--threads", "1", "--device", "cpu", "--json", "--quiet"]


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def last_json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------ tune

def test_tune_cli_json_and_a_sqlite_study_shared_by_two_calls(tmp_path):
    db = f"sqlite:///{tmp_path / 'study.db'}"
    args = ["tune", "--method", "dann", "--source", "mnist", "--target", "ucidigits", "--trials", "2",
            "--storage", db, "--validator", "im", *TINY]
    first = last_json(run_cli(*args))
    for key in ("method", "source", "target", "validator", "study", "trials", "best", "spearman", "completed",
                "failed", "seconds"):
        assert key in first, key
    assert first["completed"] == 2 and len(first["trials"]) == 2
    trial = first["trials"][0]
    assert set(trial["params"]) == {"lr", "domain_weight", "disc_hidden"}  # the Hyper.search space + lr
    assert 3e-4 <= trial["params"]["lr"] <= 3e-3
    assert trial["score"] == pytest.approx(trial["scores"]["im"], abs=1e-6)
    assert 0 <= trial["target_acc"] <= 100 and 0 <= trial["source_val_acc"] <= 100
    assert first["best"]["score"] == max(t["score"] for t in first["trials"])
    from core.selection import tune  # a second process's view: the same study, resumed and extended

    second = tune("dann", "mnist", "ucidigits", trials=1, validator="im", storage=db, seed=1, steps=5,
                  device="cpu", threads=1)
    assert second["study"] == first["study"] and len(second["trials"]) == 3
    assert [t["params"] for t in second["trials"][:2]] == [t["params"] for t in first["trials"]]
    assert second["spearman"] is not None and -1 <= second["spearman"] <= 1


class _Diverging(Method):
    """A test method whose loss blows up when its ``blowup`` setting is above 0.6."""

    name = "test_diverging"
    family = "unsupervised"
    in_zoo = False
    recommendable = False
    hyperparameters = {"blowup": Hyper(0.0, "diverge above 0.6", 0.0, 1.0, search=(0.0, 1.0, "linear"))}

    def loss(self, batch, progress):
        ce = self.cross_entropy(self.model(batch.xs), batch.ys)
        return {"loss": ce * (1e9 if self.hp["blowup"] > 0.6 else 1.0)}


@pytest.fixture
def diverging_method():
    register(_Diverging)
    yield _Diverging.name
    unregister(_Diverging.name)


def test_a_diverging_trial_is_recorded_as_failed_and_the_search_goes_on(diverging_method):
    from core.selection import candidate_methods, tune

    assert diverging_method not in candidate_methods()  # recommendable = False opts out
    out = tune(diverging_method, "mnist", "ucidigits", trials=3, validator="entropy", steps=5, device="cpu", seed=0)
    states = [t["state"] for t in out["trials"]]
    assert "FAIL" in states and "COMPLETE" in states, out["trials"]
    for t in out["trials"]:
        if t["state"] == "FAIL":
            assert t["params"]["blowup"] > 0.6 and "diverged" in t["error"] and t["score"] is None
        else:
            assert t["params"]["blowup"] <= 0.6 and t["error"] is None
    assert out["failed"] == states.count("FAIL") and out["best"]["params"]["blowup"] <= 0.6


# ------------------------------------------------------------------------------ recommend

def test_recommend_cli_json_and_a_checkpoint_that_loads(tmp_path):
    from core.checkpoints import load

    out = tmp_path / "rec"
    summary = last_json(run_cli("recommend", "--source", "mnist", "--target", "ucidigits", "--methods",
                                "source_only,dann", "--validator", "im", "--seeds", "1", "--out", str(out), *TINY))
    for key in ("source", "target", "validator", "recommended", "checkpoint", "target_acc", "source_only_acc",
                "candidates", "seconds"):
        assert key in summary, key
    assert [c["method"] for c in summary["candidates"]] == ["source_only", "dann"]
    for c in summary["candidates"]:
        assert {"method", "settings", "score", "target_acc"} <= set(c) and c["settings"]["steps"] == 20
    best = max(summary["candidates"], key=lambda c: c["score"])
    assert summary["recommended"] == best["method"] and summary["target_acc"] == best["target_acc"]
    assert summary["source_only_acc"] == summary["candidates"][0]["target_acc"]
    model, card = load(summary["checkpoint"])
    assert Path(summary["checkpoint"]) == out and card["method"] == summary["recommended"]
    assert card["selection"]["validator"] == "im" and 0 <= card["metrics"]["source_val_acc"] <= 100
    assert model(torch.rand(2, 3, 28, 28)).shape == (2, 10)


def _write_folder(root: Path, classes: list[str], per_class: int) -> Path:
    from PIL import Image

    from core.data import load_domain

    digits = load_domain("ucidigits", "test")
    for c in classes:
        (root / c).mkdir(parents=True)
        pick = (digits.labels == int(c)).nonzero().flatten()[:per_class] if c.isdigit() else torch.arange(per_class)
        for i in pick.tolist():
            Image.fromarray(digits.images[i].permute(1, 2, 0).numpy()).save(root / c / f"{i}.png")
    return root


def test_recommend_works_for_folder_targets_and_reports_no_accuracy_without_labels(tmp_path):
    from core.selection import recommend

    labelled = _write_folder(tmp_path / "labelled", [str(d) for d in range(10)], 8)
    rec = recommend("mnist", f"folder:{labelled}", validator="im", methods=["source_only", "dann"], steps=5,
                    device="cpu", out_dir=tmp_path / "a", seeds=1)
    assert rec["recommended"] in ("source_only", "dann") and rec["target_acc"] is not None
    unlabelled = _write_folder(tmp_path / "unlabelled", ["pictures"], 40)  # one folder, no class names
    rec = recommend("mnist", f"folder:{unlabelled}", validator="entropy", methods=["source_only", "dann"], steps=5,
                    device="cpu", out_dir=tmp_path / "b", seeds=1)
    assert rec["target_acc"] is None and rec["source_only_acc"] is None
    assert all(c["score"] is not None and c["target_acc"] is None for c in rec["candidates"])


def test_candidates_come_from_the_registry():
    from core.methods import ADAPTED_FAMILIES
    from core.methods import baseline
    from core.selection import candidate_methods

    names = candidate_methods()
    assert names[0] == baseline() == "source_only"
    for name in names[1:]:
        cls = METHODS[name]
        assert cls.family in ADAPTED_FAMILIES and cls.target_labels == "none"
        assert not any(cls.hyperparameters[k].required for k in cls.model_hyperparameters())
    assert not {"oracle", "finetune", "distill"} & set(names)
    assert {"dann", "mmd"} <= set(names)


# ------------------------------------------------------------------------------ errors

@pytest.mark.parametrize("args, expect", [
    (["tune", "--method", "dann", "--validator", "oracle_acc"], ["unknown validator", "class_ami", "snd", "devn"]),
    (["tune", "--method", "magic"], ["unknown method", "dann", "source_only"]),
    (["tune", "--method", "dann", "--storage", "redis://localhost/0"], ["unsupported storage", "sqlite:///"]),
    (["recommend", "--validator", "nope"], ["unknown validator", "source_val_acc"]),
    (["recommend", "--methods", "source_only,magic"], ["unknown method", "dann"]),
])
def test_unknown_names_fail_fast_listing_the_valid_ones(args, expect, capsys):
    from core.__main__ import main

    assert main([*args, "--source", "mnist", "--target", "ucidigits", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    for text in expect:
        assert text in err, (text, err)


def test_too_few_target_images_for_the_validator_fail_before_training(tmp_path):
    from core.selection import recommend

    few = _write_folder(tmp_path / "few", ["0", "1"], 4)  # 6 train images
    with pytest.raises(ValueError, match=r"needs at least \d+ unlabelled target images, got 6"):
        recommend("mnist", f"folder:{few}", validator="snd", steps=5, device="cpu", out_dir=tmp_path / "x")


def test_pool_validators_refuse_what_they_cannot_score_before_any_training(tmp_path, capsys):
    """EnsV scores a candidate among the others: one candidate is no pool, and a study shared
    through --storage cannot see the other processes' trials. Both fail in one line, untrained."""
    from core.__main__ import main

    base = ["--source", "mnist", "--target", "ucidigits", "--quiet"]
    assert main(["recommend", "--validator", "ensv", "--methods", "source_only", *base,
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "needs a pool of at least" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
    assert main(["tune", "--method", "dann", "--validator", "ensv", "--trials", "2",
                 "--storage", f"sqlite:///{tmp_path / 'study.db'}", *base]) == 2
    err = capsys.readouterr().err
    assert "--storage" in err and "single-model validator" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "study.db").exists()


def test_collapse_guard_compares_with_source_only():
    """A candidate is collapsed when its most-predicted target class takes more than COLLAPSE_JUMP
    above source-only's share; unknown shares never disqualify."""
    from core.evaluation import COLLAPSE_JUMP, collapsed

    assert not collapsed(0.15, 0.12)
    assert collapsed(0.12 + COLLAPSE_JUMP + 0.01, 0.12)
    assert not collapsed(None, 0.12) and not collapsed(0.9, None)


def test_largest_class_share_reads_the_target_predictions():
    import torch

    from core.validators import largest_class_share
    from core.validators.base import Evidence

    one_class = Evidence(target_logits=torch.tensor([[5.0, 0.0]] * 9 + [[0.0, 5.0]]))
    even = Evidence(target_logits=torch.eye(4).repeat(5, 1))
    assert largest_class_share(one_class) == 0.9 and largest_class_share(even) == 0.25
    assert largest_class_share(Evidence()) is None


def test_recommend_on_two_seeds_averages_them_and_chooses_among_the_candidates_whose_seeds_agree(tmp_path):
    from core.checkpoints import load
    from core.data import load_domain
    from core.evaluation import evaluate_accuracy
    from core.selection import choose_agreeing, recommend

    rec = recommend("mnist", "ucidigits", validator="im", steps=15, device="cpu", threads=1, seeds=2,
                    methods=["source_only", "self_training", "dann"], out_dir=tmp_path / "rec")
    assert rec["seeds"] == 2 and [c["method"] for c in rec["candidates"]] == ["source_only", "self_training", "dann"]
    for c in rec["candidates"]:
        per = c["per_seed"]
        assert [p["seed"] for p in per] == [0, 1] and all(p["error"] is None for p in per)
        assert c["score"] == pytest.approx(sum(p["score"] for p in per) / 2, abs=1e-5)
        assert c["target_acc_mean"] == pytest.approx(sum(p["target_acc"] for p in per) / 2, abs=0.01)
        assert c["target_acc"] == per[0]["target_acc"]  # the first seed's model: the one saved if chosen
        assert 0.0 <= c["seed_agreement"] <= 1.0 and -1.0 <= c["seed_kappa"] <= c["seed_agreement"]  # κ: less chance
    assert len({tuple(p["score"] for p in c["per_seed"]) for c in rec["candidates"]}) == 3  # two real seeds each
    assert rec["recommended"] == choose_agreeing({c["method"]: c for c in rec["candidates"]}, "im")
    chosen = next(c for c in rec["candidates"] if c["method"] == rec["recommended"])
    assert rec["target_acc"] == chosen["target_acc"] and rec["target_acc_mean"] == chosen["target_acc_mean"]
    assert rec["source_only_acc"] == rec["candidates"][0]["per_seed"][0]["target_acc"]
    model, card = load(rec["checkpoint"])
    assert card["method"] == rec["recommended"] and card["seed"] == 0  # the chosen method's first seed
    assert evaluate_accuracy(model, load_domain("ucidigits", "test")) == pytest.approx(rec["target_acc"], abs=0.05)


def test_recommend_trains_two_seeds_unless_told_otherwise(tmp_path, monkeypatch):
    """The default is the zoo's rule on two seeds; ``--seeds 1`` trains each candidate once."""
    import importlib

    from core.__main__ import main

    recommend_module = importlib.import_module("core.selection.recommend")
    seen = record_runs(monkeypatch, recommend_module)
    assert recommend_module.DEFAULT_SEEDS == 2
    base = ["recommend", "--source", "mnist", "--target", "ucidigits", "--methods", "source_only,dann",
            "--validator", "im", "--steps", "5", "--threads", "1", "--device", "cpu", "--json", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "default")]) == 0
    assert sorted(seen) == [("dann", 0), ("dann", 1), ("source_only", 0), ("source_only", 1)]
    seen.clear()
    assert main([*base, "--seeds", "1", "--out", str(tmp_path / "one")]) == 0
    assert sorted(seen) == [("dann", 0), ("source_only", 0)]


@pytest.mark.parametrize("seeds", ["0", "6"])
def test_recommend_refuses_a_seed_count_out_of_range_before_any_work(seeds, tmp_path, capsys):
    from core.__main__ import main

    code = main(["recommend", "--seeds", seeds, "--source", "mnist", "--target", "ucidigits", "--quiet",
                 "--out", str(tmp_path / "r")])
    assert code == 2 and not (tmp_path / "r").exists()
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "from 1 to 5" in err and len(err.strip().splitlines()) == 1


def test_a_candidate_that_fails_on_one_seed_is_not_recommended(tmp_path, monkeypatch):
    import importlib

    from core.training.engine import TrainingError

    recommend_module = importlib.import_module("core.selection.recommend")  # the module, not the function

    fail_run(monkeypatch, recommend_module, TrainingError("loss diverged (nan) at step 3"),
             when=lambda config: config.method == "self_training" and config.seed == 1)
    rec = recommend_module.recommend("mnist", "ucidigits", validator="im", steps=10, device="cpu", threads=1,
                                     seeds=2, methods=["source_only", "self_training"], out_dir=tmp_path / "rec")
    shaky = next(c for c in rec["candidates"] if c["method"] == "self_training")
    assert shaky["error"] == "seed 1: loss diverged (nan) at step 3" and shaky["score"] is None
    assert shaky["per_seed"][0]["error"] is None and shaky["per_seed"][1]["error"] is not None
    assert rec["recommended"] == "source_only"  # whatever its seed 0 scored
