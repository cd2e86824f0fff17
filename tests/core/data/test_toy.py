"""Toy point domains (core.data.toy): specs, shifts, determinism, labels, the one-line errors, and
the point TensorDomain flowing through splits and feeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.data import (DomainError, TensorDomain, check_domain_spec, describe_domains, domain_label, input_kind,
                       load_domain, native_size, split_sources)
from core.data import toy


def test_a_toy_spec_loads_as_a_point_domain():
    d = load_domain("toy:moons?rotate=35&noise=0.1", "train")
    assert isinstance(d, TensorDomain) and d.input_kind == "points" and d.input_size == 2
    assert d.images.shape == (1000, 2) and d.images.dtype == torch.float32
    assert d.classes == ["A", "B"] and d.labels.bincount().tolist() == [500, 500]
    x, y = d[0]
    assert x.shape == (2,) and isinstance(y, int)
    assert native_size("toy:moons") == 2 and input_kind("toy:moons") == "points" and input_kind("mnist") == "pictures"


def test_same_spec_same_points_and_train_differs_from_test():
    a, b = load_domain("toy:blobs?classes=3", "train"), toy.load_toy("toy:blobs?classes=3&rotate=0", "train")
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)  # defaults do not name a new draw
    assert not torch.equal(a.images, load_domain("toy:blobs?classes=3", "test").images)
    assert not torch.equal(a.images, load_domain("toy:blobs?classes=3&seed=1", "train").images)


def _angle(points: np.ndarray) -> float:
    """Angle (degrees) of the points' first principal axis."""
    c = points - points.mean(0)
    vec = np.linalg.svd(c, full_matrices=False)[2][0]
    return math.degrees(math.atan2(vec[1], vec[0])) % 180


@pytest.mark.parametrize("name", ["moons", "blobs", "spirals"])
def test_every_data_set_is_centred_and_class_balanced(name):
    x, y = toy.generate(f"toy:{name}", "train")
    assert np.abs(x.mean(0)).max() < 0.35 and 0.5 < np.abs(x).max() < 3.0
    assert np.bincount(y).tolist() == [500, 500]


def test_the_geometric_shifts_do_what_they_say():
    base, _ = toy.generate("toy:blobs", "train")  # class A on the left, B on the right: axis along x
    turned, _ = toy.generate("toy:blobs?rotate=40", "train")
    assert abs(_angle(turned) - (_angle(base) + 40) % 180) < 4
    moved, _ = toy.generate("toy:blobs?dx=1.5&dy=-1", "train")
    assert np.allclose(moved.mean(0) - base.mean(0), [1.5, -1.0], atol=0.1)
    scaled, _ = toy.generate("toy:blobs?scale=2", "train")
    assert scaled.std(0) / base.std(0) == pytest.approx([2.0, 2.0], rel=0.08)
    noisy, _ = toy.generate("toy:blobs?noise=0.5", "train")
    assert (noisy.var(0) - base.var(0)) == pytest.approx([0.25, 0.25], abs=0.07)


def test_label_shift_moves_the_proportions_and_concept_shift_the_labels():
    _, y = toy.generate("toy:blobs?classes=3&prior=0.8", "train")
    assert np.bincount(y).tolist() == [800, 100, 100]
    x0, y0 = toy.generate("toy:moons?n=4000", "test")
    x1, y1 = toy.generate("toy:moons?n=4000&concept=0.5", "test")
    # p(x) is the same (same place, same spread), but half the points carry the next class's label
    assert np.allclose(x0.mean(0), x1.mean(0), atol=0.05) and np.allclose(x0.std(0), x1.std(0), atol=0.05)
    right = x1[:, 0] >= np.median(x1[:, 0])
    assert right.mean() == pytest.approx(0.5, abs=0.01)
    # on the right half the label is the opposite of what the same place holds in the source
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(5).fit(x0, y0)
    agree = knn.predict(x1) == y1
    assert agree[~right].mean() > 0.95 and agree[right].mean() < 0.05
    _, flipped = toy.generate("toy:moons?concept=1", "train")
    assert np.bincount(flipped).tolist() == [500, 500]


