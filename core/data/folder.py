"""Custom domains from an ImageFolder layout (``ROOT/<class>/<image>``) or a zip of one.

Every picture enters through :func:`core.imageio.read_image`, the one ingest door, and is turned
into a tensor by :func:`core.imageio.image_to_tensor`. Unreadable files are skipped and listed in
``TensorDomain.skipped`` by name. If ``ROOT/train`` and ``ROOT/test`` exist they are the splits;
otherwise each class is split 80/20 deterministically (sorted file names).

:func:`list_image_folder` lists a split without decoding anything (what a streamed domain needs,
:mod:`core.data.feed`); :func:`load_image_folder` decodes it whole into a resident
:class:`TensorDomain`. Both use the same entries, so both see the same files, labels and splits.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path, PurePosixPath

import torch

from .base import DomainError, TensorDomain

MAX_FILES = 50_000
MAX_ZIP_BYTES = 1 << 30  # uncompressed, all members together
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


def _is_image_name(name: str) -> bool:
    base = PurePosixPath(name).name
    return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES and not base.startswith(".")


def _folder_entries(root: Path) -> list[tuple[str, str, callable]]:
    """(relative path, class, read-bytes callable) for each image file under ``root``."""
    return [(str(p.relative_to(root).as_posix()), p.relative_to(root).parts[0], p.read_bytes)
            for p in sorted(root.rglob("*")) if p.is_file() and _is_image_name(p.name)
            and len(p.relative_to(root).parts) >= 2]


class ZipMember:
    """Reads one member of a zip: ``ZipMember(path, name, zf)()`` → bytes. Uses ``zf`` in the
    process that opened it; elsewhere (a DataLoader worker, a pickled copy) each process opens the
    zip once and keeps it open, so a streamed zip is never shared between processes."""

    _opened: dict[tuple[int, str], zipfile.ZipFile] = {}

    def __init__(self, path: Path | str, name: str, zf: zipfile.ZipFile | None = None):
        self.path, self.name, self.zf, self.pid = str(path), name, zf, os.getpid()

    def __getstate__(self):
        return {"path": self.path, "name": self.name, "zf": None, "pid": None}

    def __call__(self) -> bytes:
        zf = self.zf if self.zf is not None and self.zf.fp is not None and self.pid == os.getpid() else None
        if zf is None:
            key = (os.getpid(), self.path)
            zf = self._opened.get(key)
            if zf is None:
                zf = self._opened[key] = zipfile.ZipFile(self.path)
        return zf.read(self.name)


def _zip_entries(zf: zipfile.ZipFile, max_bytes: int | None = MAX_ZIP_BYTES) -> list[tuple[str, str, callable]]:
    infos = [i for i in zf.infolist() if not i.is_dir() and _is_image_name(i.filename)]
    if max_bytes is not None and sum(i.file_size for i in infos) > max_bytes:
        raise DomainError(f"zip too large when unpacked (limit {max_bytes >> 20} MB)")
    parts = [PurePosixPath(i.filename).parts for i in infos]
    if any(".." in p or p[0].startswith("/") for p in parts):
        raise DomainError("zip contains unsafe paths ('..' or absolute)")
    # allow one wrapping top-level folder: ROOT/<class>/<file> or <class>/<file>
    if parts and all(len(p) >= 3 for p in parts) and len({p[0] for p in parts}) == 1:
        parts = [p[1:] for p in parts]
    return [("/".join(p), p[0], ZipMember(zf.filename, i.filename, zf)) for p, i in zip(parts, infos) if len(p) >= 2]


def _pick_split(entries, split: str):
    """Use explicit train/ and test/ folders if present, else a deterministic 80/20 split per class."""
    tops = {e[1] for e in entries}
    if {"train", "test"} <= tops:
        chosen = [e for e in entries if e[1] == split]
        return [(e[0].split("/", 1)[1], e[0].split("/")[1], e[2]) for e in chosen if e[0].count("/") >= 2]
    by_class: dict[str, list] = {}
    for e in entries:
        by_class.setdefault(e[1], []).append(e)
    out = []
    for items in by_class.values():
        n_test = max(1, len(items) // 5) if len(items) > 1 else 0
        out += items[len(items) - n_test:] if split == "test" else items[:len(items) - n_test]
    return out


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    """A float picture in [0, 1] from :func:`core.imageio.image_to_tensor` → uint8, as stored."""
    return image.mul(255).round_().to(torch.uint8)


def list_image_folder(spec: str, split: str, max_files: int = MAX_FILES, max_zip_bytes: int | None = MAX_ZIP_BYTES,
                      zf_holder: list | None = None) -> tuple[Path, list[tuple[str, str, callable]], list[str]]:
    """``(path, entries, classes)`` of one split without decoding: each entry is (relative name,
    class name, read-bytes callable). ``zf_holder`` (a list) receives the open ZipFile of a zip so
    the caller can close it; zip readers reopen it per process when it is closed."""
    path = Path(spec).expanduser()
    if not path.exists():
        raise DomainError(f"no such folder or zip: {str(path)!r}")
    if path.is_dir():
        entries = _folder_entries(path)
    elif zipfile.is_zipfile(path):
        zf = zipfile.ZipFile(path)
        if zf_holder is not None:
            zf_holder.append(zf)
        entries = _zip_entries(zf, max_zip_bytes)
    else:
        raise DomainError(f"{str(path)!r} is neither a folder nor a zip file")
    if len(entries) > max_files:
        raise DomainError(f"too many images ({len(entries)}; limit {max_files})")
    classes = sorted({e[1] for s in ("train", "test") for e in _pick_split(entries, s)})
    entries = _pick_split(entries, split)
    if not entries:
        raise DomainError(f"no images found in {str(path)!r} for split {split!r}; "
                          "expected ROOT/<class name>/<image files>")
    return path, entries, classes


def load_image_folder(spec: str, split: str, size: int = 28) -> TensorDomain:
    from ..imageio import BadImage, image_to_tensor, read_image

    opened: list = []
    try:
        path, entries, classes = list_image_folder(spec, split, zf_holder=opened)
        images, labels, skipped = [], [], {}
        for name, cls, read in entries:
            try:
                # to uint8 per picture (the same values as converting the stack): the list holds a
                # quarter of the float32 bytes while the split is decoded
                images.append(to_uint8(image_to_tensor(read_image(read()), size)))
                labels.append(classes.index(cls))
            except BadImage as err:
                skipped[name] = str(err)
        if not images:
            raise DomainError(f"none of the {len(entries)} images in {str(path)!r} could be read")
    finally:
        for zf in opened:
            zf.close()
    x = torch.stack(images)
    return TensorDomain(f"folder:{path}", split, x, torch.tensor(labels), classes, skipped)
