"""``python -m core recommend``: train every candidate method and recommend one, without target labels.

    python -m core recommend --source mnist --target folder:my_pictures [--validator im] [--seed K]
        [--seeds N] [--device D] [--steps N] [--methods source_only,dann,...] [--out DIR] [--json]

Candidates are the registry's methods that adapt with unlabelled target pictures (plus source-only,
the fallback); each trains with its default settings on two seeds (``--seeds``), the candidates whose
seeds disagree on the unlabelled target are passed over (the zoo's rule), and the validator's highest
score among the rest wins; ``--seeds 1`` takes about 0.6 of the time and lets the validator alone choose. The
winner's checkpoint is saved in ``--out``; target accuracies, where the target has test labels,
are printed for reference only.
"""

from __future__ import annotations

from .common import default_run_dir, emit_json, prepare_out_dir, progress_bar
from .tune import add_selection_args, check_selection_args, step_callback


def add_parser(sub) -> None:
    r = sub.add_parser("recommend", help="train the candidate methods and recommend one, without target labels")
    r.add_argument("--methods", default=None,
                   help="comma-separated candidates (default: source_only + every method that adapts "
                        "with unlabelled target pictures)")
    r.add_argument("--out", default=None, help="checkpoint folder of the recommended model (default runs/...)")
    r.add_argument("--seeds", type=int, default=None,
                   help="seeds per candidate, 1-5 (default 2): candidates whose seeds disagree on the unlabelled "
                        "target are passed over, as the zoo chooses; 1: the validator alone chooses, in about 0.6 of the time")
    add_selection_args(r)
    r.set_defaults(func=run)


def run(args) -> int:
    from ..checkpoints import CHECKPOINT_FILES
    from ..methods import get_method
    from ..selection import RECOMMEND_STEPS, candidate_methods, default_validator, recommend
    from ..selection.recommend import DEFAULT_SEEDS, check_pool, check_seeds
    from ..selection.scoring import runnable_candidates

    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else candidate_methods()
    if not methods:
        raise ValueError("--methods names no method")
    for name in methods:
        get_method(name)
    check_selection_args(args)
    args.seeds = DEFAULT_SEEDS if args.seeds is None else args.seeds
    check_seeds(args.seeds)
    trained, _skipped = runnable_candidates(methods, args.source, args.target)
    args.validator = args.validator or default_validator(len(trained))
    check_pool(args.validator, trained)
    out = prepare_out_dir(args.out or default_run_dir("recommend", args.source, args.target), CHECKPOINT_FILES)
    bar = progress_bar(max(1, len(trained)) * args.seeds * (args.steps or RECOMMEND_STEPS), f"recommend {args.source}→{args.target}",
                       args.quiet)
    try:
        result = recommend(args.source, args.target, validator=args.validator, seed=args.seed, device=args.device,
                           out_dir=out, steps=args.steps, methods=methods, threads=args.threads,
                           progress=step_callback(bar), seeds=args.seeds)
    finally:
        bar.close()
    if args.json:
        emit_json(result)
    else:
        for c in result["candidates"]:
            acc = "—" if c["target_acc"] is None else f"{c['target_acc']:.1f}%"
            if c.get("target_acc_mean") is not None:
                acc += f", mean over seeds {c['target_acc_mean']:.1f}%"
            score = c["error"] or f"{c['score']:.4f}"
            agree = "" if c.get("seed_agreement") is None else f"  seeds agree on {100 * c['seed_agreement']:.0f}%"
            print(f"{c['method']:<16} {result['validator']} {score}{agree}  (target {acc}, reference only)")
        for s in result.get("skipped", []):
            print(f"{s['method']:<16} skipped: {s['reason']}")
        print(f"recommended: {result['recommended']}  checkpoint: {result['checkpoint']}")
        if result.get("estimated_acc") is not None:
            print(f"estimated accuracy without labels: {result['estimated_acc']:.1f}% "
                  f"(likely {result['estimated_low']:.1f}–{result['estimated_high']:.1f}%, {result['estimator']})")
    return 0
