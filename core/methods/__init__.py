"""Adaptation methods, one file each, registered by name (:mod:`.registry`).

Every module in this package is imported here, so a new file with a ``@register``-ed
:class:`Method` subclass is all it takes for a method to be listed, trained and shown::

    from core.methods import Method, Hyper, register, Batch
"""

import importlib
import pkgutil

from ..util.settings import Hyper
from .base import Batch, Context, Method
from .registry import (ADAPTED_FAMILIES, FAMILIES, METHODS, baseline, by_family, default_method, get_method,
                       needs_pictures, ordered, register, runs_on_points, unregister)

_INFRASTRUCTURE = {"base", "registry", "mean_teacher"}  # shared pieces, no method of their own


def _discover() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name not in _INFRASTRUCTURE and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_discover()

__all__ = ["ADAPTED_FAMILIES", "FAMILIES", "METHODS", "Batch", "Context", "Hyper", "Method", "get_method",
           "baseline", "by_family", "default_method", "needs_pictures", "ordered", "register", "runs_on_points",
           "unregister"]
