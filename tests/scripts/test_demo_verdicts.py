"""scripts/bench/demo_verdicts.py: each scenario's demo run, estimated without labels against the
shipped source-only model, with the sentence the Train page would say and the true accuracies."""

from __future__ import annotations

import json

import pytest

from core.zoo import SCENARIOS, ZOO_DIR


@pytest.mark.skipif(not (ZOO_DIR / "leaderboard.json").exists(), reason="needs the shipped zoo")
def test_the_verdict_of_a_short_demo_run_is_written_with_both_estimates(tmp_path, monkeypatch):
    import core.training.demo as demo_mod
    import core.zoo
    from scripts.bench import demo_verdicts

    real = demo_mod.demo_for

    def short(source, target, board=None):
        demo = real(source, target, board)
        demo.steps = 3
        return demo

    monkeypatch.setattr(demo_mod, "demo_for", short)
    monkeypatch.setattr(core.zoo, "SCENARIOS", SCENARIOS[:1])
    out = tmp_path / "verdicts.json"
    assert demo_verdicts.main(["--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert row["scenario"] == "->".join(SCENARIOS[0]) and row["steps"] == 3
    for key in ("run_estimate", "source_only_estimate"):
        est = row[key]
        assert est["low"] <= est["estimated_acc"] <= est["high"]
    assert row["says"].startswith("Without labels, ShiftLab would call this run")
    assert 0 <= row["run_true_acc"] <= 100 and row["source_only_true_acc"] is not None
