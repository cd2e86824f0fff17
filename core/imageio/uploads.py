"""Uploaded pictures → model inputs and thumbnails, decoded once per distinct file, within limits.

A Streamlit page reruns its whole script on every click, with the same uploaded files. Decoding
them again each time cost 13.9 s and 2 GB for a batch of 230 uploads; here each distinct file
(by the SHA-256 of its bytes) is decoded once and only small results are kept::

    cache = UploadCache()                        # one per process (the app: st.cache_resource)
    batch = decode_uploads([("a.png", data), ("b.jpg", data2)], sizes=[28], cache=cache)
    batch.names              # the files that were read, in input order (duplicates: "a.png (2)")
    batch.tensors[28]        # uint8 (N, 3, 28, 28): the pictures as the models see them
    batch.thumbnails         # N uint8 (h, w, 3) arrays, longer side ≤ THUMB_SIDE
    batch.errors             # {file name: why it was not predicted}; the rest still is

Limits, checked in input order so that a batch always gives the same answer:

* at most :data:`MAX_FILES` files per batch; the files after it are named, not read;
* per file, what :func:`core.imageio.read_image_bounded` allows, with the app's
  :data:`~core.imageio.MAX_DECODED_PIXELS` (a picture that would decode to more is refused
  from its header: no pixel is decoded);
* at most :data:`MAX_BATCH_PIXELS` decoded pixels per batch (a JPEG counts after its decoder's
  1/2…1/8 scaling); a file that would go over is named and the rest still predicted.

Memory: full-resolution pixels live only inside :func:`decode_one`, one picture at a time in the
whole process (:data:`_DECODE_LOCK`, so five sessions uploading at once still hold one
full-size picture, not five); what is kept per file is its model inputs (uint8, 2.3 KB at
28×28) and a thumbnail (≤ 27 KB), in an LRU cache of at most :data:`CACHE_ENTRIES` files.
The uploaded bytes themselves are the caller's (Streamlit keeps them per session).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch
from PIL import Image

from .decode import MAX_BYTES, MAX_PIXELS, BadImage, decoded_size, read_image_bounded
from .tensor import image_to_tensor, normalize_mode

__all__ = ["CACHE_ENTRIES", "MAX_BATCH_PIXELS", "MAX_FILES", "THUMB_SIDE", "Decoded", "UploadBatch",
           "UploadCache", "decode_one", "decode_uploads", "digest"]

#: Most pixels decoded for one upload (after JPEG DCT scaling): 16 megapixels is 64 MB as RGBA,
#: about 130 MB at the peak of the conversion. Larger JPEGs are fine (they decode smaller).
MAX_DECODED_PIXELS = 16_000_000
#: Most files predicted in one batch.
MAX_FILES = 300
#: Most pixels decoded for one batch (all files together, after JPEG scaling): 16 pictures at the
#: app's per-picture limit, about 25 s of decoding on one core the first time.
MAX_BATCH_PIXELS = 256_000_000
#: Longer side of a thumbnail, in pixels.
THUMB_SIDE = 96
#: Distinct files (× model sizes) whose results the cache keeps: ≤ ~30 KB each.
CACHE_ENTRIES = 1200

#: One full-resolution decode at a time in the process (bounds the peak memory of many sessions).
_DECODE_LOCK = threading.Lock()


@dataclass(frozen=True)
class Decoded:
    """What is kept of one file: model inputs per size (uint8 (3, s, s)), a thumbnail (uint8
    (h, w, 3)), the pixels its decoding costs (counted against the batch budget), or why it
    could not be read (``error``; then ``tensors`` is empty and ``thumbnail`` None)."""

    digest: str
    tensors: dict[int, torch.Tensor] = field(default_factory=dict)
    thumbnail: np.ndarray | None = None
    pixels: int = 0
    error: str | None = None

    @property
    def nbytes(self) -> int:
        return sum(t.numel() for t in self.tensors.values()) + (0 if self.thumbnail is None else self.thumbnail.nbytes)


@dataclass
class UploadBatch:
    """The result of :func:`decode_uploads` (see the module docstring)."""

    names: list[str]
    tensors: dict[int, torch.Tensor]
    thumbnails: list[np.ndarray]
    errors: dict[str, str]
    digests: list[str]
    pixels: int = 0        # decoded pixels the batch counts (cached files included)
    decoded: int = 0       # files decoded by this call (the others came from the cache)


def digest(data: bytes) -> str:
    """The SHA-256 of a file's bytes, in hex: the cache key."""
    return hashlib.sha256(memoryview(data)).hexdigest()


