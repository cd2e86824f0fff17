"""What a training run is given and what it gives back: :class:`TrainConfig`, :class:`Progress`,
:class:`TrainResult`. Kept apart from the engine so that recipes, the CLI and the job manager can
describe runs without importing the training loop.

Every numeric field has a declared range (:data:`RANGES`); :meth:`TrainConfig.validate` checks
them before any work starts, and the CLI builds its argument checks from the same table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import torch

PRECISIONS = ("auto", "fp32", "bf16")
DATA_MODES = ("auto", "resident", "stream")
OPTIMIZERS = ("adam", "sgd")
LR_RULES = {"none": 0.0, "sqrt": 0.5, "linear": 1.0}
LR_REFERENCE_BATCH = 64  # the batch size the recipes' learning rates were tuned at

#: Allowed (low, high) of each numeric field, inclusive. Upper bounds keep a careless value from
#: trying to allocate hundreds of gigabytes before anything can say no.
RANGES: dict[str, tuple[float, float]] = {
    "steps": (1, 1_000_000),
    "batch_size": (1, 65_536),
    "lr": (1e-8, 10.0),
    "weight_decay": (0.0, 1.0),
    "seed": (0, 2**63 - 1),
    "eval_every": (0, 1_000_000),
    "threads": (1, 1024),
    "warmup": (0.0, 0.99),
    "sync_every": (1, 100_000),
    "image_size": (8, 1024),
    "data_budget_mb": (1, 1 << 24),
    "data_workers": (0, 64),
}
#: Most pixels one batch may hold (batch_size × image_size², per domain): 64 × 224² × 32.
MAX_BATCH_PIXELS = 64 * 224 * 224 * 32


def _default_method() -> str:
    from ..methods import default_method

    return default_method()


@dataclass
class TrainConfig:
    method: str = field(default_factory=_default_method)
    source: str = "mnist"
    target: str = "mnistm"
    steps: int = 1000
    batch_size: int = 64          # images per domain per step
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    lr_anneal: bool = False       # DANN's lr₀/(1+10p)^0.75; off by default (see core/recipes.py)
    seed: int = 0
    device: str = "auto"
    eval_every: int = 100         # steps between target-test evaluations (0: only at the end)
    threads: int | None = None    # torch CPU threads (None: measured on a CPU, core.training.speed)
    precision: str = "auto"       # "fp32", "bf16" (autocast) or "auto": measured (core.training.speed)
    channels_last: bool | None = None  # NHWC memory layout; None: measured (core.training.speed), else as given
    accel: str = "auto"           # "auto", "off", "graph" (CUDA graph), "compile" (+ torch.compile); see core.training.accel
    lr_rule: str = "none"         # large-batch rule: lr × (batch_size / 64)^k, k = ½ ("sqrt") or 1 ("linear")
    warmup: float = 0.0           # linear lr warm-up over this fraction of the steps (for large batches)
    sync_every: int | None = None # steps between reading losses back (None: 1 on CPU, 25 on accelerators)
    arch: str = "digits_cnn"      # backbone: digits_cnn, resnet18, resnet50 (core.models.ARCH_INFO)
    image_size: int | None = None # square input side every domain is resized to (None: the source's own size)
    pretrained: str | None = None # initial backbone weights: a safetensors file, a checkpoint, or "imagenet"
    data: str = "auto"            # "resident" (whole splits in memory), "stream" (DataLoader from disk), "auto"
    data_budget_mb: int = 2048    # auto: folder/zip domains whose decoded splits exceed this stream from disk
    data_workers: int | None = None  # DataLoader worker processes per streamed domain (None: from the CPUs)
    model: dict = field(default_factory=dict)  # more model-spec keys (width, feature_dim, batch_norm)
    hparams: dict = field(default_factory=dict)

    def validate(self) -> "TrainConfig":
        """Check every field against its declared range or choices; ValueError naming the field and
        what is valid. Returns self. Method hyperparameters are checked by the method's Hyper."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in RANGES and value is not None:
                check_range(f.name, value, *RANGES[f.name])
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")
        if self.lr_rule not in LR_RULES:
            raise ValueError(f"unknown lr_rule {self.lr_rule!r}; choose one of {', '.join(LR_RULES)}")
        if not isinstance(self.hparams, dict) or not isinstance(self.model, dict):
            raise ValueError("hparams and model must be dicts")
        if self.data not in DATA_MODES:
            raise ValueError(f"unknown data mode {self.data!r}; choose one of {', '.join(DATA_MODES)}")
        if self.model.get("arch", self.arch) != self.arch:
            raise ValueError(f"model['arch']={self.model['arch']!r} contradicts arch={self.arch!r}; set arch")
        from ..models import check_arch

        check_arch(self.arch, self.image_size)  # unknown names and too-small sizes, listing what is valid
        if self.image_size is not None and self.batch_size * self.image_size ** 2 > MAX_BATCH_PIXELS:
            raise ValueError(f"batch_size {self.batch_size} × image_size {self.image_size}² is more than "
                             f"{MAX_BATCH_PIXELS:,} pixels per domain per step; lower one of them")
        return self

    def model_spec(self) -> dict:
        """The model spec the engine builds from: ``model`` keys and the architecture (initial
        weights, ``pretrained``, are read by :func:`core.training.plan.prepare_run`)."""
        return {**self.model, "arch": self.arch}


def check_range(name: str, value, low, high) -> None:
    """ValueError unless ``value`` is a finite number in [low, high] (integers for integer bounds)."""
    integer = isinstance(low, int) and isinstance(high, int)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not float(value).is_integer()):
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {kind} in [{low:g}, {high:g}], got {value!r}")
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must be in [{low:g}, {high:g}], got {value!r}")


def effective_lr(config: TrainConfig) -> float:
    """The learning rate after the large-batch rule: lr · (batch_size / 64)^k.

    k = ½ ("sqrt", the usual rule for Adam), 1 ("linear", Goyal et al. 2017, for SGD) or 0 ("none").

    >>> effective_lr(TrainConfig(lr=1e-3, batch_size=1024, lr_rule="sqrt"))
    0.004
    """
    if config.lr_rule not in LR_RULES:
        raise ValueError(f"unknown lr_rule {config.lr_rule!r}; choose one of {', '.join(LR_RULES)}")
    return config.lr * (config.batch_size / LR_REFERENCE_BATCH) ** LR_RULES[config.lr_rule]


@dataclass
class Progress:
    """What the progress callback receives after every step."""

    step: int
    total: int
    losses: dict[str, float]
    metrics: dict[str, float]     # latest evaluation, e.g. {"target_acc": 71.2}
    elapsed: float
    images_per_s: float
    preview: object | None = None  # at evaluations, what the method shows of itself (uint8 (n,3,H,W) pictures)


@dataclass
class TrainResult:
    model: torch.nn.Module
    card: dict
    history: list[dict]
    target_acc: float
    source_acc: float
    seconds: float
    images_per_s: float
    steps_done: int
    cancelled: bool = False
    checkpoint: str | None = None
    method: object | None = None  # the trained Method (its other modules: a generator, a discriminator)
    source_val_acc: float = float("nan")  # on the held-out source validation split (engine.split_source)
