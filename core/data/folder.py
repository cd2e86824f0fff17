"""Custom domains from an ImageFolder layout (``ROOT/<class>/<image>``) or a zip of one.

Every picture enters through :func:`core.imageio.read_image`, the one ingest door, and is turned
into a tensor by :func:`core.imageio.image_to_tensor`. Unreadable files are skipped and listed in
``TensorDomain.skipped`` by name. If ``ROOT/train`` and ``ROOT/test`` exist they are the splits;
otherwise each class is split 80/20 deterministically (sorted file names).
"""

from __future__ import annotations

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


def _zip_entries(zf: zipfile.ZipFile) -> list[tuple[str, str, callable]]:
    infos = [i for i in zf.infolist() if not i.is_dir() and _is_image_name(i.filename)]
    if sum(i.file_size for i in infos) > MAX_ZIP_BYTES:
        raise DomainError(f"zip too large when unpacked (limit {MAX_ZIP_BYTES >> 20} MB)")
    parts = [PurePosixPath(i.filename).parts for i in infos]
    if any(".." in p or p[0].startswith("/") for p in parts):
        raise DomainError("zip contains unsafe paths ('..' or absolute)")
    # allow one wrapping top-level folder: ROOT/<class>/<file> or <class>/<file>
    if parts and all(len(p) >= 3 for p in parts) and len({p[0] for p in parts}) == 1:
        parts = [p[1:] for p in parts]
    return [("/".join(p), p[0], (lambda info=i: zf.read(info))) for p, i in zip(parts, infos) if len(p) >= 2]


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


def load_image_folder(spec: str, split: str, size: int = 28) -> TensorDomain:
    from ..imageio import BadImage, image_to_tensor, read_image

    path = Path(spec).expanduser()
    if not path.exists():
        raise DomainError(f"no such folder or zip: {str(path)!r}")
    zf = None
    try:
        if path.is_dir():
            entries = _folder_entries(path)
        elif zipfile.is_zipfile(path):
            zf = zipfile.ZipFile(path)
            entries = _zip_entries(zf)
        else:
            raise DomainError(f"{str(path)!r} is neither a folder nor a zip file")
        if len(entries) > MAX_FILES:
            raise DomainError(f"too many images ({len(entries)}; limit {MAX_FILES})")
        classes = sorted({e[1] for s in ("train", "test") for e in _pick_split(entries, s)})
        entries = _pick_split(entries, split)
        if not entries:
            raise DomainError(f"no images found in {str(path)!r} for split {split!r}; "
                              "expected ROOT/<class name>/<image files>")
        images, labels, skipped = [], [], {}
        for name, cls, read in entries:
            try:
                images.append(image_to_tensor(read_image(read()), size))
                labels.append(classes.index(cls))
            except BadImage as err:
                skipped[name] = str(err)
        if not images:
            raise DomainError(f"none of the {len(entries)} images in {str(path)!r} could be read")
    finally:
        if zf is not None:
            zf.close()
    x = (torch.stack(images) * 255).round().to(torch.uint8)
    return TensorDomain(f"folder:{path}", split, x, torch.tensor(labels), classes, skipped)
