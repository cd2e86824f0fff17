"""The one door for pictures that come from outside: uploads, folders and zips.

Every byte string a user hands us goes through :func:`read_image` (or
:func:`read_image_bounded`, the same door decoding a picture meant for a model reduced, as
uploads, folders and zips are read), and every picture that feeds a model goes through
:func:`image_to_tensor`, so training data from folders, evaluation and uploads are preprocessed
identically.

Guarantees of :func:`read_image`, whatever the bytes:

* It returns a fully loaded ``"RGB"`` :class:`PIL.Image.Image`, or raises :class:`BadImage`
  (a ``ValueError``) with a message a person understands. No other exception escapes:
  Pillow, OS, struct, zlib, memory and any other decoding error is converted.
* Memory is bounded. The byte string is capped (``max_bytes``, 20 MB by default) and the
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
* Colour is normalised: EXIF orientation is applied (broken EXIF is ignored, not fatal);
  transparency (alpha, ``LA``, palette or colour-key transparency) is composited onto white;
  16-bit and 32-bit integer and float greyscale is rescaled to 8 bits (not clipped); CMYK,
  1-bit, palette, YCbCr … are converted to RGB.

Not thread-hostile: nothing here changes Pillow's global settings or the warnings filters.
"""

from __future__ import annotations

import io
import re

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

__all__ = [
    "APP_MAX_DECODED_PIXELS",
    "WORKING_SIDE",
    "decoded_size",
    "read_image_bounded",
    "ALLOWED_FORMATS",
    "MAX_BYTES",
    "MAX_PIXELS",
    "MAX_SIDE",
    "BadImage",
    "read_image",
    "image_to_tensor",
    "images_to_batch",
    "read_images",
    "centre_like_mnist",
    "centre_batch",
    "NORMALIZE_CHOICES",
    "UPLOAD_NORMALIZE",
]

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
_MB = 1024 * 1024
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
    """Decode ``data`` into a fully loaded RGB image, or raise :class:`BadImage`.

    See the module docstring for the guarantees (bounded memory and time, only BadImage).
    """
    _check_bytes(data, max_bytes)
    try:
        return _decode(bytes(data), max_pixels)
    except BadImage:
        raise
    except Image.DecompressionBombError as e:  # Pillow's guard fires inside Image.open
        raise BadImage(f"image too large: {_bomb_megapixels(e)} megapixels "
                       f"(limit {_megapixels(max_pixels)} megapixels)") from e
    except MemoryError as e:
        raise BadImage("not enough memory to decode this image") from e
    except Exception as e:  # noqa: BLE001 - the contract: nothing but BadImage escapes
        raise BadImage(f"image is truncated or corrupt: {_describe(e)}") from e


def _decode(data: bytes, max_pixels: int) -> Image.Image:
    with _open(data) as img:
        _check_dimensions(img.size, max_pixels)
        _check_cost(img, data)
        img.load()  # the first frame only, for animations and multi-page TIFF
        _apply_exif_orientation(img)
        return _to_rgb(img)  # always a new image, independent of the (closed) file


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
        raise BadImage(f"file too large: {_format_bytes(size)} "
                       f"(limit {_format_bytes(max_bytes, trim=True)})")


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


def _apply_exif_orientation(img: Image.Image) -> None:
    """Rotate / flip in place as the EXIF orientation tag says; broken EXIF is ignored."""
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except Exception:  # noqa: BLE001 - a broken tag must not lose an otherwise good image
        pass


# --------------------------------------------------------------------------- colour


def _to_rgb(img: Image.Image) -> Image.Image:
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


# --------------------------------------------------------------------------- tensors


#: What :func:`image_to_tensor` may do to a picture before resizing it: ``"none"`` (resize the whole
#: picture) or ``"centre"`` (:func:`centre_like_mnist`).
NORMALIZE_CHOICES: tuple[str, ...] = ("none", "centre")
#: The default for uploads. Measured once with the universal model on six unseen digit domains
#: (scripts/universal.py evaluate, test splits of 300): centring helped on paper photos (87.3 → 89.3 %),
#: dark-on-light (93.0 → 97.7), handwriting (96.3 → 97.0) and colour (97.0 → 97.3) but hurt
#: printed digits (93.0 → 91.7) and photo-textured MNIST-M-like pictures (86.0 → 69.7), so it is an
#: option, not the default.
UPLOAD_NORMALIZE = "none"


