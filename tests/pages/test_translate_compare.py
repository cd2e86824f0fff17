"""The Translate page (a pixel-level GAN's gallery) and Compare's label-free selection blocks, through
streamlit.testing. A 3-step ``pixel_gan`` checkpoint joins a copy of the tiny zoo; Compare reads a
leaderboard the test writes (the schema core.zoo's rebuild fills), and one without the new keys."""

from __future__ import annotations

import json
import shutil
import time

import pytest

pytest.importorskip("streamlit.testing.v1")

from tests.pages.test_app_pages import app, goto, navigation_mode, texts  # noqa: E402,F401 - navigation_mode: autouse fixture


@pytest.fixture(scope="module")
def gan_zoo(tiny_zoo, tmp_path_factory):
    """The tiny zoo plus mnist->mnistm/pixel_gan (3 steps, one thread)."""
    from core.training.engine import train
    from core.training.recipes import recipe

    root = tmp_path_factory.mktemp("gan-zoo") / "zoo"
    shutil.copytree(tiny_zoo, root)
    config = recipe("pixel_gan", "mnist", "mnistm", steps=3, eval_every=0, device="cpu", threads=1, seed=0)
    train(config, out_dir=root / "mnist-mnistm" / "pixel_gan")
    return root


@pytest.fixture
def gan_env(gan_zoo, monkeypatch):
    monkeypatch.setenv("SHIFTLAB_ZOO_DIR", str(gan_zoo))
    return gan_zoo


@pytest.fixture
def plain_zoo(tiny_zoo, tmp_path, monkeypatch):
    """A fresh copy of the tiny zoo (no generator), its leaderboard free to rewrite and stripped of the
    label-free blocks (an older leaderboard); each test writes the blocks it needs."""
    root = tmp_path / "zoo"
    shutil.copytree(tiny_zoo, root)
    path = root / "leaderboard.json"
    board = json.loads(path.read_text())
    for key in ("recommended", "best_in_hindsight", "selection", "lodo"):
        board.pop(key, None)
    path.write_text(json.dumps(board))
    monkeypatch.setenv("SHIFTLAB_ZOO_DIR", str(root))
    return root


def images(at) -> list[tuple[str, str]]:
    """(caption, url) of every picture on the page; the url names the picture's bytes (a content hash)."""
    out = []
    for element in at.get("image"):
        for img in element.proto.imgs:
            out.append((img.caption, img.url))
    return out


def urls(at, prefix: str) -> list[str]:
    return [u for c, u in images(at) if c.startswith(prefix)]


# ------------------------------------------------------------------------------- translate

def test_translate_gallery_and_noise(gan_env):
    at = goto(app(), "translate")
    assert at.selectbox(key="translate_model").value == "zoo:mnist->mnistm/pixel_gan"
    n = at.slider(key="translate_n").value
    src, trans, real = urls(at, "source "), urls(at, "translated "), urls(at, "MNIST-M ")
    assert len(src) == len(trans) == n and len(real) == 3 * n
    # each row's real target pictures show the source's digit
    captions = [c for c, _ in images(at)]
    for i, c in enumerate(c for c in captions if c.startswith("source ")):
        digit = c.split()[-1]
        row_real = [x for x in captions if x.startswith("MNIST-M ")][3 * i: 3 * i + 3]
        assert all(x.endswith(" " + digit) for x in row_real), (c, row_real)

    at.slider(key="translate_draw").set_value(3).run()  # another z for the same pictures
    assert not at.exception
    assert urls(at, "source ") == src
    redrawn = urls(at, "translated ")
    assert redrawn != trans and len(redrawn) == n
    draws = urls(at, "draw ")
    assert len(draws) == 8 and len(set(draws)) > 1  # one digit under 8 noise draws
    at.slider(key="translate_scale").set_value(0.0).run()  # no noise: every draw is the same picture
    assert len(set(urls(at, "draw "))) == 1
    assert "Mean pixel deviation between draws: 0.0" in texts(at.caption)

    at.slider(key="translate_n").set_value(2).run()
    assert len(urls(at, "source ")) == 2 and len(urls(at, "translated ")) == 2


