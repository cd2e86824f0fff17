"""Toy domains from the command line: domains lists them, train / eval / recommend take them, and
every bad input is one line (exit 2)."""

from __future__ import annotations

import json

import pytest
import torch

from core.cli import main


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def test_domains_lists_the_toy_sets_their_shifts_and_ranges(capsys):
    assert main(["domains"]) == 0
    out = capsys.readouterr().out
    assert "toy:moons" in out and "toy:spirals" in out and "rotate -180..180°" in out and "prior 0.05..0.95" in out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy") / "dann"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["train", "--source", "toy:moons", "--target", "toy:moons?rotate=35", "--arch", "mlp",
                     "--method", "dann", "--json", "--quiet", "--out", str(out)])
    assert code == 0
    return out, last_json(buf.getvalue())


def test_train_on_a_toy_shift(trained):
    out, summary = trained
    assert summary["arch"] == "mlp" and summary["image_size"] == 2 and summary["steps"] == 1000
    assert summary["source_acc"] > 97 and summary["target_acc"] > 85  # source-only reads ~72 % here
    card = json.loads((out / "card.json").read_text())
    assert card["backbone"] == "mlp" and card["hyperparameters"]["disc_hidden"] == 64


def test_eval_reads_a_toy_checkpoint_on_any_toy_domain(trained, capsys):
    out, summary = trained
    assert main(["eval", "--checkpoint", str(out), "--json"]) == 0
    assert last_json(capsys.readouterr().out)["accuracy"] == pytest.approx(summary["target_acc"], abs=0.05)
    assert main(["eval", "--checkpoint", str(out), "--domain", "toy:moons", "--json"]) == 0
    assert last_json(capsys.readouterr().out)["accuracy"] > 97


@pytest.mark.parametrize("argv, words", [
    (["eval", "--checkpoint", "{ckpt}", "--domain", "mnist"], ["mlp takes 2-D points", "mnist holds pictures"]),
    (["eval", "--checkpoint", "{ckpt}", "--domain", "toy:moons?dx=9"], ["dx=9", "outside its range"]),
    (["train", "--source", "toy:moons", "--target", "toy:moons?rotate=35", "--method", "pixel_gan"],
     ["'pixel_gan' needs pictures", "methods that run on points: source_only"]),
    (["train", "--source", "toy:moons", "--target", "toy:moonz"], ["unknown toy data set 'moonz'"]),
    (["train", "--source", "toy:moons", "--target", "toy:moons?tilt=3"], ["unknown toy parameter 'tilt'"]),
    (["train", "--source", "toy:moons", "--target", "toy:moons?rotate=35", "--arch", "digits_cnn"],
     ["digits_cnn takes pictures", "--arch mlp"]),
    (["train", "--source", "mnist", "--target", "mnistm", "--arch", "mlp"], ["mlp takes 2-D points"]),
])
def test_bad_input_is_one_line(argv, words, trained, capsys, tmp_path):
    argv = [a.replace("{ckpt}", str(trained[0])) for a in argv] + (["--out", str(tmp_path / "x")] if argv[0] == "train" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and all(w in err for w in words), err


def test_recommend_skips_the_methods_that_need_pictures(tmp_path, capsys):
    assert main(["recommend", "--source", "toy:moons", "--target", "toy:moons?rotate=25", "--methods",
                 "source_only,dann,pixel_gan", "--steps", "200", "--seeds", "1", "--json", "--quiet", "--out", str(tmp_path / "r")]) == 0
    result = last_json(capsys.readouterr().out)
    assert [c["method"] for c in result["candidates"]] == ["source_only", "dann"]
    assert result["skipped"] == [{"method": "pixel_gan", "reason": "needs pictures; toy domains are 2-D points"}]
    assert all(c["error"] is None for c in result["candidates"]) and result["recommended"] in ("source_only", "dann")


def test_a_toy_checkpoint_exports_to_onnx(trained, tmp_path, capsys):
    out, _ = trained
    assert main(["export", "--checkpoint", str(out), "--format", "onnx", "--out", str(tmp_path / "m.onnx"),
                 "--json"]) == 0
    report = last_json(capsys.readouterr().out)
    assert report["input_size"] == 2 and (report["max_abs_diff"] is None or report["max_abs_diff"] < 1e-4)
