"""The Streamlit app, page by page, through streamlit.testing (no browser).

A tiny zoo (one scenario, three 1-step models) is built once per test session into a temporary
folder; ``SHIFTLAB_ZOO_DIR`` points the app at it, or at an empty folder to check that every page
degrades gracefully without pretrained models. Training tests use a fresh job manager each.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["overview", "playground", "predict", "train", "alignment", "translate", "compare", "distill"]
pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.support.waiting import rerun_until  # noqa: E402


# ------------------------------------------------------------------------------- fixtures

@pytest.fixture(autouse=True)
def navigation_mode(request, monkeypatch):
    """Run the app the way a live server does once any session has called st.navigation.

    streamlit.testing resets Streamlit's "legacy pages/ folder" flag before every run, so with a
    ``pages/`` folder beside app.py each test run would execute the page file alone (the path a
    fresh server takes only for its very first deep link, covered by test_page_runs_on_its_own).
    """
    if request.node.get_closest_marker("legacy_pages_mode"):
        return
    import streamlit.runtime.pages_manager as pm
    import streamlit.testing.v1.app_test as app_test

    class NavigationPagesManager(pm.PagesManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            pm.PagesManager.uses_pages_directory = False

    monkeypatch.setattr(app_test, "PagesManager", NavigationPagesManager)


@pytest.fixture
def with_zoo(tiny_zoo, monkeypatch):
    monkeypatch.setenv("SHIFTLAB_ZOO_DIR", str(tiny_zoo))
    return tiny_zoo


@pytest.fixture
def empty_zoo(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIFTLAB_ZOO_DIR", str(tmp_path / "no-zoo-here"))


@pytest.fixture
def jobs_manager(monkeypatch):
    """A fresh process-wide job manager (one run at a time), emptied after the test."""
    import core.jobs.admission as admission
    from core import jobs

    fresh = jobs.JobManager(max_concurrent=1)
    monkeypatch.setattr(admission, "_manager", fresh)
    yield fresh
    fresh.cancel_all()
    for session in fresh.sessions():
        job = fresh.job_for(session)
        if job is not None:
            job.wait(30)


def app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def goto(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.legacy_pages_mode
@pytest.mark.parametrize("page", PAGES)
def test_page_runs_on_its_own(page, with_zoo):
    """A page file run alone (a fresh server's first deep link) still gets the shared setup."""
    at = app()
    goto(at, page)
    assert at.session_state["scenario"] == ("mnist", "mnistm")
    assert at.sidebar.selectbox(key="scenario") is not None
    links = [e.proto.label for e in at.sidebar.get("page_link")]
    assert links == ["Overview", "Playground", "Predict", "Alignment", "Translate", "Compare", "Train",
                     "Distill"]  # not the file names


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def png(seed: int = 0, size: int = 40) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def button(at: AppTest, label: str):
    found = [b for b in at.button if b.label == label]
    assert found, f"no button {label!r}; buttons: {[b.label for b in at.button]}"
    return found[0]


def session_job(at: AppTest):
    from core import jobs

    return jobs.manager().job_for(at.session_state["run_owner"])


# ------------------------------------------------------------------------------- every page

def test_every_page_without_a_zoo(empty_zoo):
    at = app()
    assert at.title[0].value == "ShiftLab"
    assert "zoo rebuild" in texts(at.info)
    for page in PAGES[1:]:
        goto(at, page)
    goto(at, "predict")
    assert "zoo rebuild" in texts(at.info)


def test_every_page_with_the_zoo(with_zoo):
    at = app()
    labels = [m.label for m in at.metric]
    # the adapted metric, or the recommendation when the validator keeps source-only (a tiny zoo's 3-step models)
    assert "Source only, on MNIST-M" in labels and any(lab.startswith(("Adapted (", "Recommended (")) for lab in labels)
    assert len(at.get("imgs")) >= 2 or at.get("image")  # the two galleries
    for page in PAGES[1:]:
        goto(at, page)
    # the sidebar is shared and keeps its values across pages
    assert at.session_state["scenario"] == ("mnist", "mnistm")


def test_sidebar_settings_are_shared(with_zoo):
    at = app()
    assert at.sidebar.selectbox(key="scenario").value == ("mnist", "mnistm")
    assert at.sidebar.selectbox(key="device").options[-1] == "cpu"
    at.sidebar.number_input(key="seed").set_value(7).run()
    goto(at, "train")
    assert at.session_state["seed"] == 7
    assert "seed 7" in texts(at.caption)
    # (AppTest drops the entrypoint's sidebar elements from its tree after the first run,
    # so later changes go through the session state the sidebar widgets are bound to)
    at.session_state["scenario"] = ("mnist", "ucidigits")
    goto(at, "predict")  # no models for this scenario in the tiny zoo: a message, no crash
    assert "zoo rebuild" in texts(at.info)


# ------------------------------------------------------------------------------- predict

def test_predict_uploads_good_and_broken(with_zoo):
    at = goto(app(), "predict")
    at.file_uploader(key="predict_files").set_value([
        ("one.png", png(1), "image/png"), ("two.png", png(2), "image/png"),
        ("broken.png", b"\x89PNG\r\n\x1a\n but not really", "image/png"),
        ("notes.png", b"just text", "image/png"),
    ]).run()
    assert not at.exception
    warnings = texts(at.warning)
    assert "broken.png" in warnings and "notes.png" in warnings
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Pictures"] == "2"
    assert "Models agree" in metrics
    assert at.get("download_button"), "a CSV download"


def test_predict_samples_with_labels(with_zoo):
    at = goto(app(), "predict")
    at.radio(key="predict_mode").set_value("Samples from the target test set").run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Pictures"] == "16"
    assert "Source-only accuracy" in metrics and "Adapted accuracy" in metrics
    at.slider(key="predict_k").set_value(8).run()
    assert {m.label: m.value for m in at.metric}["Pictures"] == "8"
    button(at, "Draw other samples").click().run()
    assert not at.exception
    at.toggle(key="predict_only_disagree").set_value(True).run()
    assert not at.exception


# ------------------------------------------------------------------------------- train

def test_train_form_follows_each_method(with_zoo):
    """Every method's declared hyperparameters appear with their default and help text."""
    from core.methods import METHODS

    at = goto(app(), "train")
    for method, cls in METHODS.items():
        at.selectbox(key="train_method").set_value(method).run()
        assert not at.exception, method
        for name, h in cls.hyperparameters.items():
            widget = at.get_by_key(f"train_{method}_{name}")
            assert widget.help == h.help, (method, name)
            if h.kind == "model":  # a picker over the zoo's models of this scenario, adapted first;
                # an optional reference (SHOT's source model) starts empty: the method trains its own
                assert widget.value == ("mnist->mnistm/dann" if h.required else ""), (method, name, widget.value)
            else:
                assert widget.value == h.default, (method, name, widget.value)


@pytest.fixture
def demo_zoo(tiny_zoo, tmp_path, monkeypatch):
    """The tiny zoo with a leaderboard that recommends DANN and a shipped demo recipe for it."""
    import json
    import shutil

    from core.training.demo import RECIPES_NAME

    zoo = tmp_path / "demo-zoo"
    shutil.copytree(tiny_zoo, zoo)
    board = json.loads((zoo / "leaderboard.json").read_text())
    board["recommended"] = {"mnist->mnistm": {"method": "dann", "target_acc_mean": 50.0, "target_acc_std": 1.5,
                                              "n_seeds": 3, "source_only_acc_mean": 40.0, "gain": 10.0}}
    (zoo / "leaderboard.json").write_text(json.dumps(board))
    quick = {"steps": 20, "batch_size": 16, "lr": 0.003, "warm_start": True, "hparams": {"domain_weight": 0.5}}
    fuller = {**quick, "steps": 40, "batch_size": 32, "hparams": {"domain_weight": 0.3}}
    (zoo / RECIPES_NAME).write_text(json.dumps({"recipes": {"dann": quick},
                                                "fuller": {"recipes": {"mnist": {"dann": fuller}}}}))
    monkeypatch.setenv("SHIFTLAB_ZOO_DIR", str(zoo))
    return zoo


def test_train_a_tiny_run_to_completion(demo_zoo, jobs_manager):
    """The page starts with the recommended method in its demo recipe, warm-started; the result says
    the gain over source-only in points and how the run compares with the zoo's recommended model."""
    at = goto(app(), "train")
    assert at.selectbox(key="train_method").value == "dann"  # the leaderboard's recommendation
    assert at.number_input(key="train_dann_steps").value == 20  # the demo recipe's
    assert at.select_slider(key="train_dann_batch").value == 16 and at.select_slider(key="train_dann_lr").value == 0.003
    assert at.checkbox(key="train_dann_warm").value is True
    assert "recommendation for this scenario" in texts(at.caption) and not at.info
    assert "Domain weight λ 0.5" in texts(at.caption)  # the recipe's own settings are named
    assert "a quick run, within about 10 s on one CPU core" in texts(at.caption)  # the scenario the app opens on
    button(at, "Start training").click().run()
    assert not at.exception
    assert session_job(at) is not None
    config = session_job(at).snapshot().config
    assert (config.steps, config.batch_size, config.pretrained) == (20, 16, str(demo_zoo / "mnist-mnistm" / "source_only"))
    assert config.hparams["domain_weight"] == 0.5
    rerun_until(at, lambda: session_job(at).done and "Result" in texts(at.subheader))
    assert session_job(at).snapshot().status == "done"
    metrics = {m.label: m for m in at.metric}
    assert metrics["Target test accuracy"].value.endswith("%")
    assert re.fullmatch(r"[+-]\d+\.\d pts", metrics["Target test accuracy"].proto.delta), metrics["Target test accuracy"].proto.delta
    said = texts(at.markdown)
    assert re.search(r"points (over|below) the pretrained source only model", said), said
    assert "The zoo's recommended model, DANN (1 step), reaches 50.0 % ± 1.5 (mean over 3 seeds; the shipped seed" in said
    assert "Added to this session's models" in texts(at.success)
    models = at.session_state["session_models"]
    assert len(models) == 1
    # what the estimate without labels would have said, beside what the labels say; kept on the next rerun
    button(at, "Estimate it without labels").click().run()
    assert not at.exception, [e.value for e in at.exception]
    entry = models[next(iter(models))]
    line = texts(at.caption)
    assert f"The target's labels say {entry.target_acc:.1f} %" in line
    assert re.search(r"Estimated without labels: (right on about \d+ %|an accuracy estimate needs at least)", line), line
    if "right on about" in line:  # and what one would do without labels: keep the run or source-only
        assert re.search(r"Without labels, ShiftLab would call this run (likely worse than|likely better than|about as "
                         r"good as) the pretrained source-only model — about \d+ % against \d+ %", texts(at.markdown))
    at.run()
    assert f"The target's labels say {entry.target_acc:.1f} %" in texts(at.caption)
    assert "Estimate it without labels" not in [b.label for b in at.button]  # asked once, kept
    assert at.get("download_button")
    button(at, "Prepare ONNX").click().run()  # the ONNX file beside the checkpoint zip, built when asked
    assert not at.exception, [e.value for e in at.exception]
    assert "Download ONNX" in [d.proto.label for d in at.get("download_button")]
    # the new model is offered on Predict beside the zoo's recommended one
    goto(at, "predict")
    mine = f"session:{models[next(iter(models))].id}"
    assert any(o.startswith("DANN · your run 1") for o in at.selectbox(key="predict_adapted").options)
    at.selectbox(key="predict_adapted").set_value(mine).run()
    assert at.selectbox(key="predict_adapted").value == mine
    at.radio(key="predict_mode").set_value("Samples from the target test set").run()
    assert {m.label: m.value for m in at.metric}["Pictures"] == "16"
    goto(at, "compare")
    assert "Adapted (DANN): accuracy" in [m.label for m in at.metric]
    goto(at, "distill")  # the session model is a possible teacher
    assert any(o.startswith("DANN · your run 1") for o in at.selectbox(key="distill_distill_teacher").options)
    # its feature map is computed on the spot (PCA here: UMAP takes tens of seconds)
    at.session_state["align_projection"] = "pca"
    at.session_state["align_adapted"] = mine
    goto(at, "alignment")
    assert at.radio(key="align_projection").value == "pca"
    assert [m.label for m in at.metric].count("Proxy A-distance") == 2


def test_train_form_follows_the_recipe_of_the_scenario_in_the_sidebar(demo_zoo):
    """Another scenario has a fuller recipe: the form's steps, batch and settings move to it (the
    widgets do not keep the first scenario's numbers), and back again."""
    at = goto(app(), "train")
    assert at.number_input(key="train_dann_steps").value == 20
    at.session_state["scenario"] = ("mnist", "ucidigits")
    at.run()
    assert not at.exception
    assert at.number_input(key="train_dann_steps").value == 40
    assert at.select_slider(key="train_dann_batch").value == 32
    assert at.get_by_key("train_dann_domain_weight").value == 0.3
    assert "a fuller run than the quick one of the scenario the app opens on, within about 30 s" in texts(at.caption)
    at.session_state["scenario"] = ("mnist", "mnistm")
    at.run()
    assert at.number_input(key="train_dann_steps").value == 20 and at.select_slider(key="train_dann_batch").value == 16


def test_train_keeps_the_method_the_user_picked(demo_zoo):
    at = goto(app(), "train")
    assert at.selectbox(key="train_method").value == "dann"
    at.selectbox(key="train_method").set_value("mmd").run()
    assert at.number_input(key="train_mmd_steps").value == forms_default_steps("mmd")  # its usual settings
    goto(at, "overview")
    goto(at, "train")
    assert at.selectbox(key="train_method").value == "mmd"
    assert "recommendation for this scenario" not in texts(at.caption)


def forms_default_steps(method: str) -> int:
    from core.methods import METHODS

    return METHODS[method].app_steps


def test_train_demo_without_the_shipped_source_only_model(demo_zoo, jobs_manager):
    """A partial zoo: the page says in one line that the warm start is missing, and trains from scratch."""
    import shutil

    shutil.rmtree(demo_zoo / "mnist-mnistm" / "source_only")
    at = goto(app(), "train")
    assert at.selectbox(key="train_method").value == "dann"
    note = texts(at.info)
    assert "No shipped source-only model of mnist" in note and "from scratch" in note and "\n" not in note
    assert at.checkbox(key="train_dann_warm").value is False and at.checkbox(key="train_dann_warm").disabled
    button(at, "Start training").click().run()
    assert session_job(at).snapshot().config.pretrained is None
    rerun_until(at, lambda: session_job(at).done and "Result" in texts(at.subheader))
    assert session_job(at).snapshot().status == "done"
    assert "Target test accuracy" in [m.label for m in at.metric]


def test_train_demo_without_a_zoo(empty_zoo, jobs_manager):
    """No zoo at all: one line says there is no demo recipe; the first unsupervised method is offered as it is."""
    from core.methods import default_method

    at = goto(app(), "train")
    assert at.selectbox(key="train_method").value == default_method()
    assert "No demo recipe" in texts(at.info)
    assert at.number_input(key=f"train_{default_method()}_steps").value == forms_default_steps(default_method())


def test_train_cancel(with_zoo, jobs_manager):
    at = goto(app(), "train")
    at.selectbox(key="train_method").set_value("dann").run()
    at.number_input(key="train_dann_steps").set_value(20000)
    button(at, "Start training").click().run()
    rerun_until(at, lambda: session_job(at).snapshot().step > 0)
    assert "Training…" in texts(at.subheader)
    assert at.get("progress")
    at.button(key="train_cancel").click().run()
    rerun_until(at, lambda: session_job(at).done and "cancelled" in texts(at.info))
    assert session_job(at).snapshot().status == "cancelled"
    assert not at.session_state["session_models"]
    button(at, "Keep this partly trained model").click().run()
    assert len(at.session_state["session_models"]) == 1


def test_train_busy_and_failed(with_zoo, jobs_manager, monkeypatch):
    first, second = goto(app(), "train"), goto(app(), "train")
    first.selectbox(key="train_method").set_value("dann").run()
    first.number_input(key="train_dann_steps").set_value(20000)
    button(first, "Start training").click().run()
    button(second, "Start training").click().run()
    assert "busy" in texts(second.warning).lower()
    first.button(key="train_cancel").click().run()
    session_job(first).wait(30)

    import core.training.engine as engine

    def boom(*args, **kwargs):
        raise ValueError("boom: a broken setting")

    monkeypatch.setattr(engine, "train", boom)
    button(second, "Start training").click().run()
    rerun_until(second, lambda: session_job(second).done and second.error)
    assert "boom" in texts(second.error)
    goto(second, "overview")  # the app is still usable


# ------------------------------------------------------------------------------- the rest

def test_alignment_page(with_zoo):
    at = goto(app(), "alignment")
    assert len(at.get("plotly_chart")) == 2
    labels = [m.label for m in at.metric]
    assert labels.count("Proxy A-distance") == 2 and labels.count("MMD²") == 2
    at.radio(key="align_colour").set_value("class").run()
    assert not at.exception


def test_compare_page(with_zoo):
    at = goto(app(), "compare")
    assert at.dataframe, "the leaderboard"
    board = at.dataframe[0].value
    # the tiny zoo trains three methods: the cells a full rebuild has and this one lacks are said
    assert (board == "not built").any().any() and any("**not built**" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 4  # per-class, two confusion matrices, reliability
    assert any("ECE" in m.label for m in at.metric)
    # the adapted model's accuracy estimated without labels, beside the measured one (or why not)
    assert any(str(c.value).startswith(("Estimated without labels", "No estimate")) for c in at.caption)


def test_distill_page(with_zoo):
    at = goto(app(), "distill")
    assert at.selectbox(key="distill_student").value == "zoo:mnist->mnistm/distill"
    table = at.dataframe[0].value
    assert any(c.startswith("Teacher") for c in table.columns) and any(c.startswith("Student") for c in table.columns)
    assert at.selectbox(key="distill_distill_teacher").value == "mnist->mnistm/dann"


# ------------------------------------------------------------------------------- your pictures: adapt

def digit_png(seed: int, size: int = 48) -> bytes:
    """A dark stroke figure on light paper-like noise (each seed a different picture)."""
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    arr = (200 + rng.integers(0, 40, (size, size, 3))).astype(np.uint8)
    img = Image.fromarray(arr)
    draw = ImageDraw.Draw(img)
    points = [tuple(int(v) for v in rng.integers(size // 5, 4 * size // 5, 2)) for _ in range(4)]
    draw.line(points, fill=(20, 20, 30), width=max(3, size // 10))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def paper_photos(n: int) -> list[tuple[str, bytes]]:
    """``n`` phone-style photos of handwritten digits on paper (core.synth: never trained on)."""
    from core.synth import sample

    out = []
    for i in range(n):
        img, ext, kwargs = sample("paper", i % 10, i, "test")
        buf = io.BytesIO()
        img.save(buf, format="JPEG" if ext == "jpg" else ext.upper(), **kwargs)
        out.append((f"photo{i}.{ext}", buf.getvalue()))
    return out


def upload(at: AppTest, files: list[tuple[str, bytes]]) -> AppTest:
    at.file_uploader(key="predict_files").set_value([(n, d, "image/png") for n, d in files]).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_predict_adapt_to_uploads(with_zoo, tmp_path):
    from ui.universal import universal_path

    weights = universal_path() / "model.safetensors"
    before_hash = sha256(weights)
    at = goto(app(), "predict")
    upload(at, paper_photos(12) + [("broken.png", b"\x89PNG\r\n\x1a\n not a picture")])
    assert "broken.png" in texts(at.warning)
    assert {m.label: m.value for m in at.metric}["Pictures"] == "12"
    assert "Universal" in texts(at.caption), "the universal model is one of the models compared"
    assert at.selectbox(key="predict_tta_model").value == "universal", "the default model for uploads"
    assert "broken.png" in texts(at.caption), "the file left out of the adaptation is named"
    # BN statistics re-estimated on 12 pictures makes the universal model confident on fewer classes:
    # the guard's IM rule keeps the original, says why, and offers nothing to download
    at.selectbox(key="predict_tta_method").set_value("bn_stats").run()
    button(at, "Adapt to these pictures").click().run()
    assert not at.exception, [e.value for e in at.exception]
    kept = at.session_state["predict_tta"]
    assert not kept["adapted"] and len(kept["rows"]) == 12 and kept["summary"]["n_images"] == 12
    warning = texts(at.warning)
    assert "**Kept the original model** (BN statistics, 12 pictures): adapting would have changed" in warning
    assert "sure of fewer classes" in warning, "why, in plain words"
    assert "The guard's check: information maximisation fell" in texts(at.caption), "the statistic behind it"
    assert "Download the adapted model (.zip)" not in [d.proto.label for d in at.get("download_button")]
    # SHOT-IM (the default) keeps the spread over the classes: adapted, before/after, with downloads
    at.selectbox(key="predict_tta_method").set_value("shot_im").run()
    assert "adapt again" in texts(at.caption), "a result is shown only for the settings it was made with"
    button(at, "Adapt to these pictures").click().run()
    assert not at.exception, [e.value for e in at.exception]
    done = at.session_state["predict_tta"]
    assert done["adapted"], texts(at.warning)
    assert len(done["rows"]) == 12 and done["summary"]["n_images"] == 12
    assert "nats" in texts(at.caption), "the guard's statistics, behind the verdict"
    assert "of 12 answers changed" in texts(at.success) and "adapted model is kept because" in texts(at.success)
    captions = texts(at.caption)
    assert "Before" in captions and "After" in captions
    assert "Answers changed" in [m.label for m in at.metric]
    assert "**Adapted** with SHOT-IM to 12 pictures" in texts(at.success)
    downloads = [d.proto.label for d in at.get("download_button")]
    assert "Download the adapted model (.zip)" in downloads and "Download ONNX" not in downloads
    button(at, "Prepare ONNX").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Download ONNX" in [d.proto.label for d in at.get("download_button")]
    from core.checkpoints import load

    (tmp_path / "adapted.zip").write_bytes(at.session_state["predict_tta"]["zip"])
    _, card = load(tmp_path / "adapted.zip")  # a checkpoint the CLI and the app read back
    assert card["tta"]["method"] == "shot_im" and card["tta"]["verdict"] == "adapted"
    assert card["target"] == "uploaded pictures"
    # neither the shipped weights on disk nor the model cached for every session changed
    assert sha256(weights) == before_hash
    import torch
    from core.zoo.refs import load_ref
    from ui.universal import _load_universal

    on_disk, _ = load_ref(str(universal_path()))
    cached, _ = _load_universal(str(universal_path()), weights.stat().st_mtime_ns)
    for (name, a), b in zip(on_disk.state_dict().items(), cached.state_dict().values()):
        assert torch.equal(a, b), name


def test_predict_adapt_needs_enough_pictures(with_zoo):
    at = goto(app(), "predict")
    upload(at, [(f"digit{i}.png", digit_png(i)) for i in range(3)])
    assert {m.label: m.value for m in at.metric}["Pictures"] == "3"
    assert "needs at least 8 pictures" in texts(at.info)
    assert "Adapt to these pictures" not in [b.label for b in at.button]


def test_predict_reads_pictures_automatically_by_default_and_says_how(with_zoo):
    at = goto(app(), "predict")
    assert at.selectbox(key="predict_normalize").value == "auto"
    upload(at, [(f"digit{i}.png", digit_png(i, size=96)) for i in range(4)])
    assert not at.exception, [e.value for e in at.exception]
    said = texts(at.caption)
    assert "Read automatically (no labels):" in said and "more confident" in said  # one plain sentence
    assert "label-free" in said  # the scores behind it, in the expander
    auto = at.dataframe[0].value
    at.selectbox(key="predict_normalize").set_value("none").run()
    plain = at.dataframe[0].value
    at.selectbox(key="predict_normalize").set_value("centre").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "centred like MNIST" in texts(at.caption)
    centred = at.dataframe[0].value
    column = "universal: confidence %"
    assert list(plain["file"]) == list(centred["file"]) == list(auto["file"])
    assert (plain[column] != centred[column]).any(), "centring changes what the models see"
    assert (auto[column] == plain[column]).all() or (auto[column] == centred[column]).all(), \
        "auto reads the batch one of the two ways for each model"


def test_predict_camera_and_drawing_join_the_batch(with_zoo, monkeypatch):
    import ui.inputs as inputs

    at = goto(app(), "predict")
    at.toggle(key="predict_use_camera").set_value(True)
    at.toggle(key="predict_use_canvas").set_value(True).run()  # the real canvas component: no crash
    assert not at.exception, [e.value for e in at.exception]
    assert "No pictures yet" in texts(at.caption)
    # AppTest cannot draw on a component: hand the page a drawing as the canvas would
    stroke = np.zeros((224, 224, 4), np.uint8)
    stroke[40:190, 100:124] = 255
    drawn = inputs.drawing_png(stroke)
    assert inputs.drawing_png(np.zeros((224, 224, 4), np.uint8)) is None, "an empty canvas is no picture"
    monkeypatch.setattr(inputs, "drawing", lambda key: drawn)
    at.run()
    assert {m.label: m.value for m in at.metric}["Pictures"] == "1"
    assert "drawing.png" in at.dataframe[0].value["file"].tolist()
    upload(at, [("one.png", digit_png(1))])
    assert {m.label: m.value for m in at.metric}["Pictures"] == "2"


def test_predict_adapt_a_scenario_model_without_batch_norm(with_zoo):
    """The tiny zoo's models have no BatchNorm: only SHOT-IM is offered, and it adapts them."""
    at = goto(app(), "predict")
    upload(at, paper_photos(8))
    at.selectbox(key="predict_tta_method").set_value("tent").run()
    at.selectbox(key="predict_tta_model").set_value("source only").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="predict_tta_method").options == ["SHOT-IM"]
    assert "adapt BatchNorm layers, which this model has none of" in texts(at.caption)
    button(at, "Adapt to these pictures").click().run()
    assert not at.exception and not at.error, texts(at.error)
    assert at.session_state["predict_tta"]["summary"]["n_images"] == 8
    assert "8 pictures" in texts(at.success) + texts(at.warning)
