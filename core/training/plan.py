"""One run plan: everything a training run needs, resolved and checked once before any step.

    plan = prepare_run(config)      # fails here — before any data is loaded — on anything wrong
    result = train(plan)            # the engine takes the plan; nothing is resolved or loaded again

:func:`prepare_run` checks the configuration's ranges and choices, resolves the method (its class,
its settings coerced to their declared types), this process's place in a data-parallel world and its
device, the CUDA fast path, the picture size and the architecture, the domains' names and kind
(pictures, or the 2-D points of the toy domains: the architecture and the method must take them), reads the
``--pretrained`` weights once through the checkpoints' bounded readers and loads every trained
model the method asks for (a distillation teacher) once, frozen. The domains themselves (the data)
are loaded on first use of :attr:`RunPlan.domains` and kept, so scoring a trained model afterwards
(:mod:`core.selection`) reads the same tensors instead of loading them again. The CLI calls it to
fail before any work; the engine, the app's background jobs and selection take the plan.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch

from . import distributed
from .config import TrainConfig


@dataclass
class RunPlan:
    """A resolved run. ``config``: validated, ``hparams`` coerced; ``method``: the Method class;
    ``world``: this process's data-parallel place; ``device``: where it trains; ``accel``: the fast
    path (``off``, ``graph``, ``compile``); ``image_size``: the side every domain is read at;
    ``models``: ``{hyperparameter: (model frozen in eval mode on device, card)}`` for each
    ``Hyper(kind="model")`` reference; ``backbone_state``: the ``--pretrained`` tensors (or None)."""

    config: TrainConfig
    method: type
    world: distributed.World
    device: torch.device
    accel: str
    image_size: int
    models: dict = field(default_factory=dict)
    backbone_state: dict | None = None
    _domains: object | None = None

    @property
    def domains(self):
        """The run's four splits (:class:`core.data.run_domains.RunDomains`), loaded once on first use."""
        if self._domains is None:
            from ..data.run_domains import load_run_domains

            c = self.config
            self._domains = load_run_domains(c.source, c.target, self.image_size, c.data, c.data_budget_mb)
        return self._domains

    def with_domains(self, domains) -> "RunPlan":
        """This plan reading ``domains`` (loaded by another plan of the same source, target and size)."""
        self._domains = domains
        return self


def planned_world() -> distributed.World:
    """This process's data-parallel world: the initialised process group's, or the one torchrun's
    environment announces (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``) before the group is joined."""
    world = distributed.current()
    if world.parallel or not distributed.launched():
        return world
    env = os.environ
    return distributed.World(int(env.get("RANK", "0")), int(env.get("WORLD_SIZE", "1")), int(env.get("LOCAL_RANK", "0")))


def load_model_references(method_cls, hparams: dict, device) -> dict:
    """Load every ``Hyper(kind="model")`` reference the method declares (a teacher, say), frozen:
    name -> (model, card). A required one that is missing fails with the way to name one."""
    from ..zoo.refs import load_frozen

    loaded = {}
    for name in method_cls.model_hyperparameters():
        ref = str(hparams.get(name) or method_cls.hyperparameters[name].default or "")
        if not ref:
            if method_cls.hyperparameters[name].required:
                raise ValueError(f"method {method_cls.name!r} needs {name!r}: a checkpoint path or a zoo name "
                                 f"(see `python -m core zoo list`), e.g. --set {name}=mnist->mnistm/dann")
            continue
        loaded[name] = load_frozen(ref, device)
    return loaded


def check_inputs(arch: str, *specs: str, method_cls=None) -> str:
    """The kind of input (``"points"`` or ``"pictures"``) the domain ``specs`` hold, after checking
    that they hold one kind, that ``arch`` takes it and that the method (a Method class, optional)
    can train on it; ValueError / DomainError, one line saying what would, otherwise."""
    from ..data import DomainError, input_kind
    from ..methods import runs_on_points
    from ..models import ARCH_INFO, arches_for

    kinds = {spec: input_kind(spec) for spec in specs}
    if len(set(kinds.values())) > 1:
        shown = " and ".join(f"{spec} holds {kind}" for spec, kind in kinds.items())
        raise DomainError(f"{shown}: adapt between domains of one kind (toy: domains are 2-D points)")
    kind = next(iter(kinds.values()))
    takes = ARCH_INFO.get(arch, {}).get("input", "pictures")
    if kind == "points" and takes != "points":
        raise ValueError(f"{specs[0]} holds 2-D points, and {arch} takes pictures: "
                         f"use --arch {' or '.join(arches_for('points'))}")
    if kind == "pictures" and takes != "pictures":
        raise ValueError(f"{arch} takes 2-D points (toy: domains), and {specs[0]} holds pictures: "
                         f"use a picture backbone (--arch {', '.join(arches_for('pictures'))})")
    if kind == "points" and method_cls is not None and method_cls.needs_pictures:
        raise ValueError(f"method {method_cls.name!r} needs pictures, and toy domains are 2-D points; "
                         f"methods that run on points: {', '.join(runs_on_points())}")
    return kind


def prepare_run(config: TrainConfig, world: distributed.World | None = None) -> RunPlan:
    """Resolve and check ``config`` (see the module docstring); ValueError / DomainError naming what
    is wrong, before any data is loaded. ``world``: the data-parallel world (default :func:`planned_world`)."""
    from ..checkpoints.pretrained import read_pretrained
    from ..data import check_domain_spec, native_size
    from ..methods import get_method
    from ..models import check_arch
    from ..util.device import resolve_device
    from ..util.settings import coerce_settings
    from .accel import resolve_accel

    config.validate()  # ranges and choices
    method_cls = get_method(config.method)  # unknown names list the valid ones
    config.hparams = coerce_settings(method_cls.hyperparameters, config.hparams, f"method {config.method!r}",
                                     noun="hyperparameter")
    world = planned_world() if world is None else world
    distributed.check_batch(config.batch_size, world)
    distributed.check_method(method_cls, world)
    device = distributed.device_for(resolve_device(config.device), world)
    accel = resolve_accel(config.accel, device, method_cls)
    for spec in (config.source, config.target):
        check_domain_spec(spec)
    kind = check_inputs(config.arch, config.source, config.target, method_cls=method_cls)
    if kind == "points" and config.image_size not in (None, native_size(config.source)):
        raise ValueError(f"--image-size {config.image_size} does not apply: toy domains are 2-D points")
    size = config.image_size or native_size(config.source)
    try:
        check_arch(config.arch, size)
    except ValueError as err:
        raise ValueError(f"{err}; pass --image-size N") from None
    backbone_state = read_pretrained(config.arch, config.pretrained, size)  # offline ImageNet, bad files: now
    models = load_model_references(method_cls, config.hparams, device)
    return RunPlan(config, method_cls, world, device, accel, size, models, backbone_state)