def image_to_tensor(img: Image.Image, size: int, normalize: str | None = None) -> torch.Tensor:
    """The one preprocessing path: whole image → float32 (3, size, size) in [0, 1].

    Resizes without cropping (the aspect ratio is not kept) with bilinear filtering,
    which Pillow antialiases when downscaling; large reductions use a box ``reduce``
    first (``reducing_gap``). Non-RGB images are converted as :func:`read_image` does.
    ``normalize="centre"`` first applies :func:`centre_like_mnist` (a bright digit centred on
    black, as MNIST was made); ``None`` / ``"none"`` leaves the picture as it is.
    """
    _check_size(size)
    if img.mode != "RGB":
        img = _to_rgb(img)
    if normalize_mode(normalize) == "centre":
        img = centre_like_mnist(img, size)
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=REDUCING_GAP)
    arr = np.array(img, dtype=np.float32)
    np.divide(arr, 255.0, out=arr)
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def images_to_batch(images: list[Image.Image], size: int, normalize: str | None = None) -> torch.Tensor:
    """Images → float32 (N, 3, size, size) in [0, 1]; an empty list gives N = 0."""
    _check_size(size)
    if not images:
        return torch.empty((0, 3, size, size), dtype=torch.float32)
    return torch.stack([image_to_tensor(img, size, normalize) for img in images])


def read_images(named: list[tuple[str, bytes]], size: int, *, max_bytes: int = MAX_BYTES,
                max_pixels: int = MAX_PIXELS, normalize: str | None = None,
                ) -> tuple[torch.Tensor, list[str], dict[str, str]]:
    """Decode a batch of named files; a broken file is reported, the rest still returned.

    Returns ``(batch, names, bad)``: ``batch`` is (N, 3, size, size) for the N good files,
    ``names`` their names in input order, ``bad`` maps each broken file's name to the
    reason. Each image is turned into a tensor at once, so only one full-size picture is
    in memory at a time. (With duplicate names, ``bad`` keeps the last reason.)
    ``normalize``: as in :func:`image_to_tensor` (``"centre"``: :func:`centre_like_mnist`).
    """
    _check_size(size)
    normalize_mode(normalize)
    tensors: list[torch.Tensor] = []
    names: list[str] = []
    bad: dict[str, str] = {}
    for name, data in named:
        try:
            img = read_image(data, max_bytes=max_bytes, max_pixels=max_pixels)
        except BadImage as e:
            bad[name] = str(e)
            continue
        tensors.append(image_to_tensor(img, size, normalize))
        names.append(name)
    if not tensors:
        return torch.empty((0, 3, size, size), dtype=torch.float32), names, bad
    return torch.stack(tensors), names, bad


# --------------------------------------------------------------------------- centre like MNIST

#: MNIST's digits were scaled so that their bounding box fits 20×20 pixels of the 28×28 frame.
MNIST_BOX = 20 / 28
#: Pictures are reduced to at most this many pixels on the longer side before centring (speed).
CENTRE_WORKING_SIDE = 256


def normalize_mode(normalize: str | None) -> str:
    mode = "none" if normalize is None else normalize
    if mode not in NORMALIZE_CHOICES:
        raise ValueError(f"unknown normalize {normalize!r}; choose one of {', '.join(NORMALIZE_CHOICES)}")
    return mode


def _otsu(values: np.ndarray) -> float:
    """Otsu's threshold of values in [0, 1] (64 bins): the split maximising between-class variance."""
    hist, edges = np.histogram(values, bins=64, range=(0.0, 1.0))
    p = hist.astype(np.float64) / max(1, hist.sum())
    centres = (edges[:-1] + edges[1:]) / 2
    w0, m0 = np.cumsum(p), np.cumsum(p * centres)
    w1, mu = 1 - w0, m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu * w0 - m0) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = 0
    return float(edges[int(np.argmax(between)) + 1])


