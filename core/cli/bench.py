"""``python -m core bench``: the engine against a textbook loop (and peers), side by side."""

from __future__ import annotations

from .common import add_device


def add_parser(sub) -> None:
    b = sub.add_parser("bench", help="throughput benchmark: textbook loop vs ShiftLab engine")
    add_device(b)
    b.add_argument("--small", action="store_true", help="a few steps of each row, to check it runs (CI)")
    b.add_argument("--quick", action="store_true", help="skip the accuracy-equality seeds (throughput and plateau only)")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=run)


def run(args) -> int:
    from .. import bench

    return bench.main(device=args.device, as_json=args.json, small=args.small, quick=args.quick)
