"""The benchmark's peer row (pytorch-adapt's DANN adapter) is optional: without pytorch-adapt, the
row says why it was skipped and how to install it, and the rest of the benchmark still runs."""

from __future__ import annotations

import sys

import torch

from core import bench


def test_peer_row_is_skipped_with_a_note_when_pytorch_adapt_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "pytorch_adapt", None)  # import pytorch_adapt → ImportError
    row = bench.peer_pytorch_adapt(2, torch.device("cpu"))
    assert set(row) == {"skipped"}
    assert "pytorch-adapt not importable" in row["skipped"] and "pip install --no-deps pytorch-adapt==0.0.83" in row["skipped"]
    report = bench.peer_ratio("cpu", steps=2, repeat=1)
    assert "skipped" in report["pytorch_adapt"] and "ratios" not in report


def test_peer_ratio_reports_each_repeat_when_pytorch_adapt_is_there(monkeypatch):
    """With a stand-in for the peer (its import is what is optional), every repeat has both rates."""
    fake = {"images_per_s": 100.0, "target_acc": 10.0, "version": "stand-in", "seconds": 1.0}
    monkeypatch.setattr(bench, "peer_pytorch_adapt", lambda steps, dev, **kw: dict(fake))
    report = bench.peer_ratio("cpu", steps=12, repeat=2)
    assert len(report["ratios"]) == 2 and report["median_ratio"] > 0
    assert report["repeat_1"]["pytorch_adapt"] == 100.0 and report["repeat_1"]["engine"] > 0
