"""The zoo build's cells: stored as they finish, reused by --resume, rebuilt (and said) when stale."""

from __future__ import annotations

import json

import pytest

from core.studies import zoo_build
from core.studies.zoo_build import rebuild
from core.studies.zoo_cells import CELL_NAME, StaleCell, code_version, load_cell
from tests.support.runs import fail_run

SCENARIO = "mnist->mnistm"
METHODS = ["source_only", "self_training"]


def build(tmp_path, **kw):
    lines: list[str] = []
    code = rebuild(tiny=True, device="cpu", steps=2, out_dir=tmp_path / "zoo", work_dir=tmp_path / "cells",
                   scenarios=[SCENARIO], methods=METHODS, seeds=2, log=lines.append, **kw)
    board = json.loads((tmp_path / "zoo" / "leaderboard.json").read_text())
    return code, lines, board


def cell_path(tmp_path, method, seed):
    return tmp_path / "cells" / "mnist-mnistm" / f"{method}-seed{seed}" / CELL_NAME


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cells")
    return tmp, build(tmp)


def test_every_run_is_stored_with_its_seed_version_and_build_time(first):
    tmp, (code, _, board) = first
    assert code == 0
    for method in METHODS:
        for seed in (0, 1):  # both are recommend candidates: every seed
            cell = json.loads(cell_path(tmp, method, seed).read_text())
            assert cell["status"] == "done" and cell["seed"] == seed and cell["method"] == method
            assert cell["code_version"] == code_version(method) and cell["built_at"] and cell["build_seconds"] >= 0
            assert 0 <= cell["target_acc"] <= 100 and cell["scores"]
    entry = board["scenarios"][SCENARIO]["self_training"]
    assert [c["seed"] for c in entry["cells"]] == [0, 1]
    assert {c["code_version"] for c in entry["cells"]} == {code_version("self_training")}
    assert board["build"]["code_versions"] == sorted({code_version(m) for m in METHODS}) and board["build"]["failed"] == {}
    spent = sum(c["build_seconds"] for e in board["scenarios"][SCENARIO].values() for c in e["cells"])
    assert board["build"]["cell_seconds_total"] == pytest.approx(spent, abs=0.2) and spent > 0


def test_resume_trains_nothing_and_gives_the_same_leaderboard(first, tmp_path, monkeypatch):
    tmp, (_, _, before) = first
    def no_training(*a, **k):
        raise AssertionError("a stored cell was trained again")
    monkeypatch.setattr(zoo_build, "train_and_score", no_training)
    lines: list[str] = []
    code = rebuild(tiny=True, device="cpu", steps=2, out_dir=tmp_path / "zoo", work_dir=tmp / "cells",
                   scenarios=[SCENARIO], methods=METHODS, seeds=2, log=lines.append, resume=True)
    after = json.loads((tmp_path / "zoo" / "leaderboard.json").read_text())
    assert code == 0
    assert sum("(stored" in line for line in lines) == len(list((tmp / "cells").rglob(CELL_NAME))) == 4
    for method in METHODS:
        assert after["scenarios"][SCENARIO][method]["values"] == before["scenarios"][SCENARIO][method]["values"]
    assert after["recommended"] == before["recommended"]


def test_a_corrupt_or_other_version_cell_is_rebuilt_and_the_log_says_why(tmp_path):
    build(tmp_path)
    cell_path(tmp_path, "source_only", 0).write_text("{not json")
    record = json.loads(cell_path(tmp_path, "self_training", 1).read_text())
    record["code_version"] = "0123456789ab"
    cell_path(tmp_path, "self_training", 1).write_text(json.dumps(record))
    code, lines, _ = build(tmp_path, resume=True)
    assert code == 0
    assert any("source_only" in line and "corrupt" in line for line in lines)
    assert any("self_training" in line and "code version 0123456789ab" in line for line in lines)
    assert json.loads(cell_path(tmp_path, "self_training", 1).read_text())["code_version"] == code_version("self_training")
    assert sum("(stored" in line for line in lines) == 2  # the two cells left as they were


