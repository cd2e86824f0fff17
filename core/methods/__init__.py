"""Adaptation methods, one file each, registered by name in :data:`METHODS`.

Every module in this package is imported here, so a new file with a ``@register``-ed
:class:`Method` subclass is all it takes for a method to be listed, trained and shown::

    from core.methods import Method, Hyper, register, Batch
"""

import importlib
import pkgutil

from .base import (ADAPTED_FAMILIES, FAMILIES, METHODS, Batch, Context, Hyper, Method, get_method,
                   register, unregister)


def _discover() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name != "base" and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_discover()


def ordered(names=None) -> list[str]:
    """Method names in display order: by family (:data:`FAMILIES`), then ``order``, then name."""
    families = list(FAMILIES)
    names = list(METHODS) if names is None else [n for n in names if n in METHODS]
    return sorted(names, key=lambda n: (families.index(METHODS[n].family), METHODS[n].order, n))


def by_family(*families: str) -> list[str]:
    """Registered method names of the given families, in display order."""
    return [n for n in ordered() if METHODS[n].family in families]


def baseline() -> str:
    """The method every other is compared with (the first of family "baseline": source only)."""
    names = by_family("baseline")
    if not names:
        raise ValueError("no method of family 'baseline' is registered")
    return names[0]


def default_method() -> str:
    """What ``train`` runs when no method is named: the first unsupervised adaptation method."""
    names = by_family("unsupervised") or ordered()
    return names[0]


__all__ = ["ADAPTED_FAMILIES", "FAMILIES", "METHODS", "Batch", "Context", "Hyper", "Method", "get_method",
           "baseline", "by_family", "default_method", "ordered", "register", "unregister"]
