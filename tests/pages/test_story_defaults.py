"""Defaults that match the story, through streamlit.testing: the scenario's recommended model is what
Compare shows and Distill teaches with until the user picks another, a model the user trains joins
the choices without taking over, and the Overview says which figure is the mean over seeds and which
the pretrained model's own.

The zoo is the tiny one plus a 3-step self-training model, and its leaderboard recommends
self-training (which comes after DANN in display order, so the first-in-order default would differ).
"""

from __future__ import annotations

import json
import shutil
import time

import pytest

pytest.importorskip("streamlit.testing.v1")

from tests.pages.test_app_pages import app, goto, navigation_mode, texts  # noqa: E402,F401 - navigation_mode: autouse fixture

RECOMMENDED = "zoo:mnist->mnistm/self_training"


@pytest.fixture(scope="module")
def st_zoo(tiny_zoo, tmp_path_factory):
    """The tiny zoo plus mnist->mnistm/self_training (3 steps), recommended by its leaderboard."""
    from core.training.engine import train
    from core.training.recipes import recipe

    root = tmp_path_factory.mktemp("story-zoo") / "zoo"
    shutil.copytree(tiny_zoo, root)
    config = recipe("self_training", "mnist", "mnistm", steps=3, eval_every=0, device="cpu", threads=1, seed=0)
    train(config, out_dir=root / "mnist-mnistm" / "self_training")
    path = root / "leaderboard.json"
    board = json.loads(path.read_text())
    board["seeds"] = [0, 1, 2]
    board["scenarios"]["mnist->mnistm"]["self_training"] = {"mean": 70.0, "std": 2.0, "values": [68.0, 70.0, 72.0]}
    board["recommended"] = {"mnist->mnistm": {"method": "self_training", "validator": "devn", "score": -0.1,
                                              "target_acc_mean": 70.0, "target_acc_std": 2.0, "n_seeds": 3,
                                              "source_only_acc_mean": 40.0, "gain": 30.0}}
    path.write_text(json.dumps(board))
    return root


@pytest.fixture
def story_zoo(st_zoo, monkeypatch):
    monkeypatch.setenv("SHIFTLAB_ZOO_DIR", str(st_zoo))
    return st_zoo


def trained_here(zoo, job: str = "job1"):
    """A model as the Train page keeps it (DANN, from the zoo's folder), made just now."""
    from core.checkpoints import load
    from ui.state import SessionModel

    folder = zoo / "mnist-mnistm" / "dann"
    model, card = load(folder)
    return SessionModel(id=job, method="dann", source="mnist", target="mnistm", model=model, card=card,
                        checkpoint=str(folder), target_acc=50.8, source_acc=90.0, steps=500, seconds=18.7,
                        number=1, created=time.time())


def test_compare_keeps_the_recommended_model_until_the_user_picks_another(story_zoo):
    at = goto(app(), "compare")
    picker = at.selectbox(key="compare_adapted")
    assert picker.value == RECOMMENDED
    # the recommendation is above the leaderboard (a metric, before the table) and marked in it
    assert any(m.label.startswith("✓") and "Self-training" in m.label for m in at.metric)
    assert "✓ recommended" in at.dataframe[0].value.loc["Self-training"].to_string()

    # a run finishes on the Train page: it joins the choices, the recommended model stays
    at.session_state["session_models"] = {"job1": trained_here(story_zoo)}
    goto(at, "train")
    goto(at, "compare")
    picker = at.selectbox(key="compare_adapted")
    assert picker.value == RECOMMENDED
    assert any("your run 1" in o for o in picker.options)
    assert "recommended model stays until you pick another" in texts(at.caption)
    accuracy = [m.value for m in at.metric if m.label.startswith("Adapted (Self-training)")]
    assert accuracy, [m.label for m in at.metric]

    # the user picks their run: it stays picked across pages
    picker.set_value("session:job1").run()
    assert not at.exception
    goto(at, "overview")
    goto(at, "compare")
    assert at.selectbox(key="compare_adapted").value == "session:job1"
    assert any(m.label.startswith("Adapted (DANN)") for m in at.metric)


def test_distill_teacher_starts_as_the_recommended_model(story_zoo):
    at = goto(app(), "distill")
    teacher = at.selectbox(key="distill_distill_teacher")
    assert teacher.value == "mnist->mnistm/self_training"
    assert "DANN" in teacher.options[0]  # not merely the first in the list


def test_overview_names_the_mean_and_the_pretrained_seed(story_zoo):
    from core.zoo import card

    shipped = card("mnist->mnistm/self_training")["metrics"]["target_acc"]
    at = app()
    assert "Adapted (Self-training)" in [m.label for m in at.metric]
    line = next(c.value for c in at.caption if "mean over 3 seeds" in c.value and "pretrained model" in c.value)
    assert "70.0 %" in line and f"**{shipped:.1f} %**" in line and "seed 0" in line
    assert f"pretrained, {shipped:.1f} %" in line  # the name the other pages give it
