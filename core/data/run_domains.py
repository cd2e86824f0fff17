"""Which splits of a run stay resident and which stream from disk: :func:`load_run_domains`.

``data="resident"`` keeps all in memory, ``"stream"`` streams every folder/zip split (and every
resized named one), ``"auto"`` streams the largest of those until the decoded bytes left resident
fit ``budget_mb``. The card records the outcome (``card["data"]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .lazy import MAX_STREAM_FILES, FileImages, ResizedImages, decoded_bytes

@dataclass
class RunDomains:
    """The four splits of a run and how each is held (``modes``: split key → "resident",
    "stream" (files) or "resized" (a named domain resized per batch)); ``decoded_mb``: what each
    would take resident."""

    source_train: object
    source_test: object
    target_train: object
    target_test: object
    size: int
    modes: dict[str, str] = field(default_factory=dict)
    decoded_mb: dict[str, float] = field(default_factory=dict)
    budget_mb: int = 0

    def card(self) -> dict:
        """What the model card records under ``data``."""
        splits = ("source_train", "source_test", "target_train", "target_test")
        return {"image_size": self.size, "modes": dict(self.modes), "decoded_mb": dict(self.decoded_mb),
                "budget_mb": self.budget_mb,
                # how many files of each split could not be read (``train --json`` prints every skipped_* key)
                **{f"skipped_{k}": len(getattr(self, k).skipped) for k in splits}}


def _is_custom(name: str) -> bool:
    return name.startswith(("folder:", "zip:"))


def _plan(name: str, split: str, size: int) -> tuple[int, object]:
    """(decoded bytes at ``size``, a way to build it lazily or None) for one split, without decoding.
    A folder with more files than the resident loader takes (``folder.MAX_FILES``) counts as too
    large to hold, whatever its bytes."""
    from . import native_size
    from .folder import list_image_folder

    if _is_custom(name):
        path, entries, classes = list_image_folder(name.split(":", 1)[1], split, max_files=MAX_STREAM_FILES,
                                                   max_zip_bytes=None)
        from .folder import MAX_FILES

        nbytes = decoded_bytes(len(entries), size) if len(entries) <= MAX_FILES else 1 << 62
        return nbytes, ("files", path, entries, classes)
    if size != native_size(name) and name in _named():
        from . import load_domain

        native = load_domain(name, split)  # cached arrays at the native size (small)
        return decoded_bytes(len(native), size), ("resized", native)
    return 0, None  # resident at its own size (embedded or downloaded arrays); not counted


def _named() -> set[str]:
    from . import domain_names

    return set(domain_names())


def _lazy(name: str, split: str, size: int, how) -> object:
    from .base import TensorDomain

    if how[0] == "files":
        _, path, entries, classes = how
        images = FileImages(entries, size)
        labels = torch.tensor([classes.index(e[1]) for e in entries], dtype=torch.long)
        return TensorDomain(f"folder:{path}", split, images, labels, classes, images.skipped)
    native = how[1]
    images = ResizedImages(native.images, size)
    return TensorDomain(native.name, split, images, native.labels, list(native.classes), images.skipped)


def load_run_domains(source: str, target: str, size: int, data: str = "auto", budget_mb: int = 2048) -> RunDomains:
    """Source and target, train and test, at ``size``; each resident or lazy as ``data`` says
    (see the module docstring). DomainError for what :func:`core.data.load_domain` refuses."""
    from . import load_domain

    keys = {"source_train": (source, "train"), "source_test": (source, "test"),
            "target_train": (target, "train"), "target_test": (target, "test")}
    plans = {k: _plan(name, split, size) for k, (name, split) in keys.items()}
    lazy: set[str] = set()
    if data == "stream":
        lazy = {k for k, (_, how) in plans.items() if how is not None}
    elif data == "auto":
        budget = budget_mb * 2 ** 20
        resident = sum(nbytes for nbytes, _ in plans.values())
        for k in sorted(plans, key=lambda k: -plans[k][0]):  # stream the largest first
            if resident <= budget:
                break
            if plans[k][1] is not None:
                lazy.add(k)
                resident -= plans[k][0]
    elif data != "resident":
        raise ValueError(f"unknown data mode {data!r}; choose one of auto, resident, stream")
    loaded, modes = {}, {}
    for k, (name, split) in keys.items():
        if k in lazy:
            loaded[k] = _lazy(name, split, size, plans[k][1])
            modes[k] = loaded[k].images.kind
        else:
            loaded[k] = load_domain(name, split, size)
            modes[k] = "resident"
    decoded = {k: round(decoded_bytes(len(loaded[k]), size) / 2 ** 20, 1) for k in keys if plans[k][1] is not None}
    return RunDomains(**loaded, size=size, modes=modes, budget_mb=int(budget_mb), decoded_mb=decoded)
