"""Tests for core.checkpoints: round trips, refusal of pickles/bad files, atomic saves."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as st_save

from core.checkpoints import (
    CARD_FORMAT, BadCheckpoint, load, make_card, save, save_zip, to_zip_bytes, validate_card,
)
from core.models import build_model

REPO = Path(__file__).resolve().parents[3]
SPEC = {"arch": "digits_cnn", "num_classes": 3, "batch_norm": True, "width": 0.5, "feature_dim": 32}
CLASSES = ["cat", "dog", "eel"]


def _model(seed: int = 0, spec: dict | None = None):
    torch.manual_seed(seed)
    m = build_model(spec or SPEC)
    with torch.no_grad():  # make BN running stats matter for the predictions
        for name, buf in m.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0, 0.1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
            elif name.endswith("num_batches_tracked"):
                buf.fill_(7)
    return m.eval()


def _card(model, **kw):
    return make_card(model, method="dann", source="mnist", target="svhn", class_names=CLASSES,
                     metrics={"target_acc": 0.75}, hyperparameters={"lr": 0.01}, seed=0,
                     training_seconds=1.5, device="cpu", **kw)


def _x(size: int = 28, n: int = 4):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(123))


@torch.no_grad()
def _pred(model, x=None):
    return model(_x() if x is None else x)


@pytest.fixture
def saved(tmp_path):
    model = _model()
    path = save(model, _card(model), tmp_path / "ck")
    return model, path


def _write_ckpt(folder: Path, card, weights: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "card.json").write_text(card if isinstance(card, str) else json.dumps(card))
    (folder / "model.safetensors").write_bytes(weights)
    return folder


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


# ------------------------------------------------------------------------------ round trips

def test_roundtrip_fp32_is_exact(saved):
    model, path = saved
    assert sorted(p.name for p in path.iterdir()) == ["card.json", "model.safetensors"]
    loaded, card = load(path)
    assert not loaded.training
    assert next(loaded.parameters()).device.type == "cpu"
    assert torch.equal(_pred(model), _pred(loaded))
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    assert card["class_names"] == CLASSES and card["model"] == model.spec
    assert card == json.loads((path / "card.json").read_text())
    loaded2, _ = load(str(path), device=torch.device("cpu"))
    assert torch.equal(_pred(model), _pred(loaded2))


def test_roundtrip_half_within_tolerance(tmp_path):
    model = _model()
    path = save(model, _card(model), tmp_path / "half", half=True)
    raw = (path / "model.safetensors").read_bytes()
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
    assert header["head.weight"]["dtype"] == "F16"
    assert header["backbone.conv.1.num_batches_tracked"]["dtype"] == "I64"
    full = save(model, _card(model), tmp_path / "full")
    assert path.joinpath("model.safetensors").stat().st_size < 0.6 * full.joinpath("model.safetensors").stat().st_size
    loaded, _ = load(path)
    assert all(p.dtype == torch.float32 for p in loaded.state_dict().values() if p.is_floating_point())
    torch.testing.assert_close(_pred(loaded), _pred(model), atol=2e-2, rtol=2e-2)


def test_float64_weights_are_cast(tmp_path):
    model = _model()
    sd = {k: (v.double() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    path = _write_ckpt(tmp_path / "f64", _card(model), st_save(sd))
    loaded, _ = load(path)
    assert loaded.head.weight.dtype == torch.float32
    torch.testing.assert_close(_pred(loaded), _pred(model))


def test_zip_roundtrip_file_bytes_and_fileobj(tmp_path, saved):
    model, folder = saved
    expected = _pred(model)
    zpath = save_zip(model, _card(model), tmp_path / "dl" / "my run.zip")
    names = zipfile.ZipFile(zpath).namelist()
    assert sorted(names) == ["my_run/card.json", "my_run/model.safetensors"]
    assert not [p for p in zpath.parent.iterdir() if p != zpath]  # no temp file left
    for src in (zpath, str(zpath), zpath.read_bytes(), bytearray(zpath.read_bytes()),
                io.BytesIO(zpath.read_bytes())):
        loaded, card = load(src)
        assert torch.equal(_pred(loaded), expected)
        assert card["method"] == "dann"
    data = to_zip_bytes(folder)
    assert torch.equal(_pred(load(data)[0]), expected)
    # files at the zip root are accepted too
    root = _zip({"card.json": (folder / "card.json").read_bytes(),
                 "model.safetensors": (folder / "model.safetensors").read_bytes()})
    assert torch.equal(_pred(load(root)[0]), expected)


def test_resnet18_roundtrip_half(tmp_path):
    model = _model(spec={"arch": "resnet18", "num_classes": 3, "input_size": 32})
    x = _x(32, 2)
    path = save(model, _card(model), tmp_path / "r18", half=True)
    loaded, card = load(path)
    assert card["backbone"] == "resnet18" and card["input_size"] == 32
    torch.testing.assert_close(_pred(loaded, x), _pred(model, x), atol=5e-2, rtol=5e-2)


def test_make_card_fields():
    model = _model()
    card = _card(model, extra={"name": "run-1", "history": [{"epoch": 1, "loss": 0.5}]})
    assert card["format"] == CARD_FORMAT
    assert card["backbone"] == "digits_cnn" and card["input_size"] == 28
    assert card["model"] == model.spec
    assert set(card["versions"]) == {"torch", "torchvision", "python", "shiftlab"}
    assert card["versions"]["torch"] == torch.__version__
    assert dt.datetime.fromisoformat(card["created"]).tzinfo is not None
    assert card["metrics"] == {"target_acc": 0.75} and card["name"] == "run-1"
    assert validate_card(json.loads(json.dumps(card))) == card
    with pytest.raises(ValueError, match="class_names"):
        make_card(model, method="m", source="s", target="t", class_names=["a", "b"])


def test_save_refuses_card_for_another_model(tmp_path):
    model = _model()
    other = _model(spec={**SPEC, "num_classes": 4})
    card = make_card(other, method="m", source="s", target="t", class_names=list("abcd"))
    with pytest.raises(ValueError, match="spec"):
        save(model, card, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ValueError):
        save(model, _card(model), tmp_path / "file")
    assert (tmp_path / "file").read_text() == "not a folder"
    precious = tmp_path / "precious"  # an unrelated folder must never be swapped away/deleted
    (precious / "sub").mkdir(parents=True)
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="refusing to replace"):
        save(model, _card(model), precious)
    assert (precious / "notes.txt").read_text() == "keep me" and (precious / "sub").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "precious"]


# ---------------------------------------------------------------------------------- pickles

class _Evil:
    """Unpickling this runs os.makedirs(marker): proof that code from the file ran."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def test_payload_is_live(tmp_path):
    """Control: the payload really would create the marker if anything unpickled it."""
    marker = tmp_path / "control"
    pickle.loads(pickle.dumps(_Evil(str(marker))))
    assert marker.exists()


