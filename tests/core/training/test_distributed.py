"""Data-parallel training under torchrun (core.training.distributed): two CPU processes with gloo.

Run as a user would: ``python -m torch.distributed.run --nproc_per_node 2 --master_port <free>
-m core train ... --device cpu --json``. Checked: exactly one JSON result line (rank 0's, with
``world_size``), a checkpoint that loads, and agreement with one process training on the same
global batch. The agreement is checked on source-only, whose recipe has no batch norm: DANN's has,
and batch norm's statistics are computed per shard of B / N under DDP (docs/scale.md), so a DANN
step under DDP is not the one-process step on the same pictures.

Tolerance of the agreement: both runs take the same optimiser steps on the same pictures (every
rank draws the same global batch and keeps its half; DDP averages the two halves' gradients,
which equals the full batch's mean gradient for a mean loss). What differs is only the
order of floating-point summation (two half-batch means averaged vs one full-batch mean), about
1e-7 relative per step; Adam divides each update by √v, so in a coordinate whose gradient is near
zero such a difference can move a weight by up to one learning rate (1e-3) per step. We require
every weight within 2e-3 (two such steps) after 12 steps — measured: ~5e-7 — and the two models
to predict the same class for ≥ 99 % of the target test pictures.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[3]
COMMON = ["--method", "dann", "--source", "mnist", "--target", "ucidigits", "--steps", "12", "--batch-size", "32",
          "--precision", "fp32", "--eval-every", "0", "--device", "cpu", "--json", "--quiet"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def torchrun(*args: str, nproc: int = 2, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "-m", "core", "train", *args]
    return subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "run"
    return torchrun(*COMMON, "--out", str(out)), out


@pytest.fixture(scope="module")
def ddp_source_only(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp_source_only") / "run"
    args = list(COMMON)
    args[args.index("dann")] = "source_only"
    return torchrun(*args, "--out", str(out)), out


def test_two_processes_print_one_result_and_write_one_checkpoint_that_loads(ddp_run):
    from core.checkpoints import load

    proc, out = ddp_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    assert len(lines) == 1, proc.stdout  # rank 1 is silent
    summary = json.loads(lines[0])
    assert summary["world_size"] == 2 and summary["checkpoint"] == str(out) and summary["steps"] == 12
    model, card = load(out)
    assert card["distributed"] == {"world_size": 2, "backend": "gloo", "per_rank_batch": 16}
    assert card["hyperparameters"]["batch_size"] == 32
    with torch.no_grad():
        assert model.eval()(torch.rand(2, 3, 28, 28)).shape == (2, 10)


def test_ddp_agrees_with_one_process_on_the_same_global_batch(ddp_source_only, tmp_path):
    from core.checkpoints import load
    from core.data import load_domain
    from core.evaluation import predict_logits

    proc, out = ddp_source_only
    assert proc.returncode == 0, proc.stderr[-3000:]
    from core.training.engine import train
    from core.training.recipes import recipe

    # one process, in this one (what `python -m core train` with the same flags runs)
    single = train(recipe("source_only", "mnist", "ucidigits", steps=12, batch_size=32, precision="fp32", eval_every=0,
                          device="cpu", threads=1), out_dir=tmp_path / "single")
    (ddp_model, _), (one_model, _) = load(out), load(single.checkpoint)
    a, b = ddp_model.state_dict(), one_model.state_dict()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < 2e-3, worst
    images = load_domain("ucidigits", "test").images
    agree = (predict_logits(ddp_model, images).argmax(1) == predict_logits(one_model, images).argmax(1)).float().mean()
    assert agree >= 0.99, float(agree)


def test_a_world_size_that_does_not_divide_the_batch_is_refused_in_one_line(monkeypatch, tmp_path, capsys):
    from core.cli import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    code = main(["train", "--batch-size", "33", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "--batch-size 33 is the global batch per domain and must be divisible by the world size 2" in err


def test_several_player_methods_are_refused_under_ddp(monkeypatch, tmp_path, capsys):
    from core.training import distributed
    from core.methods import METHODS, Method, get_method

    players = [name for name, cls in METHODS.items() if cls.train_step is not Method.train_step]
    assert "adda" in players
    for name in METHODS:
        if name in players:
            with pytest.raises(ValueError, match="cannot train data-parallel"):
                distributed.check_method(get_method(name), distributed.World(0, 2))
        else:
            distributed.check_method(get_method(name), distributed.World(0, 2))
    from core.cli import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert main(["train", "--method", "adda", "--out", str(tmp_path / "x")]) == 2
    assert "method 'adda' cannot train data-parallel" in capsys.readouterr().err
