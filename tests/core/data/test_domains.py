"""Tests for core.data: embedded domains (shapes, balance, determinism, disjointness), the registry's
errors, the cache, and custom folder / zip domains."""

from __future__ import annotations

import io
import socket
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from core.data import DomainError, EMBEDDED, TensorDomain, domain_names, load_domain
from core.data import embedded
from core.data.cache import load_arrays

SHAPES = {  # name → (n_train, n_test)
    "mnist": (2000, 500),
    "mnistm": (2000, 500),
    "syndigits": (5000, 1000),
    "ucidigits": (1297, 500),
}


@pytest.fixture(scope="module")
def fresh_builds():
    """Each embedded domain built once in this process, straight from its builder (no cache)."""
    return {name: embedded.BUILDERS[name]() for name in SHAPES}


def _row_set(a: np.ndarray) -> set[bytes]:
    a = np.ascontiguousarray(a)
    return {row.tobytes() for row in a.reshape(len(a), -1)}


# ---------------------------------------------------------------------------- embedded domains

def test_embedded_names():
    assert set(EMBEDDED) == set(SHAPES)
    for name in SHAPES:
        assert name in domain_names()


@pytest.mark.parametrize("name", list(SHAPES))
def test_embedded_domain_shapes_and_items(name):
    n_train, n_test = SHAPES[name]
    train, test = load_domain(name, "train"), load_domain(name, "test")
    for dom, n in ((train, n_train), (test, n_test)):
        assert isinstance(dom, TensorDomain)
        assert dom.images.shape == (n, 3, 28, 28)
        assert dom.images.dtype == torch.uint8
        assert dom.labels.shape == (n,) and dom.labels.dtype == torch.int64
        assert len(dom) == n and dom.input_size == 28
        assert dom.classes == [str(i) for i in range(10)]
        assert dom.name == name
    assert train.split == "train" and test.split == "test"
    x, y = train[0]
    assert x.dtype == torch.float32 and x.shape == (3, 28, 28)
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.5
    assert isinstance(y, int) and 0 <= y <= 9
    torch.testing.assert_close(x, train.images[0].float() / 255)
    f = test.float_images(torch.arange(5))
    assert f.shape == (5, 3, 28, 28) and f.dtype == torch.float32 and f.max() <= 1.0
    # ten balanced classes in the test split; all ten in train
    counts = torch.bincount(test.labels, minlength=10)
    assert len(counts) == 10 and (counts == n_test // 10).all()
    assert (torch.bincount(train.labels, minlength=10) > 0).all()
    # the picture really varies (not blank) and train/test differ
    assert train.images.float().std() > 10


@pytest.mark.parametrize("name", list(SHAPES))
def test_embedded_build_matches_the_loaded_domain(name, fresh_builds):
    """A fresh build in this process equals what load_domain serves (cached from an earlier build)."""
    arrays = fresh_builds[name]
    for split in ("train", "test"):
        dom = load_domain(name, split)
        np.testing.assert_array_equal(arrays[f"{split}_x"], dom.images.numpy())
        np.testing.assert_array_equal(arrays[f"{split}_y"], dom.labels.numpy())


@pytest.mark.parametrize("name", ["mnist", "ucidigits", "mnistm"])
def test_embedded_builders_are_deterministic(name, fresh_builds):
    again = embedded.BUILDERS[name]()
    first = fresh_builds[name]
    assert set(again) == set(first) == {"train_x", "train_y", "test_x", "test_y"}
    for key in first:
        np.testing.assert_array_equal(again[key], first[key])


def test_syndigits_builder_is_deterministic():
    # a smaller build draws from the same seeded recipe (100 test images per class, the rest train)
    a, b = embedded.build_syndigits(n_per_class=104), embedded.build_syndigits(n_per_class=104)
    assert a["train_x"].shape == (40, 3, 28, 28) and a["test_x"].shape == (1000, 3, 28, 28)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_embedded_train_and_test_are_disjoint(fresh_builds):
    for name, arrays in fresh_builds.items():
        train, test = _row_set(arrays["train_x"]), _row_set(arrays["test_x"])
        assert not (train & test), f"{name}: an image is in both train and test"


def test_mnist_and_mnistm_use_disjoint_digits(fresh_builds):
    a_x, a_y, b_x, b_y = embedded._mnist_pools()
    assert len(a_x) == len(b_x) == 2500
    assert np.array_equal(np.bincount(a_y), [250] * 10) and np.array_equal(np.bincount(b_y), [250] * 10)
    pool_a, pool_b = _row_set(a_x), _row_set(b_x)
    assert not (pool_a & pool_b), "a digit image occurs in both the mnist and the mnistm pools"
    # the mnist domain is exactly pool a (as grey RGB uint8)
    mnist = fresh_builds["mnist"]
    mnist_digits = np.concatenate([mnist["train_x"], mnist["test_x"]])[:, 0]
    assert np.array_equal(mnist_digits, np.concatenate([mnist["train_x"], mnist["test_x"]])[:, 2])
    a_u8 = (np.clip(a_x, 0, 1) * 255 + 0.5).astype(np.uint8)
    b_u8 = (np.clip(b_x, 0, 1) * 255 + 0.5).astype(np.uint8)
    assert _row_set(mnist_digits) == _row_set(a_u8)
    assert not (_row_set(mnist_digits) & _row_set(b_u8))
    # mnistm is built from pool b: its blended images are |patch − digit| with the same label counts
    mnistm = fresh_builds["mnistm"]
    assert len(mnistm["train_x"]) + len(mnistm["test_x"]) == len(b_x)


def test_second_load_is_fast_and_cached():
    load_domain("mnist", "test")
    t0 = time.perf_counter()
    a = load_domain("mnist", "test")
    b = load_domain("mnist", "test")
    assert time.perf_counter() - t0 < 1.0
    assert a is b
    assert load_arrays(f"mnist-v{embedded.BUILD_VERSION}") is not None  # on disk too


def test_resized_named_domain():
    dom = load_domain("ucidigits", "test", size=32)
    assert dom.images.shape == (500, 3, 32, 32) and dom.images.dtype == torch.uint8
    assert torch.equal(dom.labels, load_domain("ucidigits", "test").labels)


# ---------------------------------------------------------------------------- registry errors

def test_unknown_domain_lists_available():
    with pytest.raises(DomainError) as err:
        load_domain("mnisst")
    msg = str(err.value)
    assert "mnisst" in msg
    for name in ("mnist", "mnistm", "syndigits", "ucidigits", "svhn", "folder:"):
        assert name in msg
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("name", ["", None])
def test_empty_domain_name(name):
    with pytest.raises(DomainError, match="mnist"):
        load_domain(name)


def test_bad_split_raises():
    with pytest.raises(DomainError, match="split"):
        load_domain("mnist", "validation")


@pytest.mark.timeout(60)
def test_svhn_offline_raises_domain_error(tmp_path, monkeypatch):
    import urllib.error

    import torchvision.datasets.svhn as tv_svhn

    def offline(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable (test)")

    monkeypatch.setattr(tv_svhn, "download_url", offline)
    monkeypatch.setenv("SHIFTLAB_CACHE", str(tmp_path))  # nothing cached from an earlier online run
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(3)
    try:
        with pytest.raises(DomainError) as err:
            load_domain("svhn", "test")
    finally:
        socket.setdefaulttimeout(old)
    msg = str(err.value)
    assert "svhn" in msg and "internet" in msg
    assert "URLError" in msg  # the underlying cause is named
    assert isinstance(err.value.__cause__, urllib.error.URLError)
    for name in EMBEDDED:
        assert name in msg


# ---------------------------------------------------------------------------- folder / zip domains

COLOURS = {"cat": (255, 0, 0), "dog": (0, 255, 0), "eel": (0, 0, 255)}


def _png(colour, size=(20, 16)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def _make_folder(root: Path, n_per_class: int = 10, corrupt: bool = True) -> Path:
    for cls, colour in COLOURS.items():
        (root / cls).mkdir(parents=True)
        for i in range(n_per_class):
            (root / cls / f"img{i:02d}.png").write_bytes(_png(colour))
    if corrupt:
        (root / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    (root / "dog" / "notes.txt").write_text("not an image, ignored")
    (root / "dog" / ".hidden.png").write_bytes(_png((0, 0, 0)))
    return root


def _check_colours(dom: TensorDomain):
    mean = dom.images.float().mean(dim=(2, 3))  # (N, 3)
    for img_mean, label in zip(mean, dom.labels.tolist()):
        expected = torch.tensor(COLOURS[dom.classes[label]], dtype=torch.float32)
        torch.testing.assert_close(img_mean, expected, atol=1.0, rtol=0)


def test_folder_domain_split_and_skipped(tmp_path):
    root = _make_folder(tmp_path / "pets")
    train = load_domain(f"folder:{root}", "train")
    test = load_domain(f"folder:{root}", "test")
    assert train.classes == test.classes == ["cat", "dog", "eel"]
    # 80/20 per class over the image files; cat has 11 files (one corrupt, sorted first → train)
    assert torch.bincount(test.labels, minlength=3).tolist() == [2, 2, 2]
    assert torch.bincount(train.labels, minlength=3).tolist() == [8, 8, 8]
    assert list(train.skipped) == ["cat/broken.png"]
    assert train.skipped["cat/broken.png"]  # a reason is given
    assert test.skipped == {}
    assert train.images.shape == (24, 3, 28, 28) and train.images.dtype == torch.uint8
    _check_colours(train)
    _check_colours(test)
    assert train.name.startswith("folder:")


def test_folder_domain_resize(tmp_path):
    root = _make_folder(tmp_path / "pets", n_per_class=5, corrupt=False)
    dom = load_domain(f"folder:{root}", "train", size=32)
    assert dom.images.shape[1:] == (3, 32, 32)


def test_folder_split_is_deterministic(tmp_path):
    root = _make_folder(tmp_path / "pets", n_per_class=6, corrupt=False)
    a, b = load_domain(f"folder:{root}", "test"), load_domain(f"folder:{root}", "test")
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)


def test_folder_train_test_layout(tmp_path):
    root = tmp_path / "ds"
    layout = {"train": {"cat": 4, "dog": 3, "eel": 2}, "test": {"cat": 1, "dog": 2, "eel": 1}}
    for split, classes in layout.items():
        for cls, n in classes.items():
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                (root / split / cls / f"{i}.png").write_bytes(_png(COLOURS[cls]))
    train = load_domain(f"folder:{root}", "train")
    test = load_domain(f"folder:{root}", "test")
    assert train.classes == test.classes == ["cat", "dog", "eel"]
    assert torch.bincount(train.labels, minlength=3).tolist() == [4, 3, 2]
    assert torch.bincount(test.labels, minlength=3).tolist() == [1, 2, 1]
    _check_colours(train)
    _check_colours(test)


def test_train_test_layout_with_a_class_only_in_one_split(tmp_path):
    root = tmp_path / "ds"
    for split, cls in (("train", "cat"), ("train", "dog"), ("test", "cat"), ("test", "eel")):
        (root / split / cls).mkdir(parents=True)
        (root / split / cls / "a.png").write_bytes(_png(COLOURS[cls]))
    train = load_domain(f"folder:{root}", "train")
    test = load_domain(f"folder:{root}", "test")
    assert train.classes == test.classes == ["cat", "dog", "eel"]  # one label space for both splits
    _check_colours(train)
    _check_colours(test)


def _zip_folder(root: Path, zip_path: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(zip_path, "w") as zf:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                zf.write(p, prefix + p.relative_to(root).as_posix())
    return zip_path


@pytest.mark.parametrize("prefix", ["", "pets/"])
@pytest.mark.parametrize("scheme", ["zip", "folder"])
def test_zip_domain_equals_folder_domain(tmp_path, prefix, scheme):
    root = _make_folder(tmp_path / "pets")
    zpath = _zip_folder(root, tmp_path / "pets.zip", prefix)
    for split in ("train", "test"):
        from_folder = load_domain(f"folder:{root}", split)
        from_zip = load_domain(f"{scheme}:{zpath}", split)
        assert from_zip.classes == from_folder.classes
        assert torch.equal(from_zip.images, from_folder.images)
        assert torch.equal(from_zip.labels, from_folder.labels)
        assert from_zip.skipped.keys() == from_folder.skipped.keys()


def test_zip_with_unsafe_path_skips_and_names_it(tmp_path):
    zpath = tmp_path / "evil.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("cat/a.png", _png(COLOURS["cat"]))
        zf.writestr("../dog/b.png", _png(COLOURS["dog"]))
    dom = load_domain(f"zip:{zpath}", "train")
    assert dom.classes == ["cat"] and len(dom) == 1
    assert "unsafe" in dom.skipped["../dog/b.png"]
    only_unsafe = tmp_path / "only-evil.zip"
    with zipfile.ZipFile(only_unsafe, "w") as zf:
        zf.writestr("../dog/b.png", _png(COLOURS["dog"]))
    with pytest.raises(DomainError, match="unsafe"):
        load_domain(f"zip:{only_unsafe}", "train")


def test_nonexistent_folder_raises(tmp_path):
    with pytest.raises(DomainError, match="no such folder"):
        load_domain(f"folder:{tmp_path / 'missing'}", "train")
    with pytest.raises(DomainError):
        load_domain(f"zip:{tmp_path / 'missing.zip'}", "train")


def test_empty_folder_and_non_zip_file_raise(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DomainError, match="no images"):
        load_domain(f"folder:{tmp_path / 'empty'}", "train")
    (tmp_path / "file.txt").write_text("hello")
    with pytest.raises(DomainError, match="neither a folder nor a zip"):
        load_domain(f"folder:{tmp_path / 'file.txt'}", "train")


def test_folder_of_only_corrupt_images_raises(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / "bad" / cls).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "bad" / cls / f"{i}.png").write_bytes(b"garbage")
    with pytest.raises(DomainError, match="could be read"):
        load_domain(f"folder:{tmp_path / 'bad'}", "train")