def decode_one(data: bytes, sizes: Iterable[int], *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS,
               max_decoded_pixels: int | None = MAX_DECODED_PIXELS, key: str | None = None,
               normalize: str | None = None) -> Decoded:
    """Decode one file into model inputs for every size in ``sizes`` and a thumbnail; never raises
    for bad bytes (the reason goes into ``error``). ``pixels`` is what decoding costs according to
    the header (0 when the header cannot be read), also for files that then fail. ``normalize``:
    as in :func:`core.imageio.image_to_tensor` (``"centre"``: centre like MNIST, from the decoded
    picture at its working resolution); the thumbnail is always the picture as it came."""
    sizes = sorted(set(int(s) for s in sizes))
    key = key or digest(data)
    pixels = _planned_pixels(data, max(sizes), max_bytes, max_pixels)
    try:
        with _DECODE_LOCK:
            img = read_image_bounded(data, max(sizes), max_bytes=max_bytes, max_pixels=max_pixels,
                                     max_decoded_pixels=max_decoded_pixels)
    except BadImage as e:
        return Decoded(key, pixels=pixels, error=str(e))
    tensors = {s: _to_uint8(image_to_tensor(img, s, normalize)) for s in sizes}
    thumb = img.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return Decoded(key, tensors, np.asarray(thumb, dtype=np.uint8).copy(), pixels)


def _planned_pixels(data: bytes, size: int, max_bytes: int, max_pixels: int) -> int:
    """Pixels decoding ``data`` costs, from its header (0 when it cannot even be opened)."""
    try:
        w, h = decoded_size(data, size, max_bytes=max_bytes, max_pixels=max_pixels)
    except BadImage:
        return 0
    return w * h


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    # image_to_tensor gives k/255 exactly, so this is lossless
    return x.mul(255).round_().to(torch.uint8)


class UploadCache:
    """A thread-safe LRU map from (file digest, sizes, limit) to :class:`Decoded`, at most
    ``max_entries`` of them (shared by all sessions: the key is the content, so a session only
    ever gets back what its own bytes decode to)."""

    def __init__(self, max_entries: int = CACHE_ENTRIES):
        self.max_entries = int(max_entries)
        self._items: OrderedDict[tuple, Decoded] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Decoded | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: tuple, value: Decoded) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(v.nbytes for v in self._items.values())

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def decode_uploads(files: Sequence[tuple], sizes: Iterable[int], *, cache: UploadCache | None = None,
                   max_files: int = MAX_FILES, max_batch_pixels: int = MAX_BATCH_PIXELS,
                   max_decoded_pixels: int | None = MAX_DECODED_PIXELS,
                   max_bytes: int = MAX_BYTES, normalize: str | None = None) -> UploadBatch:
    """Decode a batch of uploaded files (see the module docstring).

    ``files``: ``(name, bytes)`` or ``(name, bytes, sha256 hex)`` (a digest the caller already
    knows, so a rerun does not hash megabytes again). ``sizes``: the model input sizes wanted.
    ``bytes`` may also be a zero-argument callable returning them, so files over ``max_files``
    are never read. ``normalize``: ``None`` / ``"none"`` or ``"centre"`` (see :func:`decode_one`;
    part of the cache key). Returns an :class:`UploadBatch`; bad files are named in ``errors`` with
    the reason and never stop the others.
    """
    sizes = sorted(set(int(s) for s in sizes))
    normalize = normalize_mode(normalize)
    if not sizes or any(s < 1 for s in sizes):
        raise ValueError(f"sizes must be positive ints, got {sizes}")
    names: list[str] = []
    digests: list[str] = []
    kept: list[Decoded] = []
    errors: dict[str, str] = {}
    seen: dict[str, int] = {}
    used = decoded_now = 0
    for index, item in enumerate(files):
        name = _unique(str(item[0]), seen)
        if index >= max_files:
            errors[name] = f"over the limit of {max_files} files per batch; upload the rest as another batch"
            continue
        data = item[1]() if callable(item[1]) else item[1]
        key_digest = item[2] if len(item) > 2 and item[2] else digest(data)
        key = (key_digest, tuple(sizes), max_decoded_pixels, max_bytes, normalize)
        entry = cache.get(key) if cache is not None else None
        cost = entry.pixels if entry is not None else _planned_pixels(data, max(sizes), max_bytes, MAX_PIXELS)
        # the budget is checked from the header, cached or not, so a batch always gives the same
        # answer; pictures over the per-picture limit are refused below without decoding anyway
        within_picture_limit = max_decoded_pixels is None or cost <= max_decoded_pixels
        if within_picture_limit and used + cost > max_batch_pixels:
            errors[name] = (f"over the limit of {max_batch_pixels / 1e6:g} megapixels decoded per batch "
                            f"(this picture: {cost / 1e6:.1f}); upload it in another batch")
            continue
        if entry is None:
            entry = decode_one(data, sizes, max_bytes=max_bytes, max_decoded_pixels=max_decoded_pixels,
                               key=key_digest, normalize=normalize)
            decoded_now += 1
            if cache is not None:
                cache.put(key, entry)
        if entry.error is not None:
            errors[name] = entry.error
            continue
        used += entry.pixels
        names.append(name)
        digests.append(key_digest)
        kept.append(entry)
    tensors = {s: (torch.stack([e.tensors[s] for e in kept]) if kept
                   else torch.empty((0, 3, s, s), dtype=torch.uint8)) for s in sizes}
    return UploadBatch(names, tensors, [e.thumbnail for e in kept], errors, digests, used, decoded_now)


def _unique(name: str, seen: dict[str, int]) -> str:
    """``a.png``, then ``a.png (2)``, … so every file keeps its own row and message."""
    seen[name] = seen.get(name, 0) + 1
    return name if seen[name] == 1 else f"{name} ({seen[name]})"
