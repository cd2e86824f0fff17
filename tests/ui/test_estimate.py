"""ui.estimate.versus: the sentence that says what the label-free estimates would advise about a run
against the source-only model."""

from __future__ import annotations

import doctest

import ui.estimate
from ui.estimate import versus


def _est(acc, low, high):
    return {"estimated_acc": acc, "low": low, "high": high}


def test_a_run_whose_whole_range_lies_below_source_only_is_called_worse_and_source_only_kept():
    said = versus(_est(48.3, 41.6, 54.9), _est(68.7, 62.0, 75.4), "the pretrained source-only model")
    assert "likely worse than the pretrained source-only model" in said and "about 48 % against 69 %" in said
    assert said.endswith("keep the pretrained source-only model.")


def test_a_run_whose_whole_range_lies_above_is_called_better_and_kept():
    said = versus(_est(56.4, 50.3, 62.4), _est(22.2, 16.2, 28.3), "the pretrained source-only model")
    assert "likely better than" in said and said.endswith("keep this run.")


def test_overlapping_estimates_are_not_told_apart():
    said = versus(_est(60.0, 52.0, 68.0), _est(64.0, 57.0, 71.0), "the source-only model")
    assert "about as good as" in said and "not be able to tell the two apart" in said


def test_no_sentence_without_both_estimates():
    assert versus("An accuracy estimate needs at least 20 pictures", _est(60, 50, 70), "the source-only model") is None
    assert versus(_est(60, 50, 70), "No estimate: no source", "the source-only model") is None


def test_the_docstring_example_holds():
    assert doctest.testmod(ui.estimate).failed == 0
