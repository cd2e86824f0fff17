"""core.imageio.uploads and the bounded decoding in core.imageio: each distinct upload is decoded once,
within limits on files, pixels per picture and pixels per batch, and never at full size when a
reduced picture serves the model just as well."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from PIL import Image, ImageFile

import core.imageio.uploads as uploads
from core.imageio import WORKING_SIDE, BadImage, decoded_size, image_to_tensor, read_image, read_image_bounded
from core.imageio.uploads import MAX_DECODED_PIXELS
from core.inference.predictions import predict_uploads
from core.models import build_model
from core.imageio.uploads import UploadCache, decode_uploads, digest
from tests.core.imageio.test_decode import SEEDS, check_outcome, mutated_images, watchdog

ROOT = Path(__file__).resolve().parents[3]


def encode(img: Image.Image, fmt: str = "PNG", **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def noise(size=(40, 30), mode="RGB", seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], len(mode)), dtype=np.uint8)
    return Image.fromarray(arr.squeeze(-1) if len(mode) == 1 else arr, mode=mode)


def gradient(size=(2000, 1500)) -> Image.Image:
    w, h = size
    x = np.linspace(0, 255, w)[None, :] * np.linspace(0, 1, h)[:, None]
    return Image.fromarray(np.stack([x, x[::-1], np.full_like(x, 90)], axis=-1).astype(np.uint8))


def reference(data: bytes, size: int = 28) -> torch.Tensor:
    return image_to_tensor(read_image(data), size)


# --------------------------------------------------------------------------- bounded decoding

@pytest.mark.parametrize("make", [
    lambda: encode(gradient()),                                                  # RGB PNG
    lambda: encode(gradient().convert("RGBA")),                                  # RGBA
    lambda: encode(noise((1800, 1200), "RGBA", 1)),                              # alpha noise
    lambda: encode(gradient(), "JPEG", quality=95),                              # drafted by libjpeg
    lambda: encode(gradient().convert("L").convert("P"), transparency=0),        # palette + transparency
    lambda: encode(Image.fromarray((np.asarray(gradient().convert("L"), np.uint16) * 257))),  # 16-bit grey
    lambda: encode(gradient().convert("1"), "BMP"),                              # 1-bit
    lambda: encode(gradient(), "TIFF"),
])
def test_bounded_decoding_gives_the_same_model_input(make):
    data = make()
    small = read_image_bounded(data, 28)
    assert small.mode == "RGB" and min(small.size) >= WORKING_SIDE and max(small.size) < 2000
    got, want = image_to_tensor(small, 28), reference(data)
    assert (got - want).abs().max() <= 3 / 255 + 1e-6  # the same picture up to rounding


def test_small_pictures_are_untouched():
    data = encode(noise((64, 48), "RGBA", 3))
    assert torch.equal(image_to_tensor(read_image_bounded(data, 28), 28), reference(data))
    assert read_image_bounded(data, 28).size == (64, 48)


def test_exif_orientation_survives_the_reduction():
    img = gradient((1800, 1200))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    data = encode(img, "JPEG", exif=exif.tobytes(), quality=95)
    small = read_image_bounded(data, 28)
    assert small.size[0] < small.size[1]  # portrait, as read_image gives it
    assert (image_to_tensor(small, 28) - reference(data)).abs().max() <= 3 / 255 + 1e-6


def test_jpeg_is_reduced_while_decoding_and_others_are_refused_from_the_header(monkeypatch):
    jpeg = encode(gradient((6000, 4000)), "JPEG", quality=80)        # 24 MP
    png = encode(Image.new("L", (6000, 4000), 255))                  # 24 MP, tiny file
    assert decoded_size(jpeg, 28) == (750, 500)                      # libjpeg's 1/8 scale
    assert decoded_size(png, 28) == (6000, 4000)
    small = read_image_bounded(jpeg, 28, max_decoded_pixels=MAX_DECODED_PIXELS)
    assert small.size == (750, 500)  # no further box reduction: the shorter side would drop below 256
    loads = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(1))
    with pytest.raises(BadImage, match=r"too large to decode: 6000×4000 pixels \(24.0 megapixels.*limit 16"):
        read_image_bounded(png, 28, max_decoded_pixels=MAX_DECODED_PIXELS)
    assert not loads  # refused before a single pixel was decoded


def test_bounded_decoding_peaks_below_the_full_decode():
    """A 16-megapixel RGBA PNG in a fresh process: read_image_bounded's peak memory stays below
    two full-size copies (decode + premultiplied reduction); read_image's is printed beside it."""
    code = (
        "import io, resource, sys; import numpy as np; from PIL import Image\n"
        "from core.imageio import read_image, read_image_bounded\n"
        "img = Image.new('RGBA', (4000, 4000), (255, 255, 255, 128)); img.paste((0, 0, 0, 255), (1500, 800, 2000, 3200))\n"
        "buf = io.BytesIO(); img.save(buf, 'PNG', compress_level=1); data = buf.getvalue(); del img, buf\n"
        "def hwm():\n"
        "    line = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "    return int(line.split()[1]) / 1024\n"
        "open('/proc/self/clear_refs', 'w').write('5')  # the peak restarts from what is resident now\n"
        "start = hwm(); fn = read_image_bounded if sys.argv[1] == 'bounded' else read_image\n"
        "out = fn(data, 28) if sys.argv[1] == 'bounded' else fn(data)\n"
        "print(hwm() - start)\n")
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux /proc to reset the peak resident size")
    grown = {}
    for how in ("bounded", "full"):
        proc = subprocess.run([sys.executable, "-c", code, how], cwd=ROOT, capture_output=True, text=True,
                              timeout=120, env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": ""})
        assert proc.returncode == 0, proc.stderr
        grown[how] = float(proc.stdout.split()[-1])
    print(f"peak growth for a 16 MP RGBA PNG: bounded {grown['bounded']:.0f} MB, full {grown['full']:.0f} MB")
    assert grown["bounded"] < 2 * 64 + 16, grown   # 64 MB per full-size RGBA copy
    assert grown["bounded"] < grown["full"], grown


FUZZ = settings(max_examples=100, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.filterwarnings("ignore")
@FUZZ
@given(mutated_images())
def test_fuzz_bounded_decoding_of_mutated_images(data):
    """Only BadImage or a sane RGB picture, as read_image (mutated seeds of every format)."""
    check_outcome(data)
    with watchdog():
        try:
            img = read_image_bounded(data, 28, max_decoded_pixels=MAX_DECODED_PIXELS)
        except BadImage as e:
            assert str(e)
            return
    assert img.mode == "RGB" and image_to_tensor(img, 8).shape == (3, 8, 8)


def test_every_seed_format_decodes_bounded():
    for data in SEEDS:
        assert read_image_bounded(data, 28).mode == "RGB"


# --------------------------------------------------------------------------- decode_uploads

def files(n: int, start: int = 0) -> list[tuple[str, bytes]]:
    return [(f"{i}.png", encode(noise((40, 30), seed=i))) for i in range(start, start + n)]


def test_decode_uploads_inputs_thumbnails_and_errors():
    good = files(3)
    batch = decode_uploads(good + [("notes.txt", b"hello"), ("empty.png", b""), ("0.png", good[0][1])], [28, 32])
    assert batch.names == ["0.png", "1.png", "2.png", "0.png (2)"]
    assert set(batch.errors) == {"notes.txt", "empty.png"} and "not an image" in batch.errors["notes.txt"]
    assert batch.tensors[28].shape == (4, 3, 28, 28) and batch.tensors[28].dtype == torch.uint8
    assert batch.tensors[32].shape == (4, 3, 32, 32)
    for i, (_, data) in enumerate(good):  # exactly the one preprocessing path, stored losslessly
        assert torch.equal(batch.tensors[28][i].float() / 255, reference(data))
    assert all(t.dtype == np.uint8 and t.ndim == 3 and max(t.shape[:2]) <= uploads.THUMB_SIDE
               for t in batch.thumbnails)
    assert batch.digests[0] == batch.digests[3] == digest(good[0][1])


def test_a_rerun_decodes_nothing_new(monkeypatch):
    cache = UploadCache()
    calls = []
    real = uploads.read_image_bounded
    monkeypatch.setattr(uploads, "read_image_bounded", lambda *a, **k: calls.append(1) or real(*a, **k))
    batch = files(5) + [("bad.png", b"\x89PNG\r\n\x1a\nbroken")]
    first = decode_uploads(batch, [28], cache=cache)
    assert first.decoded == 6 and len(calls) == 6
    again = decode_uploads(batch, [28], cache=cache)
    assert again.decoded == 0 and len(calls) == 6  # nothing decoded: not even the broken file
    assert torch.equal(first.tensors[28], again.tensors[28]) and first.errors == again.errors
    renamed = [(f"copy of {n}", d) for n, d in batch]  # the same bytes under other names
    assert decode_uploads(renamed, [28], cache=cache).decoded == 0
    assert decode_uploads(batch, [28, 64], cache=cache).decoded == 6  # another model size: decoded once more


def test_centre_like_mnist_is_part_of_decoding_and_of_the_cache_key():
    """normalize="centre" goes through the one door (image_to_tensor(..., "centre")) from the
    picture as decoded, keeps the thumbnail as it came, and is cached apart from the plain inputs."""
    from core.imageio import read_image_bounded

    paper = Image.new("RGB", (120, 90), (235, 230, 220))
    from PIL import ImageDraw

    ImageDraw.Draw(paper).line([(80, 15), (84, 70)], fill=(30, 30, 30), width=6)  # a "1", off-centre
    buf = io.BytesIO()
    paper.save(buf, format="PNG")
    data = buf.getvalue()
    cache = UploadCache()
    plain = decode_uploads([("one.png", data)], [28], cache=cache)
    centred = decode_uploads([("one.png", data)], [28], cache=cache, normalize="centre")
    assert centred.decoded == 1, "a different input: not taken from the plain entry of the cache"
    want = image_to_tensor(read_image_bounded(data, 28), 28, "centre")
    assert torch.equal(centred.tensors[28][0].float() / 255, want)
    x = centred.tensors[28][0].float()
    assert x[:, :3, :3].max() == 0 and x[:, 10:18, 10:18].max() > 128, "bright digit centred on black"
    assert not torch.equal(plain.tensors[28], centred.tensors[28])
    assert np.array_equal(plain.thumbnails[0], centred.thumbnails[0])
    assert decode_uploads([("one.png", data)], [28], cache=cache, normalize="centre").decoded == 0
    with pytest.raises(ValueError, match="unknown normalize"):
        decode_uploads([("one.png", data)], [28], normalize="sharpen")


def test_given_digests_and_lazy_bytes():
    """A caller may pass the digest it knows, and the bytes as a callable: files over the file cap
    are then never read."""
    read = []
    items = [(n, (lambda d=d, n=n: read.append(n) or d), digest(d)) for n, d in files(5)]
    batch = decode_uploads(items, [28], max_files=3)
    assert batch.names == ["0.png", "1.png", "2.png"] and read == ["0.png", "1.png", "2.png"]
    assert batch.errors == {"3.png": "over the limit of 3 files per batch; upload the rest as another batch",
                            "4.png": "over the limit of 3 files per batch; upload the rest as another batch"}


def test_batch_pixel_budget_names_what_is_left_out_and_the_rest_is_predicted():
    items = [(f"big{i}.png", encode(gradient((1000, 1000 + i)))) for i in range(3)] + files(2)  # 1 MP each
    budget = 2_100_000
    cold = decode_uploads(items, [28], max_batch_pixels=budget)
    assert cold.names == ["big0.png", "big1.png", "0.png", "1.png"]
    assert list(cold.errors) == ["big2.png"] and "over the limit of 2.1 megapixels decoded per batch" in \
        cold.errors["big2.png"]
    cache = UploadCache()
    decode_uploads([items[2]], [28], cache=cache)          # big2 cached first: the answer must not change
    warm = decode_uploads(items, [28], max_batch_pixels=budget, cache=cache)
    assert warm.names == cold.names and warm.errors == cold.errors


def test_over_the_picture_limit_is_named_with_the_reason():
    huge = encode(Image.new("L", (5000, 5000), 255))                # 25 MP PNG, 30 KB
    batch = decode_uploads([("scan.png", huge)] + files(2), [28])
    assert batch.names == ["0.png", "1.png"]
    assert batch.errors["scan.png"].startswith("image too large to decode: 5000×5000 pixels")


def test_the_cache_is_bounded_and_thread_safe():
    import threading

    cache = UploadCache(max_entries=10)
    batches = [files(8, start=8 * k) for k in range(4)]
    threads = [threading.Thread(target=decode_uploads, args=(b, [28]), kwargs={"cache": cache}) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(cache) == 10 and cache.nbytes < 10 * 40_000


# --------------------------------------------------------------------------- predict_uploads

def test_predict_uploads_uses_the_cache_and_gives_thumbnails():
    torch.manual_seed(0)
    model = build_model({"arch": "digits_cnn", "num_classes": 10, "input_size": 28}).eval()
    cache = UploadCache()
    items = files(4) + [("x.txt", b"no")]
    rows, errors = predict_uploads({"a": model, "b": model}, items, cache=cache)
    again, errors_again = predict_uploads({"a": model, "b": model}, items, cache=cache)
    assert [r["name"] for r in rows] == ["0.png", "1.png", "2.png", "3.png"] and list(errors) == ["x.txt"]
    assert [r["predictions"] for r in rows] == [r["predictions"] for r in again] and errors == errors_again
    assert all(r["thumbnail"].shape == (30, 40, 3) for r in rows)  # small pictures keep their size


def test_rerun_of_a_large_batch_is_fast():
    """300 uploads, the second time: hashing and lookups only (well under a second here)."""
    cache = UploadCache()
    items = files(300)
    started = time.perf_counter()
    decode_uploads(items, [28], cache=cache)
    first = time.perf_counter() - started
    started = time.perf_counter()
    batch = decode_uploads(items, [28], cache=cache)
    second = time.perf_counter() - started
    assert batch.decoded == 0 and len(batch.names) == 300
    assert second < max(0.5, first / 5), (first, second)