def test_plain_torch_save_is_refused(tmp_path, saved):
    model, _ = saved
    pt = tmp_path / "weights.pt"
    torch.save(model.state_dict(), pt)
    for src in (pt, pt.read_bytes()):
        with pytest.raises(BadCheckpoint, match="pickled .pt files are refused"):
            load(src)
    renamed = tmp_path / "weights.zip"  # torch.save output is itself a zip around data.pkl
    renamed.write_bytes(pt.read_bytes())
    with pytest.raises(BadCheckpoint, match="pickled"):
        load(renamed)
    folder = _write_ckpt(tmp_path / "pt_inside", _card(model), pt.read_bytes())
    with pytest.raises(BadCheckpoint, match="pickled"):
        load(folder)
    only_pt = tmp_path / "only_pt"
    only_pt.mkdir()
    (only_pt / "card.json").write_text(json.dumps(_card(model)))
    (only_pt / "model.pt").write_bytes(pt.read_bytes())
    with pytest.raises(BadCheckpoint, match="pickled"):
        load(only_pt)


def test_malicious_pickles_never_run(tmp_path):
    model = _model()
    card = json.dumps(_card(model))
    marker = tmp_path / "PWNED"
    payload = pickle.dumps(_Evil(str(marker)))
    torch_payload = io.BytesIO()
    torch.save({"head.weight": _Evil(str(marker))}, torch_payload)
    torch_payload = torch_payload.getvalue()

    attempts = {}
    attempts["folder"] = _write_ckpt(tmp_path / "evil_folder", card, payload)
    attempts["folder_torch"] = _write_ckpt(tmp_path / "evil_folder2", card, torch_payload)
    for name, data in (("evil.pt", payload), ("evil.pth", torch_payload), ("evil.pkl", payload),
                       ("evil.bin", payload), ("evil.zip", torch_payload), ("evil.ckpt", payload),
                       ("evil_noext", payload)):
        attempts[name] = tmp_path / name
        attempts[name].write_bytes(data)
    zipped = {"zip_weights": _zip({"card.json": card.encode(), "model.safetensors": payload}),
              "zip_torch_weights": _zip({"ck/card.json": card.encode(), "ck/model.safetensors": torch_payload}),
              "zip_data_pkl": _zip({"card.json": card.encode(), "model.safetensors": b"x",
                                    "data.pkl": payload})}
    for name, data in zipped.items():
        attempts[name + "_bytes"] = data
        attempts[name] = tmp_path / f"{name}.zip"
        attempts[name].write_bytes(data)
    attempts["raw_bytes"] = payload
    attempts["torch_bytes"] = torch_payload

    for name, src in attempts.items():
        with pytest.raises(BadCheckpoint) as info:
            load(src)
        assert not marker.exists(), f"{name}: code from the file ran!"
        if name not in ("zip_weights", "zip_weights_bytes", "zip_torch_weights", "zip_torch_weights_bytes",
                        "evil_noext"):
            assert "pickle" in str(info.value), (name, str(info.value))
    assert not marker.exists()


