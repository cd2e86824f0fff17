"""``--pretrained`` enters through the checkpoints' bounded readers: crafted files get one line each
and the process stays far below 1 GB of resident memory (the child's own peak, VmHWM)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
GB = 1 << 30


#: Runs ``python -m core ARGS`` and, as it exits, writes its peak resident kB (VmHWM) to $PEAK_FILE.
#: VmHWM is the peak of the process's own memory map. The rusage a parent reads (``wait4``,
#: RUSAGE_CHILDREN) is not: Linux folds the memory map the child had before ``exec`` — the parent's,
#: shared after ``fork``/``vfork`` — into the child's ``ru_maxrss``, so a test process that had grown
#: past 1 GB (after the zoo tests) read a 1.2 GB "peak" for a child that never came near it.
PEAK_WRAPPER = """
import atexit, os, runpy, sys
def _peak():
    with open("/proc/self/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    with open(os.environ["PEAK_FILE"], "w") as out:
        out.write(str(kb))
atexit.register(_peak)
sys.argv = ["core", *sys.argv[1:]]
runpy.run_module("core", run_name="__main__", alter_sys=True)
"""


def _train_with(pretrained: Path, tmp_path: Path) -> tuple[int, str, float]:
    """Run ``train --pretrained`` in a fresh process: (exit code, stderr, its own peak resident MB)."""
    err_path, peak_path = tmp_path / "stderr.txt", tmp_path / "peak_kb.txt"
    with open(err_path, "w") as err:
        proc = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, "train", "--steps", "1", "--pretrained",
                               str(pretrained), "--out", str(tmp_path / "run"), "--quiet"], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=err, timeout=300,
                              env={**os.environ, "PEAK_FILE": str(peak_path)})
    assert peak_path.exists(), "the child exited without reporting its peak: " + err_path.read_text()[-2000:]
    return proc.returncode, err_path.read_text(), int(peak_path.read_text()) / 1024


def _checkpoint_card() -> bytes:
    from core.checkpoints import make_card
    from core.checkpoints.card import card_bytes
    from core.models import build_model

    model = build_model({"arch": "digits_cnn", "num_classes": 10, "input_size": 28})
    return card_bytes(make_card(model, method="source_only", source="mnist", target="mnistm",
                                class_names=[str(i) for i in range(10)]))


def test_a_zip_whose_card_inflates_to_1_5_gb_is_one_line_and_stays_small(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("model.safetensors", b"\0" * 64)
        with zf.open("card.json", "w", force_zip64=True) as f:
            chunk = b" " * (16 << 20)
            for _ in range(96):  # 1.5 GB of spaces: valid JSON whitespace, if anyone read it all
                f.write(chunk)
    assert bomb.stat().st_size < 20 << 20
    code, err, peak_mb = _train_with(bomb, tmp_path)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: --pretrained")
    assert "unpacks to 1,610,612,800 bytes" in err and "limit" in err
    assert peak_mb < 1024


def test_a_folder_whose_weights_are_a_3_gb_sparse_file_is_one_line_and_stays_small(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "card.json").write_bytes(_checkpoint_card())
    with open(folder / "model.safetensors", "wb") as f:
        f.truncate(3 * GB)  # sparse: costs no disk, but a reader that trusts it would read 3 GB
    code, err, peak_mb = _train_with(folder, tmp_path)
    assert code == 2 and err.count("\n") == 1 and "model.safetensors" in err and "limit" in err
    assert peak_mb < 1024


def test_a_bare_weights_file_larger_than_the_limit_is_refused_before_reading(tmp_path):
    big = tmp_path / "big.safetensors"
    with open(big, "wb") as f:
        f.truncate(3 * GB)
    code, err, peak_mb = _train_with(big, tmp_path)
    assert code == 2 and err.count("\n") == 1 and "limit" in err
    assert peak_mb < 1024


def test_a_zip_that_understates_its_member_size_is_stopped_at_the_limit(tmp_path, monkeypatch):
    """A header may lie: the read itself is bounded, whatever the zip declares."""
    from core.checkpoints import BadCheckpoint
    from core.checkpoints import archive

    liar = tmp_path / "liar.zip"
    with zipfile.ZipFile(liar, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("card.json", b" " * (archive.MAX_CARD_BYTES + 1000))
        zf.writestr("model.safetensors", b"\0" * 64)
    data = bytearray(liar.read_bytes())
    # rewrite the declared uncompressed size of card.json (central directory) to 10 bytes
    info = zipfile.ZipFile(liar).getinfo("card.json")
    cd = data.rfind(b"PK\x01\x02", 0, len(data))
    while cd > 0 and data[cd + 46:cd + 46 + len("card.json")] != b"card.json":
        cd = data.rfind(b"PK\x01\x02", 0, cd)
    data[cd + 24:cd + 28] = (10).to_bytes(4, "little")
    assert info.file_size > archive.MAX_CARD_BYTES
    with pytest.raises(BadCheckpoint):
        archive.read_zip(bytes(data), 200 << 20, "liar.zip")
