"""``python -m core export``: a checkpoint as an ONNX model, for serving outside PyTorch."""

from __future__ import annotations

from .common import emit_json


def add_parser(sub) -> None:
    x = sub.add_parser("export", help="export a checkpoint (or zoo model) to ONNX")
    x.add_argument("--checkpoint", required=True, help="a checkpoint folder or zip, or a zoo name")
    x.add_argument("--format", default="onnx", choices=("onnx",))
    x.add_argument("--out", required=True, help="the .onnx file to write")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=run)


def run(args) -> int:
    from ..export import export_onnx
    from ..refs import load_ref

    model, card = load_ref(args.checkpoint)
    report = export_onnx(model, args.out)
    summary = {"checkpoint": args.checkpoint, "format": args.format, "out": str(report["path"]),
               "bytes": report["bytes"], "max_abs_diff": report["max_abs_diff"], "input_size": card["input_size"]}
    if args.json:
        emit_json(summary)
    else:
        print(f"wrote {summary['out']} ({summary['bytes'] / 1024:.0f} KB); ONNX Runtime logits differ from "
              f"PyTorch's by at most {summary['max_abs_diff']:.2e}" if summary["max_abs_diff"] is not None
              else f"wrote {summary['out']} ({summary['bytes'] / 1024:.0f} KB)")
    return 0
