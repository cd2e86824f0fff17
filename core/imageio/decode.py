"""Decoding bytes from outside into pictures — the one decoder behind :func:`read_image` (full
resolution) and :func:`read_image_bounded` (reduced for a model input while it is decoded).

Guarantees of :func:`read_image`, whatever the bytes:

* It returns a fully loaded ``"RGB"`` :class:`PIL.Image.Image`, or raises :class:`BadImage`
  (a ``ValueError``) with a message a person understands. No other exception escapes:
  Pillow, OS, struct, zlib, memory and any other decoding error is converted.
* Memory is bounded. The byte string is capped (``max_bytes``, 20 MiB by default) and the
  size the file *declares* is checked against ``max_pixels`` (40 megapixels by default) and
  :data:`MAX_SIDE` *before* any pixel is decoded, so a decompression bomb (a tiny file
  declaring 30000×30000 pixels) costs nothing. Pillow's own bomb guard stays on as well.
* Time is bounded. Besides the limits above, files split into more than :data:`MAX_TILES`
  pieces and JPEGs with more than :data:`MAX_JPEG_SCANS` scans are refused: both are cheap
  to craft and cost libjpeg / Pillow seconds to minutes per file. What is left is linear in
  the (capped) number of bytes.
* Only :data:`ALLOWED_FORMATS` are opened (PNG, JPEG, WebP, BMP, GIF, TIFF), so a text
  file renamed ``.png`` or an exotic format is "not an image".
* Truncated or corrupt files are refused, never padded with grey: this module does not set
  ``ImageFile.LOAD_TRUNCATED_IMAGES`` (a global that would hide broken uploads).
* Animated GIF / WebP / APNG and multi-page TIFF: the first frame is used.
* Colour is normalised: EXIF orientation is applied, the same way on both paths (broken EXIF is
  ignored, not fatal);
  transparency (alpha, ``LA``, palette or colour-key transparency) is composited onto white;
  16-bit and 32-bit integer and float greyscale is rescaled to 8 bits (not clipped); CMYK,
  1-bit, palette, YCbCr … are converted to RGB.

Not thread-hostile: nothing here changes Pillow's global settings or the warnings filters.
"""

from __future__ import annotations

import io
import re

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from ..util.sizes import format_bytes

#: Pillow format ids that may be opened; anything else is "not an image".
ALLOWED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")
#: Largest accepted file, in bytes.
MAX_BYTES = 20 * 1024 * 1024
#: Largest accepted image, in pixels (width × height), checked before decoding.
MAX_PIXELS = 40_000_000
#: Longest accepted side in pixels: a 1×1000000 "image" is not a picture.
MAX_SIDE = 30_000
#: Most pieces (strips / tiles) a file may be decoded in; Pillow loops over them in Python.
#: Real files have at most one per row (≤ MAX_SIDE) or a few hundred tiles.
MAX_TILES = 100_000
#: Most scans a JPEG may have. Real encoders write ≤ ~20; each extra (even empty)
#: progressive scan makes libjpeg walk the whole coefficient buffer again.
MAX_JPEG_SCANS = 256
#: Pillow ``reducing_gap`` for downscaling: fast box reduction first, then bilinear.
REDUCING_GAP = 3.0

_WHITE = (255, 255, 255)
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
)


class BadImage(ValueError):
    """The bytes are not a picture we accept; ``str(error)`` says why, for a person."""


# --------------------------------------------------------------------------- reading


