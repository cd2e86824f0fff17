"""Toy domains: 2-D two-class (and few-class) point sets with a domain gap you can name and drag.

A spec ``toy:NAME?param=value&…`` is a domain wherever a domain is accepted (train, eval,
recommend, the Playground page), e.g. ``toy:moons?rotate=35&noise=0.1``::

    >>> d = load_toy("toy:moons?rotate=35", "train")
    >>> d.images.shape, d.images.dtype, d.classes, d.input_kind
    (torch.Size([1000, 2]), torch.float32, ['A', 'B'], 'points')
    >>> toy_label("toy:moons?rotate=35&noise=0.1")
    'Two moons (rotated 35°, noise +0.1)'

Data sets (:data:`DATASETS`): ``moons`` (scikit-learn's ``make_moons``, 2 classes), ``blobs``
(scikit-learn's ``make_blobs`` with its centres on a circle, 2–6 classes) and ``spirals`` (2–4
interleaved arms, drawn here: scikit-learn has no spiral generator). Every set is centred on the
origin with a spread of about ±1.5.

Shifts (:data:`PARAMS`, each with its range; the defaults leave the data as drawn), applied in
this order to the drawn points:

- ``prior`` — class-proportion (label) shift: the share of class A (the others share the rest
  equally); default balanced. p(x | y) is unchanged, only p(y) moves.
- ``concept`` — concept shift: the share of the points (the rightmost ones, as drawn) whose label
  moves on to the next class (A → B → … → A). p(x) is unchanged, so no alignment of the feature
  distributions can see it, let alone fix it.
- ``noise`` — extra Gaussian noise (std, in data units) on top of the set's own.
- ``scale`` — multiplies every point (about the origin).
- ``rotate`` — degrees, anticlockwise about the origin.
- ``dx``, ``dy`` — translation.

And ``classes`` (blobs, spirals), ``n`` (points per split) and ``seed`` (which draw). Each split is
drawn with a seed derived from the canonical spec (defaults dropped, keys sorted) and the split,
so a spec always gives the same points, train and test differ, and a shifted target is a fresh
draw, not the source's own points moved.

Why not skada's generators (``skada.datasets.make_shifted_datasets``, checked at 0.6.0): its shifts
are four fixed kinds (covariate shift by resampling, target shift, conditional shift, subspace)
over its own Gaussian-mixture geometry, with no angle, offset or proportion a slider could drag and
no concept shift; and it would bring POT (optimal transport, compiled) into the install for
three data sets. scikit-learn's maintained ``make_moons`` / ``make_blobs`` (already a dependency)
draw the base sets; the shifts are the few lines of NumPy below, deterministic by construction.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl

import numpy as np
import torch

from .base import DomainError, TensorDomain

PREFIX = "toy:"
DIM = 2                 # every toy domain holds 2-D points
MAX_CLASSES = 6


@dataclass(frozen=True)
class Param:
    """One spec parameter: its range, default (None: "as drawn"), kind and what it means."""

    low: float
    high: float
    default: float | None
    help: str
    integer: bool = False
    unit: str = ""

    def describe(self) -> str:
        fmt = (lambda v: f"{int(v)}") if self.integer else (lambda v: f"{v:g}")
        default = "balanced" if self.default is None else fmt(self.default)
        return f"{fmt(self.low)}..{fmt(self.high)}{self.unit} (default {default})"


#: The shifts, in the order they are applied (see the module docstring).
SHIFTS: dict[str, Param] = {
    "prior": Param(0.05, 0.95, None, "class-proportion (label) shift: the share of class A"),
    "concept": Param(0.0, 1.0, 0.0, "concept shift: the share of the points whose label moves to the next class"),
    "noise": Param(0.0, 1.0, 0.0, "extra Gaussian noise (std)"),
    "scale": Param(0.25, 4.0, 1.0, "scaling about the origin"),
    "rotate": Param(-180.0, 180.0, 0.0, "rotation (degrees, anticlockwise)", unit="°"),
    "dx": Param(-3.0, 3.0, 0.0, "translation along x"),
    "dy": Param(-3.0, 3.0, 0.0, "translation along y"),
}
#: Everything else a spec may set.
SETTINGS: dict[str, Param] = {
    "classes": Param(2, MAX_CLASSES, 2, "number of classes (blobs: 2–6, spirals: 2–4)", integer=True),
    "n": Param(50, 20_000, 1000, "points per split", integer=True),
    "seed": Param(0, 2**31 - 1, 0, "which draw", integer=True),
}
PARAMS: dict[str, Param] = {**SHIFTS, **SETTINGS}


def _moons(counts: list[int], rng: np.random.Generator) -> np.ndarray:
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=tuple(counts), noise=0.1, random_state=int(rng.integers(2**31)))
    x = (x - np.array([0.5, 0.25])) * 1.2  # centred on the origin
    order = np.argsort(y, kind="stable")    # class 0 first, then class 1 (as _draw expects)
    return x[order]


def _blobs(counts: list[int], rng: np.random.Generator) -> np.ndarray:
    from sklearn.datasets import make_blobs

    c = len(counts)
    angles = np.pi + 2 * np.pi * np.arange(c) / c  # class A on the left, the rest round the circle
    centres = 1.2 * np.c_[np.cos(angles), np.sin(angles)]
    x, y = make_blobs(n_samples=list(counts), centers=centres, cluster_std=0.35,
                      random_state=int(rng.integers(2**31)))
    return x[np.argsort(y, kind="stable")]


def _spirals(counts: list[int], rng: np.random.Generator) -> np.ndarray:
    c = len(counts)
    parts = []
    for k, m in enumerate(counts):
        t = np.sqrt(rng.uniform(0.02, 1.0, m))        # even density along the arm
        theta = 2 * np.pi * (1.25 * t + k / c)
        r = 1.6 * t
        parts.append(np.c_[r * np.cos(theta), r * np.sin(theta)] + rng.normal(0, 0.06, (m, 2)))
    return np.concatenate(parts)


@dataclass(frozen=True)
class Dataset:
    label: str
    draw: object                   # (counts per class, rng) -> (sum(counts), 2), class by class
    classes: tuple[int, int]       # allowed number of classes
    summary: str


#: The toy data sets by name.
DATASETS: dict[str, Dataset] = {
    "moons": Dataset("Two moons", _moons, (2, 2), "two interleaved half circles (scikit-learn make_moons), 2 classes"),
    "blobs": Dataset("Gaussian blobs", _blobs, (2, MAX_CLASSES), "Gaussian blobs round a circle (scikit-learn make_blobs), 2-6 classes"),
    "spirals": Dataset("Spirals", _spirals, (2, 4), "interleaved spiral arms, 2-4 classes"),
}
#: Display labels of the bare specs (read by core.data.scenarios.declared_labels).
LABELS = {f"{PREFIX}{name}": ds.label for name, ds in DATASETS.items()}


def is_toy(name) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def _valid_params() -> str:
    return "; ".join(f"{k} {p.describe()}" for k, p in PARAMS.items())


def parse(spec: str) -> tuple[str, dict[str, float]]:
    """``(dataset name, {param: value})`` of a toy spec, every value checked and typed (defaults not
    filled in). DomainError, one line listing what is valid, for an unknown data set or parameter,
    a value that is not a number or lies outside its range, or a parameter given twice."""
    if not is_toy(spec):
        raise DomainError(f"{spec!r} is not a toy spec (toy:NAME?param=value&...)")
    name, _, query = spec[len(PREFIX):].partition("?")
    name = name.strip().lower()
    if name not in DATASETS:
        raise DomainError(f"unknown toy data set {name!r}; toy data sets: {', '.join(DATASETS)} "
                          f"(e.g. toy:moons?rotate=35&noise=0.1)")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True) if query else []
    except ValueError:
        raise DomainError(f"cannot read {query!r} in {spec!r}: write param=value pairs joined by '&' "
                          f"(e.g. toy:{name}?rotate=35&noise=0.1)") from None
    values: dict[str, float] = {}
    for key, raw in pairs:
        key = key.strip().lower()
        if key not in PARAMS:
            raise DomainError(f"unknown toy parameter {key!r} in {spec!r}; valid: {_valid_params()}")
        if key in values:
            raise DomainError(f"toy parameter {key!r} is given twice in {spec!r}")
        p = PARAMS[key]
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or (p.integer and not value.is_integer()):
            kind = "an integer" if p.integer else "a number"
            raise DomainError(f"toy parameter {key}={raw!r} must be {kind} in {p.describe()}")
        if not p.low <= value <= p.high:
            raise DomainError(f"toy parameter {key}={raw} is outside its range {p.describe()}: {p.help}")
        values[key] = int(value) if p.integer else value
    low, high = DATASETS[name].classes
    classes = int(values.get("classes", 2))
    if not low <= classes <= high:
        raise DomainError(f"toy:{name} has {low} classes" if low == high else
                          f"toy:{name} takes classes={low}..{high}, not {classes}")
    return name, values


def canonical(spec: str) -> str:
    """The spec with its defaults dropped and its parameters in :data:`PARAMS` order (what names
    the draw): ``toy:moons?noise=0.1&rotate=0`` → ``toy:moons?noise=0.1``."""
    name, values = parse(spec)
    kept = [(k, values[k]) for k in PARAMS if k in values and values[k] != PARAMS[k].default]
    return f"{PREFIX}{name}" + ("?" + "&".join(f"{k}={v:g}" for k, v in kept) if kept else "")


def check_toy_spec(spec: str) -> None:
    """DomainError (one line) unless ``spec`` is a valid toy spec; loads nothing."""
    parse(spec)


def class_names(n: int) -> list[str]:
    return [chr(ord("A") + k) for k in range(n)]


def _counts(n: int, shares: np.ndarray) -> list[int]:
    """Points per class: n · shares rounded so they add up to n, each at least 1."""
    raw = shares * n
    counts = np.maximum(1, np.floor(raw)).astype(int)
    for k in np.argsort(-(raw - np.floor(raw)))[: max(0, n - counts.sum())]:
        counts[k] += 1
    while counts.sum() > n:
        counts[np.argmax(counts)] -= 1
    return counts.tolist()


def generate(spec: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The points (N, 2) float32 and labels (N,) int64 of one split (see the module docstring)."""
    name, values = parse(spec)
    get = lambda k: values.get(k, PARAMS[k].default)  # noqa: E731
    c, n = int(get("classes")), int(get("n"))
    key = f"{canonical(spec)}|{split}|{int(get('seed'))}"
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    prior = values.get("prior")
    shares = np.full(c, 1.0 / c) if prior is None else np.r_[prior, np.full(c - 1, (1 - prior) / (c - 1))]
    counts = _counts(n, shares)
    x = DATASETS[name].draw(counts, rng).astype(np.float64)
    y = np.repeat(np.arange(c), counts)
    concept = float(get("concept"))
    if concept > 0:  # relabel the rightmost share of the points as drawn: p(x) unchanged, p(y | x) moved
        moved = x[:, 0] >= np.quantile(x[:, 0], 1.0 - concept) if concept < 1 else np.ones(len(y), bool)
        y = np.where(moved, (y + 1) % c, y)
    if get("noise") > 0:
        x = x + rng.normal(0.0, float(get("noise")), x.shape)
    x = x * float(get("scale"))
    a = math.radians(float(get("rotate")))
    x = x @ np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    x = x + np.array([float(get("dx")), float(get("dy"))])
    order = rng.permutation(len(y))
    return x[order].astype(np.float32), y[order].astype(np.int64)


