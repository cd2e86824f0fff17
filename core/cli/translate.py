"""``python -m core translate``: a pixel-level GAN's translations of a domain's pictures, as PNGs."""

from __future__ import annotations

from .common import emit_json, number_in, prepare_out_dir


def add_parser(sub) -> None:
    t = sub.add_parser("translate", help="redraw a domain's pictures in the target's style (pixel-level GAN)")
    t.add_argument("--model", required=True, help="a checkpoint with a generator (folder, zip or zoo name)")
    t.add_argument("--domain", default=None, help="the domain to translate (default: the checkpoint's source)")
    t.add_argument("--split", default="test", choices=("train", "test"))
    t.add_argument("--n", type=number_in("n", int, 1, 100_000), default=64, help="how many pictures (default 64)")
    t.add_argument("--seed", type=number_in("seed", int), default=0, help="which pictures and noise")
    t.add_argument("--out", required=True, help="folder for <index>_<label>.png files")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=run)


def run(args) -> int:
    from ..inference.pixel_translation import translate_domain

    out = prepare_out_dir(args.out)
    report = translate_domain(args.model, args.domain, args.split, args.n, args.seed, out)
    if args.json:
        emit_json({"model": args.model, **report, "out": str(out)})
    else:
        print(f"wrote {report['n']} translated {report['domain']}/{args.split} pictures to {out}")
    return 0
