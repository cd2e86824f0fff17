"""The demo path: the Train page's *default* run, in the real app, on one core.

    python scripts/bench/demo_path.py [--cpus 0] [--repeat 2] [--scenarios all] [--browser-nice 19] [--json FILE]

Starts ``streamlit run app.py`` pinned to ``--cpus`` (what a hosted demo's fraction of a core is
closest to), opens the Train page in headless Chromium on the other CPUs (a hosted app's visitor
browses on their own machine; on a one-CPU machine it shares the server's), picks each scenario in
the sidebar and starts the run the page offers without changing anything (the leaderboard's
recommended method, or the best-scored one with a demo recipe, in its demo recipe:
core.training.demo). Reports, per run, the seconds from the click to the finished model, the steps
and steps per second, the target accuracy and gain over source-only that the page shows, and the
share of the zoo's recommended model's gain (the leaderboard's mean gain over seeds) it reached;
per scenario the median seconds; the machine's load average before and after (a shared machine
makes the seconds noisy, the accuracies not); and where the server's CPU went during each run — the
training thread, and every thread that lived through the run (the live view's script runs, the web
server) — read from /proc (:func:`cpu_split`).
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

from tests.support.appserver import (cpu_seconds, find_chromium, launch_chromium, pick_scenario, settle, start_app,  # noqa: E402
                                     start_training, stop_app)


def default_run(page, url: str, scenario=None, timeout: float = 300.0, server_pid: int | None = None) -> dict:
    """Start the Train page's default run (of ``scenario``, picked in the sidebar; else the app's
    first); seconds from the click until its model joined the session, and (with ``server_pid``)
    where the server's CPU went meanwhile (:func:`cpu_split`)."""
    from core.training.demo import demo_for
    from core.zoo import SCENARIOS

    page.goto(f"{url}/train")
    settle(page)
    scenario = tuple(scenario or SCENARIOS[0])
    if scenario != tuple(SCENARIOS[0]):
        pick_scenario(page, scenario)
    demo = demo_for(*scenario)  # what the page offers (pages/train.py)
    method = page.get_by_role("combobox", name="Method").input_value()
    steps = int(page.get_by_label("Steps", exact=True).input_value())
    before = server_cpu(server_pid) if server_pid else None
    run = start_training(page, timeout)
    if server_pid:
        run.update(cpu_split(before, server_cpu(server_pid)))
    return {"scenario": "->".join(scenario), "method": demo.method, "method_shown": method, "tier": demo.tier,
            "steps": steps,
            "warm_start": demo.warm_start is not None, **run, "seconds": round(run["seconds"], 2),
            "steps_per_s_click_to_result": round(steps / run["seconds"], 2)}


def server_cpu(pid: int) -> dict:
    """CPU seconds of process ``pid`` so far (``total``: every thread it ever ran, ended ones
    included) and of each of its living threads (``threads``, by thread id)."""
    threads = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            threads[int(task.name)] = cpu_seconds(pid, int(task.name))
        except OSError:  # the thread ended meanwhile
            continue
    return {"total": cpu_seconds(pid), "threads": threads}


def cpu_split(before: dict, after: dict) -> dict:
    """Where the server's CPU went during a run: the threads that lived through it (the script runs
    of the live view, the web server, the watchdog) and the rest — the training thread, which ends
    with its run."""
    total = after["total"] - before["total"]
    lasting = sum(t - before["threads"][tid] for tid, t in after["threads"].items() if tid in before["threads"])
    return {"server_cpu_s": round(total, 2), "training_thread_cpu_s": round(total - lasting, 2),
            "other_threads_cpu_s": round(lasting, 2)}


def against_recommended(run: dict) -> dict:
    """The run's gain as a share of the zoo's recommended model's mean gain over seeds."""
    from core.zoo import leaderboard

    rec = (leaderboard().get("recommended") or {}).get(run["scenario"]) or {}
    gain = rec.get("gain")
    return {"recommended": rec.get("method"), "recommended_gain_mean": gain,
            "share_of_recommended_gain": round(run["gain_pts"] / gain, 3) if gain else None}


def cpu_model() -> str:
    """The processor's model name, as the engine's speed cache names it."""
    from core.training.speed import machine

    return machine()["cpu"]


def main(argv=None) -> int:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cpus", default="0", help="CPUs the server may use (comma-separated)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--scenarios", default="first",
                    help="'first' (the app's default scenario), 'all' (the shipped ones) or keys like mnist->mnistm,…")
    ap.add_argument("--browser-nice", type=int, default=0, metavar="N",
                    help="run the browser (and this driver) at this niceness: on a machine whose every CPU "
                         "the server may use, 19 stands in for a visitor browsing on their own machine")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    from core.data import Scenario
    from core.zoo import SCENARIOS

    if args.scenarios == "first":
        scenarios = [SCENARIOS[0]]
    elif args.scenarios == "all":
        scenarios = list(SCENARIOS)
    else:
        try:
            scenarios = [Scenario.parse(k) for k in args.scenarios.split(",") if k.strip()]
        except ValueError as err:
            ap.error(f"--scenarios: {err}; shipped: {', '.join(s.key for s in SCENARIOS)}")
    chromium = find_chromium()
    if chromium is None:
        print("chromium not found: install Debian's chromium", file=sys.stderr)
        return 1
    cpus = {int(c) for c in args.cpus.split(",") if c.strip()}
    runs = []
    load_before = list(os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "server.log", "w") as log:
        env = {**os.environ, "OMP_NUM_THREADS": str(len(cpus) or 1)}
        own = os.sched_getaffinity(0)
        browser_cpus = (own - cpus) or own  # a hosted app's visitor browses on their own machine
        os.sched_setaffinity(0, cpus)  # the server inherits it
        try:
            proc, url = start_app(env, log)
        finally:
            os.sched_setaffinity(0, browser_cpus)  # the browser launched below inherits this
            if args.browser_nice:
                os.nice(args.browser_nice)  # and this
        try:
            with sync_playwright() as pw:
                browser = launch_chromium(pw, chromium)
                for scenario in scenarios:
                    for _ in range(args.repeat):
                        page = browser.new_page()  # a fresh session each time
                        run = default_run(page, url, scenario, server_pid=proc.pid)
                        runs.append({**run, **against_recommended(run), "loadavg_1min": os.getloadavg()[0]})
                        page.close()
                        print(json.dumps(runs[-1]), flush=True)
                browser.close()
        finally:
            stop_app(proc)
    os.sched_setaffinity(0, own)
    by_scenario = {}
    for run in runs:
        by_scenario.setdefault(run["scenario"], []).append(run)
    result = {"server_cpus": sorted(cpus), "browser_cpus": sorted(browser_cpus), "browser_nice": args.browser_nice, "loadavg_before": load_before,
              "loadavg_after": list(os.getloadavg()),
              "cpu": cpu_model(), "command": "python scripts/bench/demo_path.py " + " ".join(argv or sys.argv[1:]),
              "runs": runs,
              "median_seconds": {k: statistics.median(r["seconds"] for r in v) for k, v in by_scenario.items()},
              "median_gain_pts": {k: statistics.median(r["gain_pts"] for r in v) for k, v in by_scenario.items()}}
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
