"""Fixtures for the browser tests: a tiny zoo, a Streamlit server on a free port, headless Chromium.

The tests skip (with the reason) when Playwright or a Chromium binary is missing; the CI script
installs Chromium with apt-get.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("no chromium binary on PATH (apt-get install -y chromium)")
    return path


@pytest.fixture(scope="session")
def e2e_zoo(tmp_path_factory):
    from core import zoo

    out = tmp_path_factory.mktemp("e2e-zoo")
    code = zoo.rebuild(tiny=True, steps=1, scenarios=[("mnist", "mnistm")],
                       methods=["source_only", "dann", "distill"], out_dir=out, log=lambda *a, **k: None)
    assert code == 0
    return out


@pytest.fixture(scope="session")
def server(chromium_path, e2e_zoo):
    """``streamlit run app.py`` on a free port; yields its base URL."""
    port = _free_port()
    env = {**os.environ, "SHIFTLAB_ZOO_DIR": str(e2e_zoo), "OMP_NUM_THREADS": "1"}
    log_path = ARTIFACTS / "streamlit-server.log"
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            pytest.fail(f"streamlit did not start; see {log_path}:\n{log_path.read_text()[-2000:]}")
        time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


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
