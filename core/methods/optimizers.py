"""Adam and SGD as ``torch.optim`` computes them, without importing torch's compiler stack.

``torch.optim``'s ``step`` (through ``_use_grad_for_differentiable``), ``zero_grad`` and
``add_param_group`` (through ``torch._disable_dynamo``) import ``torch._dynamo`` on their first
call: about 150 MB of resident memory and seconds of imports in a process that never compiles —
the hosted app's server among them (its whole budget is about 1 GB). These subclasses call the
same undecorated functions (``inspect.unwrap``), with gradients off as the decorator sets them, so
the update is the one ``torch.optim`` makes, kernel for kernel (fused or foreach alike); only the
compiler's graph-break markers, which eager execution ignores, are skipped. ``torch.compile``
(``--accel compile``) compiles the loss only, never the optimiser step.
"""

from __future__ import annotations

import inspect

import torch

_ADD_PARAM_GROUP = inspect.unwrap(torch.optim.Optimizer.add_param_group)
_ZERO_GRAD = inspect.unwrap(torch.optim.Optimizer.zero_grad)


class _Eager:
    """Mixin: the undecorated ``step``, ``zero_grad`` and ``add_param_group`` of the torch optimiser
    it precedes in the MRO."""

    _torch_step = None  # the undecorated step of the torch class, set by each subclass

    def add_param_group(self, param_group: dict) -> None:
        _ADD_PARAM_GROUP(self, param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        _ZERO_GRAD(self, set_to_none)

    def step(self, closure=None):
        with torch.set_grad_enabled(bool(self.defaults.get("differentiable", False))):
            return type(self)._torch_step(self, closure)


class Adam(_Eager, torch.optim.Adam):
    _torch_step = staticmethod(inspect.unwrap(torch.optim.Adam.step))


class SGD(_Eager, torch.optim.SGD):
    _torch_step = staticmethod(inspect.unwrap(torch.optim.SGD.step))
