"""``python -m core fixtures``: write the unseen digit domains (core/synth) as folders."""

from __future__ import annotations

import sys

from .common import emit_json, number_in, prepare_out_dir


def add_parser(sub) -> None:
    from ..synth import DOMAINS

    f = sub.add_parser("fixtures", help="write unseen digit domains (phone photos on paper, …) as ImageFolder trees")
    f.add_argument("--out", required=True, help="output folder (one sub-folder per domain)")
    f.add_argument("--domains", nargs="+", default=list(DOMAINS), choices=list(DOMAINS), metavar="NAME",
                   help=f"which domains (default all: {', '.join(DOMAINS)})")
    f.add_argument("--n-per-class-train", type=number_in("n_per_class_train", int, 1, 10_000), default=50)
    f.add_argument("--n-per-class-test", type=number_in("n_per_class_test", int, 1, 10_000), default=30)
    f.add_argument("--seed", type=number_in("seed", int), default=0)
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=run)


def run(args) -> int:
    from ..synth import write_all

    out = prepare_out_dir(args.out)
    manifest = write_all(out, args.domains, args.n_per_class_train, args.n_per_class_test, args.seed,
                         log=lambda line: print(line, file=sys.stderr, flush=True))
    if args.json:
        emit_json(manifest)
    else:
        for name in args.domains:
            print(f"folder:{out / name}")
    return 0
