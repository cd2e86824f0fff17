"""Tests for core.data.augment: shapes and ranges kept, seeded determinism, and that each transform acts."""

from __future__ import annotations

import pytest
import torch

from core.data.augment import color_jitter, cutout, random_translate, strong_augment, weak_augment

TRANSFORMS = {
    "translate": lambda x, g: random_translate(x, 3, g),
    "color_jitter": lambda x, g: color_jitter(x, 0.5, g),
    "cutout": lambda x, g: cutout(x, 8, g),
    "weak": weak_augment,
    "strong": strong_augment,
}


def _images(n=16, size=28, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _g(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", TRANSFORMS)
@pytest.mark.parametrize("size", [28, 32])
def test_shape_dtype_and_range_preserved(name, size):
    x = _images(size=size)
    y = TRANSFORMS[name](x, _g(0))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= 0.0 and y.max() <= 1.0
    assert torch.isfinite(y).all()
    assert torch.equal(x, _images(size=size))  # the input is not modified in place


@pytest.mark.parametrize("name", TRANSFORMS)
def test_deterministic_given_generator(name):
    x = _images()
    a, b = TRANSFORMS[name](x, _g(7)), TRANSFORMS[name](x, _g(7))
    assert torch.equal(a, b)
    c = TRANSFORMS[name](x, _g(8))
    assert not torch.equal(a, c)
    assert not torch.equal(a, x)  # it did something


def test_translate_moves_a_single_pixel_within_max_shift():
    n, h, max_shift = 64, 15, 2
    x = torch.zeros(n, 3, h, h)
    x[:, :, 7, 7] = 1.0
    y = random_translate(x, max_shift, _g(0))
    shifts = set()
    for img in y:
        ones = (img[0] == 1.0).nonzero()
        assert len(ones) == 1, "exactly one bright pixel after a shift (no wrap, no duplication)"
        r, c = ones[0].tolist()
        dr, dc = r - 7, c - 7
        assert abs(dr) <= max_shift and abs(dc) <= max_shift
        assert torch.equal(img[0], img[1]) and torch.equal(img[0], img[2])  # all channels shifted alike
        shifts.add((dr, dc))
    assert len(shifts) > 5  # various shifts drawn
    assert any(s != (0, 0) for s in shifts)  # pixels actually move


def test_translate_zero_shift_is_identity_and_edges_are_replicated():
    x = _images(4, 10)
    assert torch.equal(random_translate(x, 0, _g(0)), x)
    # a horizontal ramp: a shift keeps values within the ramp, padding replicates the edge columns
    ramp = torch.linspace(0, 1, 10).view(1, 1, 1, 10).expand(8, 3, 10, 10).contiguous()
    y = random_translate(ramp, 3, _g(1))
    assert set(torch.unique(y).tolist()) <= set(torch.unique(ramp).tolist())


def test_cutout_fills_one_grey_square():
    x = torch.zeros(6, 3, 28, 28)
    y = cutout(x, 8, _g(3))
    for img in y:
        grey = img[0] == 0.5
        assert grey.any()
        rows, cols = grey.any(1).nonzero().flatten(), grey.any(0).nonzero().flatten()
        assert rows.max() - rows.min() + 1 <= 9 and cols.max() - cols.min() + 1 <= 9  # size//2 each side
        assert set(torch.unique(img).tolist()) <= {0.0, 0.5}
        assert grey.sum() == len(rows) * len(cols)  # a (clipped) rectangle


def test_color_jitter_changes_colours_but_keeps_pixel_structure():
    x = _images(8)
    y = color_jitter(x, 0.4, _g(5))
    assert not torch.allclose(x, y)
    assert (y - x).abs().mean() > 0.01
