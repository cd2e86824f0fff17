"""Adaptation methods, one file each, registered by name in :data:`METHODS`."""

from .base import METHODS, Batch, Context, Hyper, Method, get_method, register
from . import source_only, oracle, finetune, dann, mmd, adda, self_training, distill  # noqa: E402,F401  (registration)

__all__ = ["METHODS", "Batch", "Context", "Hyper", "Method", "get_method", "register"]
