"""Export a trained classifier to ONNX and check it against PyTorch with ONNX Runtime.

    report = export_onnx(model, "model.onnx")   # {"path", "bytes", "max_abs_diff"}

The ONNX graph takes float RGB images in [0, 1], shape (N, 3, S, S) with S the model's input size
and a dynamic batch dimension, and returns logits (N, C): the same contract as the PyTorch module
(normalisation is inside the graph). When onnxruntime is installed the export is verified on random
inputs; ``max_abs_diff`` is the largest absolute logit difference seen (None when not verified).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

#: Largest absolute logit difference accepted between ONNX Runtime and PyTorch (fp32 on the CPU).
TOLERANCE = 1e-3
OPSET = 17


def export_onnx(model: nn.Module, out: str | Path, *, verify: bool = True, opset: int = OPSET) -> dict:
    """Write ``model`` as ONNX to ``out`` (atomically) and, if ``verify``, compare ONNX Runtime's
    logits with PyTorch's on 8 random pictures; ValueError if they differ by more than TOLERANCE."""
    import copy
    import io

    from ..util.files import write_atomic

    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ValueError(f"--out {str(out)!r} should end in .onnx")
    if out.exists() and out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a folder; give a file name ending in .onnx")
    model = copy.deepcopy(model).float().cpu().eval()
    size = int(getattr(model, "input_size", 28))
    example = _example(model, 2, size)
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(model, (example,), buf, input_names=["images"], output_names=["logits"],
                          dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, opset_version=opset,
                          dynamo=False)
    data = buf.getvalue()
    write_atomic(out, data)
    diff = max_abs_diff(model, data, size) if verify else None
    if diff is not None and diff > TOLERANCE:
        raise ValueError(f"the ONNX model's logits differ from PyTorch's by {diff:.2e} (> {TOLERANCE:g})")
    return {"path": out, "bytes": len(data), "max_abs_diff": diff}


def _example(model: nn.Module, n: int, size: int, generator=None) -> torch.Tensor:
    """n random inputs the model takes: pictures (n, 3, size, size), or points (n, size) for a
    point backbone (``--arch mlp``, the toy domains)."""
    from ..models import ARCH_INFO

    arch = (getattr(model, "spec", None) or {}).get("arch", "digits_cnn")
    if ARCH_INFO.get(arch, {}).get("input") == "points":
        return torch.randn(n, size, generator=generator)
    return torch.rand(n, 3, size, size, generator=generator)


def max_abs_diff(model: nn.Module, onnx_bytes: bytes, size: int, n: int = 8, seed: int = 0) -> float | None:
    """Largest |ONNX Runtime − PyTorch| logit on ``n`` random pictures; None without onnxruntime."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    x = _example(model, n, size, torch.Generator().manual_seed(seed))
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    got = session.run(["logits"], {"images": x.numpy()})[0]
    with torch.no_grad():
        want = model(x).numpy()
    return float(abs(got - want).max())