def test_other_settings_make_a_cell_stale(first):
    tmp, _ = first
    folder = cell_path(tmp, "source_only", 0).parent
    stored = json.loads((folder / CELL_NAME).read_text())["settings"]
    assert load_cell(folder, settings=stored).method == "source_only"
    with pytest.raises(StaleCell, match="other settings.*steps"):
        load_cell(folder, settings={**stored, "steps": 999})


def test_a_diverged_run_is_recorded_as_failed_not_as_a_number(tmp_path, monkeypatch):
    real = zoo_build.train_and_score
    fail_run(monkeypatch, zoo_build, FloatingPointError("loss is nan at step 2"),
             when=lambda config: config.method == "self_training" and config.seed == 1)
    code, lines, board = build(tmp_path)
    assert code == 1
    cell = json.loads(cell_path(tmp_path, "self_training", 1).read_text())
    assert cell["status"] == "failed" and "nan" in cell["error"] and cell["target_acc"] is None
    assert board["build"]["failed"][SCENARIO]["self_training"] == [{"seed": 1, "error": cell["error"]}]
    assert board["scenarios"][SCENARIO]["self_training"]["seeds"] == [0]
    # resuming keeps the failure (the same code fails the same way) and still says it
    monkeypatch.setattr(zoo_build, "train_and_score", real)
    code, lines, board = build(tmp_path, resume=True)
    assert code == 1 and any("FAILED" in line and "stored" in line for line in lines)


def test_no_train_ships_the_finished_cells_and_lists_the_rest_as_not_built(tmp_path):
    build(tmp_path)
    cell_path(tmp_path, "source_only", 0).unlink()
    code, lines, board = build(tmp_path, resume=True, train_new=False)
    assert "source_only" not in board["scenarios"][SCENARIO]
    assert board["scenarios"][SCENARIO]["self_training"]["seeds"] == [0, 1]
    assert "source_only" in board["not_built"]["cells"][SCENARIO]
    assert "--resume" in board["not_built"]["why"]
    assert board["build"]["not_trained"] == [f"{SCENARIO}/source_only seed 0"]


def test_no_train_without_resume_is_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="--resume"):
        rebuild(tiny=True, out_dir=tmp_path / "zoo", train_new=False, log=lambda line: None)
    assert not (tmp_path / "zoo").exists()


def test_the_cli_refuses_build_flags_for_other_actions(capsys):
    from core.__main__ import main

    assert main(["zoo", "list", "--resume"]) != 0
    assert "--resume is for zoo rebuild" in capsys.readouterr().err
    assert main(["zoo", "rebuild", "--no-train", "--tiny"]) != 0
    assert "add --resume" in capsys.readouterr().err


def test_merge_folds_parallel_builds_with_their_cells_and_failures(tmp_path, monkeypatch):
    from core.studies.zoo_merge import merge

    fail_run(monkeypatch, zoo_build, FloatingPointError("loss is nan at step 1"),
             when=lambda c: c.target == "ucidigits" and c.method == "self_training" and c.seed == 0)
    for part, scenario in (("a", "mnist->mnistm"), ("b", "mnist->ucidigits")):
        rebuild(tiny=True, device="cpu", steps=2, out_dir=tmp_path / part, work_dir=tmp_path / "cells",
                scenarios=[scenario], methods=METHODS, log=lambda line: None)
    assert merge([tmp_path / "a", tmp_path / "b"], tmp_path / "into", log=lambda line: None) == 0
    board = json.loads((tmp_path / "into" / "leaderboard.json").read_text())
    assert set(board["scenarios"]) == {"mnist->mnistm", "mnist->ucidigits"}
    assert set(board["seconds_by_build"]) == {str(tmp_path / "a"), str(tmp_path / "b")}
    assert board["build"]["code_versions"] == sorted({code_version(m) for m in METHODS})
    assert board["build"]["failed"] == {"mnist->ucidigits": {"self_training": [
        {"seed": 0, "error": "FloatingPointError: loss is nan at step 1"}]}}
    assert "self_training" in board["not_built"]["cells"]["mnist->ucidigits"]


