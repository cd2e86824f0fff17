"""``python -m core zoo list|table|rebuild|merge``: the shipped models.

    python -m core zoo rebuild [--resume] [--work DIR]                # every cell stored as it finishes
    python -m core zoo rebuild --resume --no-train                   # ship what a stopped build finished
    python -m core zoo merge DIR [DIR ...] [--into pretrained]   # zoos built by parallel rebuilds
    python -m core zoo reselect --validator V [--into pretrained]  # what V recommends from the stored scores
    python -m core zoo universal [--out pretrained/universal] [--steps 4000] [--seed 0]   # the upload model
"""

from __future__ import annotations

from ..util.sizes import format_bytes
from .common import add_device, emit_json, number_in


def add_parser(sub) -> None:
    z = sub.add_parser("zoo", help="list or rebuild the pretrained models")
    z.add_argument("action", choices=("list", "rebuild", "table", "merge", "reselect", "universal"),
                   help="list the shipped models, rebuild them, print the leaderboard as Markdown, merge "
                        "zoo folders built by parallel `rebuild --scenario ... --out DIR` runs, recompute the "
                        "recommendations for another validator (reselect), or train the "
                        "universal digits model (the default model for uploads)")
    z.add_argument("--seed", type=number_in("seed", int), default=0, help="universal: the run's seed")
    z.add_argument("dirs", nargs="*", metavar="DIR", help="merge: the zoo folders to merge")
    z.add_argument("--into", default=None, help="merge / reselect: the zoo folder to change (default pretrained/)")
    z.add_argument("--why", default=None,
                   help="merge: why the cells no build made are missing (recorded in the leaderboard's not_built)")
    z.add_argument("--validator", default=None, help="reselect: the validator whose choice the leaderboard records")
    z.add_argument("--tiny", action="store_true", help="a few steps per model, into a temporary folder (CI)")
    z.add_argument("--seeds", type=number_in("seeds", int, 1, 100), default=None, help="seeds per model (default 3; 1 with --tiny)")
    z.add_argument("--steps", type=number_in("steps", int), default=None, help="steps per model (default: recipes.ZOO_STEPS)")
    z.add_argument("--out", default=None, help="zoo folder to write (default pretrained/ or $SHIFTLAB_ZOO_DIR)")
    z.add_argument("--scenario", action="append", metavar="SOURCE->TARGET",
                   help="rebuild only this scenario (repeatable); the leaderboard is merged")
    z.add_argument("--method", action="append", metavar="M",
                   help="rebuild only this method (repeatable; a distilled student needs an adapted method too)")
    z.add_argument("--bounds-seed0", action="store_true",
                   help="train the bounds and baselines that recommend does not weigh on seed 0 only (faster; "
                        "default: every method on every seed)")
    z.add_argument("--work", default=None, metavar="DIR",
                   help="rebuild: the folder every finished run (cell) is stored in (default .<out>-cells beside "
                        "--out; a temporary one with --tiny)")
    z.add_argument("--resume", action="store_true",
                   help="rebuild: reuse the cells a stopped build stored in --work; a corrupt cell or one from "
                        "another code version or other settings is trained again (the log says why)")
    z.add_argument("--no-train", action="store_true",
                   help="rebuild --resume: train nothing; ship the stored cells as a consistent (partial) "
                        "leaderboard, the rest listed as not built")
    z.add_argument("--train", action="append", metavar="M", dest="train_only",
                   help="rebuild --resume: train only this method's missing cells (repeatable); the other "
                        "methods' stored cells are shipped and their missing ones listed as not built")
    add_device(z)
    z.add_argument("--json", action="store_true", help="list / table: one JSON object on stdout")
    z.set_defaults(func=run)


def run(args) -> int:
    from .. import zoo

    if args.dirs and args.action != "merge":
        raise ValueError(f"zoo {args.action} takes no folders ({' '.join(args.dirs)}); only zoo merge does")
    if args.why is not None and args.action != "merge":
        raise ValueError(f"--why is for zoo merge, not zoo {args.action}")
    if args.into is not None and args.action not in ("merge", "reselect"):
        raise ValueError(f"--into is for zoo merge and reselect, not zoo {args.action}")
    if (args.validator is not None) != (args.action == "reselect"):
        raise ValueError("zoo reselect needs --validator V" if args.action == "reselect"
                         else f"--validator is for zoo reselect, not zoo {args.action}")
    for flag, given in (("--work", args.work is not None), ("--resume", args.resume), ("--no-train", args.no_train),
                        ("--train", bool(args.train_only))):
        if given and args.action != "rebuild":
            raise ValueError(f"{flag} is for zoo rebuild, not zoo {args.action}")
    if (args.no_train or args.train_only) and not args.resume:
        raise ValueError("--no-train and --train ship the stored cells: add --resume")
    if args.no_train and args.train_only:
        raise ValueError("--no-train trains nothing; --train trains only the methods it names: choose one")
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
            print(f"{row['name']:<40} target {row['target_acc']:6.2f}%   {format_bytes(row['size_kb'] * 1024):>9}")
        return 0
    if args.action == "universal":
        from ..studies.universal import DEFAULT_OUT, STEPS, lodo_winner, train_universal
        from .common import prepare_out_dir

        from ..checkpoints import CHECKPOINT_FILES

        out = prepare_out_dir(args.out or DEFAULT_OUT, CHECKPOINT_FILES)
        emit_json(train_universal(out, args.steps or STEPS, args.seed, lodo_winner(), args.device))
        return 0
    if args.action == "merge":
        from ..studies.zoo_merge import merge

        if not args.dirs:
            raise ValueError("zoo merge needs at least one zoo folder (DIR ...) built by `zoo rebuild --out DIR`")
        return merge(args.dirs, args.into or zoo.zoo_dir(), why=args.why)
    if args.action == "reselect":
        from ..studies.zoo_merge import reselect

        return reselect(args.into or zoo.zoo_dir(), args.validator)
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
                   out_dir=args.out, scenarios=args.scenario, methods=args.method, all_seeds=not args.bounds_seed0,
                   work_dir=args.work, resume=args.resume,
                   train_new=False if args.no_train else (args.train_only or True))
