"""The Compare page's label-free selection rows, from a leaderboard's blocks."""

from __future__ import annotations

from ui.selection import HINDSIGHT, RECOMMENDED, selection_rows


def test_a_recommendation_row_says_its_gain_its_validator_and_how_often_its_seeds_agree():
    board = {"recommended": {"mnist->mnistm": {"method": "adamatch", "validator": "devn", "target_acc_mean": 92.3,
                                               "source_only_acc_mean": 43.6, "seed_agreement": 0.9512}},
             "best_in_hindsight": {"mnist->mnistm": {"method": "mcc", "target_acc_mean": 92.9}}}
    (row,) = selection_rows(board)
    assert "AdaMatch: 92.3" in row[RECOMMENDED] and "+48.7 pts vs source only" in row[RECOMMENDED]
    assert "its seeds agree on 95 % of the pictures" in row[RECOMMENDED]
    assert row[HINDSIGHT].startswith("MCC") and row["selection gap"] == "0.6 pts"
    del board["recommended"]["mnist->mnistm"]["seed_agreement"]  # a zoo of one seed: nothing to say
    assert "agree" not in selection_rows(board)[0][RECOMMENDED]
