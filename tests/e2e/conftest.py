"""Fixtures for the browser tests: a tiny zoo, a Streamlit server on a free port, headless Chromium.

The tests skip (with the reason) when Playwright or a Chromium binary is missing; the CI script
installs Chromium with apt-get.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
from tests.support.appserver import start_app, stop_app  # noqa: E402


@pytest.fixture(scope="session")
def chromium_path() -> str:
    pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("no chromium binary on PATH (apt-get install -y chromium)")
    return path


def _serve(zoo_dir: Path, log_name: str):
    """``streamlit run app.py`` on a free port over ``zoo_dir``; yields its base URL."""
    env = {**os.environ, "SHIFTLAB_ZOO_DIR": str(zoo_dir), "OMP_NUM_THREADS": "1"}
    log_path = ARTIFACTS / log_name
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(log_path, "w")
    try:
        proc, url = start_app(env, log)
    except RuntimeError:
        log.close()
        pytest.fail(f"streamlit did not start; see {log_path}:\n{log_path.read_text()[-2000:]}")
    yield url
    stop_app(proc)
    log.close()


@pytest.fixture(scope="session")
def server(chromium_path, tiny_zoo):
    """The app over a tiny zoo (fast to build; its models are barely trained)."""
    yield from _serve(tiny_zoo, "streamlit-server.log")


@pytest.fixture(scope="module")
def shipped_zoo_server(chromium_path):
    """The app over the zoo shipped in pretrained/ (real baselines to measure a gain against)."""
    if not (ROOT / "pretrained" / "leaderboard.json").exists():
        pytest.skip("no shipped zoo in pretrained/ (python -m core zoo rebuild)")
    yield from _serve(ROOT / "pretrained", "streamlit-server-shipped.log")


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()
