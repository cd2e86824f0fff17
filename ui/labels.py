"""Names people read: domains, methods (from the method registry), scenarios."""

from __future__ import annotations

DOMAIN_LABELS = {
    "mnist": "MNIST",
    "mnistm": "MNIST-M",
    "syndigits": "SynDigits",
    "ucidigits": "UCI digits",
    "mnist_full": "MNIST (full)",
    "usps": "USPS",
    "svhn": "SVHN",
}

ZOO_MISSING = "No pretrained models yet — run `python -m core zoo rebuild` (or train one on the Train page)."


def domain_label(name: str) -> str:
    """``mnist+syndigits`` → "MNIST + SynDigits"; ``folder:/x/photos`` → "photos (your folder)"."""
    if "+" in name:
        return " + ".join(domain_label(part) for part in name.split("+"))
    if name.startswith(("folder:", "zip:")):
        from pathlib import Path

        kind, path = name.split(":", 1)
        return f"{Path(path.rstrip('/')).stem or path} (your {'zip' if kind == 'zip' else 'folder'})"
    return DOMAIN_LABELS.get(name, name)


def method_label(name: str, short: bool = False) -> str:
    """The method's declared label (or short label) from the registry."""
    from core.methods import METHODS

    cls = METHODS.get(name)
    if cls is None:
        return name.replace("_", " ").capitalize()
    return cls.short_label if short else cls.label


def scenario_label(scenario) -> str:
    source, target = scenario
    return f"{domain_label(source)} → {domain_label(target)}"


def scenario_key(scenario) -> str:
    return f"{scenario[0]}->{scenario[1]}"
