"""Pictures the tests write: small ImageFolder trees whose class is visible in the pixels."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = {"red": (220, 40, 40), "green": (40, 190, 40), "blue": (40, 40, 220)}


def png_folder(root: Path, n: int = 10, size: int = 64, seed: int = 0, dim: float = 1.0) -> Path:
    """root/<colour>/<i>.png: noisy pictures whose class is their dominant colour."""
    rng = np.random.default_rng(seed)
    for name, colour in COLOURS.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = rng.random((size, size, 3)) * 70 + np.array(colour) * dim
            Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(root / name / f"{i:03d}.png")
    return root


# ------------------------------------------------- heavy uploads (the crowd test's 16-bit PNGs)

def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png16_rgba_idat(side: int) -> bytes:
    """The compressed pixels of a ``side``×``side`` 16-bit RGBA picture: white paper, a dark
    upright bar (a "1") in the middle, fully opaque. Highly compressible, as scans of a page are:
    a 6300×6300 one is ~350 KB on disk and 39.7 megapixels (318 MB as 16-bit RGBA) decoded."""
    comp = zlib.compressobj(6)
    paper = np.full((side, 4), 0xFFFF, dtype=">u2")
    ink = paper.copy()
    ink[side * 7 // 16: side * 9 // 16, :3] = 0x1000
    paper_row, ink_row = b"\x00" + paper.tobytes(), b"\x00" + ink.tobytes()
    parts = [comp.compress(ink_row if side // 4 <= y < side * 3 // 4 else paper_row) for y in range(side)]
    parts.append(comp.flush())
    return b"".join(parts)


def png16_rgba(side: int, tag: str, idat: bytes | None = None) -> bytes:
    """A 16-bit RGBA PNG (Pillow cannot write these) of :func:`png16_rgba_idat`'s picture; ``tag``
    goes into a tEXt chunk so that files with the same pixels still differ byte for byte (and by
    hash)."""
    idat = idat if idat is not None else png16_rgba_idat(side)
    return b"".join([b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 0)),
                     _chunk(b"tEXt", b"Comment\x00" + tag.encode()), _chunk(b"IDAT", idat), _chunk(b"IEND", b"")])


def small_png(seed: int, side: int = 64) -> bytes:
    """A white digit-like bar on black, ``side``×``side``, 8-bit RGB."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    arr = np.zeros((side, side, 3), np.uint8)
    x, y = rng.integers(side // 4, side * 5 // 8, 2)
    arr[y:y + side * 3 // 8, x:x + side // 8] = 255
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()
