"""``python -m core domains`` and ``python -m core methods``: what can be loaded and trained."""

from __future__ import annotations


def add_parser(sub) -> None:
    sub.add_parser("domains", help="list domains").set_defaults(func=domains)
    sub.add_parser("methods", help="list methods and hyperparameters").set_defaults(func=methods)


def domains(args) -> int:
    from ..data import describe_domains

    for name, text in describe_domains().items():
        print(f"{name:<12} {text}")
    return 0


def methods(args) -> int:
    from ..methods import FAMILIES, METHODS, ordered

    for name in ordered():
        cls = METHODS[name]
        print(f"{name:<16} {cls.label} [{FAMILIES[cls.family]}]: {cls.summary}")
        for key, h in cls.hyperparameters.items():
            bounds = f" [{h.low:g}, {h.high:g}]" if h.low is not None and h.high is not None else ""
            print(f"    --set {key}={h.default!s:<8} {h.help}{bounds}")
    return 0
