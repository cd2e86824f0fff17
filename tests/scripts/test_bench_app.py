"""scripts/bench/bench_app.py runs end to end (--small) and reports every measure as a positive number.

No timing assertions: the targets and measured numbers belong in docs/performance.md, not in tests.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEYS = ["predict_ms", "alignment_view_ms", "umap_cold_s", "umap_warm_s", "page_switch_s"]
PAGES = ["overview", "predict", "train", "alignment", "compare", "distill"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    pytest.importorskip("streamlit.testing.v1")
    pytest.importorskip("umap")
    proc = subprocess.run([sys.executable, "scripts/bench/bench_app.py", "--small", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_every_measure_is_a_positive_number(results):
    for key in KEYS:
        assert isinstance(results.get(key), (int, float)), (key, results.get(key))
        assert results[key] > 0, (key, results[key])


def test_small_mode_skips_memory_and_fresh_process(results):
    assert results["small"] is True
    assert "server_rss_mb" not in results and "umap_fresh_process_s" not in results


def test_per_page_switch_times(results):
    by_page = results["page_switch_s_by_page"]
    assert set(by_page) == set(PAGES)
    assert all(isinstance(v, (int, float)) and v > 0 for v in by_page.values())
    assert results["alignment_points"] > 0
    assert isinstance(results["notes"], list) and isinstance(results["misses"], list)
