"""The model card: what a checkpoint says about itself (see :mod:`core.checkpoints` for the format).

:func:`make_card` builds a card for a trained model, :func:`validate_card` checks a card read from
an untrusted file (keys, types, ranges), :func:`build_meta` rebuilds the card's architecture on the
meta device (no memory) so weights can be checked against it before anything is allocated.
Cards are strict JSON: NaN and infinities become ``null``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import platform
from typing import Any

import torch
from torch import nn

CARD_FORMAT = "shiftlab-checkpoint/1"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "card.json"
REQUIRED_KEYS = ("format", "model", "class_names", "method", "source", "target", "input_size")
MAX_CARD_BYTES = 4 * 1024 * 1024     # card.json
MAX_INPUT_SIZE = 1024                # largest input_size a card may declare (evaluation memory)

PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt", ".tar", ".joblib"}
PICKLE_REFUSAL = ("only safetensors + card.json checkpoints are accepted; pickled .pt files are "
                  "refused because loading them can run code")


class BadCheckpoint(ValueError):
    """The file/folder/bytes given is not a valid, safe ShiftLab checkpoint (the message says why)."""


def _torchvision_version() -> str:
    """torchvision's ``__version__`` without importing torchvision (which costs a process ~130 MB
    resident: measured in the app, where nothing else imports it): read from its version.py."""
    import importlib.util
    import re
    import sys
    from pathlib import Path

    if "torchvision" in sys.modules:
        return sys.modules["torchvision"].__version__
    spec = importlib.util.find_spec("torchvision")
    text = Path(spec.origin).with_name("version.py").read_text()
    return re.search(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", text, re.M).group(1)


def _versions() -> dict[str, str | None]:
    try:
        tv = _torchvision_version()
    except Exception:  # pragma: no cover - torchvision is a requirement
        tv = None
    try:
        from core import __version__ as shiftlab
    except Exception:  # pragma: no cover
        shiftlab = None
    return {"torch": torch.__version__, "torchvision": tv,
            "python": platform.python_version(), "shiftlab": shiftlab}


def make_card(model: nn.Module, *, method: str, source: str, target: str, class_names,
              metrics: dict | None = None, hyperparameters: dict | None = None,
              seed: int | None = None, training_seconds: float | None = None,
              device: Any = None, extra: dict | None = None) -> dict:
    """Build a valid card for ``model`` (a :class:`core.models.Classifier`).

    ``model``, ``backbone`` and ``input_size`` come from ``model.spec``; ``versions`` and
    ``created`` (UTC, ISO 8601) are filled in.  ``extra`` (e.g. ``name``, ``history``) is merged
    last.  Raises ``ValueError`` (:class:`BadCheckpoint`) if the result is not a valid card.
    """
    spec = dict(getattr(model, "spec", None) or {})
    if not spec:
        raise ValueError("model has no .spec; build it with core.models.build_model")
    card: dict[str, Any] = {
        "format": CARD_FORMAT,
        "model": spec,
        "backbone": spec.get("arch"),
        "input_size": int(getattr(model, "input_size", spec.get("input_size", 0))),
        "class_names": [str(c) for c in class_names],
        "method": str(method),
        "source": str(source),
        "target": str(target),
        "metrics": {str(k): strict_json(None if v is None else float(v)) for k, v in (metrics or {}).items()},
        "hyperparameters": strict_json(dict(hyperparameters or {})),
        "seed": None if seed is None else int(seed),
        "training_seconds": None if training_seconds is None else float(training_seconds),
        "device": None if device is None else str(device),
        "versions": _versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if extra:
        card.update(strict_json(extra))
    check_card_matches_model(card, model)
    return card


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def validate_card(card: Any) -> dict:
    """Check the card's keys and types (not the weights); return it or raise :class:`BadCheckpoint`."""
    if not isinstance(card, dict):
        raise BadCheckpoint(f"card.json must hold a JSON object, not {type(card).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in card]
    if missing:
        raise BadCheckpoint(f"card.json lacks required key(s) {missing}; required: {list(REQUIRED_KEYS)}")
    fmt = card["format"]
    if fmt != CARD_FORMAT:
        if isinstance(fmt, str) and fmt.startswith("shiftlab-checkpoint/"):
            raise BadCheckpoint(f"checkpoint format {fmt!r} is not supported by this version "
                                f"(expected {CARD_FORMAT!r})")
        raise BadCheckpoint(f"card.json format is {fmt!r}, expected {CARD_FORMAT!r}")
    spec = card["model"]
    if not isinstance(spec, dict):
        raise BadCheckpoint("card.json 'model' must be a JSON object (the model spec)")
    if not isinstance(spec.get("arch"), str):
        raise BadCheckpoint("card.json model spec needs an 'arch' string")
    if "weights_path" in spec:
        raise BadCheckpoint("card.json model spec must not contain 'weights_path' "
                            "(a checkpoint may not point at other files)")
    for k, v in spec.items():
        if not (v is None or isinstance(v, (str, int, float, bool))):
            raise BadCheckpoint(f"card.json model spec key {k!r} must be a number, string or bool")
    names = card["class_names"]
    if not isinstance(names, list) or not names or not all(isinstance(c, str) for c in names):
        raise BadCheckpoint("card.json 'class_names' must be a non-empty list of strings")
    for key in ("method", "source", "target"):
        if not isinstance(card[key], str):
            raise BadCheckpoint(f"card.json {key!r} must be a string")
    size = card["input_size"]
    if not is_int(size) or not 1 <= size <= MAX_INPUT_SIZE:
        raise BadCheckpoint(f"card.json 'input_size' must be an integer in 1..{MAX_INPUT_SIZE}, got {size!r}")
    extras = card.get("extras")
    if extras is not None and not (
            isinstance(extras, dict) and all(isinstance(k, str) and isinstance(v, dict)
                                             and isinstance(v.get("kind"), str)
                                             and all(isinstance(x, (str, int, float, bool)) or x is None
                                                     for x in v.values())
                                             for k, v in extras.items())):
        raise BadCheckpoint("card.json 'extras' must map names to module specs with a 'kind'")

    def opt(key, ok, what):
        if key in card and card[key] is not None and not ok(card[key]):
            raise BadCheckpoint(f"card.json {key!r} must be {what}")

    opt("name", lambda v: isinstance(v, str), "a string")
    opt("backbone", lambda v: isinstance(v, str), "a string")
    opt("metrics", lambda v: isinstance(v, dict)
        and all(x is None or _is_number(x) for x in v.values()), "an object of name → number")
    opt("hyperparameters", lambda v: isinstance(v, dict), "an object")
    opt("seed", is_int, "an integer")
    opt("training_seconds", _is_number, "a number")
    opt("device", lambda v: isinstance(v, str), "a string")
    opt("versions", lambda v: isinstance(v, dict)
        and all(x is None or isinstance(x, str) for x in v.values()), "an object of name → string")
    opt("created", lambda v: isinstance(v, str), "an ISO date string")
    opt("history", lambda v: isinstance(v, list), "a list")
    return card


def build_meta(card: dict) -> nn.Module:
    """Build the card's architecture on the meta device (no memory, no weights)."""
    from core.models import build_model

    try:
        with torch.device("meta"):
            model = build_model(card["model"])
    except ValueError as e:
        raise BadCheckpoint(f"card.json model spec is invalid: {e}") from e
    check_card_vs_built(card, model)
    return model


def check_card_vs_built(card: dict, model: nn.Module) -> None:
    n = int(model.num_classes)
    if len(card["class_names"]) != n:
        raise BadCheckpoint(f"card.json lists {len(card['class_names'])} class_names but the "
                            f"model spec has num_classes={n}")
    if card["input_size"] != int(model.input_size):
        raise BadCheckpoint(f"card.json input_size={card['input_size']} differs from the model "
                            f"spec's input_size={model.input_size}")


def check_card_matches_model(card: dict, model: nn.Module) -> None:
    """For saving: the card must be valid and describe exactly this model."""
    validate_card(card)
    spec = dict(getattr(model, "spec", None) or {})
    if json.loads(json.dumps(card["model"])) != json.loads(json.dumps(spec)):
        raise BadCheckpoint(f"card 'model' spec {card['model']} does not match the model's "
                            f"spec {spec}")
    check_card_vs_built(card, model)
    try:
        json.dumps(card, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise BadCheckpoint(f"card is not JSON-serialisable: {e}") from e




def strict_json(value):
    """``value`` with every non-finite float replaced by None (recursively): strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def card_bytes(card: dict) -> bytes:
    """The card as strict JSON bytes (ValueError if it holds NaN or infinities)."""
    return (json.dumps(card, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
