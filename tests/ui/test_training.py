"""ui.training: how a run's result is put against source-only and the zoo's recommended model."""

from __future__ import annotations

from ui.training import comparison

REF = {"recommended": {"method": "adamatch", "mean": 96.1, "std": 5.0, "n_seeds": 3, "shipped": 98.8, "steps": 1500}}


def test_a_gain_is_said_as_points_over_source_only_with_its_share_of_the_shipped_gain():
    said = comparison(70.0, 50.0, "pretrained source only", REF, seconds=9)
    assert said.startswith("This run reaches 70.0 %: +20.0 points over the pretrained source only model (50.0 %).")
    assert "this run made 41% of the shipped model's gain in 9 s" in said


def test_a_loss_is_said_as_points_below_and_not_as_a_share():
    said = comparison(55.6, 67.6, "pretrained source only", REF, seconds=8)
    assert "12.0 points below the pretrained source only model (67.6 %)" in said and "-12.0" not in said
    assert "has not gained over source-only yet" in said and "% of the shipped model's gain" not in said
