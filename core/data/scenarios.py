"""Scenarios and the names people read: a scenario is a (source, target) pair of domain specs,
keyed ``"source->target"`` wherever it is stored (the leaderboard, zoo names, studies).

    >>> s = Scenario.parse("mnist->mnistm")
    >>> s.source, s.target, s.key
    ('mnist', 'mnistm', 'mnist->mnistm')
    >>> Scenario.parse("syndigits → mnist").label
    'SynDigits → MNIST'
"""

from __future__ import annotations

from typing import NamedTuple

ARROW = "->"


class Scenario(NamedTuple):
    """A (source, target) pair of domain specs."""

    source: str
    target: str

    @property
    def key(self) -> str:
        """``"source->target"``: how a scenario is stored and named."""
        return f"{self.source}{ARROW}{self.target}"

    @property
    def label(self) -> str:
        """"MNIST → MNIST-M": the domains' own labels (:func:`domain_label`)."""
        return f"{domain_label(self.source)} → {domain_label(self.target)}"

    @classmethod
    def parse(cls, text) -> "Scenario":
        """A scenario from ``"source->target"`` (``→`` accepted, spaces ignored) or a (source, target)
        pair; ValueError saying the expected form otherwise."""
        if isinstance(text, Scenario):
            return text
        if isinstance(text, (tuple, list)) and len(text) == 2 and all(isinstance(t, str) for t in text):
            return cls(*text)
        if isinstance(text, str):
            source, sep, target = text.replace("→", ARROW).partition(ARROW)
            if sep and source.strip() and target.strip() and ARROW not in target:
                return cls(source.strip(), target.strip())
        raise ValueError(f"scenario {text!r} should read SOURCE->TARGET, e.g. mnist->mnistm")


def scenario_key(source: str, target: str) -> str:
    """``"mnist->mnistm"``: :attr:`Scenario.key` of a pair."""
    return Scenario(source, target).key


def domain_label(name: str) -> str:
    """The name people read for a domain spec, as each domain declares it: ``mnistm`` → "MNIST-M",
    ``mnist+syndigits`` → "MNIST + SynDigits", ``folder:/x/photos`` → "photos (your folder)"; a
    name no domain declares is shown as it is; ``toy:moons?rotate=35`` → "Two moons (rotated 35°)"."""
    if name.startswith("toy:") and "+" not in name:
        from .toy import toy_label

        return toy_label(name)
    if "+" in name and not name.startswith(("folder:", "zip:")):
        return " + ".join(domain_label(part) for part in name.split("+"))
    if name.startswith(("folder:", "zip:")):
        from pathlib import Path

        kind, path = name.split(":", 1)
        return f"{Path(path.rstrip('/')).stem or path} (your {'zip' if kind == 'zip' else 'folder'})"
    return declared_labels().get(name, name)


def declared_labels() -> dict[str, str]:
    """Every named domain's display label, as its module declares it (``LABELS``)."""
    from . import downloads, embedded, toy

    return {**embedded.LABELS, **downloads.LABELS, **toy.LABELS}
