"""core.inference: predictions for uploads (good and broken files), summaries, model facts."""

import io
import time

import numpy as np
import pytest
import torch
from PIL import Image

from core.inference import (count_parameters, latency_ms, model_report, model_size_bytes, predict_batch,
                            predict_uploads, rows_to_frame, summarize, upscale_nearest)
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


def test_sixteen_uploads_are_fast(models):
    """Predictions for 16 pictures (decode + 2 models) take at most 150 ms on the CPU after load."""
    files = [(f"{i}.png", _encode("PNG", size=(64, 64), seed=i)) for i in range(16)]
    predict_uploads(models, files)  # warm-up
    best = min(_timed(lambda: predict_uploads(models, files)) for _ in range(5))
    assert best < 0.150, f"16 predictions took {1000 * best:.0f} ms"


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def test_model_facts():
    big, small = _model(0), _model(0, width=0.5)
    assert count_parameters(big) > count_parameters(small) > 0
    fp32 = model_size_bytes(big)
    assert fp32 >= 4 * count_parameters(big)
    assert model_size_bytes(big, half=True) < 0.6 * fp32
    lat = latency_ms(small, batch_size=4, repeats=3, warmup=1)
    assert set(lat) == {"median", "p90", "per_image"} and lat["median"] > 0
    assert lat["per_image"] == pytest.approx(lat["median"] / 4)
    with pytest.raises(ValueError):
        latency_ms(small, batch_size=0)


def test_model_report():
    from core.data import TensorDomain

    domain = TensorDomain("t", "test", torch.randint(0, 256, (40, 3, 28, 28), dtype=torch.uint8),
                          torch.arange(40) % 10)
    r = model_report(_model(2), domain)
    assert r["confusion"].shape == (10, 10) and r["confusion"].sum() == 40
    assert len(r["per_class"]) == 10 and 0 <= r["accuracy"] <= 100 and r["n"] == 40
    assert set(r["reliability"]) == {"confidence", "accuracy", "count"} and r["reliability"]["count"].sum() == 40
    assert 0 <= r["ece"] <= 100


def test_upscale_nearest():
    img = torch.arange(2 * 3 * 2 * 2, dtype=torch.uint8).reshape(2, 3, 2, 2)
    out = upscale_nearest(img, 3)
    assert out.shape == (2, 6, 6, 3)
    assert (out[0, :3, :3, 0] == int(img[0, 0, 0, 0])).all()
    assert upscale_nearest(img[0], 2).shape == (4, 4, 3)
    assert upscale_nearest(torch.rand(3, 2, 2), 1).dtype == np.uint8