@lru_cache(maxsize=64)
def _load(spec: str, split: str) -> TensorDomain:
    x, y = generate(spec, split)
    name, values = parse(spec)
    return TensorDomain(spec, split, torch.from_numpy(x), torch.from_numpy(y),
                        class_names(int(values.get("classes", 2))))


def load_toy(spec: str, split: str = "train") -> TensorDomain:
    """One split of a toy domain as a point :class:`~core.data.TensorDomain` (float32 (N, 2)).
    The domain keeps the spec as written as its name; equal canonical specs share the points."""
    parse(spec)
    base = _load(canonical(spec), split)
    return TensorDomain(spec, split, base.images, base.labels, list(base.classes))


def toy_label(spec: str) -> str:
    """The name people read: "Two moons (rotated 35°, noise +0.1)"; the spec itself if it does not parse."""
    try:
        name, values = parse(spec)
    except DomainError:
        return spec
    parts = []
    if values.get("rotate"):
        parts.append(f"rotated {values['rotate']:g}°")
    if values.get("dx") or values.get("dy"):
        parts.append(f"moved ({values.get('dx', 0.0):g}, {values.get('dy', 0.0):g})")
    if values.get("scale", 1.0) != 1.0:
        parts.append(f"scaled ×{values['scale']:g}")
    if values.get("noise"):
        parts.append(f"noise +{values['noise']:g}")
    if values.get("prior") is not None:
        parts.append(f"class A {values['prior'] * 100:.0f} %")
    if values.get("concept"):
        parts.append(f"labels moved on {values['concept'] * 100:.0f} %")
    if "classes" in values and values["classes"] != 2:
        parts.append(f"{values['classes']} classes")
    if values.get("n", 1000) != 1000:
        parts.append(f"{values['n']} points")
    if values.get("seed"):
        parts.append(f"draw {values['seed']}")
    label = DATASETS[name].label
    return f"{label} ({', '.join(parts)})" if parts else label


def describe() -> dict[str, str]:
    """What ``python -m core domains`` lists for the toy domains: each data set, and the shifts
    with their ranges."""
    out = {f"{PREFIX}{name}": f"{ds.summary}; 2-D points, train with --arch mlp" for name, ds in DATASETS.items()}
    out[f"{PREFIX}NAME?k=v&..."] = ("shifts: " + "; ".join(f"{k} {p.describe()} — {p.help}" for k, p in SHIFTS.items())
                                    + ". Also: " + "; ".join(f"{k} {p.describe()}" for k, p in SETTINGS.items())
                                    + ". E.g. toy:moons?rotate=35&noise=0.1")
    return out


def spec(name: str, **values) -> str:
    """A toy spec from a data set name and parameter values, defaults dropped:
    ``spec("moons", rotate=35.0, noise=0)`` → ``"toy:moons?rotate=35"``."""
    query = "&".join(f"{k}={v:g}" for k, v in values.items() if v is not None and v != PARAMS[k].default)
    return canonical(f"{PREFIX}{name}" + (f"?{query}" if query else ""))
