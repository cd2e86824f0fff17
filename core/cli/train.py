"""``python -m core train``: train one method from a source to a target domain.

Under ``torchrun --nproc_per_node N -m core train ...`` it trains data-parallel (see
:mod:`core.training.distributed`): ``--batch-size`` is the global batch, rank 0 alone shows progress,
writes the checkpoint and prints the result (with ``world_size``); the other ranks print nothing.
"""

from __future__ import annotations

import os
import sys
import time

from ..training.config import DATA_MODES, LR_RULES, PRECISIONS
from .common import (add_device, default_run_dir, emit_json, finite, number_in, parse_sets,
                     prepare_out_dir, progress_bar)


def add_parser(sub) -> None:
    from ..training.accel import ACCEL_CHOICES
    from ..methods import default_method, ordered

    t = sub.add_parser("train", help="train a model")
    t.add_argument("--method", default=default_method(), help=f"one of: {', '.join(ordered())}")
    t.add_argument("--source", default="mnist", help="a domain, or several joined by '+'")
    t.add_argument("--target", default="mnistm")
    t.add_argument("--steps", type=number_in("steps", int), default=None,
                   help="training steps (default: the method's recipe, 1500)")
    t.add_argument("--batch-size", type=number_in("batch_size", int), default=None,
                   help="images per domain per step (default 64); under torchrun the global batch, "
                        "split evenly over the ranks")
    t.add_argument("--lr", type=number_in("lr"), default=None, help="learning rate (default 1e-3, Adam)")
    t.add_argument("--seed", type=number_in("seed", int), default=0)
    from ..models import ARCH_INFO

    t.add_argument("--arch", default=None, choices=tuple(ARCH_INFO),
                   help="backbone (default: digits_cnn for pictures, mlp for toy: point domains): " + "; ".join(
                       f"{a}: {i['label']}" + (f", ≥ {i['min_size']} px" if i["input"] == "pictures" else "")
                       for a, i in ARCH_INFO.items()))
    t.add_argument("--image-size", type=number_in("image_size", int), default=None, metavar="N",
                   help="resize every domain to N×N (default: the source's own size: 28 digits, 32 CIFAR, "
                        "28 for folders and zips)")
    t.add_argument("--pretrained", default=None, metavar="PATH|imagenet",
                   help="initial backbone weights: a safetensors state dict (torchvision naming), a ShiftLab "
                        "checkpoint, or 'imagenet' (torchvision's weights; needs internet once)")
    t.add_argument("--data", default="auto", choices=DATA_MODES,
                   help="resident: whole splits in memory; stream: folder/zip pictures read from disk by "
                        "DataLoader workers; auto: stream what does not fit --data-budget")
    t.add_argument("--data-budget", type=number_in("data_budget_mb", int), default=None, metavar="MB",
                   help="decoded megabytes of pictures auto keeps in memory (default 2048)")
    t.add_argument("--data-workers", type=number_in("data_workers", int), default=None, metavar="N",
                   help="decoding processes per streamed domain (default: from the CPUs)")
    add_device(t)
    t.add_argument("--precision", default="auto", choices=PRECISIONS)
    t.add_argument("--accel", default="auto", choices=ACCEL_CHOICES,
                   help="CUDA fast path: graph (capture each step in a CUDA graph), compile (+ torch.compile), "
                        "off; auto = graph on CUDA for methods that allow it")
    t.add_argument("--lr-rule", default="none", choices=tuple(LR_RULES),
                   help="scale the learning rate with the batch size: lr·(B/64)^½ (sqrt) or lr·B/64 (linear)")
    t.add_argument("--warmup", type=number_in("warmup"), default=0.0, metavar="FRACTION",
                   help="linear learning-rate warm-up over this fraction of the steps (e.g. 0.1 for large batches)")
    t.add_argument("--threads", type=number_in("threads", int), default=None, help="torch CPU threads")
    t.add_argument("--eval-every", type=number_in("eval_every", int), default=None,
                   help="steps between target evaluations (default 100; 0: only at the end)")
    t.add_argument("--out", default=None, help="checkpoint folder (default runs/...)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="method hyperparameter, repeatable")
    t.add_argument("--json", action="store_true")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=run)


