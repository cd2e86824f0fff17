"""``python -m core zoo list|table|rebuild``: the shipped models."""

from __future__ import annotations

from .common import add_device, emit_json, number_in


def add_parser(sub) -> None:
    z = sub.add_parser("zoo", help="list or rebuild the pretrained models")
    z.add_argument("action", choices=("list", "rebuild", "table"),
                   help="list the shipped models, rebuild them, or print the leaderboard as Markdown")
    z.add_argument("--tiny", action="store_true", help="a few steps per model, into a temporary folder (CI)")
    z.add_argument("--seeds", type=number_in("seeds", int, 1, 100), default=None, help="seeds per model (default 3; 1 with --tiny)")
    z.add_argument("--steps", type=number_in("steps", int), default=None, help="steps per model (default: recipes.ZOO_STEPS)")
    z.add_argument("--out", default=None, help="zoo folder to write (default pretrained/ or $SHIFTLAB_ZOO_DIR)")
    z.add_argument("--scenario", action="append", metavar="SOURCE->TARGET",
                   help="rebuild only this scenario (repeatable); the leaderboard is merged")
    z.add_argument("--method", action="append", metavar="M",
                   help="rebuild only this method (repeatable; a distilled student needs an adapted method too)")
    z.add_argument("--all-seeds", action="store_true",
                   help="train every method on every seed (default: seed 0 of each, the further seeds for "
                        "source-only and the recommended method)")
    add_device(z)
    z.add_argument("--json", action="store_true", help="list / table: one JSON object on stdout")
    z.set_defaults(func=run)


def run(args) -> int:
    from .. import zoo

    if args.action == "table":
        if args.json:
            emit_json({"rows": zoo.leaderboard_rows()})
        else:
            print(zoo.markdown_table())
        return 0
    if args.action == "list":
        rows = zoo.entries()
        if args.json:
            emit_json({"models": [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
                                  for r in rows]})
        elif not rows:
            print("no pretrained models shipped; build them with: python -m core zoo rebuild")
        for row in rows if not args.json else []:
            print(f"{row['name']:<40} target {row['target_acc']:6.2f}%   {row['size_kb']:7.0f} KB")
        return 0
    from ..data import check_domain_spec
    from ..util.device import resolve_device
    from ..studies.zoo_build import normalise_scenarios, rebuild
    from .common import prepare_out_dir

    resolve_device(args.device)  # everything a rebuild would refuse, before any work
    for source, target in normalise_scenarios(args.scenario) if args.scenario else []:
        check_domain_spec(source)
        check_domain_spec(target)
    if args.out is not None:
        prepare_out_dir(args.out)
    return rebuild(tiny=args.tiny, seeds=args.seeds, device=args.device, steps=args.steps,
                   out_dir=args.out, scenarios=args.scenario, methods=args.method, all_seeds=args.all_seeds)
