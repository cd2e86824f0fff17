"""Test-time adaptation: adapt a trained model to a batch of unlabelled pictures, guarded.

    from core.tta import adapt
    result = adapt(model, images, method="shot_im")  # images: (N, 3, H, W) float in [0, 1], N ≥ 8
    result.verdict, result.reason                     # "adapted" / "kept the original", and why
    result.model                                      # the adapted copy, or the original model
    result.before, result.after                       # label-free statistics of both on the pictures

Methods (one file each here, discovered automatically — :data:`TTA_METHODS`): ``bn_stats``
(re-estimate BatchNorm statistics), ``tent`` (entropy minimisation of the BN affine parameters),
``shot_im`` (information maximisation of the feature extractor, head frozen). One module, one job:
:mod:`.base` (the contract and shared machinery), :mod:`.guard` (the label-free guard, :func:`adapt`),
:mod:`.domain` (adapting to a domain's pictures: ``python -m core adapt``).
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import TTA_METHODS, TTAMethod, batch_norm_layers, get_tta_method, reestimate_bn_statistics, register
from .guard import ADAPTED, DEFAULT_METHOD, KEPT, TTAResult, adapt, distinct_pictures

_INFRASTRUCTURE = {"base", "guard", "domain"}


def _discover() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name not in _INFRASTRUCTURE and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_discover()


def ordered() -> list[str]:
    """TTA method names in display order."""
    return sorted(TTA_METHODS, key=lambda n: (TTA_METHODS[n].order, n))


__all__ = ["ADAPTED", "DEFAULT_METHOD", "KEPT", "TTAMethod", "TTAResult", "TTA_METHODS", "adapt", "batch_norm_layers",
           "distinct_pictures", "get_tta_method", "ordered", "reestimate_bn_statistics", "register"]
