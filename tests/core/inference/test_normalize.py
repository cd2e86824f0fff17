"""``normalize="auto"``: the label-free choice of how a batch enters a model."""

from __future__ import annotations

import pytest
import torch

from core.inference.normalize import CRITERIA, DEFAULT_CRITERION, INGEST_CHOICES, check_ingest, choose_normalization


class Fixed(torch.nn.Module):
    """A 'model' whose logits are the picture's mean per channel × 10: a batch's variant decides
    how confident and how spread its predictions are."""

    num_classes = 3

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return 10 * x.mean((2, 3)) + self.w


def batch(labels):
    x = torch.zeros(len(labels), 3, 4, 4)
    for i, c in enumerate(labels):
        x[i, c] = 1.0
    return x


def test_auto_picks_the_variant_the_default_criterion_scores_higher():
    confident, unsure = batch([0, 1, 2, 0, 1, 2]), 0.3 * batch([0, 1, 2, 0, 1, 2]) + 0.2
    choice = choose_normalization(Fixed(), {"none": unsure, "centre": confident})
    assert choice.normalize == "centre" and choice.criterion == DEFAULT_CRITERION
    assert choice.scores["centre"] > choice.scores["none"] and "label-free" in choice.reason
    assert choose_normalization(Fixed(), {"none": confident, "centre": unsure}).normalize == "none"


def test_im_also_rewards_predictions_spread_over_the_classes():
    spread, one_class = batch([0, 1, 2, 0, 1, 2]), batch([0] * 6)
    assert choose_normalization(Fixed(), {"none": one_class, "centre": spread}, criterion="im").normalize == "centre"
    assert choose_normalization(Fixed(), {"none": spread, "centre": one_class}, criterion="im").normalize == "none"


def test_ties_keep_the_pictures_as_they_are():
    same = batch([0, 1, 2])
    assert choose_normalization(Fixed(), {"none": same, "centre": same.clone()}).normalize == "none"


def test_every_criterion_is_label_free_and_higher_is_better():
    confident, unsure = torch.eye(3).repeat(4, 1) * 20, torch.zeros(12, 3)
    for name, criterion in CRITERIA.items():
        assert criterion(confident) > criterion(unsure), name


def test_bad_choices_are_one_clear_line():
    assert "auto" in INGEST_CHOICES and check_ingest(None) == "none"
    with pytest.raises(ValueError, match="choose one of none, centre, auto"):
        check_ingest("sharpen")
    with pytest.raises(ValueError, match="unknown criterion"):
        choose_normalization(Fixed(), {"none": batch([0])}, criterion="accuracy")
