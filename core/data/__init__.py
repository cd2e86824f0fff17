"""Domain registry: ``load_domain(name, split)`` → :class:`TensorDomain` of (image in [0,1], label).

Names: embedded (offline, deterministic) ``mnist``, ``mnistm``, ``syndigits``, ``ucidigits``;
downloaded via torchvision ``mnist_full``, ``usps``, ``svhn`` (28×28 digits), ``cifar10``,
``cifar100`` (32×32 objects); custom ``folder:PATH`` (ImageFolder layout) or ``zip:PATH`` (a zip
of one; ``folder:X.zip`` works too); toy 2-D point domains ``toy:NAME?param=value&…``
(:mod:`.toy`: two moons, Gaussian blobs, spirals with named shifts, e.g. ``toy:moons?rotate=35``),
whose items are float points instead of pictures (``domain.input_kind == "points"``). Several sources joined by ``+`` (``mnist+syndigits``,
``mnist+folder:my_digits``) load as one multi-source domain whose ``domain_ids`` say which source
each image came from.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np
import torch

from . import downloads, embedded, toy
from .base import DIGIT_CLASSES, INPUT_KINDS, DomainError, TensorDomain
from .cache import cache_dir, load_arrays, save_arrays
from .folder import check_folder_spec, load_image_folder
from .scenarios import Scenario, declared_labels, domain_label, scenario_key

SPLITS = ("train", "test")
EMBEDDED = tuple(embedded.BUILDERS)
DOWNLOADABLE = tuple(downloads.DESCRIPTIONS)
_build_lock = threading.Lock()


def domain_names() -> list[str]:
    """All named domains (custom ``folder:``/``zip:`` domains are open-ended and not listed)."""
    return list(EMBEDDED) + list(DOWNLOADABLE)


def describe_domains() -> dict[str, str]:
    return {**embedded.DESCRIPTIONS, **downloads.DESCRIPTIONS,
            "folder:PATH": "your own images: PATH/<class>/<image> (or PATH/train|test/<class>/...)",
            "zip:PATH": "a zip of such a folder",
            **toy.describe(),
            "A+B+...": "several sources as one multi-source domain (classes matched by name), e.g. mnist+syndigits"}


def _valid_names_message() -> str:
    return ("available domains: " + ", ".join(domain_names()) +
            ", folder:PATH (ImageFolder layout), zip:PATH, toy:NAME?param=value (" + ", ".join(toy.DATASETS) + ")")


def _embedded_arrays(name: str) -> dict[str, np.ndarray]:
    key = f"{name}-v{embedded.BUILD_VERSION}"
    with _build_lock:
        arrays = load_arrays(key)
        if arrays is None:
            arrays = embedded.BUILDERS[name]()
            save_arrays(key, arrays)
    return arrays


def _download_arrays(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    key = f"{name}-{split}"
    arrays = load_arrays(key)
    if arrays is None:
        try:
            x, y = downloads.fetch(name, split)
        except Exception as err:  # offline: URLError, socket errors, checksum errors ...
            raise DomainError(
                f"could not download {name!r} ({type(err).__name__}: {err}). This needs internet "
                f"access once; offline, use an embedded domain: {', '.join(EMBEDDED)}") from err
        arrays = {"x": x, "y": y}
        save_arrays(key, arrays)
    return arrays["x"], arrays["y"]


@lru_cache(maxsize=32)
def _load_named(name: str, split: str) -> TensorDomain:
    if name in embedded.BUILDERS:
        a = _embedded_arrays(name)
        x, y = a[f"{split}_x"], a[f"{split}_y"]
    else:
        x, y = _download_arrays(name, split)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    x.requires_grad_(False)
    return TensorDomain(name, split, x, y, list(downloads.CLASSES.get(name, DIGIT_CLASSES)))


def native_size(name: str) -> int:
    """The side a domain's pictures have without resizing: 28 for the digits, 32 for CIFAR, and 28
    for folders and zips (their pictures are resized to it unless a size is asked for); for a toy
    point domain, its points' dimension (2); a multi-source name has its first source's."""
    if not isinstance(name, str) or not name:
        return 28  # load_domain refuses it with the list of names
    first = split_sources(name)[0]
    if toy.is_toy(first):
        return toy.DIM
    return downloads.SIZES.get(first, 28)


def input_kind(name: str) -> str:
    """What a domain spec holds, without loading it: "points" (toy domains) or "pictures"
    (everything else). DomainError for a multi-source name that mixes the two."""
    kinds = {"points" if toy.is_toy(s) else "pictures" for s in split_sources(name)} if isinstance(name, str) and name \
        else {"pictures"}
    if len(kinds) > 1:
        raise DomainError(f"{name!r} joins point (toy:) and picture domains; join domains of one kind")
    return kinds.pop()


def split_sources(name: str) -> list[str]:
    """The sources of a ``+``-joined domain name, in order (a single name gives itself).

    A ``+`` inside a ``folder:``/``zip:`` path stays part of the path unless what follows it is
    a domain name or another ``folder:``/``zip:`` source:

    >>> split_sources("mnist+syndigits")
    ['mnist', 'syndigits']
    >>> split_sources("folder:/data/a+b+mnist")
    ['folder:/data/a+b', 'mnist']
    """
    parts: list[str] = []
    for piece in name.split("+"):
        starts_source = piece.startswith(("folder:", "zip:", toy.PREFIX)) or piece in embedded.BUILDERS \
            or piece in downloads.DESCRIPTIONS
        if parts and not starts_source and parts[-1].startswith(("folder:", "zip:")):
            parts[-1] += "+" + piece
        else:
            parts.append(piece)
    return parts


def load_multi_source(names: list[str], split: str = "train", size: int = 28) -> TensorDomain:
    """Several domains as one :class:`TensorDomain` with ``domain_ids``.

    Every source is loaded at ``size`` × ``size``; classes are matched by *name*: the first
    source's classes come first, classes only later sources have are appended, and each source's
    labels are renumbered accordingly. ``domain_ids[i]`` is the position in ``names`` of the
    source image i came from (so (N,) int64 in 0..len(names)−1).

    >>> d = load_multi_source(["mnist", "ucidigits"], "test")
    >>> len(d), d.domain_names, d.domain_ids.bincount().tolist()
    (1000, ['mnist', 'ucidigits'], [500, 500])
    """
    if len(set(names)) != len(names):
        raise DomainError(f"a source is named twice in {'+'.join(names)!r}")
    input_kind("+".join(names))  # points and pictures do not join
    parts = [load_domain(n, split, size) for n in names]
    classes: list[str] = []
    for part in parts:
        classes += [c for c in part.classes if c not in classes]
    labels = [torch.tensor([classes.index(c) for c in part.classes], dtype=torch.long)[part.labels]
              for part in parts]
    ids = [torch.full((len(part),), k, dtype=torch.long) for k, part in enumerate(parts)]
    skipped = {f"{part.name}/{file}": why for part in parts for file, why in part.skipped.items()}
    return TensorDomain("+".join(names), split, torch.cat([p.images for p in parts]), torch.cat(labels),
                        classes, skipped, domain_ids=torch.cat(ids), domain_names=list(names))


def check_domain_spec(name: str) -> None:
    """Fail at once (DomainError listing what exists) on a name that cannot be a domain, without
    loading anything: unknown names, a missing folder or zip."""
    if not isinstance(name, str) or not name:
        raise DomainError(f"a domain name is needed; {_valid_names_message()}")
    sources = split_sources(name)
    if len(sources) > 1:
        if len(set(sources)) != len(sources):
            raise DomainError(f"a source is named twice in {name!r}")
        for source in sources:
            check_domain_spec(source)
        input_kind(name)  # one kind of input
        return
    if toy.is_toy(name):
        toy.check_toy_spec(name)  # a known data set, known parameters within their ranges
    elif name.startswith(("folder:", "zip:")):
        check_folder_spec(name.split(":", 1)[1])  # exists, a folder or a zip whose table of contents reads
    elif name not in embedded.BUILDERS and name not in downloads.DESCRIPTIONS:
        raise DomainError(f"unknown domain {name!r}; {_valid_names_message()}")


def align_classes(domain: TensorDomain, classes: list[str]) -> TensorDomain:
    """``domain`` with its labels renumbered to index ``classes`` *by name* (a folder holding only
    the 3s and 7s keeps them as '3' and '7' of a digits model, not as classes 0 and 1).
    DomainError naming the class folders that are not among ``classes``."""
    classes = [str(c) for c in classes]
    if list(domain.classes) == classes:
        return domain
    unknown = [c for c in domain.classes if c not in classes]
    if unknown:
        shown = ", ".join(classes[:20]) + (" …" if len(classes) > 20 else "")
        raise DomainError(f"{domain.name}: class name(s) {unknown} are not among the model's classes ({shown}); "
                          "name the class folders like the model's classes")
    lookup = torch.tensor([classes.index(c) for c in domain.classes], dtype=torch.long)
    return TensorDomain(domain.name, domain.split, domain.images, lookup[domain.labels], classes, domain.skipped,
                        domain_ids=domain.domain_ids, domain_names=domain.domain_names)


def load_domain(name: str, split: str = "train", size: int | None = None,
                classes: list[str] | None = None) -> TensorDomain:
    """Load one split of a domain as a :class:`TensorDomain`.

    Named domains come at their own size (:func:`native_size`: 28×28 digits, 32×32 CIFAR);
    ``size`` resizes them, and custom (folder/zip) domains are read at ``size`` (28 by default).
    Several sources joined by ``+`` give one multi-source domain (:func:`load_multi_source`, every
    source at the first one's size unless ``size`` is given). ``classes`` (a model's class names) renumbers the labels
    by name (see :func:`align_classes`). Raises :class:`DomainError` for unknown names, bad
    splits, missing folders or failed downloads, listing what is available.
    """
    domain = _load(name, split, native_size(name) if size is None else int(size))
    return domain if classes is None else align_classes(domain, classes)


def _load(name: str, split: str, size: int) -> TensorDomain:
    if split not in SPLITS:
        raise DomainError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if not isinstance(name, str) or not name:
        raise DomainError(f"a domain name is needed; {_valid_names_message()}")
    sources = split_sources(name)
    if len(sources) > 1:
        return load_multi_source(sources, split, size)
    if toy.is_toy(name):
        if size != toy.DIM:
            raise DomainError(f"{name} holds 2-D points, not pictures: it cannot be read at {size}×{size} pixels "
                              "(a picture model cannot take it; train one with --arch mlp)")
        return toy.load_toy(name, split)
    if name.startswith(("folder:", "zip:")):
        return load_image_folder(name.split(":", 1)[1], split, size)
    if name not in embedded.BUILDERS and name not in downloads.DESCRIPTIONS:
        raise DomainError(f"unknown domain {name!r}; {_valid_names_message()}")
    domain = _load_named(name, split)
    if size != domain.input_size:
        import torch.nn.functional as F

        x = F.interpolate(domain.images.float(), size=(size, size), mode="bilinear", antialias=True)
        domain = TensorDomain(name, split, x.round().clamp(0, 255).to(torch.uint8), domain.labels, domain.classes)
    return domain


__all__ = ["DIGIT_CLASSES", "DOWNLOADABLE", "DomainError", "EMBEDDED", "INPUT_KINDS", "SPLITS", "Scenario",
           "TensorDomain", "align_classes", "cache_dir", "check_domain_spec", "declared_labels", "describe_domains",
           "domain_label", "domain_names", "input_kind", "load_domain", "load_multi_source", "native_size", "scenario_key", "split_sources"]
