"""The demo path: the Train page's *default* run, in the real app, on one core.

    python scripts/bench/demo_path.py [--cpus 0] [--repeat 2] [--json FILE]

Starts ``streamlit run app.py`` pinned to ``--cpus`` (what a hosted demo's fraction of a core is
closest to), opens the Train page in headless Chromium, and starts the run the page offers without
changing anything (the default method and its ``app_steps``). Reports the seconds from the click
to the finished model and the target accuracy and gain over source-only that the page shows, for
``--repeat`` fresh sessions; the median seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.appserver import find_chromium, launch_chromium, settle, start_app, start_training, stop_app  # noqa: E402


def default_run(page, url: str, timeout: float = 300.0) -> dict:
    """Start the Train page's default run; seconds from the click until its model joined the session."""
    from core.methods import default_method

    page.goto(f"{url}/train")
    settle(page)
    method = default_method()  # what the page starts with (pages/train.py)
    steps = page.get_by_label("Steps", exact=True).input_value()
    run = start_training(page, timeout)
    return {"method": method, "steps": int(steps), **run, "seconds": round(run["seconds"], 2)}


def main(argv=None) -> int:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cpus", default="0", help="CPUs the server may use (comma-separated)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    chromium = find_chromium()
    if chromium is None:
        print("chromium not found: install Debian's chromium", file=sys.stderr)
        return 1
    cpus = {int(c) for c in args.cpus.split(",") if c.strip()}
    runs = []
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "server.log", "w") as log:
        env = {**os.environ, "OMP_NUM_THREADS": str(len(cpus) or 1)}
        own = os.sched_getaffinity(0)
        os.sched_setaffinity(0, cpus)  # the server inherits it
        try:
            proc, url = start_app(env, log)
        finally:
            os.sched_setaffinity(0, own)
        try:
            with sync_playwright() as pw:
                browser = launch_chromium(pw, chromium)
                for _ in range(args.repeat):
                    page = browser.new_page()  # a fresh session each time
                    runs.append(default_run(page, url))
                    page.close()
                    print(json.dumps(runs[-1]), flush=True)
                browser.close()
        finally:
            stop_app(proc)
    result = {"server_cpus": sorted(cpus), "runs": runs,
              "median_seconds": statistics.median(r["seconds"] for r in runs)}
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