def test_labels_people_read():
    assert domain_label("toy:moons?rotate=35") == "Two moons (rotated 35°)"
    assert domain_label("toy:moons?rotate=35&noise=0.1") == "Two moons (rotated 35°, noise +0.1)"
    assert domain_label("toy:blobs?classes=3&prior=0.8") == "Gaussian blobs (class A 80 %, 3 classes)"
    assert domain_label("toy:spirals") == "Spirals" and domain_label("toy:moons?concept=0.5").endswith("50 %)")
    assert domain_label("toy:moons+toy:moons?dx=1") == "Two moons + Two moons (moved (1, 0))"


@pytest.mark.parametrize("spec, words", [
    ("toy:moon", ["unknown toy data set 'moon'", "moons, blobs, spirals"]),
    ("toy:moons?rotate=400", ["rotate=400", "outside", "-180..180"]),
    ("toy:moons?spin=3", ["unknown toy parameter 'spin'", "rotate -180..180", "concept 0..1"]),
    ("toy:moons?noise=lots", ["noise='lots'", "a number"]),
    ("toy:moons?noise=nan", ["a number"]),
    ("toy:moons?n=10.5", ["an integer"]),
    ("toy:moons?classes=3", ["toy:moons has 2 classes"]),
    ("toy:spirals?classes=6", ["classes=2..4"]),
    ("toy:moons?rotate=1&rotate=2", ["given twice"]),
    ("toy:moons?rotate", ["param=value"]),
    ("mnist+toy:moons", ["joins point", "picture"]),
])
def test_bad_specs_say_what_is_valid_in_one_line(spec, words):
    with pytest.raises(DomainError) as err:
        check_domain_spec(spec)
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message
    with pytest.raises(DomainError):
        load_domain(spec, "train")


def test_a_toy_domain_is_not_read_as_pictures():
    with pytest.raises(DomainError, match="2-D points, not pictures"):
        load_domain("toy:moons", "test", size=28)


def test_toy_domains_are_listed_with_their_shifts_and_ranges():
    listed = describe_domains()
    assert {"toy:moons", "toy:blobs", "toy:spirals"} <= set(listed)
    shifts = next(v for k, v in listed.items() if k.startswith("toy:NAME"))
    for name, p in toy.SHIFTS.items():
        assert f"{name} {p.describe()}" in shifts
    with pytest.raises(DomainError, match="toy:NAME"):
        check_domain_spec("nonsense")  # the list of what exists names the toy domains too


def test_points_pass_through_splits_multi_source_and_the_feed():
    from core.data.feed import make_feed
    from core.data.splits import split_source

    joined = load_domain("toy:moons+toy:moons?rotate=30", "train")
    assert split_sources("toy:moons+toy:moons?rotate=30") == ["toy:moons", "toy:moons?rotate=30"]
    assert joined.images.shape == (2000, 2) and joined.domain_ids.bincount().tolist() == [1000, 1000]
    train, val = split_source(load_domain("toy:moons", "train"))
    assert train.input_kind == val.input_kind == "points" and len(train) + len(val) == 1000
    feed = make_feed((train.images, train.labels), (val.images, val.labels), 16, torch.device("cpu"),
                     torch.Generator().manual_seed(0))
    xs, ys, xt, yt, _ = feed.next()
    assert xs.shape == (16, 2) and xs.dtype == torch.float32 and xt.shape == (16, 2)


def test_a_point_tensor_domain_refuses_other_shapes():
    with pytest.raises(ValueError, match="float32 points"):
        TensorDomain("x", "train", torch.zeros(4, 2, dtype=torch.float64), torch.zeros(4))
    with pytest.raises(ValueError, match="uint8 pictures"):
        TensorDomain("x", "train", torch.zeros(4, 3, 8, 8), torch.zeros(4))
