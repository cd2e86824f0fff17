"""``python -m core eval``: a checkpoint (folder, zip or zoo name) on a domain's split."""

from __future__ import annotations

from .common import add_device, emit_json, finite


def add_parser(sub) -> None:
    e = sub.add_parser("eval", help="evaluate a checkpoint on a domain")
    e.add_argument("--checkpoint", required=True, help="a checkpoint folder or zip, or a zoo name (SOURCE->TARGET/METHOD)")
    e.add_argument("--domain", default=None, help="the domain to evaluate on (default: the checkpoint's target)")
    e.add_argument("--split", default="test", choices=("train", "test"))
    add_device(e)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=run)


def run(args) -> int:
    from ..data import check_domain_spec, load_domain
    from ..training.plan import check_inputs
    from ..util.device import resolve_device
    from ..evaluation import model_report
    from ..zoo.refs import load_ref

    model, card = load_ref(args.checkpoint, device=resolve_device(args.device))
    domain_name = args.domain or card["target"]
    check_domain_spec(domain_name)
    check_inputs(str(card.get("backbone") or "digits_cnn"), domain_name)  # a point model on pictures, or the reverse
    domain = load_domain(domain_name, args.split, size=int(card["input_size"]), classes=card["class_names"])
    report = model_report(model, domain)
    summary = {"checkpoint": args.checkpoint, "domain": domain_name, "split": args.split,
               "accuracy": finite(report["accuracy"]), "ece": finite(report["ece"]), "n": report["n"],
               "per_class": [finite(v) for v in report["per_class"]], "method": card.get("method"),
               "skipped": len(domain.skipped)}
    if args.json:
        emit_json(summary)
    else:
        print(f"{domain_name}/{args.split}: accuracy {report['accuracy']:.2f}% on {report['n']} images, "
              f"ECE {report['ece']:.2f}%")
        for name, acc in zip(card["class_names"], report["per_class"]):
            print(f"  {name:>12}: {acc:6.1f}%")
        for name, why in list(domain.skipped.items())[:20]:
            print(f"  skipped {name}: {why}")
    return 0
