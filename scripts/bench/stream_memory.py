"""Measure: a folder domain larger than the memory budget streams without the training process's
resident memory exceeding the budget (docs/scale.md, "Data that does not fit in memory").

    python scripts/bench/stream_memory.py [--root /tmp/shiftlab-big] [--n 16000] [--size 160] [--budget 1024]

1. Writes ROOT/train/class<k>/<i>.jpg (``--n`` 224-px JPEGs) and a small ROOT/test/ split, plus a
   small target folder — unless they are already there.
2. Runs ``python -m core train`` on them with ``--data auto --data-budget BUDGET`` and samples the
   resident memory (``VmRSS``, and the peak ``VmHWM``) of the training process and of its
   DataLoader workers every 0.2 s.
3. Streams one whole epoch of the train split through the feed alone (no model), the same way.
4. For contrast, ``--data resident`` (the whole split decoded into memory).

Prints one JSON object with the numbers. One training process at a time; a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def write_folders(root: Path, n: int, classes: int = 10) -> None:
    import numpy as np
    from PIL import Image

    if (root / "done").exists():
        return
    rng = np.random.default_rng(0)
    for split, count in (("train", n), ("test", max(classes * 10, n // 50))):
        for k in range(count):
            c = k % classes
            d = root / "source" / split / f"class{c}"
            d.mkdir(parents=True, exist_ok=True)
            ramp = np.linspace(0, 1, 224)[None, :, None] * (rng.integers(40, 255, 3)) + 20 * c
            img = (ramp + rng.normal(0, 12, (224, 224, 3))).clip(0, 255).astype(np.uint8)
            Image.fromarray(img).save(d / f"{k:06d}.jpg", quality=85)
    for c in range(classes):
        d = root / "target" / f"class{c}"
        d.mkdir(parents=True, exist_ok=True)
        for i in range(20):
            img = (rng.normal(128 + 5 * c, 40, (224, 224, 3))).clip(0, 255).astype(np.uint8)
            Image.fromarray(img).save(d / f"{i:03d}.jpg", quality=85)
    (root / "done").write_text("ok")


def _status(pid: int) -> dict[str, int]:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) // 1024  # MB
    except OSError:
        pass
    return out


def _pss(pid: int) -> int:
    """Proportional set size in MB: shared pages (torch's libraries in forked workers) are split
    among the processes sharing them, so PSS adds up across processes where RSS double-counts."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            pass
    return kids


def run_sampled(cmd: list[str]) -> dict:
    """Run ``cmd``; sample its memory and its children's every 0.2 s."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = {"main_hwm_mb": 0, "main_rss_mb": 0, "workers_rss_mb": 0, "total_rss_mb": 0, "total_pss_mb": 0,
            "workers": 0}

    def sample():
        while proc.poll() is None:
            main = _status(proc.pid)
            kids = [_status(k).get("VmRSS", 0) for k in _children(proc.pid)]
            peak["main_hwm_mb"] = max(peak["main_hwm_mb"], main.get("VmHWM", 0))
            peak["main_rss_mb"] = max(peak["main_rss_mb"], main.get("VmRSS", 0))
            peak["workers_rss_mb"] = max(peak["workers_rss_mb"], sum(kids))
            peak["total_rss_mb"] = max(peak["total_rss_mb"], main.get("VmRSS", 0) + sum(kids))
            peak["workers"] = max(peak["workers"], len(kids))
            pss = _pss(proc.pid) + sum(_pss(k) for k in _children(proc.pid))
            peak["total_pss_mb"] = max(peak["total_pss_mb"], pss)
            time.sleep(0.2)

    watcher = threading.Thread(target=sample, daemon=True)
    started = time.perf_counter()
    watcher.start()
    out, err = proc.communicate()
    watcher.join()
    peak.update(seconds=round(time.perf_counter() - started, 1), returncode=proc.returncode)
    lines = [l for l in out.splitlines() if l.startswith("{")]
    peak["result"] = json.loads(lines[-1]) if lines else err[-1500:]
    return peak


EPOCH = """
import json, sys, time, resource, torch
torch.set_num_threads(1)
from core.data.feed import load_run_domains, StreamFeed
root, size, budget = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
d = load_run_domains(f"folder:{root}/source", f"folder:{root}/target", size, "auto", budget)
x = d.source_train
feed = StreamFeed((x.images, x.labels), (d.target_train.images, d.target_train.labels), 64,
                  torch.device("cpu"), torch.Generator().manual_seed(0), workers=1)
t = time.perf_counter(); steps = len(x.images) // 64
for _ in range(steps):
    feed.next()
feed.close()
print(json.dumps({"modes": d.modes, "decoded_mb": d.decoded_mb, "pictures": steps * 64,
                  "pictures_per_s": round(steps * 64 / (time.perf_counter() - t), 1)}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="/tmp/shiftlab-big")
    ap.add_argument("--n", type=int, default=16000)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--budget", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--skip-resident", action="store_true")
    args = ap.parse_args()
    root = Path(args.root)
    t = time.perf_counter()
    write_folders(root, args.n)
    report = {"pictures": args.n, "image_size": args.size, "budget_mb": args.budget,
              "decoded_train_mb": round(args.n * 3 * args.size ** 2 / 2 ** 20, 1),
              "disk_mb": round(sum(p.stat().st_size for p in (root / "source").rglob("*.jpg")) / 2 ** 20, 1),
              "write_seconds": round(time.perf_counter() - t, 1)}
    train = [sys.executable, "-m", "core", "train", "--method", "dann", "--source", f"folder:{root}/source",
             "--target", f"folder:{root}/target", "--image-size", str(args.size), "--steps", str(args.steps),
             "--batch-size", "16", "--eval-every", "0", "--threads", "1", "--device", "cpu", "--json", "--quiet",
             "--out", str(root / "run")]
    report["train_auto"] = run_sampled(train + ["--data", "auto", "--data-budget", str(args.budget)])
    report["epoch_stream"] = run_sampled([sys.executable, "-c", EPOCH, str(root), str(args.size), str(args.budget)])
    if not args.skip_resident:
        report["train_resident"] = run_sampled(train + ["--data", "resident"])
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