def _plan(args):
    """The run's plan from the arguments (:func:`core.training.plan.prepare_run`): the method and
    its settings, ranges, domains, --pretrained, the world size, a teacher — all checked once,
    before any data is loaded or any step is trained."""
    from ..training.plan import prepare_run
    from ..training.recipes import recipe

    hparams = parse_sets(args.set)
    given = {k: v for k, v in {"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
                                "eval_every": args.eval_every, "threads": args.threads,
                                "image_size": args.image_size, "data_budget_mb": args.data_budget,
                                "data_workers": args.data_workers}.items() if v is not None}
    config = recipe(args.method, args.source, args.target, seed=args.seed, device=args.device,
                    precision=args.precision, accel=args.accel, lr_rule=args.lr_rule, warmup=args.warmup,
                    arch=args.arch, pretrained=args.pretrained, data=args.data, hparams=hparams, **given)
    return prepare_run(config)


def run(args) -> int:
    from ..training import distributed
    from ..checkpoints import CHECKPOINT_FILES
    from ..training.engine import train

    rank = int(os.environ.get("RANK", "0"))
    try:
        plan = _plan(args)
        out = None
        if rank == 0:
            out = prepare_out_dir(args.out or default_run_dir(args.method, args.source, args.target,
                                                              f"seed{args.seed}"), CHECKPOINT_FILES)
    except (ValueError, OSError, LookupError):
        if rank != 0:  # every rank finds the same problem: rank 0 alone says it
            time.sleep(3)  # before torchrun, seeing this rank fail, stops rank 0 mid-sentence
            sys.exit(2)
        raise
    world = distributed.init(plan.config.device)
    try:
        code = _train(args, plan, out, world, train)
    except BaseException:
        distributed.shutdown(wait=False)  # the other ranks stop too (torchrun tears the group down)
        raise
    distributed.shutdown()
    return code


def _train(args, plan, out, world, train) -> int:
    config = plan.config
    bar = progress_bar(config.steps, f"{args.method} {args.source}→{args.target}", args.quiet or not world.main)

    def on_progress(p):
        bar.update(1)
        if p.step % 10 == 0 or p.step == p.total:
            post = {"loss": f"{p.losses['loss']:.3f}", "img/s": f"{p.images_per_s:.0f}"}
            if "target_acc" in p.metrics:
                post["target"] = f"{p.metrics['target_acc']:.1f}%"
            bar.set_postfix(post, refresh=False)

    try:
        result = train(plan, progress=on_progress, out_dir=out)
    finally:
        bar.close()
    if not world.main:
        return 0
    data = result.card.get("data") or {}
    summary = {"method": args.method, "source": args.source, "target": args.target,
               "target_acc": finite(result.target_acc), "source_acc": finite(result.source_acc),
               "seconds": round(result.seconds, 2), "images_per_s": round(result.images_per_s, 1),
               "checkpoint": result.checkpoint, "steps": result.steps_done, "seed": args.seed,
               "arch": config.arch, "image_size": data.get("image_size"), "world_size": world.size,
               "data": sorted(set((data.get("modes") or {}).values())),
               **{k: v for k, v in data.items() if k.startswith("skipped")}}
    skipped = {k[len("skipped_"):]: v for k, v in summary.items() if k.startswith("skipped_") and v}
    if args.json:
        emit_json(summary)
    else:
        if skipped:
            print("unreadable files skipped (names in the domain's `eval` output): "
                  + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in skipped.items()))
        source = "n/a (other label space)" if summary["source_acc"] is None else f"{result.source_acc:.2f}%"
        print(f"target accuracy {result.target_acc:.2f}%  source accuracy {source}  "
              f"({result.seconds:.1f} s, {result.images_per_s:.0f} images/s)\ncheckpoint: {result.checkpoint}")
    return 0
