"""The Method interface and the registry that maps names to method classes.

A method owns its networks and optimisers and exposes one call per training step:

    losses = method.train_step(batch, progress)   # progress p = step / total ∈ [0, 1); 0-d tensors
    losses = method.step(batch, progress)         # the same, as Python floats (waits for the device)

The default :meth:`Method.train_step` computes :meth:`Method.loss`, backpropagates and takes one
optimiser step at the learning rate of :meth:`Method.lr_factor` (constant by default; optionally
the DANN annealing lr₀ / (1 + 10 p)^0.75 and a linear warm-up).
Methods with several players (ADDA) override :meth:`train_step` instead.

A method whose step has no data-dependent Python branches and reads ``progress`` only through
tensor operations sets ``graph_safe = True``: the engine may then capture its whole step
(forward, backward, optimiser) in one CUDA graph, with ``progress`` a 0-d device tensor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..models import Classifier


@dataclass
class Batch:
    """One step's data, float images in [0, 1] on the training device.

    xs: (B, 3, H, W) source images, ys: (B,) source labels;
    xt: (B, 3, H, W) target images, yt: (B,) target labels — ``None`` unless the method
    is allowed target labels (``target_labels`` is ``"all"`` or ``"few"``).
    """

    xs: torch.Tensor
    ys: torch.Tensor
    xt: torch.Tensor
    yt: torch.Tensor | None = None


@dataclass
class Context:
    """What a method may know about the run besides its hyperparameters."""

    device: torch.device
    source_classes: list[str]
    target_classes: list[str]
    steps: int
    seed: int = 0
    generator: torch.Generator | None = None
    amp_dtype: torch.dtype | None = None  # autocast dtype for forward passes (None: full fp32)
    fused_optimizer: bool = False         # fused (single-kernel) Adam/SGD updates (CUDA, CPU)
    capturable: bool = False              # optimiser state on the device, safe to capture in a CUDA graph
    # trained models the method asked for through ``Hyper(kind="model")`` hyperparameters, loaded by
    # the engine: hyperparameter name -> (model in eval mode on ``device``, its card)
    models: dict = field(default_factory=dict)

    def autocast(self):
        """Mixed-precision context for a forward pass (a no-op when ``amp_dtype`` is None)."""
        # autocast's cache of down-cast weights must be off while a CUDA graph is captured
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.bfloat16,
                              enabled=self.amp_dtype is not None, cache_enabled=not self.capturable)


@dataclass
class Hyper:
    """A hyperparameter as the rest of the system sees it: the CLI validates ``--set`` against it,
    the app builds its form from it and ``core tune`` searches it.

    ``default``: its value unless set (its type is the hyperparameter's type);
    ``help``: one sentence for people; ``label``: a short name for forms and tables;
    ``low`` / ``high``: the allowed range (inclusive) for numbers;
    ``search``: the range ``core tune`` samples, ``(low, high, "log" | "linear")`` for numbers or a
    tuple of choices (None: not tuned); ``kind``: ``"value"``, or ``"model"`` for a reference to a
    trained model (a zoo name or a checkpoint path) that the engine loads and hands to the method as
    ``ctx.models[name]`` (a teacher, say); ``required``: a ``"model"`` reference that must be given.
    """

    default: float | int | str | bool
    help: str
    low: float | None = None
    high: float | None = None
    label: str | None = None
    search: tuple | None = None
    kind: str = "value"
    required: bool = False

    def __post_init__(self):
        if self.kind not in ("value", "model"):
            raise ValueError(f"Hyper kind must be 'value' or 'model', not {self.kind!r}")

    def display_label(self, name: str) -> str:
        return self.label or name.replace("_", " ").capitalize()

    def coerce(self, name: str, value):
        """``value`` as this hyperparameter's type, checked against its range; ValueError naming
        ``name`` (and what is valid) otherwise."""
        kind = type(self.default)
        try:
            if kind is bool:
                if isinstance(value, str):
                    if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError
                    value = value.lower() in ("true", "1", "yes")
                out = bool(value)
            elif kind is int:
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                out = int(value)
            elif kind is float:
                out = float(value)
            else:
                out = str(value)
        except (TypeError, ValueError):
            raise ValueError(f"hyperparameter {name!r} must be {kind.__name__}, got {value!r}") from None
        if kind in (int, float):
            import math

            if not math.isfinite(out):
                raise ValueError(f"hyperparameter {name!r} must be a finite number, got {value!r}")
            if (self.low is not None and out < self.low) or (self.high is not None and out > self.high):
                raise ValueError(f"hyperparameter {name!r} must be in [{self.low:g}, {self.high:g}], got {value!r}")
        return out


#: Method families in display order: what a method is for, which decides where the zoo, the
#: leaderboard and the pages put it. ``adapted`` families learn from unlabelled target pictures.
FAMILIES: dict[str, str] = {
    "baseline": "Baseline (source only)",
    "upper_bound": "Upper bound (target labels)",
    "few_label": "Few target labels",
    "unsupervised": "Unsupervised adaptation",
    "source_free": "Source-free adaptation",
    "generalization": "Domain generalisation",
    "student": "Distilled student",
}
ADAPTED_FAMILIES = ("unsupervised", "source_free")


class Method:
    """Subclass, set the class attributes below, implement :meth:`loss` (or :meth:`train_step`),
    and decorate with :func:`register`: that is all the CLI, the zoo and the app need."""

    name: ClassVar[str] = "base"
    label: ClassVar[str] = ""          # display label, e.g. "DANN" (default: the name, capitalised)
    short_label: ClassVar[str] = ""    # for narrow table columns and legends (default: label)
    summary: ClassVar[str] = ""        # one sentence for people
    family: ClassVar[str] = "unsupervised"  # one of FAMILIES
    in_zoo: ClassVar[bool] = True      # shipped by `zoo rebuild` for every scenario
    order: ClassVar[int] = 100         # position within its family (lower first)
    recipe: ClassVar[dict] = {}        # TrainConfig fields this method trains with by default (core.recipes)
    app_steps: ClassVar[int] = 500     # the app's short-run default (about half a minute on a laptop CPU)
    # which target labels the engine hands over: "none" (unsupervised DA), "few" (k per class), "all"
    target_labels: ClassVar[str] = "none"
    hyperparameters: ClassVar[dict[str, Hyper]] = {}
    # True when train_step can be captured in a CUDA graph (see the module docstring)
    graph_safe: ClassVar[bool] = False

    def __init__(self, model: Classifier, ctx: Context, lr: float = 1e-3, weight_decay: float = 0.0,
                 optimizer: str = "adam", lr_anneal: bool = True, warmup: float = 0.0, **hparams):
        self.model = model
        self.ctx = ctx
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer_name = optimizer
        self.lr_anneal = lr_anneal
        if not 0.0 <= warmup < 1.0:
            raise ValueError(f"warmup is a fraction of the steps in [0, 1), not {warmup}")
        self.warmup = warmup
        unknown = set(hparams) - set(self.hyperparameters)
        if unknown:
            raise ValueError(f"unknown hyperparameter(s) {sorted(unknown)} for method {self.name!r}; "
                             f"valid: {sorted(self.hyperparameters) or 'none'}")
        self.hp = {k: h.coerce(k, hparams[k]) if k in hparams else h.default
                   for k, h in self.hyperparameters.items()}
        self.setup()
        self.optimizer = self.make_optimizer(self.trainable_modules())

    # ---- what the rest of the system asks ----------------------------------------------------
    @classmethod
    def model_hyperparameters(cls) -> list[str]:
        """Names of the hyperparameters that reference a trained model (a teacher, say)."""
        return [k for k, h in cls.hyperparameters.items() if h.kind == "model"]

    @classmethod
    def is_adapted(cls) -> bool:
        """Whether the method adapts with unlabelled target pictures (a candidate "adapted" model)."""
        return cls.family in ADAPTED_FAMILIES

    # ---- to override -------------------------------------------------------------------------
    def setup(self) -> None:
        """Create extra modules (discriminators, heads) here."""

    def trainable_modules(self) -> list[nn.Module]:
        return [self.model]

    def loss(self, batch: Batch, progress: float) -> dict[str, torch.Tensor]:
        """Return a dict with the total ``"loss"`` and any components to log."""
        raise NotImplementedError

    def eval_model(self) -> Classifier:
        """The network that predicts target labels (what is evaluated and saved)."""
        return self.model

    def export_modules(self) -> dict[str, nn.Module]:
        """Other trained modules worth saving beside the classifier (a pixel-level GAN's generator),
        each with a JSON ``.spec`` that :func:`core.models.build_extra` rebuilds. None by default."""
        return {}

    # ---- shared machinery --------------------------------------------------------------------
    def make_optimizer(self, modules: list[nn.Module], lr: float | None = None, betas=(0.9, 0.999)):
        params = [p for m in modules for p in m.parameters() if p.requires_grad]
        lr = self.lr if lr is None else lr
        fast = {}
        if self.ctx.fused_optimizer:
            fast["fused"] = True
        if self.ctx.capturable:  # a device-resident lr, rewritten in place by anneal()
            fast["capturable"] = True
            lr_value = torch.tensor(float(lr), device=self.ctx.device)
        else:
            lr_value = lr
        if self.optimizer_name == "sgd":
            fast.pop("capturable", None)  # SGD keeps no step count; a tensor lr is enough with fused
            opt = torch.optim.SGD(params, lr=lr_value, momentum=0.9, weight_decay=self.weight_decay, **fast)
        elif self.optimizer_name == "adam":
            opt = torch.optim.Adam(params, lr=lr_value, betas=betas, weight_decay=self.weight_decay, **fast)
        else:
            raise ValueError(f"unknown optimizer {self.optimizer_name!r}; choose adam or sgd")
        for g in opt.param_groups:
            g["initial_lr"] = float(lr)
        return opt

    def lr_factor(self, progress: float | torch.Tensor) -> float | torch.Tensor:
        """The learning-rate multiplier at progress p (a tensor p gives a tensor):

            (1 + 10 p)^−0.75          when ``lr_anneal`` is on (Ganin & Lempitsky 2015), else 1,
            × min(1, (p·T + 1) / (w·T)) when ``warmup`` w > 0: a linear ramp over the first w·T of
                                        the T steps (Goyal et al. 2017, for large batches).
        """
        is_tensor = isinstance(progress, torch.Tensor)
        factor = (1 + 10 * progress) ** -0.75 if self.lr_anneal else 1.0
        if self.warmup > 0:
            steps = max(1, self.ctx.steps)
            ramp = (progress * steps + 1) / (self.warmup * steps)
            factor = factor * (ramp.clamp(max=1.0) if is_tensor else min(1.0, ramp))
        return factor

    def anneal(self, optimizer: torch.optim.Optimizer, progress: float | torch.Tensor) -> None:
        """Set every group's lr to lr₀ · :meth:`lr_factor` (a no-op at a constant rate).

        A tensor learning rate (capturable optimisers) is updated in place, so a captured step
        sees the new value.
        """
        if not (self.lr_anneal or self.warmup > 0):
            return
        for g in optimizer.param_groups:
            if isinstance(g["lr"], torch.Tensor):
                g["lr"].fill_(g["initial_lr"] * self.lr_factor(progress))
            else:
                g["lr"] = g["initial_lr"] * self.lr_factor(float(progress))

    def train_step(self, batch: Batch, progress: float | torch.Tensor) -> dict[str, torch.Tensor]:
        """One optimisation step; returns the detached loss terms as 0-d tensors (no host sync)."""
        self.model.train()
        self.anneal(self.optimizer, progress)
        with self.ctx.autocast():
            losses = self.loss(batch, progress)
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        self.optimizer.step()
        return {k: torch.as_tensor(v).detach().float() for k, v in losses.items()}

    def step(self, batch: Batch, progress: float) -> dict[str, float]:
        """:meth:`train_step`, with the losses read back as Python floats."""
        return {k: float(v) for k, v in self.train_step(batch, progress).items()}

    @staticmethod
    def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), labels)  # loss in fp32 under autocast


METHODS: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    """Class decorator adding a method to :data:`METHODS` under ``cls.name``.

    Checks the declaration (family, target labels, labels) so a mistake fails at import, not in
    the app; fills ``label`` / ``short_label`` when not given.
    """
    if not cls.name or not cls.name.replace("_", "").isalnum() or cls.name != cls.name.lower():
        raise ValueError(f"method name {cls.name!r} must be lower-case letters, digits and '_'")
    if cls.name in METHODS:
        raise ValueError(f"method {cls.name!r} registered twice")
    if cls.family not in FAMILIES:
        raise ValueError(f"method {cls.name!r}: family {cls.family!r} is not one of {', '.join(FAMILIES)}")
    if cls.target_labels not in ("none", "few", "all"):
        raise ValueError(f"method {cls.name!r}: target_labels must be 'none', 'few' or 'all'")
    if not cls.label:
        cls.label = cls.name.replace("_", " ").capitalize()
    if not cls.short_label:
        cls.short_label = cls.label
    METHODS[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove a method from the registry (for tests that register one at run time)."""
    METHODS.pop(name, None)


def get_method(name: str) -> type[Method]:
    """The method class called ``name``; unknown names raise listing the valid ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(METHODS)}") from None