# ----------------------------------------------------------------------------- bad cards

def _card_cases():
    def drop(key):
        return lambda c: {k: v for k, v in c.items() if k != key}

    def spec(**kw):
        return lambda c: {**c, "model": {**c["model"], **kw}}

    return {
        "not_json": ("{not json", "not valid JSON"),
        "json_list": ("[1, 2, 3]", "JSON object"),
        "empty": ("", "not valid JSON"),
        "missing_format": (drop("format"), "format"),
        "missing_model": (drop("model"), "model"),
        "missing_class_names": (drop("class_names"), "class_names"),
        "missing_method": (drop("method"), "method"),
        "missing_input_size": (drop("input_size"), "input_size"),
        "wrong_format": (lambda c: {**c, "format": "something-else/1"}, "format"),
        "future_format": (lambda c: {**c, "format": "shiftlab-checkpoint/9"}, "not supported"),
        "num_classes_mismatch": (lambda c: {**c, "class_names": ["a", "b"]}, "num_classes"),
        "spec_num_classes_mismatch": (spec(num_classes=5), "num_classes"),
        "unknown_arch": (spec(arch="evilnet"), "unknown architecture"),
        "extra_spec_key": (spec(exec="import os"), "unknown model spec keys"),
        "weights_path": (spec(weights_path="/etc/passwd"), "weights_path"),
        "nested_spec_value": (spec(width={"a": 1}), "model spec key"),
        "bad_num_classes": (spec(num_classes="many"), None),
        "absurd_width": (spec(width=1e300), None),
        "input_size_mismatch": (lambda c: {**c, "input_size": 32}, "input_size"),
        "input_size_str": (lambda c: {**c, "input_size": "28"}, "input_size"),
        "class_names_not_str": (lambda c: {**c, "class_names": [1, 2, 3]}, "class_names"),
        "model_not_dict": (lambda c: {**c, "model": "digits_cnn"}, "model"),
        "metrics_bad": (lambda c: {**c, "metrics": {"acc": "high"}}, "metrics"),
        "versions_bad": (lambda c: {**c, "versions": ["torch"]}, "versions"),
        "deep_json": ("[" * 100_000 + "]" * 100_000, None),
    }


@pytest.mark.parametrize("case", list(_card_cases()))
def test_bad_card_is_refused(tmp_path, saved, case):
    model, folder = saved
    mutate, msg = _card_cases()[case]
    good = json.loads((folder / "card.json").read_text())
    text = mutate if isinstance(mutate, str) else json.dumps(mutate(good))
    bad = _write_ckpt(tmp_path / "bad", text, (folder / "model.safetensors").read_bytes())
    with pytest.raises(BadCheckpoint, match=msg):
        load(bad)
    with pytest.raises(BadCheckpoint, match=msg):  # same through a zip upload
        load(_zip({"card.json": text.encode(), "model.safetensors": (folder / "model.safetensors").read_bytes()}))


# ------------------------------------------------------------------------------ bad weights