def _ink_map(grey: np.ndarray) -> np.ndarray:
    """Grey picture (H, W) in [0, 1] → raw ink strength (H, W) (bright ink on a dark background,
    not yet stretched; see :func:`_stretch`).

    * background level b = median of the outer ring (6 % of the short side);
    * polarity: thin structures darker than their surroundings (black top-hat, closing − grey)
      against thin structures brighter (white top-hat, grey − opening), by their 99.5th
      percentiles, with the same k as below — so a bright patch of light on paper does not pass
      for ink; when neither is 1.25× the other, the ink is whichever extreme (after a 3×3 median
      filter) lies further from b. Dark ink on light paper is inverted;
    * light background (paper): uneven light is divided out — the paper's brightness P is a
      grey closing (max then min filter, k = max(7, short side / 6): wider than a pen stroke)
      smoothed by a k×k mean but never above the closing, and ink = 1 − grey / P
      (flat-fielding); dark background: ink = grey − b.
    """
    from scipy import ndimage

    h, w = grey.shape
    ring = max(1, int(round(0.06 * min(h, w))))
    border = np.concatenate([grey[:ring].ravel(), grey[-ring:].ravel(), grey[:, :ring].ravel(), grey[:, -ring:].ravel()])
    b = float(np.median(border))
    k = max(7, int(round(min(h, w) / 6)))
    closed = ndimage.grey_closing(grey, size=(k, k))
    dark = float(np.percentile(closed - grey, 99.5))                                   # black top-hat
    bright = float(np.percentile(grey - ndimage.grey_opening(grey, size=(k, k)), 99.5))  # white top-hat
    if max(dark, bright) < 1.25 * min(dark, bright):  # no clear winner: ask the border
        smooth = ndimage.median_filter(grey, size=3, mode="nearest")
        dark_ink = b - float(smooth.min()) > float(smooth.max()) - b
    else:
        dark_ink = dark > bright
    if dark_ink:
        # smoothed, but never above the closing: a blurred shadow edge would otherwise read as ink
        paper = np.minimum(ndimage.uniform_filter(closed, size=k, mode="nearest"), closed)
        return 1.0 - grey / np.maximum(paper, 1e-3)
    return grey - b


def _stretch(ink: np.ndarray) -> np.ndarray | None:
    """Contrast: (ink − median) / (99.7th percentile − median), clipped to [0, 1]; None when
    nothing stands out (a spread under 0.05)."""
    floor = float(np.median(ink))
    top = float(np.percentile(ink, 99.7))
    if top - floor < 0.05:
        return None
    return np.clip((ink - floor) / (top - floor), 0.0, 1.0)


def _components(mask: np.ndarray):
    """8-connected components: (labels (H, W), areas (n,), touches-the-frame (n,) bool)."""
    from scipy import ndimage

    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    areas = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    edge = np.zeros(n + 1, dtype=bool)
    edge[np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))] = True
    return labels, areas, edge[1:]


def _threshold(ink: np.ndarray) -> float:
    return min(0.6, max(0.2, _otsu(ink)))


def _digit_mask(ink: np.ndarray) -> tuple[np.ndarray, bool]:
    """Which pixels belong to the digit, and whether any of them touches the frame.

    Otsu-thresholded ink (threshold kept in [0.2, 0.6]), 8-connected components; components
    touching the frame are dropped when others of some size exist (page edges, shadows), and of
    the rest those smaller than 10 % of the largest (specks)."""
    mask = ink > _threshold(ink)
    labels, areas, touching = _components(mask)
    if len(areas) == 0:
        return mask, False
    inner = ~touching
    candidates = inner if (areas * inner).max(initial=0) >= 0.1 * areas.max() else np.ones(len(areas), dtype=bool)
    keep = candidates & (areas >= 0.1 * (areas * candidates).max())
    return keep[labels - 1] & (labels > 0), bool((keep & touching).any())


