"""Start the real app (``streamlit run app.py``) on a free port and wait for pages to settle.

Shared by the browser tests (tests/e2e), the app benchmark and the screenshot script.
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

from tests.support.waiting import wait_quiet, wait_until

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(env: dict, log, timeout: float = 90.0, python: str = sys.executable,
              root: Path = ROOT) -> tuple[subprocess.Popen, str]:
    """Run ``root``/app.py headless with ``python`` on a free port; return (process, base URL) once
    /_stcore/health answers.

    Raises RuntimeError (after killing the process) if it does not come up within ``timeout``.
    """
    port = free_port()
    proc = subprocess.Popen(
        [python, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if proc.poll() is not None:
            raise RuntimeError("streamlit exited before it answered")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        wait_until(healthy, timeout, "streamlit answering /_stcore/health", poll=0.5)
    except (AssertionError, RuntimeError) as err:
        proc.kill()
        raise RuntimeError(f"streamlit did not start: {err}") from None
    return proc, url



BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def find_chromium() -> str | None:
    """Debian's chromium on PATH (``chromium`` or ``chromium-browser``), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def launch_chromium(playwright, chromium: str | None = None):
    """Launch headless chromium through Playwright with the flags this project's machines need.
    Raises RuntimeError naming the fix when there is no chromium on PATH."""
    chromium = chromium or find_chromium()
    if not chromium:
        raise RuntimeError("no chromium on PATH (apt-get install -y chromium)")
    return playwright.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)


def stop_app(proc: subprocess.Popen, grace: float = 15.0) -> None:
    """Ask the server to stop; kill it if it has not within ``grace`` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

def settle(page, timeout: float = 60.0, quiet: float = 0.8) -> None:
    """Wait for the page title, then until Streamlit's running widget has been gone ``quiet`` s."""
    page.wait_for_selector("h1", timeout=timeout * 1000)
    # "Running… / Stop" shows while the script runs
    wait_quiet(lambda: page.locator('[data-testid="stStatusWidget"]').count() > 0, quiet, timeout,
               "the app going quiet")


def pick_scenario(page, scenario) -> None:
    """Choose ``scenario`` (source, target) in the sidebar's Scenario box."""
    from ui.labels import scenario_label

    box = page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name="Scenario")
    box.click()
    page.get_by_role("option", name=scenario_label(scenario), exact=True).click()
    page.get_by_text(f"Scenario {scenario_label(scenario)} on").wait_for(timeout=60_000)  # the page redrawn
    settle(page)


def short_training_run(page, base_url: str, method_label: str = "Self-training", steps: int = 450,
                       timeout: float = 360.0) -> dict:
    """On the Train page: pick ``method_label``, set ``steps``, start, and wait for the result.

    Returns seconds from the click until the run's model joined the session, the target accuracy
    shown, and its gain over the source-only model the page compares with (the metric's delta).
    """
    page.goto(f"{base_url}/train")
    settle(page)
    page.get_by_role("combobox", name="Method").click()
    page.get_by_role("option", name=method_label, exact=True).click()
    settle(page)
    box = page.get_by_label("Steps", exact=True)
    box.fill(str(steps))
    box.press("Tab")
    return start_training(page, timeout)


def start_training(page, timeout: float = 360.0) -> dict:
    """Click the Train page's start button and wait for the run's model to join the session: the
    seconds from the click, the target accuracy shown, its gain over source-only (the delta) and
    the training time the page shows (the run's own seconds, whole seconds)."""
    import re

    page.get_by_role("button", name=re.compile("Start training")).click()
    started = time.perf_counter()
    page.get_by_text("Added to this session's models").wait_for(timeout=timeout * 1000)
    seconds = time.perf_counter() - started
    settle(page)
    card = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text="Target test accuracy")).first
    accuracy = float(card.locator('[data-testid="stMetricValue"]').inner_text().rstrip(" %"))
    delta = card.locator('[data-testid="stMetricDelta"]').inner_text().replace("\u2212", "-")
    gain = float(re.search(r"[+-]?\d+(?:\.\d+)?", delta).group())
    trained = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text="Training time")).first
    training_s = float(trained.locator('[data-testid="stMetricValue"]').inner_text().rstrip(" s"))
    return {"seconds": seconds, "target_acc": accuracy, "gain_pts": gain, "training_s_shown": training_s}


# ------------------------------------------------------------- measuring the server process

def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak resident) of a process, in MB (Linux /proc)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """User + system CPU time a process (or, with ``tid``, one of its threads) has used so far
    (Linux /proc), in seconds. A thread's own figure is under /proc/PID/task/TID: /proc/TID/stat
    sums the whole process."""
    stat = Path(f"/proc/{pid}/task/{tid}/stat" if tid is not None else f"/proc/{pid}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_MONITOR = """() => { window.__rerun = new Promise(resolve => {
  // from the click to the page's last change (Streamlit's status widget only shows for long runs)
  let t0 = null, last = null;
  document.addEventListener('click', () => { t0 = last = performance.now(); }, {once: true, capture: true});
  const seen = new MutationObserver(() => { if (t0 !== null) last = performance.now(); });
  seen.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
  const iv = setInterval(() => {
    if (t0 === null) return;
    if (document.querySelector('[data-testid="stStatusWidget"]')) last = performance.now();
    else if (performance.now() - last > QUIET) {
      clearInterval(iv); seen.disconnect(); resolve((last - t0) / 1000);
    }
  }, 20);
}); }"""


def rerun_seconds(page, action, pid: int | None = None, quiet: float = 0.8) -> tuple[float, float | None]:
    """Run ``action`` (a click that reruns the page); return the seconds from the click until the
    page's last change (its status widget gone and nothing changed for ``quiet`` s, not counted),
    timed in the browser, and the server's CPU seconds meanwhile (None without ``pid``)."""
    page.evaluate(_MONITOR.replace("QUIET", str(int(quiet * 1000))))
    cpu = cpu_seconds(pid) if pid else None
    action()
    wall = float(page.evaluate("window.__rerun"))
    return wall, (round(cpu_seconds(pid) - cpu, 2) if pid else None)


def metric_value(page, label: str) -> str:
    m = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=label)).first
    return m.locator('[data-testid="stMetricValue"]').inner_text()