def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_wrong_missing_unexpected_tensors(tmp_path, saved):
    model, _ = saved
    card = _card(model)

    sd = _state(model)
    sd["head.weight"] = torch.zeros(4, sd["head.weight"].shape[1])
    with pytest.raises(BadCheckpoint, match=r"head\.weight.*shape"):
        load(_write_ckpt(tmp_path / "shape", card, st_save(sd)))

    sd = _state(model)
    del sd["head.bias"]
    with pytest.raises(BadCheckpoint, match=r"missing tensor.*head\.bias"):
        load(_write_ckpt(tmp_path / "missing", card, st_save(sd)))

    sd = _state(model)
    sd["sneaky.extra"] = torch.zeros(2)
    with pytest.raises(BadCheckpoint, match=r"unexpected tensor.*sneaky\.extra"):
        load(_write_ckpt(tmp_path / "unexpected", card, st_save(sd)))

    for dtype in (torch.int32, torch.bfloat16, torch.uint8):
        sd = _state(model)
        sd["head.bias"] = sd["head.bias"].to(dtype)
        with pytest.raises(BadCheckpoint, match="dtype"):
            load(_write_ckpt(tmp_path / f"dtype_{dtype}".replace(".", "_"), card, st_save(sd)))

    sd = _state(model)
    sd["head.bias"] = torch.ones(3, dtype=torch.int64)  # int where the model needs float
    with pytest.raises(BadCheckpoint, match="dtype"):
        load(_write_ckpt(tmp_path / "kind", card, st_save(sd)))


def test_garbage_safetensors_is_refused(tmp_path, saved):
    model, folder = saved
    card = _card(model)
    good = (folder / "model.safetensors").read_bytes()
    n = int.from_bytes(good[:8], "little")
    cases = {
        "empty": b"",
        "short": b"\x01\x02",
        "huge_header_len": (2**62).to_bytes(8, "little") + b"{}",
        "header_len_past_end": (10_000).to_bytes(8, "little") + b'{"a": 1}',
        "header_not_json": (16).to_bytes(8, "little") + b"\xff" * 16,
        "header_list": (2).to_bytes(8, "little") + b"[]",
        "random": bytes(random.Random(0).getrandbits(8) for _ in range(4096)),
        "truncated": good[:-100],
        "bad_offsets": good[:8] + good[8:8 + n].replace(b'"data_offsets":[0,', b'"data_offsets":[9,', 1) + good[8 + n:],
        "text": b"hello world, definitely not tensors",
    }
    assert cases["bad_offsets"] != good
    for name, data in cases.items():
        with pytest.raises(BadCheckpoint):
            load(_write_ckpt(tmp_path / name, card, data))


def test_size_limits(tmp_path, saved):
    model, folder = saved
    size = (folder / "model.safetensors").stat().st_size
    with pytest.raises(BadCheckpoint, match="limit"):
        load(folder, max_bytes=size - 1)
    data = to_zip_bytes(folder)
    with pytest.raises(BadCheckpoint, match="limit"):
        load(data, max_bytes=len(data) - 1)
    # a small zip that unpacks to more than max_bytes (zip bomb shape)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("card.json", (folder / "card.json").read_bytes())
        zf.writestr("model.safetensors", b"\0" * 5_000_000)
    assert len(buf.getvalue()) < 100_000
    with pytest.raises(BadCheckpoint, match="unpacks to"):
        load(buf.getvalue(), max_bytes=1_000_000)
    big_card = _write_ckpt(tmp_path / "bigcard", "x" * (5 * 1024 * 1024), (folder / "model.safetensors").read_bytes())
    with pytest.raises(BadCheckpoint, match="limit"):
        load(big_card)