def _without_frame_blobs(raw: np.ndarray, ink: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Second try when the ink found touches the frame — a shadow's or a page's edge can outshine
    a faint digit: drop whatever touches the frame (at half the threshold, slightly dilated),
    stretch again and look for a digit of some size (≥ 0.4 % of the pixels, ≥ 20 % of the
    short side) that does not touch it. None if there is none (the digit itself touches it)."""
    from scipy import ndimage

    labels, areas, touching = _components(ink > 0.5 * _threshold(ink))
    if not touching.any():
        return None
    blobs = ndimage.binary_dilation(np.isin(labels, np.flatnonzero(touching) + 1), iterations=2)
    second = _stretch(np.where(blobs, np.median(raw), raw))
    if second is None:
        return None
    mask, touches = _digit_mask(second)
    h, w = mask.shape
    if touches or mask.sum() < 0.004 * h * w:
        return None
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 < 0.2 * min(h, w):
        return None
    return second, mask


def centre_like_mnist(img: Image.Image, size: int = 28) -> Image.Image:
    """Make a photo of a digit look like an MNIST digit: bright on black, boxed and centred.

    The steps MNIST's makers applied (LeCun et al. 1998), after making the background dark:

    1. grey, reduced to ≤ :data:`CENTRE_WORKING_SIDE` pixels on the longer side;
    2. background dark: estimated from the border, inverted when the ink is darker than it,
       uneven light divided out on paper (:func:`_ink_map`), contrast normalised (:func:`_stretch`);
    3. crop to the ink (:func:`_digit_mask`: specks and frame-touching blobs dropped; when what is
       left touches the frame, :func:`_without_frame_blobs` looks again without the frame's
       blobs), pad to a square;
    4. scale so the box's longer side is 20/28 of ``size`` (antialiased);
    5. place it so its centre of mass is the frame's centre.

    Returns an RGB image ``size``×``size`` (grey in all three channels). A picture in which no ink
    stands out comes back as its grey, polarity-normalised self, resized. Roughly idempotent on
    MNIST digits (they are already like this).

    >>> from PIL import ImageDraw
    >>> paper = Image.new("RGB", (96, 96), (235, 230, 220)); d = ImageDraw.Draw(paper)
    >>> d.line([(60, 15), (60, 45)], fill=(30, 30, 30), width=4)
    >>> out = np.asarray(centre_like_mnist(paper, 28))[..., 0]
    >>> int(out[0, 0]), bool(out[14, 14] > 128), out.shape
    (0, True, (28, 28))
    """
    _check_size(size)
    grey = img if img.mode == "L" else (_to_rgb(img) if img.mode != "RGB" else img).convert("L")
    if max(grey.size) > CENTRE_WORKING_SIDE:
        grey = grey.copy()
        grey.thumbnail((CENTRE_WORKING_SIDE, CENTRE_WORKING_SIDE), Image.Resampling.BILINEAR,
                       reducing_gap=REDUCING_GAP)
    g = np.asarray(grey, dtype=np.float32) / 255.0
    raw = _ink_map(g)
    ink = _stretch(raw)
    if ink is None:
        flat = Image.fromarray(np.uint8(np.rint(np.clip(g if np.median(g) < 0.5 else 1 - g, 0, 1) * 255)))
        return flat.resize((size, size), Image.Resampling.BILINEAR).convert("RGB")
    mask, touches = _digit_mask(ink)
    if touches:
        second = _without_frame_blobs(raw, ink)
        if second is not None:
            ink, mask = second
    if not mask.any():
        mask = ink > 0.5
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    from scipy import ndimage

    near = ndimage.binary_dilation(mask, iterations=2)  # the digit's anti-aliased rim, not the specks
    crop = (ink * near)[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    ch, cw = crop.shape
    side = max(ch, cw)
    square = np.zeros((side, side), dtype=np.float32)
    square[(side - ch) // 2:(side - ch) // 2 + ch, (side - cw) // 2:(side - cw) // 2 + cw] = crop
    box = max(1, int(round(MNIST_BOX * size)))
    digit = np.asarray(Image.fromarray(np.uint8(np.rint(square * 255))).resize(
        (box, box), Image.Resampling.LANCZOS), dtype=np.float32)
    total = digit.sum()
    cy, cx = ((np.arange(box)[:, None] * digit).sum() / total, (np.arange(box)[None] * digit).sum() / total) \
        if total > 0 else ((box - 1) / 2, (box - 1) / 2)
    # MNIST put the centre of mass at pixel (14, 14) of 28×28, i.e. at size / 2 in pixel indices
    top = int(np.clip(round(size / 2 - cy), 0, size - box))
    left = int(np.clip(round(size / 2 - cx), 0, size - box))
    canvas = np.zeros((size, size), dtype=np.uint8)
    canvas[top:top + box, left:left + box] = np.uint8(np.clip(np.rint(digit), 0, 255))
    return Image.fromarray(canvas).convert("RGB")


def centre_batch(images: torch.Tensor, size: int = 28) -> torch.Tensor:
    """:func:`centre_like_mnist` on every picture of a batch: (N, 3, H, W) — uint8 or float in
    [0, 1] — → float32 (N, 3, size, size) in [0, 1]."""
    _check_size(size)
    out = torch.empty((len(images), 3, size, size), dtype=torch.float32)
    for i, x in enumerate(images):
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        arr = np.uint8(np.rint(x.clamp(0, 1).permute(1, 2, 0).numpy() * 255))
        out[i] = image_to_tensor(centre_like_mnist(Image.fromarray(arr), size), size)
    return out


# --------------------------------------------------------------------------- helpers


def _check_size(size: int) -> None:
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


def _format_bytes(n: int, trim: bool = False) -> str:
    """30.0 MB / 12.5 KB / 7 bytes; ``trim`` drops a trailing ".0" (for limits)."""
    if n < 1024:
        return f"{n} bytes"
    value, unit = (n / _MB, "MB") if n >= _MB else (n / 1024, "KB")
    text = f"{value:.1f}"
    if trim and text.endswith(".0"):
        text = text[:-2]
    return f"{text} {unit}"


# --------------------------------------------------------------------------- bounded decoding
#
# read_image decodes a picture at full resolution, which for a 40-megapixel RGBA picture is
# 160 MB of pixels plus the copies that colour conversion makes. A picture read for a model is
# shrunk to size×size anyway, so read_image_bounded decodes it small: a JPEG is reduced by its
# decoder (DCT scaling, 1/2 … 1/8), any other format is box-reduced right after decoding and the
# full-resolution pixels are dropped at once. Pictures whose *decoded* size is still above a
# caller's limit (the app's APP_MAX_DECODED_PIXELS) are refused from their header alone.

#: The shorter side a picture keeps when it is reduced for a model (at least REDUCING_GAP × the
#: model's input): enough for image_to_tensor's own antialiased resize and for a thumbnail.
WORKING_SIDE = 256
#: Most pixels the app decodes for one upload (after JPEG DCT scaling): 16 megapixels is 64 MB as
#: RGBA, about 130 MB at the peak of the conversion. Larger JPEGs are fine (they decode smaller).
APP_MAX_DECODED_PIXELS = 16_000_000

_EXIF_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                   4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                   6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
                   8: Image.Transpose.ROTATE_90}
#: Modes whose box reduction means something (Pillow premultiplies LA / RGBA itself).
_REDUCIBLE = ("L", "LA", "RGB", "RGBA", "RGBX", "CMYK")


def working_side(size: int) -> int:
    """The shorter side kept by :func:`read_image_bounded` for a model input of ``size``:
    ``max(WORKING_SIDE, ceil(REDUCING_GAP · size))``."""
    _check_size(size)
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

    return _bounded_errors(plan, bytes(data), max_pixels)


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
    still decode to more pixels than this, e.g. a 6300×6300 PNG for the app's 16-megapixel
    limit. Same guarantees as read_image otherwise: BadImage and nothing else.
    """
    _check_bytes(data, max_bytes)
    keep = working_side(size)
    return _bounded_errors(lambda d: _decode_bounded(d, keep, max_pixels, max_decoded_pixels),
                           bytes(data), max_pixels)


def _bounded_errors(call, data: bytes, max_pixels: int):
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


def _decode_bounded(data: bytes, keep: int, max_pixels: int,
                    max_decoded_pixels: int | None) -> Image.Image:
    with _open(data) as img:
        _check_dimensions(img.size, max_pixels)
        _check_cost(img, data)
        declared = img.size
        _draft(img, keep)
        _check_decoded(img, declared, max_decoded_pixels)
        img.load()
        transpose = _exif_transpose_method(img)
        small = _reduce_for(img, keep)
        del img  # the full-resolution pixels go with the file (closed by `with`)
        if transpose is not None:
            small = small.transpose(transpose)
        return _to_rgb(small) if small.mode != "RGB" else small


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
        raise BadImage(f"image too large for this app: {shown} ({width * height / 1e6:.1f} megapixels to "
                       f"decode; limit {_megapixels(limit)} megapixels per picture). Shrink it, or save "
                       "it as JPEG, which is reduced while it is decoded")


def _exif_transpose_method(img: Image.Image) -> Image.Transpose | None:
    """The transpose that EXIF orientation asks for (None: none, or broken EXIF, which is ignored)."""
    try:
        return _EXIF_TRANSPOSE.get(int(img.getexif().get(0x0112, 1)))
    except Exception:  # noqa: BLE001 - as in _apply_exif_orientation
        return None


def _reduce_for(img: Image.Image, keep: int) -> Image.Image:
    """``img`` box-reduced by the largest integer factor that keeps its shorter side ≥ ``keep``;
    ``img`` itself when no reduction is due. Modes whose pixels cannot be averaged (palette,
    1-bit, 16/32-bit grey, colour-key transparency) are converted first, as _to_rgb would."""
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