def test_translate_without_a_generator(plain_zoo):
    at = goto(app(), "translate")
    info = texts(at.info)
    assert "pixel_gan" in info and "Train" in info
    assert not at.get("image")
    [link] = [b for b in at.button if b.key == "translate_train"]
    link.click().run()
    assert not at.exception
    assert at.session_state["train_method"] == "pixel_gan"
    assert at.selectbox(key="train_method").value == "pixel_gan"


def test_translate_offers_session_models(plain_zoo, gan_zoo):
    """Generators trained in this session are offered first: kept in memory (the run folder is deleted
    when the session trains again) or still in the run folder; a model without one is not."""
    from core.checkpoints import load_with_extras
    from ui.state import SessionModel, _extras

    folder = gan_zoo / "mnist-mnistm" / "pixel_gan"
    model, card, extras = load_with_extras(folder)

    class Result:  # what add_session_model keeps of a finished run's method
        method = type("M", (), {"export_modules": lambda self: extras})()

    kept = _extras(Result())
    assert list(kept) == ["generator"]

    def entry(job, checkpoint, extras=None, method="pixel_gan", created=0.0):
        return SessionModel(id=job, method=method, source="mnist", target="mnistm", model=model, card=card,
                            checkpoint=checkpoint, target_acc=11.0, source_acc=12.0, steps=3, seconds=1.0,
                            number=int(job[-1]), created=created, extras=extras or {})

    at = app()
    at.session_state["session_models"] = {
        "job1": entry("job1", str(folder), created=time.time() - 10),
        "job2": entry("job2", None, kept, created=time.time()),        # run folder gone, generator in memory
        "job3": entry("job3", str(plain_zoo / "mnist-mnistm" / "dann"), method="dann", created=time.time() + 1),
    }
    goto(at, "translate")
    picker = at.selectbox(key="translate_model")
    assert picker.value == "session:job2" and len(picker.options) == 2
    assert "your run 2" in picker.options[0] and "your run 1" in picker.options[1]
    assert len(urls(at, "translated ")) == at.slider(key="translate_n").value
    picker.set_value("session:job1").run()
    assert not at.exception and len(urls(at, "translated ")) == at.slider(key="translate_n").value


# ------------------------------------------------------------------------------- compare

POINTS = [  # method, seed, the default validator's score, another validator's, true target accuracy
    ("source_only", 0, 0.10, 0.9, 40.0), ("source_only", 1, 0.12, 0.8, 42.0),
    ("dann", 0, 0.30, 0.7, 55.0), ("dann", 1, 0.25, 0.1, 50.0),
    ("distill", 0, 0.40, 0.3, 58.0), ("distill", 1, 0.20, 0.2, 60.0),
]


def write_board(root, **keys) -> dict:
    path = root / "leaderboard.json"
    board = json.loads(path.read_text())
    board.update(keys)
    path.write_text(json.dumps(board))
    return board


def selection_keys() -> dict:
    return {
        "recommended": {"mnist->mnistm": {"method": "distill", "validator": "snd", "score": 0.4,
                                          "target_acc_mean": 59.0, "source_only_acc_mean": 41.0}},
        "best_in_hindsight": {"mnist->mnistm": {"method": "dann", "target_acc_mean": 62.5}},
        "selection": {"mnist->mnistm": {"validator": "snd", "spearman": 0.83, "points": [
            {"method": m, "seed": s, "score": a, "target_acc": acc, "scores": {"snd": a, "entropy": b}}
            for m, s, a, b, acc in POINTS]}},
        "lodo": {"steps": 300, "seeds": [0], "how": "python -m core lodo", "domains": ["mnist", "mnistm", "syndigits"],
                 "methods": {"dann": {"mnist": 90.0, "mnistm": 40.0, "syndigits": 30.0, "mean": 53.3, "source": 95.0},
                             "source_only": {"mnist": 88.0, "mnistm": 35.0, "syndigits": 28.0, "mean": 50.3,
                                             "source": 96.0}}},
    }