def test_bad_zips_are_refused(tmp_path, saved):
    _, folder = saved
    card = (folder / "card.json").read_bytes()
    weights = (folder / "model.safetensors").read_bytes()
    cases = {
        "traversal": ({"../card.json": card, "../model.safetensors": weights}, "unsafe path"),
        "traversal_deep": ({"ck/../../card.json": card, "ck/model.safetensors": weights}, "unsafe path"),
        "absolute": ({"/card.json": card, "/model.safetensors": weights}, "unsafe path"),
        "backslash": ({"..\\card.json": card, "model.safetensors": weights}, "unsafe path"),
        "too_many": ({**{f"pad{i}.txt": b"" for i in range(9)}, "card.json": card,
                      "model.safetensors": weights}, "members"),
        "unexpected_member": ({"card.json": card, "model.safetensors": weights, "run.py": b"print(1)"},
                              "unexpected"),
        "missing_card": ({"model.safetensors": weights}, "lacks"),
        "two_folders": ({"a/card.json": card, "b/model.safetensors": weights}, "one top-level folder"),
        "too_deep": ({"a/b/card.json": card, "a/b/model.safetensors": weights}, "one top-level folder"),
        "empty": ({}, "lacks"),
    }
    for name, (members, msg) in cases.items():
        data = _zip(members)
        with pytest.raises(BadCheckpoint, match=msg):
            load(data)
        (tmp_path / f"{name}.zip").write_bytes(data)
        with pytest.raises(BadCheckpoint, match=msg):
            load(tmp_path / f"{name}.zip")
    assert not (tmp_path.parent / "card.json").exists()
    with pytest.raises(BadCheckpoint, match="not a valid zip"):
        load(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(BadCheckpoint):
        load(b"")


def test_other_bad_sources(tmp_path, saved):
    _, folder = saved
    with pytest.raises(BadCheckpoint, match="no checkpoint"):
        load(tmp_path / "nope")
    with pytest.raises(BadCheckpoint, match="card.json"):
        load(folder / "model.safetensors")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadCheckpoint, match="not a checkpoint folder"):
        load(empty)
    if hasattr(os, "mkfifo"):  # a FIFO must not make load() hang
        fifo = tmp_path / "fifo"
        fifo.mkdir()
        (fifo / "card.json").write_bytes((folder / "card.json").read_bytes())
        os.mkfifo(fifo / "model.safetensors")
        with pytest.raises(BadCheckpoint, match="regular file"):
            load(fifo)
    with pytest.raises(ValueError):
        load(folder, device="tpu")
    with pytest.raises(TypeError):
        load(12345)


# ----------------------------------------------------------------------------- atomicity

def test_recovers_from_left_over_old(tmp_path, saved):
    model, path = saved
    old = path.with_name(path.name + ".old")
    os.rename(path, old)  # as if killed between the two renames of save()
    loaded, _ = load(path)
    assert torch.equal(_pred(loaded), _pred(model))
    assert torch.equal(_pred(load(to_zip_bytes(path))[0]), _pred(model))
    other = _model(seed=5)
    save(other, _card(other), path)  # completes the swap and cleans up
    assert not old.exists()
    assert torch.equal(_pred(load(path)[0]), _pred(other))
    # a stale .old next to a complete checkpoint is replaced, and dead writers' temps removed
    _write_ckpt(old, "{}", b"junk")
    stale = tmp_path / ".ck.tmp-999999999-dead"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"partial")
    save(model, _card(model), path)
    assert not old.exists() and not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]
    assert torch.equal(_pred(load(path)[0]), _pred(model))


_WRITER = r"""
import sys
from core.checkpoints import load, save
path, a, b = sys.argv[1:4]
models = [load(a), load(b)]
print("ready", flush=True)
i = 0
while True:
    model, card = models[i % 2]
    save(model, card, path)
    i += 1
"""


def test_sigkill_during_save_leaves_a_loadable_checkpoint(tmp_path):
    spec = {"arch": "digits_cnn", "num_classes": 3, "width": 2.0, "feature_dim": 512}  # ~5 MB
    x = _x()
    refs, preds = {}, {}
    for seed, name in ((1, "A"), (2, "B")):
        m = _model(seed, spec)
        refs[name] = save(m, _card(m, extra={"name": name}), tmp_path / f"ref{name}")
        preds[name] = _pred(m, x)
    assert not torch.equal(preds["A"], preds["B"])
    target = tmp_path / "live" / "ck"
    model_a, card_a = load(refs["A"])
    save(model_a, card_a, target)

    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}
    rng = random.Random(0)
    reads = 0
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(target), str(refs["A"]), str(refs["B"])],
                                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            assert line.strip() == "ready", proc.stderr.read()
            # Read concurrently while it writes: every load sees one complete version.
            deadline = time.monotonic() + rng.uniform(0.05, 0.5)
            while time.monotonic() < deadline:
                loaded, card = load(target)
                assert torch.equal(_pred(loaded, x), preds[card["name"]]), "torn read"
                reads += 1
            assert proc.poll() is None, proc.stderr.read()
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        loaded, card = load(target)
        assert card["name"] in ("A", "B")
        assert torch.equal(_pred(loaded, x), preds[card["name"]]), "card and weights disagree"
    assert reads >= 3
    # a later save cleans up whatever the killed writers left behind
    save(model_a, card_a, target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["ck"]
