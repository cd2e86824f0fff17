"""Tests for the command line ``python -m core``, run as a subprocess like a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
from core.methods import ordered

METHOD_NAMES = ordered()  # every registered method, in display order


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "dann-run"
    proc = run_cli("train", "--method", "dann", "--source", "mnist", "--target", "ucidigits", "--steps", "5",
                   "--batch-size", "16", "--device", "cpu", "--threads", "1", "--json", "--quiet",
                   "--out", str(out))
    return proc, out


def test_train_json_summary(trained):
    proc, out = trained
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    summary = json.loads(last)
    for key in ("method", "source", "target", "target_acc", "source_acc", "seconds", "images_per_s", "checkpoint"):
        assert key in summary, key
    assert summary["method"] == "dann" and summary["source"] == "mnist" and summary["target"] == "ucidigits"
    assert 0.0 <= summary["target_acc"] <= 100.0 and 0.0 <= summary["source_acc"] <= 100.0
    assert summary["seconds"] > 0 and summary["images_per_s"] > 0
    assert summary["steps"] == 5
    assert Path(summary["checkpoint"]) == out
    assert (out / "model.safetensors").exists() and (out / "card.json").exists()
    card = json.loads((out / "card.json").read_text())
    assert card["method"] == "dann" and card["hyperparameters"]["steps"] == 5


def test_eval_json(trained):
    proc, out = trained
    assert proc.returncode == 0, proc.stderr
    train_summary = json.loads(proc.stdout.strip().splitlines()[-1])
    ev = run_cli("eval", "--checkpoint", str(out), "--domain", "ucidigits", "--json")
    assert ev.returncode == 0, ev.stderr
    report = json.loads(ev.stdout.strip().splitlines()[-1])
    assert report["domain"] == "ucidigits" and report["split"] == "test" and report["n"] == 500
    assert report["method"] == "dann"
    # same weights, same images (the trained model was channels-last: allow one near-tie image to flip)
    assert report["accuracy"] == pytest.approx(train_summary["target_acc"], abs=0.21)
    assert len(report["per_class"]) == 10
    assert 0.0 <= report["ece"] <= 100.0


def test_eval_text_output(trained):
    proc, out = trained
    ev = run_cli("eval", "--checkpoint", str(out), "--domain", "mnist", "--split", "test")
    assert ev.returncode == 0, ev.stderr
    assert "mnist/test: accuracy" in ev.stdout and "500 images" in ev.stdout


def test_train_unknown_method_lists_valid_methods(tmp_path):
    proc = run_cli("train", "--method", "danny", "--steps", "2", "--quiet", "--out", str(tmp_path / "x"))
    assert proc.returncode != 0
    assert "danny" in proc.stderr
    for name in METHOD_NAMES:
        assert name in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists()


def test_train_unknown_domain_lists_domains(tmp_path):
    proc = run_cli("train", "--method", "source_only", "--source", "mnist", "--target", "kmnist", "--steps", "2",
                   "--quiet", "--out", str(tmp_path / "x"))
    assert proc.returncode != 0
    assert "kmnist" in proc.stderr
    for name in ("mnist", "mnistm", "syndigits", "ucidigits"):
        assert name in proc.stderr
    assert "Traceback" not in proc.stderr


def test_eval_missing_checkpoint_fails_cleanly(tmp_path):
    proc = run_cli("eval", "--checkpoint", str(tmp_path / "nope"), "--domain", "mnist")
    assert proc.returncode != 0
    assert proc.stderr.startswith("error:") and "Traceback" not in proc.stderr


def test_domains_command():
    proc = run_cli("domains")
    assert proc.returncode == 0, proc.stderr
    names = [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]
    for name in ("mnist", "mnistm", "syndigits", "ucidigits", "svhn", "usps", "folder:PATH", "zip:PATH"):
        assert name in names


def test_methods_command():
    proc = run_cli("methods")
    assert proc.returncode == 0, proc.stderr
    listed = [line.split()[0] for line in proc.stdout.splitlines() if line and not line.startswith(" ")]
    assert listed == METHOD_NAMES
    assert "--set domain_weight=" in proc.stdout and "--set shots=" in proc.stdout


def test_no_command_is_a_usage_error():
    proc = run_cli()
    assert proc.returncode == 2
    assert proc.stderr.startswith("error:") and "--help" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_train_fast_path_flags_reach_the_card_and_fail_clearly_where_they_cannot_apply(tmp_path):
    out = tmp_path / "run"
    proc = run_cli("train", "--method", "source_only", "--steps", "4", "--batch-size", "256", "--lr-rule", "sqrt",
                   "--warmup", "0.5", "--device", "cpu", "--threads", "1", "--json", "--quiet", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    hp = json.loads((out / "card.json").read_text())["hyperparameters"]
    assert hp["lr_rule"] == "sqrt" and hp["warmup"] == 0.5 and hp["effective_lr"] == pytest.approx(2e-3)
    assert hp["accel_used"] == "off"  # auto on a CPU
    proc = run_cli("train", "--accel", "graph", "--device", "cpu", "--steps", "2", "--quiet", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2 and "needs a CUDA device" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("train", "--warmup", "1.5", "--device", "cpu", "--steps", "2", "--quiet", "--out", str(tmp_path / "y"))
    assert proc.returncode == 2 and "warmup must be in [0, 0.99]" in proc.stderr
