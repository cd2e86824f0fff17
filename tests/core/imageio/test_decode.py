"""Tests for core.imageio: the one door for pictures from outside.

Every case uses real images generated in memory with Pillow. The fuzz tests (names contain
"fuzz") feed random and mutated bytes; their total number of examples comes from the
environment variable SHIFTLAB_FUZZ_EXAMPLES (default 500, split between them), e.g.

    SHIFTLAB_FUZZ_EXAMPLES=10000 OMP_NUM_THREADS=1 python -m pytest tests/test_imageio.py -k fuzz -q
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import os
import random
import struct
import time
import zlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from core.imageio.decode import MAX_JPEG_SCANS
from core.imageio import (
    ALLOWED_FORMATS,
    MAX_BYTES,
    MAX_PIXELS,
    MAX_SIDE,
    BadImage,
    image_to_tensor,
    images_to_batch,
    read_image,
    read_images,
)

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


# --------------------------------------------------------------------------- makers


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def noise(size=(64, 48), mode="RGB", seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = len(mode)
    arr = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    return Image.fromarray(arr.squeeze(-1) if channels == 1 else arr, mode=mode)


def halves(size=(40, 20), left=RED, right=BLUE) -> Image.Image:
    img = Image.new("RGB", size, left)
    img.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return img


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, well-formed 1-bit greyscale PNG header that declares width×height."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def animation(fmt: str, **params) -> bytes:
    frames = [Image.new("RGB", (16, 16), colour) for colour in (RED, BLUE, (0, 255, 0))]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100,
                  loop=0, **params)


def tiled_tiff(width: int, height: int, tile: int) -> bytes:
    """An uncompressed 8-bit grey TIFF cut into tile×tile tiles, all pointing at one tile."""
    n = -(-width // tile) * -(-height // tile)
    pixels = bytes(tile * tile)
    offsets_at = 8 + len(pixels)
    counts_at = offsets_at + 4 * n
    ifd_at = counts_at + 2 * n
    tags = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
            (262, 3, 1, 1), (277, 3, 1, 1), (322, 4, 1, tile), (323, 4, 1, tile),
            (324, 4, n, offsets_at), (325, 3, n, counts_at)]
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", *t) for t in tags)
    return (b"II*\x00" + struct.pack("<I", ifd_at) + pixels
            + struct.pack(f"<{n}I", *[8] * n) + struct.pack(f"<{n}H", *[len(pixels)] * n)
            + ifd + b"\x00\x00\x00\x00")


def pixel(img: Image.Image, xy=(0, 0)) -> tuple[int, ...]:
    return img.getpixel(xy)


def close(a, b, tol=12) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def assert_rgb(img: Image.Image, size: tuple[int, int] | None = None) -> None:
    assert isinstance(img, Image.Image)
    assert img.mode == "RGB"
    if size is not None:
        assert img.size == size
    img.getpixel((0, 0))  # fully loaded, readable


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize("fmt, params", [
    ("PNG", {}), ("JPEG", {"quality": 95}), ("WEBP", {"lossless": True}), ("BMP", {}),
    ("GIF", {}), ("TIFF", {}), ("TIFF", {"compression": "tiff_lzw"}),
    ("JPEG", {"progressive": True}),
])
def test_reads_each_allowed_format(fmt, params):
    img = read_image(encode(halves(), fmt, **params))
    assert_rgb(img, (40, 20))
    assert close(pixel(img, (5, 10)), RED) and close(pixel(img, (35, 10)), BLUE)


def test_allowed_formats_constant():
    assert set(ALLOWED_FORMATS) == {"PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"}


@pytest.mark.parametrize("fmt", ["PPM", "ICO", "TGA", "PCX"])
def test_other_real_image_formats_are_refused(fmt):
    with pytest.raises(BadImage, match="not an image"):
        read_image(encode(Image.new("RGB", (16, 16), RED), fmt))


@pytest.mark.parametrize("fmt, params", [("GIF", {}), ("WEBP", {"lossless": True}),
                                         ("PNG", {})])  # PNG + save_all = APNG
def test_animation_gives_first_frame(fmt, params):
    img = read_image(animation(fmt, **params))
    assert_rgb(img, (16, 16))
    assert close(pixel(img), RED)


def test_multipage_tiff_gives_first_page():
    data = encode(Image.new("RGB", (8, 8), RED), "TIFF", save_all=True,
                  append_images=[Image.new("RGB", (8, 8), BLUE)])
    assert pixel(read_image(data)) == RED


# --------------------------------------------------------------------------- colour modes


@pytest.mark.parametrize("fmt", ["TIFF", "PNG"])
def test_16bit_grey_is_scaled_not_clipped(fmt):
    arr = np.array([[0, 257 * 64, 257 * 128, 65535]], dtype=np.uint16)
    data = encode(Image.fromarray(arr), fmt)
    assert Image.open(io.BytesIO(data)).mode in ("I;16", "I")
    img = read_image(data)
    assert [pixel(img, (x, 0)) for x in range(4)] == [(v, v, v) for v in (0, 64, 128, 255)]


def test_32bit_int_grey_out_of_16bit_range_is_stretched():
    data = encode(Image.fromarray(np.array([[-100, 0, 100]], dtype=np.int32), mode="I"), "TIFF")
    img = read_image(data)
    assert [pixel(img, (x, 0))[0] for x in range(3)] == [0, 128, 255]


@pytest.mark.parametrize("values, expected", [
    ([0.0, 0.5, 1.0], [0, 128, 255]),          # 0‥1 floats
    ([0.0, 100.0, 255.0], [0, 100, 255]),      # 0‥255 floats
    ([-1.0, 0.0, 1.0], [0, 128, 255]),         # anything else: stretched
])
def test_float_grey(values, expected):
    data = encode(Image.fromarray(np.array([values], dtype=np.float32), mode="F"), "TIFF")
    img = read_image(data)
    assert [pixel(img, (x, 0))[0] for x in range(3)] == expected


def test_float_grey_with_nan_and_inf():
    arr = np.array([[np.nan, 0.0, 1.0, np.inf]], dtype=np.float32)
    img = read_image(encode(Image.fromarray(arr, mode="F"), "TIFF"))
    assert [pixel(img, (x, 0))[0] for x in range(4)] == [0, 0, 255, 255]


def test_cmyk_jpeg():
    data = encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    assert close(pixel(read_image(data)), RED)


def test_palette_with_transparency_goes_onto_white():
    img = Image.new("P", (8, 8), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.putpixel((7, 7), 1)
    data = encode(img, "PNG", transparency=0)
    out = read_image(data)
    assert pixel(out) == WHITE and pixel(out, (7, 7)) == RED


def test_gif_transparency_goes_onto_white():
    img = Image.new("P", (8, 8), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.putpixel((7, 7), 1)
    out = read_image(encode(img, "GIF", transparency=0))
    assert pixel(out) == WHITE and pixel(out, (7, 7)) == RED


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_alpha_is_composited_onto_white(fmt):
    img = Image.new("RGBA", (4, 1), (0, 0, 0, 0))
    img.putpixel((1, 0), (0, 0, 0, 255))
    img.putpixel((2, 0), (0, 0, 0, 128))
    img.putpixel((3, 0), (255, 0, 0, 255))
    out = read_image(encode(img, fmt, **({"lossless": True} if fmt == "WEBP" else {})))
    assert pixel(out, (0, 0)) == WHITE
    assert pixel(out, (1, 0)) == (0, 0, 0)
    assert close(pixel(out, (2, 0)), (127, 127, 127), tol=2)
    assert pixel(out, (3, 0)) == RED


def test_grey_with_alpha():
    img = Image.new("LA", (2, 1), (0, 0))
    img.putpixel((1, 0), (50, 255))
    out = read_image(encode(img, "PNG"))
    assert pixel(out, (0, 0)) == WHITE and pixel(out, (1, 0)) == (50, 50, 50)


def test_one_bit():
    img = Image.new("1", (8, 8), 0)
    img.putpixel((3, 3), 1)
    out = read_image(encode(img, "PNG"))
    assert pixel(out) == (0, 0, 0) and pixel(out, (3, 3)) == WHITE


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    data = encode(halves((20, 10)), "JPEG", quality=95, exif=exif.tobytes())
    img = read_image(data)
    assert_rgb(img, (10, 20))
    assert close(pixel(img, (5, 3)), RED) and close(pixel(img, (5, 16)), BLUE)  # left → top


@pytest.mark.filterwarnings("ignore:.*EXIF:UserWarning", "ignore:.*tag:UserWarning")
def test_broken_exif_is_ignored():
    broken = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff\x01\x12\x00\x03" + b"\xde\xad" * 8
    data = encode(halves((20, 10)), "JPEG", exif=broken)
    assert_rgb(read_image(data), (20, 10))


# --------------------------------------------------------------------------- refusals


def test_bad_image_is_a_value_error():
    assert issubclass(BadImage, ValueError)


def test_zero_bytes():
    with pytest.raises(BadImage, match=r"file is empty \(0 bytes\)"):
        read_image(b"")


def test_random_bytes():
    with pytest.raises(BadImage, match="not an image"):
        read_image(random.Random(0).randbytes(5000))


def test_text_renamed_png():
    with pytest.raises(BadImage, match=r"not an image \(unrecognised format\)"):
        read_image(b"Hello, this is my holiday photo.png\n" * 20)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"])
def test_truncated_file(fmt):
    data = encode(noise((64, 64)), fmt)
    with pytest.raises(BadImage, match="truncated or corrupt"):
        read_image(data[: len(data) // 2])


@pytest.mark.parametrize("fmt, cut, message", [
    ("PNG", 10, "truncated or corrupt: looks like a PNG file"),
    ("JPEG", 4, "truncated or corrupt: looks like a JPEG file"),
    ("GIF", 16, "truncated or corrupt: looks like a GIF file"),
    ("PNG", 20, "truncated or corrupt"),
])
def test_truncated_header(fmt, cut, message):
    with pytest.raises(BadImage, match=message):
        read_image(encode(noise(), fmt)[:cut])


def test_truncated_images_stay_refused_globally():
    data = encode(noise((64, 64)), "JPEG")
    with pytest.raises(BadImage):
        read_image(data[: len(data) // 2])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("width, height, message", [
    (30_000, 30_000, r"image too large: 900 megapixels \(limit 40 megapixels\)"),  # Pillow's guard
    (8_000, 8_000, r"image too large: 8000×8000 pixels \(limit 40 megapixels\)"),  # ours
    (1, 1_000_000, r"absurd dimensions: 1×1000000"),
])
def test_decompression_bomb_is_refused_before_decoding(width, height, message):
    data = png_declaring(width, height)
    assert len(data) < 200
    start = time.perf_counter()
    with pytest.raises(BadImage, match=message):
        read_image(data)
    assert time.perf_counter() - start < 1


def test_max_pixels_is_configurable():
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(BadImage, match=r"100×100 pixels \(limit 0.005 megapixels\)"):
        read_image(data, max_pixels=5_000)
    assert_rgb(read_image(data, max_pixels=10_000))


def test_file_over_max_bytes():
    data = encode(noise(), "PNG")
    with pytest.raises(BadImage, match="file too large"):
        read_image(data, max_bytes=len(data) - 1)
    assert_rgb(read_image(data, max_bytes=len(data)))


def test_default_max_bytes_message():
    with pytest.raises(BadImage, match=r"file too large: 21.0 MiB \(limit 20 MiB\)"):
        read_image(bytes(21 * 1024 * 1024))
    assert MAX_BYTES == 20 * 1024 * 1024


def test_jpeg_with_too_many_scans_is_refused():
    data = encode(noise(), "JPEG", progressive=True)
    end = data.rindex(b"\xff\xd9")
    empty_scan = b"\xff\xda\x00\x0c\x03\x01\x00\x02\x11\x03\x11\x00\x00\x10"
    with pytest.raises(BadImage, match="scans"):
        read_image(data[:end] + empty_scan * MAX_JPEG_SCANS + data[end:])


def test_tiff_in_too_many_tiles_is_refused():
    with pytest.raises(BadImage, match="pieces"):
        read_image(tiled_tiff(1000, 800, 2))
    assert_rgb(read_image(tiled_tiff(64, 64, 16)), (64, 64))


def test_bytes_like_inputs_and_non_bytes():
    data = encode(noise(), "PNG")
    assert_rgb(read_image(bytearray(data)))
    assert_rgb(read_image(memoryview(data)))
    with pytest.raises(BadImage, match="expected the file's bytes"):
        read_image("not bytes")  # type: ignore[arg-type]


def test_limits_are_sane():
    assert MAX_PIXELS == 40_000_000 and MAX_SIDE * MAX_SIDE > MAX_PIXELS


# --------------------------------------------------------------------------- tensors


def test_image_to_tensor_shape_dtype_range():
    t = image_to_tensor(noise((50, 30)), 16)
    assert t.shape == (3, 16, 16) and t.dtype == torch.float32
    assert 0.0 <= t.min() and t.max() <= 1.0


def test_image_to_tensor_exact_values_and_channel_order():
    t = image_to_tensor(Image.new("RGB", (7, 5), (255, 0, 51)), 4)
    assert torch.equal(t[0], torch.ones(4, 4)) and torch.equal(t[1], torch.zeros(4, 4))
    assert torch.allclose(t[2], torch.full((4, 4), 0.2))


def test_image_to_tensor_squashes_whole_image_without_crop():
    t = image_to_tensor(halves((400, 100)), 8)  # 4:1 → 1:1, left half red, right half blue
    assert torch.allclose(t[:, :, 0], torch.tensor([1.0, 0, 0]).view(3, 1).expand(3, 8))
    assert torch.allclose(t[:, :, 7], torch.tensor([0, 0, 1.0]).view(3, 1).expand(3, 8))


def test_image_to_tensor_accepts_other_modes():
    assert torch.equal(image_to_tensor(Image.new("L", (5, 5), 255), 3), torch.ones(3, 3, 3))
    rgba = image_to_tensor(Image.new("RGBA", (5, 5), (0, 0, 0, 0)), 3)
    assert torch.equal(rgba, torch.ones(3, 3, 3))  # transparent → white, as read_image


def test_image_to_tensor_matches_upload_path():
    img = noise((37, 23))
    assert torch.equal(image_to_tensor(img, 12),
                       image_to_tensor(read_image(encode(img, "PNG")), 12))


@pytest.mark.parametrize("size", [0, -3, 2.5, True])
def test_bad_size(size):
    with pytest.raises(ValueError):
        image_to_tensor(noise(), size)


def test_images_to_batch():
    batch = images_to_batch([noise((10, 20)), noise((30, 30), mode="L")], 8)
    assert batch.shape == (2, 3, 8, 8) and batch.dtype == torch.float32
    assert images_to_batch([], 8).shape == (0, 3, 8, 8)


def test_read_images_mixed_batch():
    named = [
        ("a.png", encode(halves(), "PNG")),
        ("empty.png", b""),
        ("b.jpg", encode(noise(), "JPEG")),
        ("notes.png", b"just text"),
        ("cut.png", encode(noise((64, 64)), "PNG")[:500]),
        ("c.gif", animation("GIF")),
    ]
    batch, names, bad = read_images(named, 16)
    assert names == ["a.png", "b.jpg", "c.gif"]
    assert batch.shape == (3, 3, 16, 16)
    assert set(bad) == {"empty.png", "notes.png", "cut.png"}
    assert "empty" in bad["empty.png"] and "not an image" in bad["notes.png"]
    assert "truncated" in bad["cut.png"]
    assert torch.equal(batch[0], image_to_tensor(halves(), 16))


def test_read_images_all_bad_or_empty():
    batch, names, bad = read_images([("x", b"nope")], 16)
    assert batch.shape == (0, 3, 16, 16) and names == [] and list(bad) == ["x"]
    assert read_images([], 16)[0].shape == (0, 3, 16, 16)


# --------------------------------------------------------------------------- fuzz

FUZZ_TOTAL = int(os.environ.get("SHIFTLAB_FUZZ_EXAMPLES", "500"))
FUZZ_SETTINGS = settings(
    max_examples=max(1, FUZZ_TOTAL // 2),  # two fuzz tests share the total
    deadline=None,
    database=None,  # no example database; a failure prints its reproducer instead
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)
SECONDS_PER_CALL = 5.0


def bmp_rle8(width: int = 8, height: int = 4) -> bytes:
    """An RLE8-compressed BMP (Pillow can read but not write these): grey stripes."""
    rows = b"".join(bytes([width, y * 40]) + b"\x00\x00" for y in range(height)) + b"\x00\x01"
    palette = b"".join(bytes([v, v, v, 0]) for v in range(256))
    offset = 14 + 40 + len(palette)
    header = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(rows), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(rows), 0, 0, offset) + header + palette + rows


def _seeds() -> list[bytes]:
    """Small valid files covering every allowed format and its main variants."""
    rgb, grey = noise((24, 16), seed=1), noise((24, 16), mode="L", seed=2)
    rgba = noise((24, 16), mode="RGBA", seed=3)
    grey16 = Image.fromarray(np.asarray(grey, dtype=np.uint16) * 257)
    grey_float = Image.fromarray(np.asarray(grey, dtype=np.float32) / 255, mode="F")
    exif = Image.Exif()
    exif[0x0112] = 6
    png = [encode(rgb, "PNG"), encode(rgba, "PNG"), encode(grey16, "PNG"),
           encode(grey.convert("P"), "PNG", transparency=3), animation("PNG")]
    jpeg = [encode(rgb, "JPEG"), encode(rgb, "JPEG", progressive=True),
            encode(rgb, "JPEG", exif=exif.tobytes()), encode(Image.new("CMYK", (8, 8)), "JPEG")]
    gif = [encode(rgb, "GIF"), animation("GIF")]
    webp = [encode(rgb, "WEBP"), encode(rgba, "WEBP", lossless=True),
            animation("WEBP", lossless=True)]
    bmp = [encode(rgb, "BMP"), encode(grey.convert("1"), "BMP"),
           encode(grey.convert("P"), "BMP"), bmp_rle8()]
    tiff = [encode(grey16, "TIFF"), encode(grey_float, "TIFF"),
            encode(rgb, "TIFF", compression="tiff_lzw"),
            encode(rgba, "TIFF", compression="tiff_adobe_deflate"),
            encode(rgb, "TIFF", compression="jpeg"), encode(rgb, "TIFF", compression="packbits"),
            encode(grey.convert("1"), "TIFF", compression="group4")]
    return png + jpeg + gif + webp + bmp + tiff


SEEDS = _seeds()
INTERESTING = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF]


@st.composite
def mutated_images(draw) -> bytes:
    """A valid seed image with 1-8 byte flips / overwrites / inserts / deletes / cuts."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        # Headers live at the start: half the edits land in the first 64 bytes.
        pos = draw(st.one_of(st.integers(0, min(63, len(data) - 1)),
                             st.integers(0, len(data) - 1)))
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "repeat"]))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[pos] = draw(st.sampled_from(INTERESTING) | st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 16))]
        elif op == "truncate":
            del data[pos:]
        else:  # repeat a slice, e.g. a chunk or marker
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 64))]
    return bytes(data)


