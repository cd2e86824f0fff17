"""``python -m core estimate``: a model's accuracy on a target estimated from its unlabelled pictures.

    python -m core estimate --checkpoint "mnist->mnistm/dann" --target folder:photos --json
    {"model": ..., "target": ..., "split": "test", "estimator": "...", "estimated_acc": 71.2,
     "low": 63.0, "high": 79.4, "range_from": "...", "n_pictures": 300, "true_acc": 69.0}

Reads the same split as ``core eval`` (``--split test`` by default) exactly as ``eval`` does; the
labels, where the split has them, only give ``true_acc`` for reporting — the estimate never sees
them. ``--fit-zoo`` writes the source fit into the shipped cards that lack it (and exits).
"""

from __future__ import annotations

import sys

from .common import add_device, emit_json, finite, progress_bar


def add_parser(sub) -> None:
    e = sub.add_parser("estimate", help="a model's accuracy on a target estimated without labels")
    e.add_argument("--checkpoint", default=None, help="a checkpoint folder or zip, or a zoo name (SOURCE->TARGET/METHOD)")
    e.add_argument("--target", default=None, help="the pictures: a domain name, folder:PATH or zip:PATH "
                                                  "(default: the checkpoint's target)")
    e.add_argument("--split", default="test", choices=("train", "test"), help="which split (default test, as eval)")
    e.add_argument("--estimator", default=None,
                   help="which estimator (default: the study's choice; see docs/estimate.md)")
    e.add_argument("--fit-zoo", action="store_true",
                   help="write the source validation fit into the shipped models' cards that lack it, then exit")
    add_device(e)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=run)


def run(args) -> int:
    from ..estimators import ESTIMATORS, default_name

    if args.fit_zoo:
        from ..inference.estimate import fit_zoo

        written = fit_zoo(log=lambda line: print(line, file=sys.stderr, flush=True))
        if args.json:
            emit_json({"written": written})
        else:
            print(f"{len(written)} card(s) written")
        return 0
    if not args.checkpoint:
        raise ValueError("--checkpoint is needed (a checkpoint folder or zip, or a zoo name)")
    name = args.estimator or default_name()
    ESTIMATORS.lookup(name)  # an unknown name fails here, listing the valid ones, before any work

    from ..data import check_domain_spec, load_domain
    from ..evaluation import accuracy, predict_logits
    from ..inference.estimate import estimate_images
    from ..training.plan import check_inputs
    from ..util.device import resolve_device
    from ..zoo.refs import load_ref

    with progress_bar(4, "estimate", quiet=False) as bar:  # closed (a line of its own) before any error line
        model, card = load_ref(args.checkpoint, device=resolve_device(args.device))
        target = args.target or card["target"]
        check_domain_spec(target)
        check_inputs(str(card.get("backbone") or "digits_cnn"), target)
        bar.update(1)
        domain = load_domain(target, args.split, size=int(card["input_size"]), classes=card["class_names"])
        bar.update(1)
        logits = predict_logits(model, domain.images)
        res = estimate_images(model, card, domain.images, ref=args.checkpoint, estimator=name, logits=logits)
        bar.update(1)
        labelled = domain.labels is not None and len(domain.labels) and bool((domain.labels >= 0).all())
        true_acc = accuracy(logits, domain.labels) if labelled else None  # reporting only
        bar.update(1)
    out = {"model": args.checkpoint, "target": target, "split": args.split, "estimator": res["estimator"],
           "estimated_acc": finite(res["estimated_acc"], 1), "low": finite(res["low"], 1),
           "high": finite(res["high"], 1), "range_from": res["range_from"], "n_pictures": res["n_pictures"]}
    if true_acc is not None:
        out["true_acc"] = finite(true_acc, 1)
    if args.json:
        emit_json(out)
    else:
        print(f"{target}/{args.split}: estimated accuracy {out['estimated_acc']:.1f}% "
              f"(likely {out['low']:.1f}–{out['high']:.1f}%, {res['range_from']}) on {out['n_pictures']} pictures "
              f"by {res['estimator']}" + (f"; true accuracy {out['true_acc']:.1f}%" if true_acc is not None else ""))
    return 0
