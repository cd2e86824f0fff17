"""Checkpoint zips: a folder's two files packed for downloads and uploads, and read back safely
(member count, sizes, paths, pickles refused before anything is decompressed)."""

from __future__ import annotations

import datetime as _dt
import io
import re
import zipfile
from pathlib import Path, PurePosixPath

from ..util.files import safe_member_path, write_atomic
from .card import CARD_NAME, MAX_CARD_BYTES, PICKLE_REFUSAL, PICKLE_SUFFIXES, WEIGHTS_NAME, BadCheckpoint

MAX_ZIP_MEMBERS = 10
_ZIP_JUNK = re.compile(r"(^|/)(__MACOSX/.*|\.DS_Store)$")


def safe_folder_name(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return name[:100] or "checkpoint"


def zip_bytes(card_data: bytes, weights: bytes, folder: str) -> bytes:
    buf = io.BytesIO()
    stamp = _dt.datetime.now().timetuple()[:6]
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo(f"{folder}/{CARD_NAME}", date_time=stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, card_data)
        info = zipfile.ZipInfo(f"{folder}/{WEIGHTS_NAME}", date_time=stamp)
        info.compress_type = zipfile.ZIP_STORED  # float weights barely compress
        zf.writestr(info, weights)
    return buf.getvalue()



def write_zip(zip_path: Path, card_data: bytes, weights: bytes) -> Path:
    """Write the checkpoint zip atomically (files inside one top-level folder named after it)."""
    zip_path = Path(zip_path).absolute()
    return write_atomic(zip_path, zip_bytes(card_data, weights, safe_folder_name(zip_path.stem)))


def read_zip(data: bytes, max_bytes: int, origin: str) -> tuple[bytes, bytes]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as e:
        raise BadCheckpoint(f"{origin} is not a valid zip file: {e}") from e
    with zf:
        infos = zf.infolist()
        pickled = [i.filename for i in infos
                   if PurePosixPath(i.filename).suffix.lower() in PICKLE_SUFFIXES]
        if pickled:  # e.g. torch.save output, which is a zip around data.pkl
            raise BadCheckpoint(f"{origin} contains {pickled[:5]}: {PICKLE_REFUSAL}")
        if len(infos) > MAX_ZIP_MEMBERS:
            raise BadCheckpoint(f"{origin} has {len(infos)} members; at most {MAX_ZIP_MEMBERS} are allowed")
        for info in infos:
            if safe_member_path(info.filename) is None:
                raise BadCheckpoint(f"zip member {info.filename!r} has an unsafe path (absolute or '..'); refused")
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise BadCheckpoint(f"{origin} has duplicate member names")
        files = [i for i in infos if not i.is_dir() and not _ZIP_JUNK.search(i.filename)]
        total = sum(i.file_size for i in infos)
        if total > max_bytes:
            raise BadCheckpoint(f"{origin} unpacks to {total:,} bytes; the limit is {max_bytes:,}")
        parts = [i.filename.split("/") for i in files]
        depths = {len(p) for p in parts}
        if files and not (depths == {1} or (depths == {2} and len({p[0] for p in parts}) == 1)):
            raise BadCheckpoint(f"{origin} must hold {WEIGHTS_NAME} and {CARD_NAME} at its root or "
                                f"in one top-level folder; found {[i.filename for i in files]}")
        by_name = {p[-1]: i for p, i in zip(parts, files)}
        unexpected = sorted(set(by_name) - {WEIGHTS_NAME, CARD_NAME})
        if unexpected:
            raise BadCheckpoint(f"{origin} has unexpected member(s) {unexpected}; a checkpoint zip "
                                f"holds only {WEIGHTS_NAME} and {CARD_NAME}")
        missing = [n for n in (WEIGHTS_NAME, CARD_NAME) if n not in by_name]
        if missing:
            raise BadCheckpoint(f"{origin} lacks {missing}; need {WEIGHTS_NAME} + {CARD_NAME}")

        def read(name: str, limit: int) -> bytes:
            info = by_name[name]
            if info.file_size > limit:
                raise BadCheckpoint(f"{name} in {origin} is {info.file_size:,} bytes; the limit is {limit:,}")
            with zf.open(info) as f:
                out = f.read(limit + 1)
            if len(out) > limit:
                raise BadCheckpoint(f"{name} in {origin} is larger than {limit:,} bytes")
            return out

        try:
            return read(CARD_NAME, MAX_CARD_BYTES), read(WEIGHTS_NAME, max_bytes)
        except BadCheckpoint:
            raise
        except Exception as e:  # CRC errors, encryption, unsupported compression …
            raise BadCheckpoint(f"cannot read {origin}: {type(e).__name__}: {e}") from e
