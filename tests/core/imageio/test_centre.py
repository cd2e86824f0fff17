"""core.imageio.centre_like_mnist — the optional "centre like MNIST" step of the ingest door."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from core.data import load_domain
from core.imageio import centre_batch, centre_like_mnist, image_to_tensor, read_images


def _mnist(n=40):
    d = load_domain("mnist", "test")
    return d.images[:n, 0].numpy().astype(np.float32) / 255.0, d.labels[:n]


def _paper_photo(digit: np.ndarray, rng: np.random.Generator, frame: int = 96) -> Image.Image:
    """An MNIST digit written in dark ink on off-white paper, as a phone photo: 30–55 % of the
    frame, off-centre, rotated, a light gradient, a soft shadow, blur and JPEG."""
    side = int(round(28 * rng.uniform(0.3, 0.55) * frame / 20))
    ink = Image.fromarray(np.uint8(digit * 255)).resize((side, side), Image.BILINEAR)
    ink = ink.rotate(rng.uniform(-12, 12), resample=Image.BILINEAR)
    canvas = Image.new("L", (frame, frame), 0)
    room = frame - side
    canvas.paste(ink, (int(rng.uniform(0.05, 0.95) * room), int(rng.uniform(0.05, 0.95) * room)))
    m = np.asarray(canvas, dtype=np.float32)[..., None] / 255
    img = np.array([0.92, 0.9, 0.84]) * (1 - m) + np.array([0.12, 0.12, 0.25]) * m
    yy, xx = np.mgrid[0:frame, 0:frame] / frame
    a, b = rng.uniform(0, 2 * np.pi, 2)
    light = 1 - 0.2 * (np.cos(a) * xx + np.sin(a) * yy)
    shadow = 1 - 0.35 / (1 + np.exp(-(np.cos(b) * (xx - 0.5) + np.sin(b) * (yy - 0.5) - 0.2) / 0.08))
    img = np.clip(img * (light * shadow)[..., None] + rng.normal(0, 0.01, img.shape), 0, 1)
    pil = Image.fromarray(np.uint8(img * 255)).filter(ImageFilter.GaussianBlur(0.8))
    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=75)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _box_and_mass(a: np.ndarray):
    """(longest side of the ink's bounding box, centre of mass (y, x)) of a grey array."""
    ink = a > 0.3 * a.max()
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    side = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
    yy, xx = np.mgrid[0:a.shape[0], 0:a.shape[1]]
    return side, ((yy * a).sum() / a.sum(), (xx * a).sum() / a.sum())


def _grey(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float32)[..., 0] / 255.0


def test_a_dark_digit_on_paper_becomes_a_bright_centred_digit_on_black():
    digits, _ = _mnist(12)
    rng = np.random.default_rng(0)
    for digit in digits:
        photo = _paper_photo(digit, rng)
        out = _grey(centre_like_mnist(photo, 28))
        assert out.shape == (28, 28)
        border = np.concatenate([out[:3].ravel(), out[-3:].ravel(), out[:, :3].ravel(), out[:, -3:].ravel()])
        assert border.mean() < 0.08 and np.median(border) == 0  # black background
        assert out.max() > 0.9  # bright ink
        side, (cy, cx) = _box_and_mass(out)
        assert 17 <= side <= 21  # the digit's box is 20/28 of the frame
        assert abs(cy - 14) < 1.5 and abs(cx - 14) < 1.5  # centred by centre of mass, as MNIST
        reference = _grey(centre_like_mnist(Image.fromarray(np.uint8(digit * 255)).convert("RGB"), 28))
        assert np.corrcoef(out.ravel(), reference.ravel())[0, 1] > 0.6  # the same digit


def test_roughly_idempotent_on_mnist_digits():
    digits, _ = _mnist(40)
    corr, diff, again = [], [], []
    for digit in digits:
        out = _grey(centre_like_mnist(Image.fromarray(np.uint8(digit * 255)), 28))
        corr.append(np.corrcoef(out.ravel(), digit.ravel())[0, 1])
        diff.append(np.abs(out - digit).mean())
        twice = _grey(centre_like_mnist(Image.fromarray(np.uint8(out * 255)), 28))
        again.append(np.abs(twice - out).mean())
    assert np.median(corr) > 0.95 and min(corr) > 0.7 and np.median(diff) < 0.03
    assert np.median(again) < 0.01 and max(again) < 0.06  # a second pass changes (almost) nothing


def test_mnist_accuracy_survives_centring():
    """A model trained on MNIST reads centred MNIST digits about as well as the originals."""
    from core.zoo import load

    model, _ = load("mnist->ucidigits/source_only")
    d = load_domain("mnist", "test")
    x, y = d.float_images(torch.arange(200)), d.labels[:200]
    with torch.no_grad():
        plain = (model(x).argmax(1) == y).float().mean()
        centred = (model(centre_batch(x, 28)).argmax(1) == y).float().mean()
    assert centred > plain - 0.05


def test_blank_and_odd_pictures_do_not_break_it():
    for img in (Image.new("RGB", (50, 30), (200, 200, 200)), Image.new("L", (5, 90), 0),
                Image.new("RGB", (1, 1), (255, 0, 0))):
        out = centre_like_mnist(img, 28)
        assert out.size == (28, 28) and out.mode == "RGB"
    big = Image.new("RGB", (3000, 2000), (240, 240, 240))
    big.paste((20, 20, 20), (1200, 700, 1300, 1300))
    out = _grey(centre_like_mnist(big, 28))
    assert out[14, 14] > 0.8 and out[0, 0] == 0


def test_wired_into_image_to_tensor_and_read_images():
    digit, _ = _mnist(1)
    photo = _paper_photo(digit[0], np.random.default_rng(1))
    x = image_to_tensor(photo, 28, normalize="centre")
    assert x.shape == (3, 28, 28) and x[:, 0, 0].max() < 0.1 and x.max() > 0.9
    assert torch.equal(image_to_tensor(photo, 28, normalize="none"), image_to_tensor(photo, 28))
    buf = io.BytesIO()
    photo.save(buf, "PNG")
    batch, names, bad = read_images([("a.png", buf.getvalue())], 28, normalize="centre")
    assert names == ["a.png"] and not bad and torch.allclose(batch[0], x)
    with pytest.raises(ValueError, match="centre"):
        image_to_tensor(photo, 28, normalize="center-ish")