MAGICS = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
          b"RIFF\x00\x01\x00\x00WEBPVP8 "]
random_bytes = st.binary(max_size=4096) | st.builds(
    lambda magic, rest: magic + rest, st.sampled_from(MAGICS), st.binary(max_size=4096))


@contextlib.contextmanager
def watchdog(seconds: float = 60):
    """Kill the run with a traceback if one call hangs in C code, where asserts can't help."""
    faulthandler.dump_traceback_later(seconds, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def check_outcome(data: bytes) -> None:
    """Only BadImage or a sane RGB image may come out, within SECONDS_PER_CALL."""
    start = time.perf_counter()
    with watchdog():
        try:
            img = read_image(data)
        except BadImage as e:
            img = None
            assert str(e)
    elapsed = time.perf_counter() - start
    assert elapsed < SECONDS_PER_CALL, f"read_image took {elapsed:.1f} s"
    if img is not None:
        assert img.mode == "RGB"
        width, height = img.size
        assert 1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE
        assert width * height <= MAX_PIXELS
        t = image_to_tensor(img, 8)
        assert t.shape == (3, 8, 8) and 0 <= t.min() and t.max() <= 1


def test_fuzz_seeds_are_valid():
    for data in SEEDS:
        assert_rgb(read_image(data))


@pytest.mark.filterwarnings("ignore")
@FUZZ_SETTINGS
@given(random_bytes)
def test_fuzz_random_bytes(data):
    check_outcome(data)


@pytest.mark.filterwarnings("ignore")
@FUZZ_SETTINGS
@given(mutated_images())
def test_fuzz_mutated_images(data):
    check_outcome(data)
