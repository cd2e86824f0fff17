"""`python -m core bench --small` runs end to end (so the benchmark never rots); no timing asserts."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_bench_small_reports_both_loops():
    out = subprocess.run([sys.executable, "-m", "core", "bench", "--small", "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    for loop in ("textbook", "engine", "engine_fp32"):
        assert report[loop]["images_per_s"] > 0
        assert 0 <= report[loop]["target_acc"] <= 100
    assert report["speedup"] > 0 and report["plateau"]["best_target_acc"] > 0
    assert report["plateau"]["seconds_to_95pct_of_best"] >= 0
