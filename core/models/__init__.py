"""Model zoo of architectures, built from a JSON-able spec (never from code in a file).

>>> m = build_model({"arch": "digits_cnn", "num_classes": 10, "input_size": 28})
>>> m(torch.rand(2, 3, 28, 28)).shape
torch.Size([2, 10])
"""

from __future__ import annotations

from typing import Callable

import torch  # noqa: F401  (used in the doctest)
from torch import nn

from .backbones import (DIGITS_MIN_INPUT, RESNET_MIN_INPUT, DigitsCNN, Normalize, PointMLP, ResNet18Backbone,
                        ResNet50Backbone, ResNetBackbone)
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
        input_norm=str(spec.get("input_norm", "dataset")),
    )


def _resnet18(spec: dict) -> nn.Module:
    return ResNet18Backbone(input_size=int(spec.get("input_size", 224)))


def _resnet50(spec: dict) -> nn.Module:
    return ResNet50Backbone(input_size=int(spec.get("input_size", 224)))


def _mlp(spec: dict) -> nn.Module:
    return PointMLP(in_dim=int(spec.get("input_size", 2)), width=float(spec.get("width", 1.0)),
                    feature_dim=int(spec.get("feature_dim", 2)))


ARCHITECTURES: dict[str, Callable[[dict], nn.Module]] = {
    "digits_cnn": _digits,
    "resnet18": _resnet18,
    "resnet50": _resnet50,
    "mlp": _mlp,
}

#: Per architecture: what it takes (``input``: "pictures" (B, 3, S, S) or "points" (B, D)), the
#: smallest input side (pictures) or dimension (points) it accepts, its default, and whether
#: torchvision has ImageNet weights for it (``--pretrained imagenet``). The CLI, the config check,
#: the run plan and the Train page's form read this table.
ARCH_INFO: dict[str, dict] = {
    "digits_cnn": {"input": "pictures", "min_size": DIGITS_MIN_INPUT, "default_size": 28, "imagenet": False,
                   "label": "Digits CNN (LeNet-style, 0.5M parameters)"},
    "resnet18": {"input": "pictures", "min_size": RESNET_MIN_INPUT, "default_size": 224, "imagenet": True,
                 "label": "ResNet-18 (11M parameters)"},
    "resnet50": {"input": "pictures", "min_size": RESNET_MIN_INPUT, "default_size": 224, "imagenet": True,
                 "label": "ResNet-50 (24M parameters)"},
    "mlp": {"input": "points", "min_size": 1, "default_size": 2, "imagenet": False,
            "label": "MLP for 2-D points (64-64 hidden, a 2-D feature bottleneck; 4.5k parameters)"},
}


def arches_for(kind: str) -> list[str]:
    """The architectures that take ``kind`` of input ("pictures" or "points"), in table order."""
    return [a for a, info in ARCH_INFO.items() if info["input"] == kind]


def check_arch(arch: str, image_size: int | None = None) -> None:
    """ValueError (one line, listing what is valid) for an unknown architecture or an image side
    too small for it."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; available: {', '.join(sorted(ARCHITECTURES))}")
    low = ARCH_INFO[arch]["min_size"]
    if image_size is not None and int(image_size) < low:
        fits = ", ".join(f"{a} ≥ {i['min_size']}" for a, i in ARCH_INFO.items() if i["input"] == "pictures")
        raise ValueError(f"image size {image_size} is too small for {arch} (needs ≥ {low} pixels; {fits})")

# Keys a spec may carry; anything else is refused (specs also come from untrusted cards).
SPEC_KEYS = {"arch", "num_classes", "input_size", "width", "feature_dim", "batch_norm", "mixstyle", "input_norm"}


def build_model(spec: dict) -> Classifier:
    """Build a fresh, randomly initialised :class:`Classifier` from ``spec`` (arch, num_classes,
    input_size, …). Initial weights from a file come through :mod:`core.checkpoints.pretrained`."""
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
    spec.setdefault("input_size", ARCH_INFO[arch]["default_size"])
    check_arch(arch, int(spec["input_size"]))
    backbone = ARCHITECTURES[arch](spec)
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
    "ARCHITECTURES", "ARCH_INFO", "Classifier", "DigitsCNN", "DomainDiscriminator", "GradientReversal",
    "MixStyle", "Normalize", "PointMLP", "ResNet18Backbone", "ResNet50Backbone", "ResNetBackbone", "arches_for", "build_extra", "build_model",
    "check_arch", "count_parameters", "dann_lambda", "grad_reverse", "mixing_domains", "register_extra",
]
