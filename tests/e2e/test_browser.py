"""End to end in a real headless Chromium: every page, uploads, and training runs.

Run with ``pytest -m browser`` (they are part of the default run too when Chromium is there).
Screenshots land in test-artifacts/ (gitignored).
"""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from tests.support.appserver import pick_scenario, settle, short_training_run, start_training

from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser

PAGES = {"": "ShiftLab", "playground": "Playground", "predict": "Predict", "alignment": "Alignment", "compare": "Compare",
         "train": "Train", "distill": "Distill"}


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]').first.inner_text()


def metric(page, label: str) -> str:
    m = page.locator('[data-testid="stMetric"]').filter(has=page.locator(
        '[data-testid="stMetricLabel"]', has_text=label)).first
    return m.locator('[data-testid="stMetricValue"]').inner_text()


def png_bytes(seed: int) -> bytes:
    """A white digit-like blob on black, 64×64."""
    rng = np.random.default_rng(seed)
    arr = np.zeros((64, 64, 3), np.uint8)
    x, y = rng.integers(16, 40, 2)
    arr[y:y + 24, x:x + 8] = 255
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_every_page(server, page):
    for path, title in PAGES.items():
        page.goto(f"{server}/{path}")
        settle(page)
        no_exception(page)
        assert page.locator("h1").first.inner_text().strip() == title
        # the shared sidebar is on every page
        assert page.locator('[data-testid="stSidebar"]').get_by_text("Scenario").count() >= 1
        shot(page, f"page-{path or 'overview'}")


def test_sidebar_navigation_keeps_settings(server, page):
    page.goto(server)
    settle(page)
    seed = page.locator('[data-testid="stSidebar"]').get_by_label("Seed", exact=True)
    seed.fill("3")
    seed.press("Enter")
    settle(page)
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Train").click()
    settle(page)
    assert page.locator("h1").first.inner_text().strip() == "Train"
    assert page.get_by_text(re.compile(r"with seed 3")).count() >= 1
    assert page.locator('[data-testid="stSidebar"]').get_by_label("Seed", exact=True).input_value() == "3"


def test_upload_pictures_and_predict(server, page):
    page.goto(f"{server}/predict")
    settle(page)
    files = [{"name": f"digit-{i}.png", "mimeType": "image/png", "buffer": png_bytes(i)} for i in range(3)]
    files.append({"name": "broken.png", "mimeType": "image/png", "buffer": b"\x89PNG\r\n\x1a\nnot really"})
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(files)
    page.wait_for_selector('[data-testid="stMetric"]')
    settle(page)
    no_exception(page)
    assert metric(page, "Pictures") == "3"
    warning = page.locator('[data-testid="stAlert"]').filter(has_text="broken.png")
    assert warning.count() == 1 and "could not be read" in warning.inner_text()
    assert page.get_by_text("Download predictions (CSV)").count() == 1
    shot(page, "predict-uploads")
    # samples from the target test set, with labels: accuracy is shown
    page.get_by_text("Samples from the target test set", exact=True).click()
    settle(page)
    assert metric(page, "Pictures") == "16"
    assert metric(page, "Adapted accuracy").endswith("%")
    shot(page, "predict-samples")


def test_alignment_click_shows_the_picture(server, page):
    page.goto(f"{server}/alignment")
    settle(page)
    charts = page.locator('[data-testid="stPlotlyChart"]')
    charts.nth(1).wait_for()
    assert charts.count() == 2
    point = charts.first.locator(".scatterlayer .point").first
    point.wait_for()
    box = point.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    hover = charts.first.locator(".hoverlayer .hovertext")
    hover.wait_for()
    hovered = re.search(r"#(\d+)", hover.text_content()).group(1)  # SVG: no inner_text
    page.mouse.click(x, y)
    shown = page.get_by_text(re.compile(r"test picture #\d+"))
    shown.wait_for(timeout=30_000)
    settle(page)
    no_exception(page)
    # the picture is the clicked dot's (the one the hover label names)
    assert f"test picture #{hovered} " in shown.inner_text()
    shot(page, "alignment-clicked")


def _set_steps(page, steps: int) -> None:
    box = page.get_by_label("Steps", exact=True)
    box.fill(str(steps))
    box.press("Tab")


def _progress_step(page) -> int:
    """The step the Train page's progress bar shows now."""
    text = page.locator('[data-testid="stProgress"]').first.inner_text()
    found = re.search(r"step (\d+)", text)
    return int(found.group(1)) if found else 0


def _pick_method(page, label: str) -> None:
    page.get_by_role("combobox", name="Method").click()
    page.get_by_role("option", name=label, exact=True).click()
    settle(page)


