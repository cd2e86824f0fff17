"""Label-free validators: score a trained model without target labels, higher is better.

Every module in this package is imported here, so a new file with a ``@register``-ed
:class:`Validator` subclass is all it takes for a validator to be offered by ``core tune``,
``core recommend`` and the validator study::

    from core.validators import gather_evidence, get_validator
    ev = gather_evidence(model, "mnist", "mnistm")   # logits + features, computed once
    {name: get_validator(name).score(ev) for name in VALIDATORS}

Which validator to trust is measured, not assumed: ``scripts/studies/validator_study.py``.
"""

import importlib
import pkgutil

from .base import (EVIDENCE_FIELDS, VALIDATORS, Evidence, Validator, ValidatorError,
                   get_validator, min_images_table, register)

_SKIP = {"base", "evidence"}


def _discover() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name not in _SKIP and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_discover()

from .evidence import gather_evidence, largest_class_share, score_all, score_pool_all  # noqa: E402  (after the validators are registered)

__all__ = ["EVIDENCE_FIELDS", "VALIDATORS", "Evidence", "Validator", "ValidatorError",
           "gather_evidence", "get_validator", "largest_class_share", "min_images_table", "register", "score_all",
           "score_pool_all"]
