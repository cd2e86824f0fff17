"""The label-free choice: the collapse rule, and the seeds' agreement as a filter before the validator."""

from __future__ import annotations

import random

import pytest

from core.selection.choice import AGREEMENT_MARGIN, choose, choose_agreeing, reads_agreement, seed_agreement


def _cand(devn, agreement, share=0.12):
    return {"scores": {"devn": devn}, "largest_class_share": share, "seed_agreement": agreement}


def test_seed_agreement_is_the_mean_pairwise_share_of_equal_answers():
    assert seed_agreement([[1, 2, 3]]) is None  # one seed: nothing to compare
    assert seed_agreement([[1, 2, 3], [1, 2, 3]]) == 1.0
    assert seed_agreement([[0, 0, 0, 0], [1, 1, 1, 1]]) == 0.0
    assert seed_agreement([[0, 1, 2, 3], [0, 1, 2, 0], [0, 1, 1, 3]]) == pytest.approx((3 / 4 + 3 / 4 + 2 / 4) / 3)
    rng = random.Random(0)
    tops = [[rng.randrange(10) for _ in range(50)] for _ in range(3)]
    assert seed_agreement(tops) == pytest.approx(seed_agreement(tops[::-1]))  # the seeds' order does not matter


def test_an_unstable_candidate_with_the_best_score_is_passed_over():
    pool = {"source_only": _cand(-0.5, 0.95), "unstable": _cand(-0.1, 0.80), "stable": _cand(-0.2, 0.97)}
    assert choose(pool, "devn") == "unstable"
    assert choose_agreeing(pool, "devn") == "stable"
    # within the margin of the most agreeing candidate the validator decides again
    pool["unstable"]["seed_agreement"] = 0.97 - AGREEMENT_MARGIN + 1e-9
    assert choose_agreeing(pool, "devn") == "unstable"


def test_a_collapsed_candidate_neither_wins_nor_sets_the_agreement_bar():
    # predictions that all fall into one class agree perfectly across seeds: that must not raise the bar
    pool = {"source_only": _cand(-0.5, 0.90), "collapsed": _cand(-0.05, 1.0, share=0.95),
            "good": _cand(-0.2, 0.91)}
    assert choose_agreeing(pool, "devn") == "good"


def test_with_one_seed_a_candidate_the_choice_is_the_plain_one():
    pool = {"source_only": _cand(-0.5, None), "a": _cand(-0.1, None), "b": _cand(-0.2, None)}
    assert not reads_agreement(pool) and choose_agreeing(pool, "devn") == choose(pool, "devn") == "a"
    assert choose_agreeing({}, "devn") is None
    pool["b"]["seed_agreement"] = 0.99  # once one candidate has seeds to compare, the rule reads them
    assert reads_agreement(pool) and choose_agreeing(pool, "devn") == "b"


def test_the_eligible_filter_applies_before_the_agreement_bar():
    # the teacher of a distilled student must adapt: source-only's high agreement must not exclude the rest
    pool = {"source_only": _cand(-0.5, 0.99), "a": _cand(-0.1, 0.90), "b": _cand(-0.2, 0.80)}
    assert choose_agreeing(pool, "devn") == "source_only"
    assert choose_agreeing(pool, "devn", eligible=lambda n: n != "source_only") == "a"


def test_a_candidate_exactly_at_the_margin_is_in_and_one_without_seeds_is_out():
    pool = {"source_only": _cand(-0.5, 0.44), "edge": _cand(-0.1, 0.41), "top": _cand(-0.3, 0.44)}
    assert 0.44 - 0.03 > 0.41  # in floating point: the comparison must not depend on it
    assert choose_agreeing(pool, "devn", margin=0.03) == "edge"
    pool["lone"] = _cand(0.0, None)  # trained on one seed only (the other failed): not stable enough to trust
    assert choose(pool, "devn") == "lone" and choose_agreeing(pool, "devn", margin=0.03) == "edge"
