"""How the app's allocator settings (ui.shell.lean_process) change a training run's time.

    taskset -c 0 python scripts/bench/allocator_speed.py [--mmap-kib default 1024 8192 app] [--repeat 2] [--json FILE]

For each setting, a fresh process (mallopt is process-wide) tunes glibc's allocator as the app
does (``ui.shell.tune_allocator``: two arenas, mmap from the given KiB, trim past twice that), then
submits the Train
page's demo run of MNIST → MNIST-M (``core.training.demo``) to the job manager, one torch thread,
``--repeat`` times, and reports the seconds from submit to model and the run's own seconds; the
setting ``default`` leaves glibc's defaults and ``app`` does what the app does
(``ui.shell.lean_process``: the lean settings, and while a job runs ``ui.shell.training_allocator``'s).
Linux with glibc only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, sys, tempfile, time
from pathlib import Path
kib, repeat = sys.argv[1], int(sys.argv[2])
if kib == "app":  # what the app does: lean settings, the training allocator while a job runs
    from ui.shell import lean_process
    lean_process()
elif kib != "default":
    from ui.shell import tune_allocator
    assert tune_allocator(int(kib) * 1024, 2 * int(kib) * 1024), "glibc's mallopt is not available here"
import torch
torch.set_num_threads(1)
from core import jobs
from core.training.demo import demo_for
runs = []
for rep in range(repeat):
    config = demo_for("mnist", "mnistm").config(seed=0, device="cpu")
    started = time.perf_counter()
    job = jobs.manager().submit(f"bench{rep}", config, out_dir=Path(tempfile.mkdtemp()) / "run")
    while not job.done:
        time.sleep(0.05)
    snap = job.snapshot()
    runs.append({"wall_s": round(time.perf_counter() - started, 2), "run_s": round(snap.result.seconds, 2),
                 "target_acc": round(snap.result.target_acc, 2)})
print(json.dumps(runs))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mmap-kib", nargs="+", default=["default", "1024", "8192", "app"])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    out = {"command": "python scripts/bench/allocator_speed.py " + " ".join(argv or sys.argv[1:]), "runs": {}}
    for kib in args.mmap_kib:
        done = subprocess.run([sys.executable, "-c", CHILD, kib, str(args.repeat)], cwd=ROOT, capture_output=True,
                              text=True, env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise SystemExit(f"the run with mmap setting {kib!r} failed: {last}")
        out["runs"][kib] = json.loads(done.stdout.strip().splitlines()[-1])
        print(kib, out["runs"][kib], flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
