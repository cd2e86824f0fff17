"""Accuracy estimated without labels: how good a model is likely to be on pictures nobody labelled.

Every module in this package is imported here, so a new file with a ``@register``-ed
:class:`Estimator` subclass is all it takes for an estimator to be offered by ``core estimate``,
the study and the dashboard::

    from core.estimators import Inputs, fit_source, get_estimator, result
    fit = fit_source(val_logits, val_labels)          # source validation split; kept in the card
    result(get_estimator(), Inputs(target_logits, fit, pool_logits))
    # {"estimator": ..., "estimated_acc": 81.3, "low": 74.0, "high": 88.6, "range_from": ..., "n_pictures": 300}

Which estimator is the default is measured (``scripts/studies/estimate_study.py``, docs/estimate.md),
not assumed. Loading a model's source fit and its pool is :mod:`core.inference.estimate`'s job.
"""

import importlib
import pkgutil

from .base import (CALIBRATION_PATH, CARD_KEY, ESTIMATORS, MIN_PICTURES, RANGE_QUANTILE, Estimator, EstimatorError, fit_model,
                   Inputs, atc_threshold, bootstrap, calibration, check_source_fit, default_name, estimate_range,
                   fit_source, get_estimator, msp, neg_entropy, register, result, sentence)

_SKIP = {"base"}


def _discover() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name not in _SKIP and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_discover()

__all__ = ["CALIBRATION_PATH", "CARD_KEY", "ESTIMATORS", "MIN_PICTURES", "RANGE_QUANTILE", "Estimator",
           "EstimatorError", "Inputs", "atc_threshold", "bootstrap", "calibration", "check_source_fit",
           "default_name", "estimate_range", "fit_model", "fit_source", "get_estimator", "msp", "neg_entropy", "register",
           "result", "sentence"]