def read_image(data: bytes, *, max_bytes: int = MAX_BYTES,
               max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode ``data`` into a fully loaded RGB image at full resolution, or raise :class:`BadImage`.

    See the module docstring for the guarantees (bounded memory and time, only BadImage).
    """
    _check_bytes(data, max_bytes)
    return _guarded(lambda d: _decode(d, None, max_pixels, None), bytes(data), max_pixels)


def read_image_bounded(data: bytes, size: int, *, max_bytes: int = MAX_BYTES,
                       max_pixels: int = MAX_PIXELS,
                       max_decoded_pixels: int | None = None) -> Image.Image:
    """:func:`read_image` for a picture that will become a ``size``×``size`` model input, with
    memory bounded by what is decoded rather than by what the file declares.

    The result is an RGB image whose shorter side is at least :func:`working_side` (``size``)
    when the picture had that many pixels, reduced by an integer factor k otherwise (JPEG: the
    decoder's 1/2, 1/4, 1/8 scaling, then a box reduction for what is left; other formats:
    a box reduction, the mean of each k×k block, right after decoding; alpha is premultiplied
    while averaging). ``image_to_tensor(read_image_bounded(d, s), s)`` is therefore the same
    picture as ``image_to_tensor(read_image(d), s)`` up to rounding, without ever holding more
    than one full-resolution copy plus one conversion of it.

    ``max_decoded_pixels``: refuse (``BadImage``, from the header alone) a picture that would
    still decode to more pixels than this, e.g. a 6300×6300 PNG for a 16-megapixel limit. Same
    guarantees as read_image otherwise: BadImage and nothing else.
    """
    _check_bytes(data, max_bytes)
    keep = working_side(size)
    return _guarded(lambda d: _decode(d, keep, max_pixels, max_decoded_pixels), bytes(data), max_pixels)


def _decode(data: bytes, keep: int | None, max_pixels: int, max_decoded_pixels: int | None) -> Image.Image:
    """The one decoder: header checks before any pixel, then (with ``keep``) JPEG draft scaling and
    a box reduction to the working side, then EXIF orientation and RGB conversion. The first frame
    only, for animations and multi-page TIFF."""
    with _open(data) as img:
        _check_dimensions(img.size, max_pixels)
        _check_cost(img, data)
        declared = img.size
        if keep is not None:
            _draft(img, keep)
            _check_decoded(img, declared, max_decoded_pixels)
        img.load()
        transpose = _exif_transpose_method(img)
        picture = _reduce_for(img, keep) if keep is not None else img
        del img  # a reduced picture leaves the full-resolution pixels with the file (closed by `with`)
        if transpose is not None:
            picture = picture.transpose(transpose)
        return to_rgb(picture)  # always a new image, independent of the (closed) file


def _open(data: bytes) -> ImageFile.ImageFile:
    """Image.open restricted to ALLOWED_FORMATS, with a readable error."""
    try:
        return Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
    except UnidentifiedImageError:
        looks_like = _sniff_format(data)
        if looks_like:
            raise BadImage(f"image is truncated or corrupt: looks like a {looks_like} file "
                           "but its header cannot be read") from None
        raise BadImage("not an image (unrecognised format); accepted formats: "
                       + ", ".join(ALLOWED_FORMATS)) from None


def _sniff_format(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((name for magic, name in _MAGIC if data.startswith(magic)), None)


def _check_bytes(data: object, max_bytes: int) -> None:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BadImage(f"expected the file's bytes, got {type(data).__name__}")
    size = memoryview(data).nbytes
    if size == 0:
        raise BadImage("file is empty (0 bytes)")
    if size > max_bytes:
        raise BadImage(f"file too large: {format_bytes(size)} "
                       f"(limit {format_bytes(max_bytes, trim=True)})")


def _check_dimensions(size: tuple[int, int], max_pixels: int) -> None:
    """Refuse what the header declares, before a single pixel is decoded."""
    width, height = size
    if width < 1 or height < 1:
        raise BadImage(f"image has no pixels: {width}×{height}")
    if width * height > max_pixels:
        raise BadImage(f"image too large: {width}×{height} pixels "
                       f"(limit {_megapixels(max_pixels)} megapixels)")
    if max(width, height) > MAX_SIDE:
        raise BadImage(f"image has absurd dimensions: {width}×{height} pixels "
                       f"(each side must be at most {MAX_SIDE} pixels)")


def _check_cost(img: ImageFile.ImageFile, data: bytes) -> None:
    """Refuse files that are small but slow to decode (see MAX_TILES, MAX_JPEG_SCANS)."""
    if len(img.tile) > MAX_TILES:
        raise BadImage(f"image is truncated or corrupt: split into {len(img.tile)} pieces "
                       f"(limit {MAX_TILES})")
    if img.format in ("JPEG", "MPO"):
        scans = data.count(b"\xff\xda")  # SOS marker; 0xFF is byte-stuffed in scan data
        if scans > MAX_JPEG_SCANS:
            raise BadImage(f"image is truncated or corrupt: JPEG with {scans} scans "
                           f"(limit {MAX_JPEG_SCANS})")


# --------------------------------------------------------------------------- colour


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode → a new RGB image; transparency is composited onto white."""
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        img = _to_8bit_grey(img)
    if img.mode in ("La", "RGBa"):  # premultiplied alpha: undo it first
        img = img.convert(img.mode.upper())
    if _has_transparency(img):
        return _composite_on_white(img)
    try:
        return img.convert("RGB")
    except ValueError as e:
        raise BadImage(f"unsupported colour mode: {img.mode}") from e


def _has_transparency(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info


def _composite_on_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    out = Image.new("RGB", rgba.size, _WHITE)
    out.paste(rgba, mask=rgba.getchannel("A"))  # out = white·(1-α) + colour·α
    return out


def _to_8bit_grey(img: Image.Image) -> Image.Image:
    """16/32-bit integer or float greyscale → "L", rescaled, never clipped.

    * ``I;16*`` (and ``I`` holding values in 0‥65535, as 16-bit PNG/TIFF give): ÷ 257,
      so 65535 → 255.
    * ``F`` in 0‥1 → × 255; ``F`` in 0‥255 → as is.
    * Anything else (negative, larger, …): stretched linearly from its min‥max to 0‥255.
    NaN and ±inf count as the darkest / brightest finite value.
    """
    arr = np.array(img, dtype=np.float32)  # a writable copy
    finite = np.isfinite(arr)
    lo, hi = (float(arr[finite].min()), float(arr[finite].max())) if finite.any() else (0.0, 0.0)
    np.nan_to_num(arr, copy=False, nan=lo, posinf=hi, neginf=lo)
    offset, scale = _grey_scaling(img.mode, lo, hi)
    arr -= offset
    arr *= scale
    np.clip(arr, 0, 255, out=arr)  # only guards float rounding at the ends
    return Image.fromarray(np.rint(arr).astype(np.uint8), mode="L")


def _grey_scaling(mode: str, lo: float, hi: float) -> tuple[float, float]:
    """(offset, scale) so that (value - offset) · scale lands in 0‥255."""
    if mode.startswith("I;16") or (mode == "I" and lo >= 0 and hi <= 65535):
        return 0.0, 1 / 257
    if mode == "F" and lo >= 0 and hi <= 1:
        return 0.0, 255.0
    if mode == "F" and lo >= 0 and hi <= 255:
        return 0.0, 1.0
    return lo, (255 / (hi - lo) if hi > lo else 0.0)


# --------------------------------------------------------------------------- helpers


def check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")


def _describe(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:g}"


def _bomb_megapixels(error: Exception) -> str:
    """The pixel count in Pillow's DecompressionBombError message, as megapixels."""
    match = re.search(r"\((\d+) pixels\)", str(error))
    if match:
        return _megapixels(int(match.group(1)))
    return f"over {_megapixels(2 * (Image.MAX_IMAGE_PIXELS or 0))}"


# --------------------------------------------------------------------------- bounded decoding
#
# read_image decodes a picture at full resolution, which for a 40-megapixel RGBA picture is
# 160 MiB of pixels plus the copies that colour conversion makes. A picture read for a model is
# shrunk to size×size anyway, so read_image_bounded decodes it small: a JPEG is reduced by its
# decoder (DCT scaling, 1/2 … 1/8), any other format is box-reduced right after decoding and the
# full-resolution pixels are dropped at once. Pictures whose *decoded* size is still above a
# caller's limit (uploads' MAX_DECODED_PIXELS) are refused from their header alone.

#: The shorter side a picture keeps when it is reduced for a model (at least REDUCING_GAP × the
#: model's input): enough for image_to_tensor's own antialiased resize and for a thumbnail.
WORKING_SIDE = 256

_EXIF_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                   4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                   6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
                   8: Image.Transpose.ROTATE_90}
#: Modes whose box reduction means something (Pillow premultiplies LA / RGBA itself).
_REDUCIBLE = ("L", "LA", "RGB", "RGBA", "RGBX", "CMYK")


def working_side(size: int) -> int:
    """The shorter side kept by :func:`read_image_bounded` for a model input of ``size``:
    ``max(WORKING_SIDE, ceil(REDUCING_GAP · size))``."""
    check_size(size)
    return max(WORKING_SIDE, int(np.ceil(REDUCING_GAP * size)))


def decoded_size(data: bytes, size: int, *, max_bytes: int = MAX_BYTES,
                 max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """(width, height) that :func:`read_image_bounded` would decode, from the header alone (JPEG
    after DCT scaling; other formats as declared). Raises :class:`BadImage` like read_image for
    what read_image refuses before decoding (size, format, bytes)."""
    _check_bytes(data, max_bytes)

    def plan(data: bytes) -> tuple[int, int]:
        with _open(data) as img:
            _check_dimensions(img.size, max_pixels)
            _check_cost(img, data)
            _draft(img, working_side(size))
            return img.size

    return _guarded(plan, bytes(data), max_pixels)


def _guarded(call, data: bytes, max_pixels: int):
    """Run ``call(data)``, turning every error into BadImage as :func:`read_image` does."""
    try:
        return call(data)
    except BadImage:
        raise
    except Image.DecompressionBombError as e:
        raise BadImage(f"image too large: {_bomb_megapixels(e)} megapixels "
                       f"(limit {_megapixels(max_pixels)} megapixels)") from e
    except MemoryError as e:
        raise BadImage("not enough memory to decode this image") from e
    except Exception as e:  # noqa: BLE001 - the contract: nothing but BadImage escapes
        raise BadImage(f"image is truncated or corrupt: {_describe(e)}") from e


def _draft(img: ImageFile.ImageFile, keep: int) -> None:
    """JPEG only: let libjpeg decode at 1/2, 1/4 or 1/8 scale, keeping both sides ≥ ``keep``."""
    if img.format in ("JPEG", "MPO") and min(img.size) >= 2 * keep:
        img.draft(None, (keep, keep))


def _check_decoded(img: Image.Image, declared: tuple[int, int], limit: int | None) -> None:
    width, height = img.size
    if limit is not None and width * height > limit:
        shown = f"{declared[0]}×{declared[1]} pixels"
        if img.size != declared:
            shown += f", {width}×{height} after reduction"
        raise BadImage(f"image too large to decode: {shown} ({width * height / 1e6:.1f} megapixels to "
                       f"decode; limit {_megapixels(limit)} megapixels per picture). Shrink it, or save "
                       "it as JPEG, which is reduced while it is decoded")


def _exif_transpose_method(img: Image.Image) -> Image.Transpose | None:
    """The transpose that EXIF orientation asks for (None: none, or broken EXIF, which is ignored)."""
    try:
        return _EXIF_TRANSPOSE.get(int(img.getexif().get(0x0112, 1)))
    except Exception:  # noqa: BLE001 - a broken tag must not lose an otherwise good image
        return None


def _reduce_for(img: Image.Image, keep: int) -> Image.Image:
    """``img`` box-reduced by the largest integer factor that keeps its shorter side ≥ ``keep``;
    ``img`` itself when no reduction is due. Modes whose pixels cannot be averaged (palette,
    1-bit, 16/32-bit grey, colour-key transparency) are converted first, as to_rgb would."""
    factor = min(img.size) // keep
    if factor < 2:
        return img
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        img = _to_8bit_grey(img)
    elif img.mode in ("La", "RGBa"):
        img = img.convert(img.mode.upper())
    elif img.mode not in _REDUCIBLE or "transparency" in img.info:
        img = img.convert("RGBA" if _has_transparency(img) else "RGB")
    return img.reduce(factor)
