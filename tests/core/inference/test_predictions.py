"""core.inference.predictions: predictions for uploads (good and broken files), summaries, model facts."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from core.checkpoints import size_bytes
from core.inference.predictions import csv_safe, latency_ms, predict_batch, predict_uploads, rows_to_frame, summarize
from core.models import count_parameters
from core.models import build_model


def _model(seed: int = 0, width: float = 1.0):
    torch.manual_seed(seed)
    return build_model({"arch": "digits_cnn", "num_classes": 10, "input_size": 28, "width": width}).eval()


def _encode(fmt: str, size=(40, 30), mode="RGB", seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    img = Image.fromarray(arr).convert(mode)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


GOOD = [("a.png", "PNG"), ("b.jpg", "JPEG"), ("c.webp", "WEBP"), ("d.bmp", "BMP"), ("e.gif", "GIF"),
        ("f.tiff", "TIFF")]


@pytest.fixture(scope="module")
def models():
    return {"source only": _model(0), "adapted": _model(1)}


def test_predict_uploads_good_and_broken(models):
    files = [(name, _encode(fmt, seed=i)) for i, (name, fmt) in enumerate(GOOD)]
    png = files[0][1]
    files += [("notes.txt", b"hello, I am not a picture"), ("empty.png", b""),
              ("truncated.png", png[: len(png) // 2])]
    rows, errors = predict_uploads(models, files)
    assert [r["name"] for r in rows] == [n for n, _ in GOOD]
    assert set(errors) == {"notes.txt", "empty.png", "truncated.png"}
    assert "not an image" in errors["notes.txt"]
    assert "empty" in errors["empty.png"]
    for r in rows:
        assert set(r["predictions"]) == {"source only", "adapted"}
        for preds in r["predictions"].values():
            assert len(preds) == 3
            probs = [p for _, p in preds]
            assert probs == sorted(probs, reverse=True)
            assert 0.0 <= sum(probs) <= 1.0 + 1e-5
            assert all(c in [str(i) for i in range(10)] for c, _ in preds)
        assert r["agree"] == (r["top1"]["source only"] == r["top1"]["adapted"])
        assert r["image"].shape == (3, 28, 28) and r["image"].dtype == torch.uint8
        assert r["label"] is None


def test_predict_uploads_all_broken_and_duplicates(models):
    rows, errors = predict_uploads(models, [("x.png", b"junk"), ("x.png", b"more junk")])
    assert rows == [] and set(errors) == {"x.png", "x.png (2)"}
    good = _encode("PNG")
    rows, errors = predict_uploads(models, [("same.png", good), ("same.png", good)])
    assert [r["name"] for r in rows] == ["same.png", "same.png (2)"] and not errors


def test_one_model_agrees_with_itself():
    m = _model(3)
    rows, _ = predict_uploads({"a": m, "b": m}, [(f"{i}.png", _encode("PNG", seed=i)) for i in range(5)])
    assert all(r["agree"] for r in rows)
    assert summarize(rows, ["a", "b"])["agreement"] == 100.0


def test_predict_batch_with_labels_and_summary(models):
    images = torch.randint(0, 256, (8, 3, 28, 28), dtype=torch.uint8)
    labels = list(range(8))
    rows = predict_batch(models, images, [f"#{i}" for i in range(8)], labels=labels)
    assert [r["label"] for r in rows] == [str(i) for i in range(8)]
    s = summarize(rows, list(models))
    for m in models:
        expected = 100.0 * sum(r["top1"][m] == r["label"] for r in rows) / 8
        assert s["accuracy"][m] == pytest.approx(expected)
    assert s["n"] == 8 and s["labelled"] == 8


def test_class_names_per_model(models):
    images = torch.rand(2, 3, 28, 28)
    names = [f"c{i}" for i in range(10)]
    rows = predict_batch(models, images, ["p", "q"], class_names={"source only": names, "adapted": names})
    assert all(c.startswith("c") for r in rows for preds in r["predictions"].values() for c, _ in preds)


def test_rows_to_frame_and_csv(models):
    rows, _ = predict_uploads(models, [("a.png", _encode("PNG")), ("b.png", _encode("PNG", seed=2))])
    frame = rows_to_frame(rows, list(models))
    assert list(frame["file"]) == ["a.png", "b.png"]
    assert {"source only: prediction", "adapted: confidence %", "adapted: top-3", "models agree"} <= set(frame.columns)
    assert "label" not in frame.columns  # uploads carry no labels
    csv = frame.to_csv(index=False)
    assert csv.splitlines()[0].startswith("file,")
    labelled = rows_to_frame(predict_batch(models, torch.rand(2, 3, 28, 28), ["x", "y"], labels=[1, 2]), list(models))
    assert "label" in labelled.columns and "adapted: correct" in labelled.columns
    assert list(rows_to_frame([], list(models)).columns)  # empty input still gives a table


def test_model_facts():
    big, small = _model(0), _model(0, width=0.5)
    assert count_parameters(big) > count_parameters(small) > 0
    fp32 = size_bytes(big)
    assert fp32 >= 4 * count_parameters(big)
    assert size_bytes(big, half=True) < 0.6 * fp32
    lat = latency_ms(small, batch_size=4, repeats=3, warmup=1)
    assert set(lat) == {"median", "p90", "per_image"} and lat["median"] > 0
    assert lat["per_image"] == pytest.approx(lat["median"] / 4)
    with pytest.raises(ValueError):
        latency_ms(small, batch_size=0)


def test_csv_cells_that_look_like_formulas_are_quoted(models):
    """File names are user input: one starting like a spreadsheet formula must stay text."""
    for bad in ("=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tx"):
        assert csv_safe(bad) == "'" + bad
    assert csv_safe("digit.png") == "digit.png"
    rows, _ = predict_uploads(models, [("=HYPERLINK(1).png", _encode("PNG", size=(28, 28), seed=1))])
    frame = rows_to_frame(rows, list(models))
    assert frame["file"][0] == "'=HYPERLINK(1).png"
