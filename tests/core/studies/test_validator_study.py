"""The validator study: the selection gap of each validator on each pool, and the declared default."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from core.studies.validator_study import declare_default, gap, method_pool, run_pool, study

ROOT = Path(__file__).resolve().parents[3]


def point(method, seed, acc, good, bad, share=0.2):
    return {"method": method, "seed": seed, "target_acc": acc, "largest_class_share": share,
            "scores": {"good": good, "bad": bad}}


POINTS = [point("source_only", s, 40.0, 0.1, 0.9) for s in range(3)] + \
         [point("dann", s, 60.0 + s, 0.5, 0.5) for s in range(3)] + \
         [point("self_training", s, 90.0 - s, 0.9, 0.1) for s in range(3)]


def test_the_zoo_chooses_methods_on_mean_scores_and_gaps_are_mean_accuracies():
    pool = method_pool(POINTS)
    assert pool["dann"]["target_acc"] == 61.0 and pool["dann"]["n"] == 3
    assert gap(pool, "good") == {"chosen": "self_training", "chosen_acc": 89.0, "best": "self_training",
                                 "best_acc": 89.0, "gap": 0.0}
    assert gap(pool, "bad")["chosen"] == "source_only" and gap(pool, "bad")["gap"] == 49.0


def test_a_collapsed_candidate_is_not_chosen_whatever_its_score():
    points = POINTS[:6] + [point("self_training", s, 12.0, 99.0, 0.0, share=0.95) for s in range(3)]
    assert gap(method_pool(points), "good")["chosen"] == "dann"


def test_recommend_rows_are_a_one_seed_pool_without_failed_candidates():
    rows = [{"method": "source_only", "scores": {"good": 0.1}, "target_acc": 40.0, "largest_class_share": 0.2,
             "error": None},
            {"method": "dann", "scores": {"good": 0.5}, "target_acc": 70.0, "largest_class_share": 0.2, "error": None},
            {"method": "mcc", "scores": {}, "target_acc": None, "largest_class_share": None, "error": "diverged"}]
    assert set(run_pool(rows)) == {"source_only", "dann"} and gap(run_pool(rows), "good")["gap"] == 0.0


def test_the_declared_rule_picks_the_lowest_worst_case_gap_on_the_fixtures_and_the_checks_do_not_vote():
    lodo_rows = [{"method": "source_only", "scores": {"good": 0.2, "bad": 0.9}, "target_acc": 50.0,
                  "largest_class_share": 0.2, "error": None},
                 {"method": "dann", "scores": {"good": 0.8, "bad": 0.1}, "target_acc": 80.0,
                  "largest_class_share": 0.2, "error": None}]
    fixture_rows = [dict(r, scores={"good": 1 - r["scores"]["good"], "bad": 1 - r["scores"]["bad"]}) for r in lodo_rows]
    result = study({"a->b": POINTS}, {"c": lodo_rows}, {"unseen": fixture_rows}, ["good", "bad"])
    good, bad = result["validators"]["good"], result["validators"]["bad"]
    assert good["check_worst"] == 0.0 and good["worst"] == 30.0  # the checks are reported, not used
    assert bad["worst"] == 0.0 and bad["check_worst"] == 49.0
    assert result["default"] == "bad" == declare_default(result["validators"], ["good", "bad"])


def test_the_script_reads_a_zoo_and_prints_the_tables(tmp_path):
    board = {"selection": {"a->b": {"points": POINTS}}}
    (tmp_path / "leaderboard.json").write_text(json.dumps(board))
    out = subprocess.run([sys.executable, "scripts/studies/validator_study.py", "--zoo", str(tmp_path),
                          "--json", str(tmp_path / "study.json")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "| validator (the checks" in out.stdout and "default by the declared rule" in out.stdout
    assert json.loads((tmp_path / "study.json").read_text())["rule"].startswith("the lowest worst-case")


def test_a_rank_mean_combination_scores_each_candidate_by_its_mean_rank():
    from core.studies.validator_study import rank_mean

    pool = method_pool(POINTS)  # good ranks self_training > dann > source_only, bad the reverse
    both = rank_mean(pool, ("good", "bad"))
    assert {m: c["scores"]["good+bad"] for m, c in both.items()} == {"source_only": 0.5, "dann": 0.5,
                                                                    "self_training": 0.5}
    alone = rank_mean(pool, ("good",))  # one member: its ranks, scaled to [0, 1]
    assert [alone[m]["scores"]["good"] for m in ("source_only", "dann", "self_training")] == [0.0, 0.5, 1.0]
    # tied scores share their mean rank, whatever the order
    pool["dann"]["scores"]["good"] = pool["self_training"]["scores"]["good"]
    tied = rank_mean(pool, ("good",))
    assert tied["dann"]["scores"]["good"] == tied["self_training"]["scores"]["good"] == 0.75
    # a candidate without a member's score gets no combined score
    pool["dann"]["scores"].pop("bad")
    assert "good+bad" not in rank_mean(pool, ("good", "bad"))["dann"]["scores"]


def test_combinations_are_judged_on_the_fixture_pools_like_single_validators():
    from core.studies.validator_study import combinations

    rows = [{"method": "source_only", "scores": {"a": 0.9, "b": 0.1, "c": 0.5}, "target_acc": 50.0,
             "largest_class_share": 0.2, "error": None},
            {"method": "dann", "scores": {"a": 0.5, "b": 0.9, "c": 0.9}, "target_acc": 80.0,
             "largest_class_share": 0.2, "error": None},
            {"method": "mcc", "scores": {"a": 0.1, "b": 0.5, "c": 0.1}, "target_acc": 30.0,
             "largest_class_share": 0.2, "error": None}]
    out = combinations({}, {}, {"unseen": rows}, ["a", "b", "c"], sizes=(2,))
    by = {"+".join(r["members"]): r for r in out}
    assert by["b+c"]["worst"] == 0.0 and by["b+c"]["fixtures"]["unseen"]["chosen"] == "dann"
    assert by["a+b"]["worst"] == 0.0  # ranks a: sq 1, dann .5; b: dann 1, sq 0 → dann .75, sq .5
    assert out == sorted(out, key=lambda r: (r["worst"], r["mean"]))
