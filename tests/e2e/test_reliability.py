"""Careless and hostile users against the real app in Chromium: a heavy upload batch must keep the
server's memory and rerun time bounded, a reloaded tab must find its run again, and a closed tab
must give its training slot back within seconds.

The app runs on its own server here (not the shared one), so that its peak memory (``VmHWM`` of
the server process) is this test's, and with ``SHIFTLAB_ORPHAN_S`` small and one training slot.
Numbers land in test-artifacts/reliability.json.
"""

from __future__ import annotations

import io
import json
import os
import re
import time

import pytest
from PIL import Image, ImageDraw

from tests.support.appserver import memory_mb, rerun_seconds, settle, start_app, stop_app
from tests.support.images import png16_rgba, png16_rgba_idat, small_png
from tests.support.waiting import wait_until

from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser

ORPHAN_S = 10         # the server's orphan window here: above a reload's latency on a busy machine
PEAK_LIMIT_MB = 900   # Streamlit Community Cloud gives about 1 GB
RERUN_LIMIT_S = 5.0
RESULTS: dict = {}


@pytest.fixture(scope="module")
def app(chromium_path, tiny_zoo):
    env = {**os.environ, "SHIFTLAB_ZOO_DIR": str(tiny_zoo), "OMP_NUM_THREADS": "1",
           "SHIFTLAB_ORPHAN_S": str(ORPHAN_S), "SHIFTLAB_MAX_JOBS": "1"}
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "streamlit-server-reliability.log"
    with open(log_path, "w") as log:
        try:
            proc, url = start_app(env, log)
        except RuntimeError:
            pytest.fail(f"streamlit did not start; see {log_path}")
        yield proc, url
        stop_app(proc)
    (ARTIFACTS / "reliability.json").write_text(json.dumps(RESULTS, indent=2) + "\n")


def new_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    page = context.new_page()
    page.set_default_timeout(120_000)
    return context, page


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]').first.inner_text()


def big_rgba_png(side: int, seed: int) -> bytes:
    """An 8-bit RGBA PNG of ``side``² pixels (16 MP at 4000): a dark stroke on half-transparent paper."""
    img = Image.new("RGBA", (side, side), (255, 255, 255, 128))
    draw = ImageDraw.Draw(img)
    x = side // 3 + seed * side // 20
    draw.rectangle([x, side // 5, x + side // 10, side * 4 // 5], fill=(20, 20, 20, 255))
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def test_a_heavy_upload_keeps_memory_and_reruns_bounded(app, browser, tmp_path):
    """3 scans of 6300×6300 16-bit RGBA (39.7 MP each: refused from their header), 2 pictures of
    16 MP (decoded, reduced right away) and 120 small ones, all in one batch."""
    proc, url = app
    idat = png16_rgba_idat(6300)
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"scan-{i}.png")
        paths[-1].write_bytes(png16_rgba(6300, f"scan {i}", idat))
    for i in range(2):
        paths.append(tmp_path / f"photo-{i}.png")
        paths[-1].write_bytes(big_rgba_png(4000, i))
    for i in range(120):
        paths.append(tmp_path / f"digit-{i:03d}.png")
        paths[-1].write_bytes(small_png(i))

    context, page = new_page(browser)
    try:
        page.goto(f"{url}/predict")
        settle(page, timeout=120)
        before = memory_mb(proc.pid)
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files([str(p) for p in paths])
        page.locator('[data-testid="stMetric"]').first.wait_for(timeout=300_000)
        settle(page, timeout=300)
        no_exception(page)
        pictures = page.locator('[data-testid="stMetric"]').filter(has_text="Pictures").locator(
            '[data-testid="stMetricValue"]').inner_text()
        assert pictures == "122"
        for i in range(3):  # each refused scan is named with the reason
            alert = page.locator('[data-testid="stAlert"]').filter(has_text=f"scan-{i}.png")
            assert alert.count() == 1 and "too large to decode" in alert.inner_text()
        toggle = page.get_by_text("Show only disagreements", exact=True)
        reruns = [rerun_seconds(page, toggle.click, proc.pid) for _ in range(2)]
        no_exception(page)
        peak = memory_mb(proc.pid)["VmHWM"]
    finally:
        context.close()
    RESULTS["upload"] = {"files": len(paths), "rss_before_mb": round(before["VmRSS"], 1),
                         "peak_rss_mb": round(peak, 1), "rerun_s": [round(w, 2) for w, _ in reruns],
                         "rerun_server_cpu_s": [c for _, c in reruns]}
    assert peak < PEAK_LIMIT_MB, RESULTS["upload"]
    # the faster of two reruns (the other may share the machine's two cores with anything else)
    assert min(w for w, _ in reruns) < RERUN_LIMIT_S, RESULTS["upload"]
    assert min(c for _, c in reruns) < 2.0, RESULTS["upload"]  # nothing is decoded again


def _start_long_run(page, url: str, steps: int = 20000) -> None:
    page.goto(f"{url}/train")
    settle(page)
    box = page.get_by_label("Steps", exact=True)
    box.fill(str(steps))
    box.press("Tab")
    page.get_by_role("button", name=re.compile("Start training")).click()
    _wait_for_steps(page)


def _wait_for_steps(page, timeout_s: float = 120) -> None:
    page.wait_for_function(
        "() => /step [1-9]/.test(document.querySelector('[data-testid=\"stProgress\"]')?.innerText || '')",
        timeout=timeout_s * 1000)


def _cancel(page) -> None:
    page.get_by_role("button", name=re.compile("^.*Cancel$")).click()
    page.get_by_text(re.compile("Run cancelled after")).wait_for(timeout=60_000)


def test_a_reloaded_tab_finds_its_run_and_can_cancel_it(app, browser):
    _, url = app
    context, page = new_page(browser)
    try:
        _start_long_run(page, url)
        assert "run=" in page.url  # the owner token travels in the URL
        page.reload()
        _wait_for_steps(page)  # reattached: the live view is back
        no_exception(page)
        _cancel(page)
    finally:
        context.close()


def test_a_closed_tab_frees_its_slot_within_seconds(app, browser):
    """One slot on the server: a tab starts a long run and is closed; another session can start a
    run once the orphan window (SHIFTLAB_ORPHAN_S) has passed and the run has stopped."""
    _, url = app
    first, page = new_page(browser)
    _start_long_run(page, url)
    first.close()  # the tab goes away without cancelling
    closed = time.perf_counter()

    second, other = new_page(browser)
    try:
        other.goto(f"{url}/train")
        settle(other)
        box = other.get_by_label("Steps", exact=True)
        box.fill("20000")
        box.press("Tab")
        seen = {"busy": False}

        def started() -> bool:
            """One try to start: the progress bar means the slot was free; a refusal says busy."""
            other.get_by_role("button", name=re.compile("Start training")).click()
            settle(other)
            if other.locator('[data-testid="stProgress"]').count():
                return True
            seen["busy"] = seen["busy"] or other.get_by_text(re.compile("The server is busy")).count() > 0
            return False

        wait_until(started, ORPHAN_S + 30, "the closed tab's run letting go of the slot", poll=1.0)
        busy_seen = seen["busy"]
        freed_s = time.perf_counter() - closed
        _wait_for_steps(other)
        no_exception(other)
        _cancel(other)
    finally:
        second.close()
    RESULTS["orphan"] = {"orphan_window_s": ORPHAN_S, "slot_free_after_close_s": round(freed_s, 1),
                         "busy_seen_first": busy_seen}
    assert freed_s < ORPHAN_S + 30
