"""``python -m core export``: a checkpoint as an ONNX model, for serving outside PyTorch."""

from __future__ import annotations

from ..util.sizes import format_bytes
from .common import emit_json


def add_parser(sub) -> None:
    x = sub.add_parser("export", help="export a checkpoint (or zoo model) to ONNX")
    x.add_argument("--checkpoint", required=True, help="a checkpoint folder or zip, or a zoo name")
    x.add_argument("--format", default="onnx", choices=("onnx",))
    x.add_argument("--out", required=True, help="the .onnx file to write")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=run)


def check_out(out: str) -> None:
    """--out must be a ``.onnx`` file name in a folder that can be written (created if missing)."""
    from pathlib import Path

    from .common import prepare_out_dir

    path = Path(out).expanduser()
    if path.suffix.lower() != ".onnx":
        raise ValueError(f"--out {out!r} should end in .onnx")
    if path.is_dir():
        raise ValueError(f"--out {out!r} is a folder; give a file name ending in .onnx")
    if len(path.name.encode()) > 255:
        raise ValueError(f"--out {out!r}: the file name is too long")
    prepare_out_dir(path.parent)


def run(args) -> int:
    from ..checkpoints.onnx import export_onnx
    from ..zoo.refs import load_ref

    check_out(args.out)  # before any work
    model, card = load_ref(args.checkpoint)
    report = export_onnx(model, args.out)
    summary = {"checkpoint": args.checkpoint, "format": args.format, "out": str(report["path"]),
               "bytes": report["bytes"], "max_abs_diff": report["max_abs_diff"], "input_size": card["input_size"]}
    if args.json:
        emit_json(summary)
    else:
        print(f"wrote {summary['out']} ({format_bytes(summary['bytes'])}); ONNX Runtime logits differ from "
              f"PyTorch's by at most {summary['max_abs_diff']:.2e}" if summary["max_abs_diff"] is not None
              else f"wrote {summary['out']} ({format_bytes(summary['bytes'])})")
    return 0
