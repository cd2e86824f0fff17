"""Command line: ``python -m core {train,eval,zoo,bench,domains,methods}``.

    python -m core train --method dann --source mnist --target mnistm [--steps N] [--seed K]
                         [--device auto|cpu|cuda|mps] [--out DIR] [--json] [--set key=value ...]
                         [--batch-size B] [--lr-rule none|sqrt|linear] [--warmup F] [--accel auto|off|graph|compile]
    python -m core eval --checkpoint PATH --domain D [--json]
    python -m core zoo list | rebuild [--tiny] [--seeds N] [--steps N] [--out DIR]
    python -m core bench [--device D] [--json] [--small] [--quick]
    python -m core domains | methods
    python -m core tune --method M --source S --target T [--trials N] [--validator V] [--storage URL]
                        [--seed K] [--device D] [--steps N] [--out DIR] [--json]
    python -m core recommend --source S --target T [--validator V] [--seed K] [--device D] [--steps N]
                             [--methods M,M] [--out DIR] [--json]

With ``--json`` the last line of stdout is one JSON object; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from .accel import ACCEL_CHOICES
from .device import DEVICE_CHOICES
from .engine import LR_RULES


def _parse_value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _parse_sets(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise SystemExit(f"--set expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = _parse_value(value.strip())
    return out


def _finite(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 3)


def cmd_train(args) -> int:
    from tqdm import tqdm

    from .data import load_domain
    from .engine import train
    from .methods import get_method
    from .recipes import recipe

    get_method(args.method)  # fail on unknown names before any work
    for name in (args.source, args.target):
        if not name.startswith(("folder:", "zip:")):
            load_domain(name, "test")
    given = {k: v for k, v in {"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
                                "eval_every": args.eval_every, "threads": args.threads}.items() if v is not None}
    config = recipe(args.method, args.source, args.target, seed=args.seed, device=args.device,
                    precision=args.precision, accel=args.accel, lr_rule=args.lr_rule, warmup=args.warmup,
                    hparams=_parse_sets(args.set), **given)
    out = Path(args.out) if args.out else Path("runs") / (
        f"{args.source}-{args.target}-{args.method}-seed{args.seed}-{time.strftime('%Y%m%d-%H%M%S')}")
    bar = tqdm(total=config.steps, file=sys.stderr, desc=f"{args.method} {args.source}→{args.target}",
               unit="step", disable=args.quiet, dynamic_ncols=True)

    def on_progress(p):
        bar.update(1)
        if p.step % 10 == 0 or p.step == p.total:
            post = {"loss": f"{p.losses['loss']:.3f}", "img/s": f"{p.images_per_s:.0f}"}
            if "target_acc" in p.metrics:
                post["target"] = f"{p.metrics['target_acc']:.1f}%"
            bar.set_postfix(post, refresh=False)

    try:
        result = train(config, progress=on_progress, out_dir=out)
    finally:
        bar.close()
    summary = {"method": args.method, "source": args.source, "target": args.target,
               "target_acc": _finite(result.target_acc), "source_acc": _finite(result.source_acc),
               "seconds": round(result.seconds, 2), "images_per_s": round(result.images_per_s, 1),
               "checkpoint": result.checkpoint, "steps": result.steps_done, "seed": args.seed}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"target accuracy {result.target_acc:.2f}%  source accuracy {result.source_acc:.2f}%  "
              f"({result.seconds:.1f} s, {result.images_per_s:.0f} images/s)\ncheckpoint: {result.checkpoint}")
    return 0


def cmd_eval(args) -> int:
    from . import checkpoints
    from .data import load_domain
    from .evaluation import full_report

    model, card = checkpoints.load(args.checkpoint, device=args.device if args.device != "auto" else "cpu")
    domain = load_domain(args.domain, args.split, size=int(card["input_size"]))
    report = full_report(model, domain)
    summary = {"checkpoint": args.checkpoint, "domain": args.domain, "split": args.split,
               "accuracy": round(report.accuracy, 3), "ece": round(report.ece, 3), "n": report.n,
               "per_class": [_finite(v) for v in report.per_class], "method": card.get("method")}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{args.domain}/{args.split}: accuracy {report.accuracy:.2f}% on {report.n} images, ECE {report.ece:.2f}%")
        for name, acc in zip(card["class_names"], report.per_class):
            print(f"  {name:>12}: {acc:6.1f}%")
    return 0


def cmd_zoo(args) -> int:
    from . import zoo

    if args.action == "table":
        print(zoo.markdown_table())
        return 0
    if args.action == "list":
        rows = zoo.entries()
        if args.json:
            print(json.dumps(rows))
        elif not rows:
            print("no pretrained models shipped; build them with: python -m core zoo rebuild")
        for row in rows if not args.json else []:
            print(f"{row['name']:<40} target {row['target_acc']:6.2f}%   {row['size_kb']:7.0f} KB")
        return 0
    return zoo.rebuild(tiny=args.tiny, seeds=args.seeds, device=args.device, steps=args.steps,
                       out_dir=args.out, scenarios=args.scenario, methods=args.method)


def cmd_bench(args) -> int:
    from . import bench

    return bench.main(device=args.device, as_json=args.json, small=args.small, quick=args.quick)


def cmd_domains(args) -> int:
    from .data import describe_domains

    for name, text in describe_domains().items():
        print(f"{name:<12} {text}")
    return 0


def cmd_methods(args) -> int:
    from .methods import FAMILIES, METHODS, ordered

    for name in ordered():
        cls = METHODS[name]
        print(f"{name:<16} {cls.label} [{FAMILIES[cls.family]}]: {cls.summary}")
        for key, h in cls.hyperparameters.items():
            bounds = f" [{h.low:g}, {h.high:g}]" if h.low is not None and h.high is not None else ""
            print(f"    --set {key}={h.default!s:<8} {h.help}{bounds}")
    return 0


def _selection_bar(total: int, quiet: bool, desc: str):
    """A tqdm bar on stderr over all training steps of a tune/recommend call, and its callback."""
    from tqdm import tqdm

    bar = tqdm(total=total, file=sys.stderr, desc=desc, unit="step", disable=quiet, dynamic_ncols=True)

    def on_step(what: str, step: int, steps: int) -> None:
        if step == 1:
            bar.set_postfix_str(what, refresh=False)
        bar.update(1)

    return bar, on_step


def cmd_tune(args) -> int:
    from .recipes import recipe
    from .selection import tune

    steps = args.steps or recipe(args.method).steps
    bar, on_step = _selection_bar(args.trials * steps, args.quiet, f"tune {args.method} {args.source}→{args.target}")
    try:
        out = tune(args.method, args.source, args.target, trials=args.trials, validator=args.validator,
                   storage=args.storage, seed=args.seed, device=args.device, steps=args.steps, out_dir=args.out,
                   threads=args.threads, progress=on_step)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(out))
    else:
        for t in out["trials"]:
            acc = "—" if t["target_acc"] is None else f"{t['target_acc']:.1f}%"
            score = "failed" if t["score"] is None else f"{t['score']:.4f}"
            print(f"trial {t['number']:>3} {t['state']:<8} {args.validator} {score:>9}  target {acc:>6}  {t['params']}")
        print(f"best: {out['best']}\nSpearman(validator, target accuracy) over {out['completed']} trials: "
              f"{out['spearman']}")
    return 0


def cmd_recommend(args) -> int:
    from .selection import RECOMMEND_STEPS, candidate_methods, recommend

    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    n = len(methods or candidate_methods())
    bar, on_step = _selection_bar(n * (args.steps or RECOMMEND_STEPS), args.quiet,
                                  f"recommend {args.source}→{args.target}")
    try:
        out = recommend(args.source, args.target, validator=args.validator, seed=args.seed, device=args.device,
                        out_dir=args.out, steps=args.steps, methods=methods, threads=args.threads, progress=on_step)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(out))
    else:
        for c in out["candidates"]:
            acc = "—" if c["target_acc"] is None else f"{c['target_acc']:.1f}%"
            score = c["error"] or f"{c['score']:.4f}"
            print(f"{c['method']:<16} {out['validator']} {score}  (target {acc}, for reference)")
        print(f"recommended: {out['recommended']}  checkpoint: {out['checkpoint']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .methods import METHODS

    parser = argparse.ArgumentParser(prog="python -m core", description="ShiftLab: domain adaptation")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model")
    t.add_argument("--method", default="dann", help=f"one of: {', '.join(METHODS)}")
    t.add_argument("--source", default="mnist")
    t.add_argument("--target", default="mnistm")
    t.add_argument("--steps", type=int, default=None, help="training steps (default: the method's recipe, 1500)")
    t.add_argument("--batch-size", type=int, default=None, help="images per domain per step (default 64)")
    t.add_argument("--lr", type=float, default=None, help="learning rate (default 1e-3, Adam)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    t.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    t.add_argument("--accel", default="auto", choices=ACCEL_CHOICES,
                   help="CUDA fast path: graph (capture each step in a CUDA graph), compile (+ torch.compile), "
                        "off; auto = graph on CUDA for methods that allow it")
    t.add_argument("--lr-rule", default="none", choices=tuple(LR_RULES),
                   help="scale the learning rate with the batch size: lr·(B/64)^½ (sqrt) or lr·B/64 (linear)")
    t.add_argument("--warmup", type=float, default=0.0, metavar="FRACTION",
                   help="linear learning-rate warm-up over this fraction of the steps (e.g. 0.1 for large batches)")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t.add_argument("--eval-every", type=int, default=None, help="steps between target evaluations (default 100)")
    t.add_argument("--out", default=None, help="checkpoint folder (default runs/...)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="method hyperparameter, repeatable")
    t.add_argument("--json", action="store_true")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate a checkpoint on a domain")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--domain", required=True)
    e.add_argument("--split", default="test", choices=("train", "test"))
    e.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval)

    z = sub.add_parser("zoo", help="list or rebuild the pretrained models")
    z.add_argument("action", choices=("list", "rebuild", "table"),
                   help="list the shipped models, rebuild them, or print the leaderboard as Markdown")
    z.add_argument("--tiny", action="store_true", help="a few steps per model, into a temporary folder (CI)")
    z.add_argument("--seeds", type=int, default=None, help="seeds per model (default 3; 1 with --tiny)")
    z.add_argument("--steps", type=int, default=None, help="steps per model (default: recipes.ZOO_STEPS)")
    z.add_argument("--out", default=None, help="zoo folder to write (default pretrained/ or $SHIFTLAB_ZOO_DIR)")
    z.add_argument("--scenario", action="append", metavar="SOURCE->TARGET",
                   help="rebuild only this scenario (repeatable); the leaderboard is merged")
    z.add_argument("--method", action="append", metavar="M",
                   help="rebuild only this method (repeatable; distill needs an adapted method too)")
    z.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    z.add_argument("--json", action="store_true")
    z.set_defaults(func=cmd_zoo)

    b = sub.add_parser("bench", help="throughput benchmark: textbook loop vs ShiftLab engine")
    b.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    b.add_argument("--small", action="store_true", help="a few steps of each row, to check it runs (CI)")
    b.add_argument("--quick", action="store_true", help="skip the accuracy-equality seeds (throughput and plateau only)")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bench)

    from .selection import DEFAULT_VALIDATOR
    from .validators import VALIDATORS

    def selection_args(p):
        p.add_argument("--source", required=True)
        p.add_argument("--target", required=True)
        p.add_argument("--validator", default=DEFAULT_VALIDATOR, help=f"one of: {', '.join(VALIDATORS)}")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
        p.add_argument("--steps", type=int, default=None, help="training steps per model")
        p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
        p.add_argument("--out", default=None, help="checkpoint folder")
        p.add_argument("--json", action="store_true")
        p.add_argument("--quiet", action="store_true", help="no progress bar")

    tu = sub.add_parser("tune", help="search a method's settings, scored by a label-free validator")
    tu.add_argument("--method", required=True, help=f"one of: {', '.join(METHODS)}")
    tu.add_argument("--trials", type=int, default=10)
    tu.add_argument("--storage", default=None, help="sqlite:///PATH.db or an SQLAlchemy URL: share the study")
    selection_args(tu)
    tu.set_defaults(func=cmd_tune)

    rc = sub.add_parser("recommend", help="train the candidate methods and recommend one, without target labels")
    rc.add_argument("--methods", default=None, help="comma-separated candidates (default: every adapted method)")
    selection_args(rc)
    rc.set_defaults(func=cmd_recommend)

    sub.add_parser("domains", help="list domains").set_defaults(func=cmd_domains)
    sub.add_parser("methods", help="list methods and hyperparameters").set_defaults(func=cmd_methods)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, RuntimeError, FileNotFoundError) as err:
        # DomainError, BadCheckpoint, unknown method/device, TrainingError: one clear line, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
