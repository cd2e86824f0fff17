"""scripts/studies/recommend_unseen.py: runs ``recommend`` on every fixture domain as a user would and
tabulates recommended vs source-only from the JSON it gets back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "studies" / "recommend_unseen.py"


def _domain(root: Path, name: str, per_class: int = 2) -> Path:
    """An ImageFolder domain with train/ and test/ splits: light digits-sized noise, 10 classes."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in range(10):
            folder = root / name / split / str(c)
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 255, (28, 28, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return root / name


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_runs_recommend_per_domain_and_tabulates_its_json(tmp_path):
    _domain(tmp_path / "fixtures", "noise")
    out = tmp_path / "out"
    done = _run("--fixtures", str(tmp_path / "fixtures"), "--out", str(out), "--steps", "2",
                "--methods", "source_only,self_training", "--threads", "1")
    assert done.returncode == 0, done.stderr
    saved = json.loads((out / "noise.json").read_text())
    assert {c["method"] for c in saved["candidates"]} == {"source_only", "self_training"}
    assert saved["recommended"] in {"source_only", "self_training"} and saved["steps"] == 2
    row = next(line for line in done.stdout.splitlines() if line.startswith("| noise |"))
    assert f"{saved['source_only_acc']:.1f}" in row and saved["recommended"] in row
    best = max(c["target_acc"] for c in saved["candidates"])
    assert f"{best:.1f} | {best - saved['target_acc']:.1f} |" in row  # the best in hindsight and the gap
    assert saved["seeds"] == 2 and f"{saved['target_acc']:.1f} ({saved['target_acc_mean']:.1f})" in row
    assert "beats source-only on" in done.stdout

    again = _run("--fixtures", str(tmp_path / "fixtures"), "--out", str(out), "--summary")  # reads, trains nothing
    assert again.returncode == 0 and row in again.stdout


def test_summary_reports_gains_from_saved_json(tmp_path):
    _domain(tmp_path / "fixtures", "paper", per_class=1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "paper.json").write_text(json.dumps({"recommended": "adamatch", "target_acc": 72.7,
                                                "source_only_acc": 14.0, "seconds": 464.0}))
    done = _run("--fixtures", str(tmp_path / "fixtures"), "--out", str(out), "--summary")
    assert done.returncode == 0, done.stderr
    assert "| paper | adamatch | 72.7 | 14.0 | +58.7 | — | — | — | — | 464 s |" in done.stdout
    assert "beats source-only on 1 of 1; mean gain +58.7 points" in done.stdout


def test_bad_input_is_one_clear_message(tmp_path):
    _domain(tmp_path / "fixtures", "paper", per_class=1)
    missing = _run("--fixtures", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "python -m core fixtures --out" in missing.stderr
    unknown = _run("--fixtures", str(tmp_path / "fixtures"), "--domains", "papr", "--summary")
    assert unknown.returncode == 2 and "unknown domain(s) ['papr']; valid: ['paper']" in unknown.stderr