def test_a_method_file_counts_for_its_own_cells_only():
    from core.studies.zoo_cells import _method_files

    assert code_version("dann") != code_version("self_training") != code_version()
    names = {p.name for p in _method_files("self_ensembling")}
    assert names == {"self_ensembling.py", "mean_teacher.py"}
    assert {p.name for p in _method_files("cdan_e")} == {"cdan.py"}


def test_builds_sharing_a_work_folder_skip_each_others_cells_and_take_over_dead_locks(tmp_path):
    import subprocess
    import sys

    from core.studies.zoo_cells import lock_cell

    folder = tmp_path / "cells" / "mnist-mnistm" / "source_only-seed0"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (folder.parent).mkdir(parents=True)
        folder.with_name("source_only-seed0.lock").write_text(str(sleeper.pid))
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        folder.with_name("self_training-seed0.lock").write_text(dead.stdout.strip())
        code, lines, board = build(tmp_path)
    finally:
        sleeper.kill()
    assert any("source_only" in line and f"being built by process {sleeper.pid}" in line for line in lines)
    assert f"{SCENARIO}/source_only seed 0" in board["build"]["not_trained"]
    assert cell_path(tmp_path, "self_training", 0).is_file()  # the dead build's lock was taken over
    assert [p.name for p in (tmp_path / "cells").rglob("*.lock")] == ["source_only-seed0.lock"]  # only the live one
    assert lock_cell(tmp_path / "cells" / "mnist-mnistm" / "new-seed0") is None


def test_train_only_named_methods_reuses_the_rest_and_lists_their_missing_cells(tmp_path):
    build(tmp_path)
    cell_path(tmp_path, "source_only", 1).unlink()
    cell_path(tmp_path, "self_training", 1).unlink()
    code, lines, board = build(tmp_path, resume=True, train_new=["source_only"])
    assert json.loads(cell_path(tmp_path, "source_only", 1).read_text())["status"] == "done"  # trained again
    assert not cell_path(tmp_path, "self_training", 1).exists()
    assert board["build"]["not_trained"] == [f"{SCENARIO}/self_training seed 1"]
    assert board["scenarios"][SCENARIO]["self_training"]["seeds"] == [0]
    assert any("this build trains source_only" in line for line in lines)


def test_each_candidate_records_how_often_its_seeds_agree_and_the_choice_reads_it(first):
    from core.selection import choose_agreeing

    _, (_, _, board) = first
    entries = board["scenarios"][SCENARIO]
    for method in METHODS:  # both are candidates, trained on seeds 0 and 1
        assert 0.0 <= entries[method]["seed_agreement"] <= 1.0
    pool = {m: {"scores": e["validator_scores"], "largest_class_share": e["largest_class_share"],
                "seed_agreement": e["seed_agreement"]} for m, e in entries.items()}
    assert board["recommended"][SCENARIO]["method"] == choose_agreeing(pool, board["validator"])


def test_the_zoo_passes_over_a_best_scored_candidate_whose_seeds_disagree():
    def entry(devn, agreement):
        return {"validator_scores": {"devn": devn}, "largest_class_share": 0.12, "seed_agreement": agreement}

    entries = {"source_only": entry(-0.5, 0.90), "self_training": entry(-0.1, 0.70), "adamatch": entry(-0.2, 0.95)}
    assert zoo_build._best_candidate(entries, "devn") == "adamatch"
    entries["self_training"]["seed_agreement"] = 0.94  # within the margin: the score decides
    assert zoo_build._best_candidate(entries, "devn") == "self_training"
    for e in entries.values():  # a zoo of one seed has no agreement to read: the best score
        e["seed_agreement"] = None
    assert zoo_build._best_candidate(entries, "devn") == "self_training"
