"""Adapting to uploaded pictures in the real app, in Chromium, with the server on one CPU core.

    python scripts/bench/adapt_load.py                         # 100 paper photos, SHOT-IM, server on CPU 0
    python scripts/bench/adapt_load.py --n 100 --method shot_im,bn_stats,tent --onnx --cpus 0 --json out.json

Writes ``--n`` phone-style photos of handwritten digits on paper (core.synth: a domain no
model was trained on, 96×96 JPEG), starts ``streamlit run app.py`` pinned to ``--cpus`` (the
affinity the server inherits, as ``taskset -c 0 streamlit run app.py`` would set; Chromium and this
script are not pinned), uploads them on Predict, opens "Adapt to these pictures" and clicks the
button for each method in ``--method``. Prints one JSON object: per method the seconds from the
click until the verdict is on screen (timed here, around the browser) and the server's CPU seconds
meanwhile, the verdict; the seconds from choosing the files to the predictions; with ``--onnx``, the seconds
from "Prepare ONNX" to the download button; and the server's resident memory before the upload,
its peak (``VmHWM``) after the upload, after each step and at the end.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.support.appserver import (cpu_seconds, find_chromium, launch_chromium, memory_mb, metric_value,  # noqa: E402
                                     settle, start_app, stop_app)


def write_photos(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` paper photos (classes in turn) as files in ``folder``."""
    from core.synth import sample

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        img, ext, kwargs = sample("paper", i % 10, i, "test", seed)
        buf = io.BytesIO()
        img.save(buf, format="JPEG" if ext == "jpg" else ext.upper(), **kwargs)
        path = folder / f"photo-{i:03d}.{ext}"
        path.write_bytes(buf.getvalue())
        paths.append(path)
    return paths


def pick(page, label: str, option: str) -> None:
    """Choose ``option`` in the selectbox labelled ``label``."""
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def adapt_once(page, pid: int, n: int, timeout: float) -> dict:
    """Click "Adapt to these pictures"; wait for the verdict; seconds, server CPU seconds, verdict."""
    verdict = page.locator('[data-testid="stAlert"]').filter(has_text=f"{n} pictures")
    cpu, started = cpu_seconds(pid), time.perf_counter()
    page.get_by_role("button", name="Adapt to these pictures").click()
    verdict.first.wait_for(timeout=timeout * 1000)
    seconds = time.perf_counter() - started
    text = verdict.first.inner_text()
    settle(page, timeout=timeout)
    return {"click_to_verdict_s": round(seconds, 2), "server_cpu_s": round(cpu_seconds(pid) - cpu, 2),
            "verdict": "adapted" if "Adapted" in text else "kept the original",
            "message": " ".join(text.split())}


def run(page, base_url: str, pid: int, paths: list[Path], methods: list[str], with_onnx: bool = False,
        centre: bool = False, timeout: float = 600.0) -> dict:
    from core.tta import DEFAULT_METHOD, TTA_METHODS

    page.goto(f"{base_url}/predict")
    settle(page, timeout=120)
    if centre:  # the "Read the pictures" choice: centred like MNIST instead of automatically
        page.get_by_text("Automatically (recommended)", exact=True).click()
        page.get_by_role("option", name="Centred like MNIST").click()
        settle(page)
    before = memory_mb(pid)
    started = time.perf_counter()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files([str(p) for p in paths])
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=timeout * 1000)
    settle(page, timeout=timeout)
    upload_s = time.perf_counter() - started - 0.8  # settle waits 0.8 s of quiet
    pictures = int(metric_value(page, "Pictures"))
    uploaded = memory_mb(pid)
    page.get_by_role("tab", name="Adapt to these pictures").click()
    results = {}
    for method in methods:
        label = TTA_METHODS[method].label
        if method != methods[0] or method != DEFAULT_METHOD:
            pick(page, "Method", label)
        results[method] = adapt_once(page, pid, pictures, timeout)
        results[method]["peak_rss_mb_so_far"] = round(memory_mb(pid)["VmHWM"], 1)
    onnx = None
    if with_onnx:  # the ONNX export of the last adapted model (imports onnx, onnxruntime)
        cpu, started = cpu_seconds(pid), time.perf_counter()
        page.get_by_role("button", name="Prepare ONNX").click()
        page.get_by_role("button", name="Download ONNX").wait_for(timeout=timeout * 1000)
        onnx = {"click_to_download_s": round(time.perf_counter() - started, 2),
                "server_cpu_s": round(cpu_seconds(pid) - cpu, 2), "peak_rss_mb_so_far": round(memory_mb(pid)["VmHWM"], 1)}
        settle(page, timeout=timeout)
    after = memory_mb(pid)
    return {"pictures": pictures, "onnx": onnx, "upload_to_predictions_s": round(upload_s, 2), "adapt": results,
            "rss_before_upload_mb": round(before["VmRSS"], 1),
            "peak_rss_after_upload_mb": round(uploaded["VmHWM"], 1), "rss_after_mb": round(after["VmRSS"], 1),
            "peak_rss_mb": round(after["VmHWM"], 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100, help="paper photos to upload")
    ap.add_argument("--method", default="shot_im", help="TTA methods to click through, comma-separated")
    ap.add_argument("--cpus", default="0", help="CPUs the server may use (comma-separated; '' for all)")
    ap.add_argument("--onnx", action="store_true", help="then click Prepare ONNX for the adapted model")
    ap.add_argument("--centre", action="store_true", help="read the pictures centred like MNIST (default: automatically)")
    ap.add_argument("--zoo", default=str(ROOT / "pretrained"))
    ap.add_argument("--json", default=None, help="also write the result here")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if not chromium:
        print("error: no chromium on PATH (apt-get install -y chromium)", file=sys.stderr)
        return 2
    methods = [m.strip() for m in args.method.split(",") if m.strip()]
    cpus = {int(c) for c in args.cpus.split(",") if c.strip()}
    with tempfile.TemporaryDirectory(prefix="shiftlab-adapt-") as tmp:
        paths = write_photos(Path(tmp) / "photos", args.n)
        env = {**os.environ, "SHIFTLAB_ZOO_DIR": args.zoo, "OMP_NUM_THREADS": "1"}
        log = open(Path(tmp) / "server.log", "w")
        mine = os.sched_getaffinity(0)
        if cpus:
            os.sched_setaffinity(0, cpus)  # the server process inherits it (taskset -c)
        try:
            proc, url = start_app(env, log)
        finally:
            os.sched_setaffinity(0, mine)
        try:
            with sync_playwright() as p:
                browser = launch_chromium(p, chromium)
                page = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()
                page.set_default_timeout(600_000)
                result = run(page, url, proc.pid, paths, methods, args.onnx, args.centre)
                browser.close()
            result["server_cpus"] = sorted(os.sched_getaffinity(proc.pid))
        finally:
            stop_app(proc)
            log.close()
    result.update(n=args.n, methods=methods, centre=args.centre)
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
