"""``python -m core adapt``: test-time adaptation of a model to a domain's unlabelled pictures.

    python -m core adapt --target folder:my_photos [--model REF] [--method shot_im] [--out DIR] [--json]

Takes up to ``--max-images`` pictures of the target's *train* split (labels never read), adapts a
copy of the model with :func:`core.tta.adapt` (episodic, guarded), reports the accuracy on the
target's *test* split before and after (reporting only) and, with ``--out``, saves the model that
came out — the adapted copy, or the original when the guard kept it — as a checkpoint.
``--json`` prints one object: ``model, method, target, before_acc, after_acc, seconds, checkpoint,
verdict`` (+ ``reason, n_images, adapt_seconds, before, after, normalize, normalize_reason``).
"""

from __future__ import annotations

from .common import add_device, emit_json, number_in, parse_sets, prepare_out_dir


def add_parser(sub) -> None:
    from ..inference.normalize import DEFAULT_INGEST, INGEST_CHOICES
    from ..tta import DEFAULT_METHOD, ordered

    a = sub.add_parser("adapt", help="test-time adaptation of a model to a domain's unlabelled pictures")
    a.add_argument("--model", default=None, help="checkpoint folder/zip or zoo name (default: the universal model, "
                                                 "pretrained/universal)")
    a.add_argument("--target", required=True,
                   help="domain whose train pictures (unlabelled) are adapted to, e.g. folder:PATH or zip:PATH")
    a.add_argument("--method", default=DEFAULT_METHOD, choices=ordered(),
                   help=f"test-time adaptation (default {DEFAULT_METHOD}: the largest gain on the LODO models)")
    a.add_argument("--max-images", type=number_in("max_images", int, 1, 100_000), default=500,
                   help="at most this many train pictures (default 500; at least 8 are needed)")
    a.add_argument("--normalize", default=DEFAULT_INGEST, choices=INGEST_CHOICES,
                   help="how pictures enter the model: none (as they are), centre (made MNIST-like first, "
                        "core.imageio.centre_like_mnist) or auto (the default: chosen per batch from the model's "
                        "predictions, label-free; the JSON says which and why)")
    a.add_argument("--set", action="append", metavar="KEY=VALUE", help="TTA setting (e.g. steps=5), repeatable")
    a.add_argument("--seed", type=number_in("seed", int), default=0, help="which pictures, and the TTA shuffling")
    add_device(a)
    a.add_argument("--threads", type=number_in("threads", int), default=None, help="torch CPU threads")
    a.add_argument("--out", default=None, help="write the resulting checkpoint here (default: none written)")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=run)


def run(args) -> int:
    from ..checkpoints import CHECKPOINT_FILES
    from ..data import check_domain_spec
    from ..util.device import resolve_device
    from ..tta import get_tta_method
    from ..tta.domain import adapt_to_domain

    settings = parse_sets(args.set)
    get_tta_method(args.method)(**settings)  # unknown or out-of-range settings fail before any work
    check_domain_spec(args.target)
    out = prepare_out_dir(args.out, CHECKPOINT_FILES) if args.out else None
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    summary = adapt_to_domain(args.model, args.target, args.method, device=str(resolve_device(args.device)),
                              out_dir=out, max_images=args.max_images, normalize=args.normalize,
                              seed=args.seed, settings=settings)
    if args.json:
        emit_json(summary)
    else:
        def pct(v):
            return "—" if v is None else f"{v:.2f}%"

        print(f"pictures read {summary['normalize']}: {summary['normalize_reason']}")
        print(f"{summary['method']} on {summary['n_images']} pictures of {args.target}: {summary['verdict']} "
              f"({summary['reason']})\naccuracy on its test split {pct(summary['before_acc'])} → "
              f"{pct(summary['after_acc'])}  ({summary['adapt_seconds']:.1f} s adapting)\n"
              f"checkpoint: {summary['checkpoint'] or 'none written (give --out DIR)'}")
    return 0
