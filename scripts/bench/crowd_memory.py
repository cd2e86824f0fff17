"""The crowd: the server's peak memory while one tab trains (and is reloaded mid-run) and another
uploads 30 huge and 200 small pictures, then every page is visited — what a hosted demo must fit in.

    python scripts/bench/crowd_memory.py                        # 30 × 6300² 16-bit PNG + 200 small
    python scripts/bench/crowd_memory.py --python /tmp/cpuvenv/bin/python --json out.json

Starts ``streamlit run app.py`` over the shipped zoo with ``--python`` (default: this interpreter;
another venv's measures another install, e.g. the CPU build of torch), one intra-op thread as the
app sets. Tab A starts the Train page's default run and is reloaded while it trains; tab B uploads
the pictures on Predict (scripts/bench/upload_load.py's files and steps); tab A waits for its run's
model and then opens every page of the navigation. Prints one JSON object: the server's resident
memory after start-up, after the first page, its peak (``VmHWM``) and at the end, in MB, with
torch's version and the seconds each part took.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from scripts.bench.upload_load import run_load, write_load  # noqa: E402
from tests.support.appserver import find_chromium, launch_chromium, memory_mb, settle, start_app, stop_app  # noqa: E402


def page_paths() -> list[str]:
    from ui.shell import HOME, NAVIGATION

    return ["" if p == HOME else Path(p[0]).stem for pages in NAVIGATION.values() for p in pages]


def say(what: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)


def crowd(browser, url: str, pid: int, paths: list[Path], steps: int | None) -> dict:
    out: dict = {}
    a = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()
    a.set_default_timeout(600_000)
    a.goto(f"{url}/")
    settle(a, timeout=180)
    out["rss_after_first_page_mb"] = round(memory_mb(pid)["VmRSS"], 1)
    a.goto(f"{url}/train")
    settle(a, timeout=180)
    if steps:
        box = a.get_by_label("Steps", exact=True)
        box.fill(str(steps))
        box.press("Tab")
        settle(a)
    started = time.perf_counter()
    a.get_by_role("button", name=re.compile("Start training")).click()
    a.locator('[data-testid="stProgress"]').first.wait_for(timeout=300_000)  # the run is under way
    time.sleep(3)
    out["rss_run_started_mb"] = round(memory_mb(pid)["VmRSS"], 1)
    say("training; reloading its tab")
    a.reload()  # the tab reloaded mid-run finds its run again
    settle(a, timeout=180)
    say("uploading in a second tab")
    b = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()
    b.set_default_timeout(900_000)
    out["upload"] = run_load(b, url, pid, paths, reruns=0)  # the reruns are upload_load.py's to time
    say(f"uploaded: {out['upload']['pictures']} pictures; waiting for the run")
    a.bring_to_front()
    a.get_by_role("button", name=re.compile("Start training")).wait_for(timeout=60_000)
    a.wait_for_function("() => !document.querySelector('[data-testid=\"stProgress\"]')", timeout=900_000)
    out["run_s"] = round(time.perf_counter() - started, 1)
    out["rss_after_run_mb"] = round(memory_mb(pid)["VmRSS"], 1)
    out["peak_before_pages_mb"] = round(memory_mb(pid)["VmHWM"], 1)
    out["rss_after_page_mb"] = {}
    say("visiting every page")
    for path in page_paths():
        a.goto(f"{url}/{path}")
        settle(a, timeout=300)
        out["rss_after_page_mb"][path or "overview"] = round(memory_mb(pid)["VmRSS"], 1)
    out["pages"] = len(page_paths())
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=sys.executable, help="the interpreter (venv) that runs the server")
    ap.add_argument("--big", type=int, default=30, help="huge 16-bit RGBA PNGs (refused from their header)")
    ap.add_argument("--side", type=int, default=6300)
    ap.add_argument("--small", type=int, default=200)
    ap.add_argument("--steps", type=int, default=None, help="the training run's steps (default: the page's)")
    ap.add_argument("--zoo", default=str(ROOT / "pretrained"))
    ap.add_argument("--root", default=str(ROOT), help="the checkout whose app.py is served (e.g. a git worktree "
                                                      "of another commit, to compare)")
    ap.add_argument("--json", default=None, help="also write the result here")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if not chromium:
        print("error: no chromium on PATH (apt-get install -y chromium)", file=sys.stderr)
        return 2
    torch_version = subprocess.run([args.python, "-c", "import torch; print(torch.__version__)"],
                                   capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="shiftlab-crowd-") as tmp:
        paths = write_load(Path(tmp) / "files", args.big, args.side, args.small)
        env = {**os.environ, "SHIFTLAB_ZOO_DIR": args.zoo, "OMP_NUM_THREADS": "1"}
        log = open(Path(tmp) / "server.log", "w")
        proc, url = start_app(env, log, timeout=120.0, python=args.python, root=Path(args.root))
        try:
            started = memory_mb(proc.pid)
            with sync_playwright() as p:
                browser = launch_chromium(p, chromium)
                result = crowd(browser, url, proc.pid, paths, args.steps)
                browser.close()
            end = memory_mb(proc.pid)
        finally:
            stop_app(proc)
            log.close()
    result = {"torch": torch_version, "python": args.python, "root": args.root, "rss_after_start_mb": round(started["VmRSS"], 1),
              **result, "peak_rss_mb": round(end["VmHWM"], 1), "rss_end_mb": round(end["VmRSS"], 1),
              "big": args.big, "side": args.side, "small": args.small}
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
