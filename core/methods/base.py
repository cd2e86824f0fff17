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
from . import optimizers
from ..util.settings import Hyper, coerce_settings


@dataclass
class Batch:
    """One step's data, float images in [0, 1] on the training device.

    xs: (B, 3, H, W) source images (or (B, D) points on a point domain), ys: (B,) source labels;
    xt: (B, 3, H, W) target images (or (B, D) points), yt: (B,) target labels — ``None`` unless the method
    is allowed target labels (``target_labels`` is ``"all"`` or ``"few"``);
    ds: (B,) int64 source-domain ids of ``xs`` when the source joins several domains
    (``--source mnist+syndigits``; ids index the source's ``domain_names``), else ``None``.
    """

    xs: torch.Tensor
    ys: torch.Tensor
    xt: torch.Tensor
    yt: torch.Tensor | None = None
    ds: torch.Tensor | None = None


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
    recipe: ClassVar[dict] = {}        # TrainConfig fields this method trains with by default (core.training.recipes)
    app_steps: ClassVar[int] = 500     # the app's short-run default (about half a minute on a laptop CPU)
    # which target labels the engine hands over: "none" (unsupervised DA), "few" (k per class), "all"
    target_labels: ClassVar[str] = "none"
    hyperparameters: ClassVar[dict[str, Hyper]] = {}
    # True when train_step can be captured in a CUDA graph (see the module docstring)
    graph_safe: ClassVar[bool] = False
    # model spec entries the method needs (e.g. {"mixstyle": True}); the engine builds the model
    # with them on top of the run's spec, so the card records them
    model_spec: ClassVar[dict] = {}
    # True when the method needs pictures (image tensors (B, 3, H, W)): a pixel-level generator,
    # picture augmentations, convolutional feature statistics. The run plan refuses such a method
    # on point domains (the toy data sets, ``toy:…``); every other method trains on points as it is.
    needs_pictures: ClassVar[bool] = False
    # TrainConfig fields (like ``recipe``) this method trains with on point domains, e.g. a smaller
    # discriminator for 2-D features (core.training.recipes)
    points_recipe: ClassVar[dict] = {}
    # The Playground's presets this method is the example of (core.training.playground.PRESETS keys,
    # e.g. "label": the label shift that hurts it). A preset without one uses the default method.
    playground_presets: ClassVar[tuple[str, ...]] = ()

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
        self.hp = coerce_settings(self.hyperparameters, hparams, f"method {self.name!r}", fill_defaults=True,
                                  noun="hyperparameter")
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
        from .registry import ADAPTED_FAMILIES

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
            opt = optimizers.SGD(params, lr=lr_value, momentum=0.9, weight_decay=self.weight_decay, **fast)
        elif self.optimizer_name == "adam":
            opt = optimizers.Adam(params, lr=lr_value, betas=betas, weight_decay=self.weight_decay, **fast)
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
