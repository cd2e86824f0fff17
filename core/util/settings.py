"""Declared settings: :class:`Hyper` (one hyperparameter as the CLI, the forms and the search see
it) and :func:`coerce_settings`, the one place raw values (``--set key=value`` strings, form values,
recipe entries) become typed, range-checked settings.

    >>> hypers = {"weight": Hyper(1.0, "A weight.", 0.0, 10.0)}
    >>> coerce_settings(hypers, {"weight": "2.5"}, "method 'demo'")
    {'weight': 2.5}
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Hyper:
    """A hyperparameter as the rest of the system sees it: the CLI validates ``--set`` against it,
    the app builds its form from it and ``core tune`` searches it.

    ``default``: its value unless set (its type is the hyperparameter's type);
    ``help``: one sentence for people; ``label``: a short name for forms and tables;
    ``low`` / ``high``: the allowed range (inclusive) for numbers;
    ``search``: the range ``core tune`` samples, ``(low, high, "log" | "linear")`` for numbers or a
    tuple of choices (None: not tuned); ``kind``: ``"value"``, or ``"model"`` for a reference to a
    trained model (a zoo name or a checkpoint path) that the run plan loads and hands to the method
    as ``ctx.models[name]`` (a teacher, say); ``required``: a ``"model"`` reference that must be given;
    ``was``: names the hyperparameter had before (cards, recipes and ``--set`` written with an old name
    still read: :func:`coerce_settings` maps them to this one).
    """

    default: float | int | str | bool
    help: str
    low: float | None = None
    high: float | None = None
    label: str | None = None
    search: tuple | None = None
    kind: str = "value"
    required: bool = False
    was: tuple[str, ...] = ()

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
            if not math.isfinite(out):
                raise ValueError(f"hyperparameter {name!r} must be a finite number, got {value!r}")
            if (self.low is not None and out < self.low) or (self.high is not None and out > self.high):
                raise ValueError(f"hyperparameter {name!r} must be in [{self.low:g}, {self.high:g}], got {value!r}")
        return out


def coerce_settings(hypers: dict[str, Hyper], raw: dict, owner: str, *, fill_defaults: bool = False,
                    noun: str = "setting") -> dict:
    """``raw`` settings checked against the declared ``hypers``: unknown names raise listing the
    valid ones (``owner`` says whose they are, e.g. "method 'dann'"), values are converted and
    range-checked by :meth:`Hyper.coerce` (``noun`` names them in messages). With ``fill_defaults`` every declared setting is in the
    result (its default where ``raw`` has none). A name a hyperparameter had before (``Hyper.was``)
    reads as its current name; both at once raise."""
    raw = renamed(hypers, raw, owner)
    unknown = sorted(set(raw) - set(hypers))
    if unknown:
        raise ValueError(f"unknown {noun}(s) {unknown} for {owner}; valid: {', '.join(hypers) or 'none'}")
    if fill_defaults:
        return {k: h.coerce(k, raw[k]) if k in raw else h.default for k, h in hypers.items()}
    return {k: hypers[k].coerce(k, v) for k, v in raw.items()}


def renamed(hypers: dict[str, Hyper], raw: dict, owner: str) -> dict:
    """``raw`` with every former name (``Hyper.was``) replaced by the hyperparameter's current name;
    ValueError when a setting is given under both."""
    former = {old: name for name, h in hypers.items() for old in h.was}
    out = {}
    for key, value in raw.items():
        name = former.get(key, key) if key not in hypers else key
        if name in out:
            olds = ", ".join(repr(o) for o in hypers[name].was)
            raise ValueError(f"{owner}: hyperparameter {name!r} given twice (its former name: {olds}); give it once")
        out[name] = value
    return out
