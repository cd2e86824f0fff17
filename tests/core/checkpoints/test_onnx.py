"""ONNX export: the exported graph gives PyTorch's logits (checked with ONNX Runtime), for any batch."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from core.checkpoints.onnx import TOLERANCE, export_onnx
from core.models import build_model

ROOT = Path(__file__).resolve().parents[3]
ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("spec", [
    {"arch": "digits_cnn", "num_classes": 10},
    {"arch": "digits_cnn", "num_classes": 4, "batch_norm": True, "width": 0.5, "feature_dim": 32},
])
def test_onnx_logits_match_pytorch(tmp_path, spec):
    torch.manual_seed(0)
    model = build_model(spec).eval()
    if spec.get("batch_norm"):  # non-trivial running statistics
        model.train()
        with torch.no_grad():
            model(torch.rand(64, 3, 28, 28))
        model.eval()
    report = export_onnx(model, tmp_path / "m.onnx")
    assert report["max_abs_diff"] is not None and report["max_abs_diff"] <= TOLERANCE
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    x = torch.rand(5, 3, 28, 28)  # another batch size than the export's example
    got = session.run(["logits"], {"images": x.numpy()})[0]
    with torch.no_grad():
        want = model(x).numpy()
    assert got.shape == (5, spec["num_classes"])
    np.testing.assert_allclose(got, want, atol=TOLERANCE)


def test_export_refuses_a_bad_out(tmp_path):
    model = build_model({"arch": "digits_cnn"})
    with pytest.raises(ValueError, match=".onnx"):
        export_onnx(model, tmp_path / "model.bin")
    (tmp_path / "dir.onnx").mkdir()
    with pytest.raises(ValueError, match="folder"):
        export_onnx(model, tmp_path / "dir.onnx")


def test_cli_exports_a_zoo_model(tmp_path, capsys):
    from core import zoo
    from core.cli import main

    name = zoo.names()[0]
    out = tmp_path / "zoo.onnx"
    assert main(["export", "--checkpoint", name, "--format", "onnx", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["out"] == str(out) and out.stat().st_size == summary["bytes"] > 10_000
    assert summary["max_abs_diff"] <= TOLERANCE


def test_the_installed_command_is_the_module_entry_point():
    """pyproject's console script `shiftlab` is the function `python -m core` runs."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["shiftlab"] == "core.cli:main"
    module, func = project["project"]["scripts"]["shiftlab"].split(":")
    import core.__main__ as entry

    assert getattr(sys.modules[module] if module in sys.modules else __import__(module, fromlist=[func]), func) \
        is entry.main
    deps = " ".join(project["project"]["dependencies"])
    assert "torch==2.14.1" in deps and "torchvision==0.29.1" in deps  # the pins, as in requirements.txt
