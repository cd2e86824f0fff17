"""scripts/studies/seed_choice.py: the seeds' agreement, every rule's pick (with the collapse filter),
the declared preference among rules (DEVN keeps the choice within a point), and resuming."""

from __future__ import annotations

import json

import pytest

from scripts.studies import seed_choice as study


def _row(acc, devn, top, share=0.12):
    return {"scores": {"devn": devn}, "largest_class_share": share, "target_acc": acc, "seconds": 1.0,
            "target_top": top}


STEADY = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]] * 3                       # the three seeds answer alike
SHAKY = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 5, 6, 7, 8, 9, 0], [0, 1, 2, 3, 4, 9, 9, 9, 9, 9]]


def _pool(methods: dict[str, tuple[list[float], list[float], list[list[int]]]]) -> dict[int, dict]:
    """{seed: {method: row}} from {method: (accs, devns, tops)}."""
    return {s: {m: _row(accs[s], devns[s], tops[s]) for m, (accs, devns, tops) in methods.items()} for s in range(3)}


def test_seed_agreement_is_the_mean_share_of_answers_two_seeds_share():
    assert study.seed_agreement(STEADY) == 1.0
    assert study.seed_agreement(SHAKY) == pytest.approx((0.0 + 0.6 + 0.1) / 3)   # pairs (0,1), (0,2), (1,2)
    assert study.seed_agreement([[1, 2, 3]]) is None


def test_each_rule_picks_from_the_seed_means_and_only_the_agreeing_rules_see_the_seeds():
    pool = _pool({
        "source_only": ([50, 50, 50], [-0.5, -0.5, -0.5], STEADY),
        "shaky": ([90, 60, 40], [-0.1, -0.1, -0.1], SHAKY),      # best DEVN, seeds disagree, mean 63.3
        "steady": ([70, 70, 70], [-0.2, -0.2, -0.2], STEADY),    # second DEVN, seeds agree, mean 70
    })
    summary = study.summarise(pool)
    assert summary["shaky"]["acc_mean"] == 190 / 3 and summary["steady"]["seed_agreement"] == 1.0
    assert study.choose_by("devn", summary) == "shaky"
    assert study.choose_by("devn_agreeing_0.05", summary) == "steady"    # source-only agrees too, its DEVN is lower
    assert study.choose_by("rank_mean", summary) == "shaky"  # ranks 0 + 2 against 1 + 1: DEVN's order breaks the tie
    result = study.evaluate({"mnist->a": pool, "mnist->b": {0: pool[0]}})
    assert result["left_out_one_seed"] == ["mnist->b"] and list(result["rules"]["devn"]["pools"]) == ["mnist->a"]
    assert result["rules"]["devn"]["pools"]["mnist->a"]["gap"] == round(70 - 190 / 3, 2)
    assert result["rules"]["devn_agreeing_0.05"]["worst_gap"] == 0.0


def test_a_pool_without_devn_scores_is_left_out_by_name_and_none_left_is_one_clear_error():
    scored = _pool({"source_only": ([50] * 3, [-0.5] * 3, STEADY), "steady": ([70] * 3, [-0.2] * 3, STEADY)})
    unscored = _pool({"source_only": ([50] * 3, [-0.5] * 3, STEADY)})
    for rows in unscored.values():
        rows["source_only"]["scores"] = {}
    result = study.evaluate({"mnist->a": scored, "mnist->b": unscored})
    assert result["left_out_without_devn"] == ["mnist->b"] and list(result["rules"]["devn"]["pools"]) == ["mnist->a"]
    with pytest.raises(ValueError, match=r"no pool has two seeds and a DEVN score.*without DEVN: mnist->b"):
        study.evaluate({"mnist->b": unscored})


def test_kappa_discounts_seeds_that_agree_by_piling_onto_one_class():
    assert study.seed_kappa(STEADY) == 1.0 and study.seed_kappa([[1, 2, 3]]) is None
    assert study.seed_kappa([[0, 0, 0, 1], [0, 0, 0, 0]]) == 0.0     # agreement 0.75, all of it chance
    piled = [[0] * 8 + [1, 2], [0] * 8 + [3, 4]]                     # agree on 80 %, both on class 0
    spread = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [0, 1, 2, 3, 4, 5, 6, 9, 9, 9]]  # agree on 80 %, ten classes
    assert study.seed_agreement(piled) == study.seed_agreement(spread) == 0.8
    assert study.seed_kappa(piled) == pytest.approx(0.16 / 0.36) and study.seed_kappa(spread) == pytest.approx(0.7 / 0.9)
    pool = {s: {"source_only": _row(50, -0.5, spread[s % 2]), "piled": _row(10, -0.1, piled[s % 2]),
                "steady": _row(70, -0.2, spread[s % 2])} for s in range(2)}
    summary = study.summarise(pool)
    assert study.choose_by("devn_agreeing_0.03", summary) == "piled"   # agrees as often: its better DEVN wins
    assert study.choose_by("devn_kappa_0.03", summary) == "steady"
    result = study.evaluate({"mnist->a": pool})
    assert set(result["post_hoc"]) == set(study.POST_HOC) and "devn_kappa_0.03" not in result["rules"]
    assert "(added after, not preferred)" in study.table(result)


def test_a_collapsed_candidate_is_not_chosen_however_its_seeds_agree():
    pool = _pool({"source_only": ([50] * 3, [-0.5] * 3, SHAKY), "collapsed": ([10] * 3, [-0.1] * 3, STEADY)})
    for s in range(3):
        pool[s]["source_only"]["largest_class_share"] = 0.12
        pool[s]["collapsed"]["largest_class_share"] = 0.9
    summary = study.summarise(pool)
    assert {study.choose_by(r, summary) for r in study.RULES} == {"source_only"}


def test_devn_keeps_the_choice_unless_another_rule_is_better_by_more_than_a_point():
    rules = {"devn": {"worst_gap": 5.0, "mean_gap": 2.0}, "seed_agreement": {"worst_gap": 4.5, "mean_gap": 0.5}}
    assert study.prefer(rules) == "devn"
    rules["rank_mean"] = {"worst_gap": 3.0, "mean_gap": 1.5}
    rules["devn_agreeing_0.05"] = {"worst_gap": 3.8, "mean_gap": 1.0}
    assert study.prefer(rules) == "devn_agreeing_0.05"  # within a point of the lowest worst gap, lower mean gap


def test_runs_already_written_are_skipped_and_the_table_reads_them(tmp_path, monkeypatch, capsys):
    out = tmp_path / "runs.json"
    pool = _pool({"source_only": ([50] * 3, [-0.5] * 3, STEADY), "steady": ([70] * 3, [-0.2] * 3, STEADY)})
    out.write_text(json.dumps({"source": "mnist", "runs": {f"mnist->a/{s}": rows for s, rows in pool.items()}}))
    (tmp_path / "fix" / "a" / "test").mkdir(parents=True)
    monkeypatch.setattr(study, "run_pool", lambda *a: (_ for _ in ()).throw(AssertionError("ran again")))
    assert study.main(["--fixtures", str(tmp_path / "fix"), "--out", str(out)]) == 0
    assert study.main(["--table", str(out), "--json", str(tmp_path / "eval.json")]) == 0
    assert "preferred by the declared rule: devn" in capsys.readouterr().out
    assert json.loads((tmp_path / "eval.json").read_text())["rules"]["devn"]["pools"]["mnist->a"]["chosen"] == "steady"
