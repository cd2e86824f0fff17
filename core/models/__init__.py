"""Model zoo of architectures, built from a JSON-able spec (never from code in a file).

>>> m = build_model({"arch": "digits_cnn", "num_classes": 10, "input_size": 28})
>>> m(torch.rand(2, 3, 28, 28)).shape
torch.Size([2, 10])
"""

from __future__ import annotations

from typing import Callable

import torch  # noqa: F401  (used in the doctest)
from torch import nn

from .backbones import DigitsCNN, Normalize, ResNet18Backbone
from .classifier import Classifier, DomainDiscriminator
from .grl import GradientReversal, dann_lambda, grad_reverse
from .mixstyle import MixStyle, mixing_domains


def _digits(spec: dict) -> nn.Module:
    return DigitsCNN(
        input_size=int(spec.get("input_size", 28)),
        width=float(spec.get("width", 1.0)),
        feature_dim=int(spec.get("feature_dim", 128)),
        batch_norm=bool(spec.get("batch_norm", False)),
        mixstyle=int(spec.get("mixstyle", 0)),
    )


def _resnet18(spec: dict) -> nn.Module:
    return ResNet18Backbone(input_size=int(spec.get("input_size", 224)),
                            weights_path=spec.get("weights_path"))


ARCHITECTURES: dict[str, Callable[[dict], nn.Module]] = {
    "digits_cnn": _digits,
    "resnet18": _resnet18,
}

# Keys a spec may carry; anything else is refused (specs also come from untrusted cards).
SPEC_KEYS = {"arch", "num_classes", "input_size", "width", "feature_dim", "batch_norm", "mixstyle", "weights_path"}


def build_model(spec: dict) -> Classifier:
    """Build a fresh :class:`Classifier` from ``spec`` (arch, num_classes, input_size, …)."""
    spec = dict(spec)
    arch = spec.get("arch", "digits_cnn")
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; available: {', '.join(sorted(ARCHITECTURES))}")
    extra = set(spec) - SPEC_KEYS
    if extra:
        raise ValueError(f"unknown model spec keys {sorted(extra)}; allowed: {sorted(SPEC_KEYS)}")
    num_classes = int(spec.get("num_classes", 10))
    if not 1 <= num_classes <= 10_000:
        raise ValueError(f"num_classes must be between 1 and 10000, got {num_classes}")
    spec.update(arch=arch, num_classes=num_classes)
    spec.setdefault("input_size", 28 if arch == "digits_cnn" else 224)
    backbone = ARCHITECTURES[arch](spec)
    spec.pop("weights_path", None)  # a local init file is not part of the saved architecture
    return Classifier(backbone, num_classes, spec)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not): the one way the project counts them."""
    return sum(p.numel() for p in model.parameters())


#: Builders of modules a checkpoint may carry beside its classifier (``card["extras"]``), by the
#: ``kind`` of their spec; a module file adds itself with :func:`register_extra`.
EXTRAS: dict[str, Callable[[dict], nn.Module]] = {}


def register_extra(kind: str):
    """Decorator: ``@register_extra("pixel_generator") def build(spec) -> nn.Module``."""
    def deco(builder):
        EXTRAS[kind] = builder
        return builder
    return deco


def build_extra(spec: dict) -> nn.Module:
    """Rebuild an extra module (a generator, say) from its JSON spec; ValueError for unknown kinds."""
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind not in EXTRAS:
        raise ValueError(f"unknown module kind {kind!r}; known: {', '.join(sorted(EXTRAS)) or 'none'}")
    return EXTRAS[kind](dict(spec))


# modules that register extras (imported after register_extra exists; they read it from here)
from . import generators  # noqa: E402,F401  ("pixel_generator": a pixel-level GAN's generator)


__all__ = [
    "ARCHITECTURES", "Classifier", "DigitsCNN", "DomainDiscriminator", "GradientReversal",
    "MixStyle", "Normalize", "ResNet18Backbone", "build_extra", "build_model", "count_parameters", "dann_lambda",
    "grad_reverse", "mixing_domains", "register_extra",
]
