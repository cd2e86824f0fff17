"""``python -m core bench``: the engine against a textbook loop (and peers), side by side."""

from __future__ import annotations

from .common import add_device, number_in


def add_parser(sub) -> None:
    b = sub.add_parser("bench", help="throughput benchmark: textbook loop vs ShiftLab engine")
    add_device(b)
    b.add_argument("--small", action="store_true", help="a few steps of each row, to check it runs (CI)")
    b.add_argument("--quick", action="store_true", help="skip the accuracy-equality seeds (throughput and plateau only)")
    b.add_argument("--peer", action="store_true",
                   help="only the engine vs pytorch-adapt's DANN adapter, --repeat times side by side")
    b.add_argument("--repeat", type=number_in("repeat", int, 1, 20), default=3, help="repeats of --peer (default 3)")
    b.add_argument("--resnet", action="store_true",
                   help="ResNet-50 at 224 px: textbook loop vs the engine's paths (a GPU row)")
    b.add_argument("--threads", type=number_in("threads", int), default=None, help="torch CPU threads")
    b.add_argument("--calibrate", action="store_true",
                   help="measure every speed option of the engine on this machine now (precision, memory format, "
                        "threads) and cache the fastest for the engine (core.training.speed)")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=run)


def run(args) -> int:
    from .. import bench
    from ..util.device import resolve_device

    resolve_device(args.device)  # an unavailable device fails before any work
    return bench.main(device=args.device, as_json=args.json, small=args.small, quick=args.quick, peer=args.peer,
                      resnet=args.resnet, repeat=args.repeat, threads=args.threads, calibration=args.calibrate)
