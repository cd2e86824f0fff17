"""Names people read: domains, methods (from the method registry), scenarios."""

from __future__ import annotations

ZOO_MISSING = "No pretrained models yet — run `python -m core zoo rebuild` (or train one on the Train page)."


def domain_label(name: str) -> str:
    """The domain's own label (:func:`core.data.domain_label`): ``mnistm`` → "MNIST-M"."""
    from core.data import domain_label as declared

    return declared(name)


def method_label(name: str, short: bool = False) -> str:
    """The method's declared label (or short label) from the registry."""
    from core.methods import METHODS

    cls = METHODS.get(name)
    if cls is None:
        return name.replace("_", " ").capitalize()
    return cls.short_label if short else cls.label


def scenario_label(scenario) -> str:
    """"MNIST → MNIST-M" for a (source, target) pair or a ``"source->target"`` key."""
    from core.data import Scenario

    return Scenario.parse(scenario).label


def scenario_key(scenario) -> str:
    """``"mnist->mnistm"`` for a (source, target) pair."""
    from core.data import Scenario

    return Scenario.parse(scenario).key