def test_train_cancel_then_finish(server, page):
    page.goto(f"{server}/train")
    settle(page)
    _pick_method(page, "DANN")
    _set_steps(page, 20000)
    page.get_by_role("button", name=re.compile("Start training")).click()
    page.wait_for_selector('[data-testid="stProgress"]', timeout=60_000)
    page.wait_for_function(
        "() => /step [1-9]/.test(document.querySelector('[data-testid=\"stProgress\"]')?.innerText || '')",
        timeout=60_000)
    step = _progress_step(page)
    page.wait_for_function(  # two more refreshes of the live view, so its curves are drawn
        "(s) => +(/step (\\d+)/.exec(document.querySelector('[data-testid=\"stProgress\"]')?.innerText || '')"
        " || [0, 0])[1] > s", arg=step + 2, timeout=60_000)
    shot(page, "train-running")
    page.get_by_role("button", name=re.compile("^.*Cancel$")).click()
    page.get_by_text(re.compile("Run cancelled after")).wait_for(timeout=60_000)
    no_exception(page)
    shot(page, "train-cancelled")

    _set_steps(page, 40)
    page.get_by_role("button", name=re.compile("Start training")).click()
    page.get_by_text("Added to this session's models").wait_for(timeout=120_000)
    settle(page)
    no_exception(page)
    assert metric(page, "Target test accuracy").endswith("%")
    assert page.get_by_text("Download checkpoint (.zip with model card)").count() >= 1
    shot(page, "train-done")

    # the new model is offered on Predict
    page.locator('[data-testid="stSidebar"]').get_by_role("link", name="Predict").click()
    settle(page)
    page.get_by_role("combobox", name="Adapted model").click()
    page.get_by_role("option", name=re.compile(r"^DANN · your run 1 ")).click()
    settle(page)
    chosen = page.get_by_role("combobox", name="Adapted model").input_value()
    assert chosen.startswith("DANN · your run 1"), chosen


def test_the_default_run_shows_the_recommended_method_working(shipped_zoo_server, page):
    """The Train page as a visitor meets it: the leaderboard's recommended method in its demo recipe;
    started without changing anything, its result shows the gain over source-only as "+N pts" and
    says how it compares with the zoo's recommended model. How long it takes is a benchmark
    (scripts/bench/demo_path.py), not a test."""
    from core.methods import METHODS
    from core.training.demo import demo_for, reference

    demo = demo_for("mnist", "mnistm")
    recommended = reference("mnist", "mnistm")["recommended"]["method"]  # the zoo's, maybe too slow to demo
    page.goto(f"{shipped_zoo_server}/train")
    settle(page)
    assert page.get_by_role("combobox", name="Method").input_value() == METHODS[demo.method].label
    assert int(page.get_by_label("Steps", exact=True).input_value()) == demo.steps
    assert page.get_by_text(demo.why).count() >= 1  # why this method (the recommendation, or the watchable one)
    run = start_training(page)
    no_exception(page)
    shot(page, "train-default-run")
    (ARTIFACTS / "default-run.json").write_text(json.dumps(run))
    card = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text="Target test accuracy")).first
    delta = card.locator('[data-testid="stMetricDelta"]').inner_text().strip()
    assert re.fullmatch(r"\+\d+(\.\d)? pts", delta), delta
    assert run["gain_pts"] >= 10, f"the default run gained only {run['gain_pts']:+.1f} points: {run}"
    said = page.locator('[data-testid="stMarkdown"]').filter(has_text="The zoo's recommended model").first.inner_text()
    assert (METHODS[recommended].short_label or METHODS[recommended].label) in said and "of the shipped model's gain" in said, said
    # what a user would do without labels: the run's estimate against the source-only model's
    page.get_by_role("button", name="Estimate it without labels").click()
    verdict = page.get_by_text("Without labels, ShiftLab would call this run")
    verdict.wait_for(timeout=60_000)
    no_exception(page)
    assert "than the pretrained source-only model" in verdict.inner_text() or "as good as" in verdict.inner_text()


def test_the_train_form_follows_the_recipe_of_the_scenario_picked_in_the_sidebar(shipped_zoo_server, page):
    """Another scenario's demo may be the same method in a fuller recipe (core.training.demo.tier):
    the form's steps follow the sidebar there and back. In a browser, which sends every widget's
    last value with each rerun, a form that only forgot the old values kept them."""
    from core.training.demo import demo_for
    from core.zoo import SCENARIOS

    first = demo_for(*SCENARIOS[0])
    other = next((s for s in SCENARIOS[1:] if demo_for(*s).method == first.method and demo_for(*s).steps != first.steps),
                 None)
    if other is None:
        pytest.skip("no other scenario's demo trains the first one's method in another recipe")
    page.goto(f"{shipped_zoo_server}/train")
    settle(page)
    steps = page.get_by_label("Steps", exact=True)
    assert int(steps.input_value()) == first.steps
    pick_scenario(page, other)
    assert int(steps.input_value()) == demo_for(*other).steps
    assert page.get_by_text(f"within about {demo_for(*other).about_s} s on one CPU core").count() >= 1
    pick_scenario(page, SCENARIOS[0])
    assert int(steps.input_value()) == first.steps
    no_exception(page)


def test_a_short_run_shows_a_real_gain(shipped_zoo_server, page):
    """Self-training, 450 steps of MNIST → MNIST-M started from the Train page: at least 10 points
    above the shipped source-only model it is compared with (measured: 76.2 % vs 41.6 %). How long
    it takes is a benchmark (scripts/bench/bench_app.py: browser_short_run_s, target ≤ 60 s), not a test:
    the run's time is only written to test-artifacts/short-run.json here."""
    page.goto(f"{shipped_zoo_server}/train")  # a fresh server's first visit is a deep link
    settle(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert sidebar.get_by_role("link", name="Overview").is_visible()  # the app's navigation, not file names
    assert not page.locator('[data-testid="stSidebarNav"]').is_visible()
    run = short_training_run(page, shipped_zoo_server, "Self-training", steps=450)
    no_exception(page)
    shot(page, "train-gain")
    (ARTIFACTS / "short-run.json").write_text(json.dumps(run))
    assert run["gain_pts"] >= 10, f"only {run['gain_pts']:+.1f} points over the shipped source-only model: {run}"
