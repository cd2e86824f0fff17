"""The upload load test: many large and small pictures into the real app's Predict page, in Chromium.

    python scripts/bench/upload_load.py                      # 30 × 6300×6300 16-bit RGBA PNG + 200 small
    python scripts/bench/upload_load.py --big 3 --small 50 --json out.json

Starts ``streamlit run app.py`` (over the shipped zoo unless ``--zoo`` says otherwise), uploads the
files on the Predict page, waits for the predictions, then clicks a widget twice (each click reruns
the page). Prints one JSON object: the server's resident memory before the upload and its peak
(``VmHWM`` of the server process), the seconds from choosing the files to the predictions, the
seconds each rerun took (and the server's CPU seconds for each), how many pictures were predicted and how many files were named as not
readable. The browser tests (tests/e2e/test_reliability.py) use the same generators.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.support.images import png16_rgba, png16_rgba_idat, small_png  # noqa: E402
from tests.support.appserver import (cpu_seconds, find_chromium, launch_chromium, memory_mb, metric_value,  # noqa: E402
                                     rerun_seconds, settle, start_app, stop_app)


# --------------------------------------------------------------------------- pictures

def write_load(folder: Path, big: int, side: int, small: int) -> list[Path]:
    """``big`` large 16-bit RGBA PNGs and ``small`` small PNGs in ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    idat = png16_rgba_idat(side) if big else b""
    for i in range(big):
        p = folder / f"scan-{i:03d}.png"
        p.write_bytes(png16_rgba(side, f"scan {i}", idat))
        paths.append(p)
    for i in range(small):
        p = folder / f"digit-{i:03d}.png"
        p.write_bytes(small_png(i))
        paths.append(p)
    return paths


# --------------------------------------------------------------------------- measuring

def run_load(page, base_url: str, pid: int, paths: list[Path], reruns: int = 2,
             timeout: float = 900.0) -> dict:
    """Upload ``paths`` on the Predict page of the app at ``base_url`` (server process ``pid``),
    then rerun it ``reruns`` times with the "Show only disagreements" toggle; see the module doc."""
    page.goto(f"{base_url}/predict")
    settle(page, timeout=120)
    before = memory_mb(pid)
    uploader = page.locator('[data-testid="stFileUploader"] input[type="file"]')
    started, cpu = time.perf_counter(), cpu_seconds(pid)
    uploader.set_input_files([str(p) for p in paths])
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=timeout * 1000)
    settle(page, timeout=timeout)
    upload_s, upload_cpu = time.perf_counter() - started - 0.8, cpu_seconds(pid) - cpu
    toggle = page.get_by_text("Show only disagreements", exact=True)
    times = [rerun_seconds(page, toggle.click, pid) for _ in range(reruns)]
    after = memory_mb(pid)
    alerts = page.locator('[data-testid="stAlert"]')
    return {"files": len(paths), "pictures": int(metric_value(page, "Pictures")),
            "warnings": alerts.count(), "rss_before_upload_mb": round(before["VmRSS"], 1),
            "peak_rss_mb": round(after["VmHWM"], 1), "rss_after_mb": round(after["VmRSS"], 1),
            "upload_to_predictions_s": round(upload_s, 2), "upload_server_cpu_s": round(upload_cpu, 2),
            "rerun_s": [round(w, 2) for w, _ in times], "rerun_server_cpu_s": [c for _, c in times]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--big", type=int, default=30, help="large 16-bit RGBA PNGs")
    ap.add_argument("--side", type=int, default=6300, help="their side in pixels")
    ap.add_argument("--small", type=int, default=200, help="small PNGs")
    ap.add_argument("--zoo", default=str(ROOT / "pretrained"))
    ap.add_argument("--reruns", type=int, default=2)
    ap.add_argument("--json", default=None, help="also write the result here")
    args = ap.parse_args()


    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if not chromium:
        print("error: no chromium on PATH (apt-get install -y chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="shiftlab-load-") as tmp:
        started = time.perf_counter()
        paths = write_load(Path(tmp), args.big, args.side, args.small)
        made_s = time.perf_counter() - started
        env = {**os.environ, "SHIFTLAB_ZOO_DIR": args.zoo, "OMP_NUM_THREADS": "1"}
        log = open(Path(tmp) / "server.log", "w")
        proc, url = start_app(env, log)
        try:
            with sync_playwright() as p:
                browser = launch_chromium(p, chromium)
                page = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()
                page.set_default_timeout(600_000)
                result = run_load(page, url, proc.pid, paths, args.reruns)
                browser.close()
        finally:
            stop_app(proc)
            log.close()
        result.update(big=args.big, side=args.side, small=args.small,
                      bytes_uploaded=sum(p.stat().st_size for p in paths), files_made_s=round(made_s, 1))
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