def test_compare_label_free_selection(plain_zoo):
    from core.util.stats import spearman

    write_board(plain_zoo, **selection_keys())
    at = goto(app(), "compare")
    frames = [d.value for d in at.dataframe]
    choice = next(f for f in frames if "recommended (no target labels)" in f.columns)
    row = choice.iloc[0]
    assert row["recommended (no target labels)"] == "Distillation: 59.0 % (+18.0 pts vs source only, by SND)"
    assert row["best in hindsight (chosen with target labels, for reference only)"] == "DANN: 62.5 %"
    assert row["selection gap"] == "3.5 pts"

    assert at.get("vega_lite_chart"), "the score-vs-accuracy scatter"
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    snd = spearman([p[2] for p in POINTS], [p[4] for p in POINTS])
    assert f"ρ = {snd:.2f}" in json.dumps(spec["title"], ensure_ascii=False)
    assert f"ρ = **{snd:.2f}**" in texts(at.caption)
    validator = at.selectbox(key="compare_validator")
    assert validator.value == "snd" and validator.options == ["SND", "Entropy"]
    validator.set_value("entropy").run()
    entropy_rho = spearman([p[3] for p in POINTS], [p[4] for p in POINTS])
    assert entropy_rho != snd
    assert f"ρ = **{entropy_rho:.2f}**" in texts(at.caption)

    lodo = next(f for f in frames if "mean" in f.columns and "MNIST-M" in f.columns)
    assert list(lodo.index) == ["Source only", "DANN"]  # registry order, registry labels
    assert list(lodo.columns) == ["MNIST", "MNIST-M", "SynDigits", "mean", "on its training domains"]
    assert lodo.loc["DANN", "MNIST-M"] == 40.0 and lodo.loc["DANN", "mean"] == 53.3
    # the recommended model is the default adapted one
    assert at.selectbox(key="compare_adapted").value == "zoo:mnist->mnistm/distill"
    assert "✓ recommended" in frames[0].to_string()
    goto(at, "overview")
    assert "Adapted (Distillation)" in [m.label for m in at.metric]
    assert "recommended (no target labels)" in texts(at.caption)


def test_overview_when_source_only_is_recommended(plain_zoo):
    keys = selection_keys()
    keys["recommended"]["mnist->mnistm"]["method"] = "source_only"
    write_board(plain_zoo, **keys)
    at = app()
    assert "Recommended (Source only)" in [m.label for m in at.metric]
    assert "recommended (no target labels)" in texts(at.caption)
    goto(at, "compare")  # nothing adapted is recommended: the first adapted method is the default
    assert at.selectbox(key="compare_adapted").value == "zoo:mnist->mnistm/dann"


def test_compare_without_the_new_keys(plain_zoo):
    at = goto(app(), "compare")
    info = texts(at.info)
    assert "no label-free recommendation" in info
    assert "no validator scores" in info
    assert "no leave-one-domain-out" in info
    assert at.selectbox(key="compare_adapted").value == "zoo:mnist->mnistm/dann"  # the first adapted method


def test_compare_one_validator_and_few_points(plain_zoo):
    keys = selection_keys()
    keys["selection"]["mnist->mnistm"]["points"] = [
        {"method": "dann", "seed": 0, "score": 0.3, "target_acc": 55.0},
        {"method": "distill", "seed": 0, "score": 0.4, "target_acc": 58.0}]
    del keys["lodo"]
    write_board(plain_zoo, **keys)
    at = goto(app(), "compare")
    assert not [s for s in at.selectbox if s.key == "compare_validator"]  # only one validator: no picker
    assert "not defined" in texts(at.caption)  # two points: no rank correlation
    assert "no leave-one-domain-out" in texts(at.info)


def test_compare_names_the_runs_that_failed(plain_zoo):
    write_board(plain_zoo, build={"failed": {"mnist->mnistm": {"dann": [
        {"seed": 2, "error": "TrainingError: the loss diverged at step 40"}]}}})
    at = goto(app(), "compare")
    shown = texts(at.caption)
    assert "runs that failed" in shown and "DANN seed 2: TrainingError: the loss diverged at step 40" in shown
