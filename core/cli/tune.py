"""``python -m core tune``: search one method's settings with Optuna TPE, scored by a label-free validator.

    python -m core tune --method dann --source mnist --target mnistm --trials 8 --validator im \
        [--storage sqlite:///tune.db] [--seed K] [--device D] [--steps N] [--out DIR] [--json]

Trials are scored by the validator (never by target labels); each trial's target test accuracy,
where the target has labels, is recorded for reporting, with the Spearman rank correlation
between validator score and accuracy. ``--storage`` shares one study between processes.
"""

from __future__ import annotations

from .common import add_device, emit_json, number_in, prepare_out_dir, progress_bar

MAX_TRIALS = 10_000


def add_selection_args(p) -> None:
    """Options ``tune`` and ``recommend`` share (source, target, validator, seed, device, …)."""
    from ..selection import DEFAULT_VALIDATOR, SINGLE_MODEL_DEFAULT
    from ..validators import VALIDATORS, get_validator

    p.add_argument("--source", required=True, help="a domain (see `python -m core domains`)")
    p.add_argument("--target", required=True, help="a domain, or folder:PATH / zip:PATH of unlabelled pictures")
    small = (f"; {SINGLE_MODEL_DEFAULT} where its pool is too small: tune, or fewer than "
             f"{get_validator(DEFAULT_VALIDATOR).min_pool} candidates" if get_validator(DEFAULT_VALIDATOR).pool else "")
    p.add_argument("--validator", default=None,
                   help=f"label-free score, higher is better; one of: {', '.join(VALIDATORS)} "
                        f"(default {DEFAULT_VALIDATOR}{small}; chosen by scripts/studies/validator_study.py: "
                        "docs/validators.md)")
    p.add_argument("--seed", type=number_in("seed", int), default=0)
    add_device(p)
    p.add_argument("--steps", type=number_in("steps", int), default=None, help="training steps per model")
    p.add_argument("--threads", type=number_in("threads", int), default=None, help="torch CPU threads")
    p.add_argument("--json", action="store_true", help="one JSON object on the last stdout line")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def check_selection_args(args) -> None:
    """Names and domain specs checked before any work (each failure lists what is valid)."""
    from ..data import check_domain_spec
    from ..validators import get_validator

    if args.validator is not None:
        get_validator(args.validator)
    for spec in (args.source, args.target):
        check_domain_spec(spec)


def step_callback(bar):
    """A ``(what, step, total)`` progress callback that advances ``bar`` by one step."""

    def on_step(what: str, step: int, steps: int) -> None:
        if step == 1:
            bar.set_postfix_str(what, refresh=False)
        bar.update(1)

    return on_step


def add_parser(sub) -> None:
    from ..methods import ordered

    t = sub.add_parser("tune", help="search a method's settings, scored by a label-free validator")
    t.add_argument("--method", required=True, help=f"one of: {', '.join(ordered())}")
    t.add_argument("--trials", type=number_in("trials", int, 1, MAX_TRIALS), default=10,
                   help="trials this call runs (added to the study when --storage names an existing one)")
    t.add_argument("--storage", default=None,
                   help="sqlite:///PATH.db or another SQLAlchemy URL: one study shared by processes (default: memory)")
    t.add_argument("--out", default=None, help="folder for every trial's checkpoint (trial-NNN/; default: none saved)")
    add_selection_args(t)
    t.set_defaults(func=run)


def run(args) -> int:
    from ..methods import get_method
    from ..training.recipes import recipe
    from ..selection import default_validator, open_storage, tune
    from ..selection.tune import check_shared_pool

    get_method(args.method)
    check_selection_args(args)
    args.validator = args.validator or default_validator()  # trials are scored as they finish
    check_shared_pool(args.validator, args.storage)
    open_storage(args.storage)  # an unsupported URL lists the valid forms before any training
    out = prepare_out_dir(args.out) if args.out else None
    steps = args.steps or recipe(args.method).steps
    bar = progress_bar(args.trials * steps, f"tune {args.method} {args.source}→{args.target}", args.quiet)
    try:
        result = tune(args.method, args.source, args.target, trials=args.trials, validator=args.validator,
                      storage=args.storage, seed=args.seed, device=args.device, steps=args.steps, out_dir=out,
                      threads=args.threads, progress=step_callback(bar))
    finally:
        bar.close()
    if args.json:
        emit_json(result)
    else:
        for t in result["trials"]:
            acc = "—" if t["target_acc"] is None else f"{t['target_acc']:.1f}%"
            score = "failed" if t["score"] is None else f"{t['score']:.4f}"
            print(f"trial {t['number']:>3} {t['state']:<8} {args.validator} {score:>9}  "
                  f"target {acc:>6} (reporting only)  {t['params']}")
        print(f"best: {result['best']}\nSpearman(validator, target accuracy) over {result['completed']} "
              f"trials: {result['spearman']}")
    return 0
