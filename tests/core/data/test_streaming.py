"""Data that does not fit in memory (core.data.feed): resident vs streamed splits, the automatic
choice and its override, the same pictures either way, workers reading folders and zips, and
unreadable files found mid-run."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch

from core.training.config import TrainConfig
from core.data import load_domain
from core.data.feed import ResidentFeed, StreamFeed, make_feed, shard
from core.data.lazy import FileImages, ResizedImages, decoded_bytes
from core.data.run_domains import load_run_domains
from core.evaluation import evaluate_accuracy
from core.training.engine import train
from tests.support.images import png_folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("feed")
    return png_folder(root / "src", n=10, size=40), png_folder(root / "tgt", n=10, size=40, seed=1, dim=0.6)


def _config(src, tgt, **kw):
    base = dict(method="dann", source=f"folder:{src}", target=f"folder:{tgt}", image_size=32, steps=6, batch_size=8,
                eval_every=3, precision="fp32", device="cpu", seed=3, data_workers=1)
    return TrainConfig(**{**base, **kw})


def test_auto_streams_what_does_not_fit_the_budget_and_the_override_wins(folders):
    src, tgt = folders
    size = 32
    # 3 classes × 10 pictures: 8 train + 2 test per class
    assert decoded_bytes(24, size) == 24 * 3 * 32 * 32
    small = load_run_domains(f"folder:{src}", f"folder:{tgt}", size, "auto", budget_mb=64)
    assert set(small.modes.values()) == {"resident"}
    # a budget below the four splits' 0.23 MB: the largest splits (train) stream first
    tight = load_run_domains(f"folder:{src}", f"folder:{tgt}", size, "auto", budget_mb=0.1)
    assert tight.modes["source_train"] == tight.modes["target_train"] == "stream"
    assert tight.modes["source_test"] == tight.modes["target_test"] == "resident"
    assert isinstance(tight.source_train.images, FileImages) and tight.source_train.images.shape == (24, 3, 32, 32)
    forced = load_run_domains(f"folder:{src}", f"folder:{tgt}", size, "stream", budget_mb=10_000)
    assert set(forced.modes.values()) == {"stream"}
    kept = load_run_domains(f"folder:{src}", f"folder:{tgt}", size, "resident", budget_mb=0.001)
    assert set(kept.modes.values()) == {"resident"}
    # the same pictures and labels either way, through the same ingest door
    assert torch.equal(forced.source_train.images[[0, 5, 23]], small.source_train.images[[0, 5, 23]])
    assert torch.equal(forced.source_train.labels, small.source_train.labels)


def test_streamed_and_resident_runs_of_a_seed_are_the_same_run(folders, tmp_path):
    """Same index batches, same decoded pictures: bit-identical weights (fp32, one thread)."""
    src, tgt = folders
    runs = {}
    for mode in ("resident", "stream"):
        result = train(_config(src, tgt, data=mode), out_dir=tmp_path / mode)
        runs[mode] = result
        card = json.loads((tmp_path / mode / "card.json").read_text())
        assert set(card["data"]["modes"].values()) == {mode} and card["data"]["feed"] == mode
    a, b = runs["resident"].model.state_dict(), runs["stream"].model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert runs["resident"].target_acc == runs["stream"].target_acc
    assert runs["resident"].history[-1]["loss"] == runs["stream"].history[-1]["loss"]


def test_a_zip_streams_through_worker_processes(folders, tmp_path):
    src, tgt = folders
    archive = tmp_path / "tgt.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(Path(tgt).rglob("*.png")):
            zf.write(path, f"wrapped/{path.relative_to(tgt)}")
    result = train(_config(src, archive, target=f"zip:{archive}", data="stream", data_workers=2, steps=4))
    assert result.card["data"]["modes"]["target_train"] == "stream"
    assert result.card["data"]["workers_per_streamed_split"] == 2
    assert 0 <= result.target_acc <= 100


def test_unreadable_files_found_mid_run_are_skipped_and_reported(folders, tmp_path):
    import shutil

    src, tgt = folders
    broken = tmp_path / "src"
    shutil.copytree(src, broken)
    (broken / "red" / "000.png").write_bytes(b"not a picture")  # in the train split (first 8 of 10)
    result = train(_config(broken, tgt, data="stream", steps=8))
    assert result.card["data"]["skipped_source_train"] == 1
    domains = load_run_domains(f"folder:{broken}", f"folder:{tgt}", 32, "stream")
    bad = domains.source_train.images.names.index("red/000.png")
    x = domains.source_train.images[[bad, 0]]  # direct indexing: a black picture, recorded
    assert x[0].sum() == 0 and x[1].sum() > 0 and "red/000.png" in domains.source_train.skipped


def test_the_feed_reads_only_the_pictures_it_trains_on(folders):
    """Streaming holds what a few batches need, not the split: count the decodes."""
    src, _ = folders
    domain = load_run_domains(f"folder:{src}", f"folder:{src}", 32, "stream").source_train
    reads = {"n": 0}
    original = domain.images.read_one

    def counting(i):
        reads["n"] += 1
        return original(i)

    domain.images.read_one = counting
    feed = StreamFeed((domain.images, domain.labels), (domain.images, domain.labels), 4, torch.device("cpu"),
                      torch.Generator().manual_seed(0), workers=0)
    for _ in range(2):
        xs, ys, xt, yt, _ = feed.next()
        assert xs.shape == (4, 3, 32, 32) and xs.dtype == torch.float32 and 0 <= xs.min() and xs.max() <= 1
    feed.close()
    assert reads["n"] == 16  # 2 steps × (4 source + 4 target), nothing read ahead without workers


def test_stream_and_resident_feeds_draw_the_same_batches():
    x = torch.randint(0, 256, (30, 3, 8, 8), dtype=torch.uint8)
    y = torch.arange(30)
    cpu = torch.device("cpu")
    resident = ResidentFeed((x, y), (x[:17], y[:17]), 8, cpu, torch.Generator().manual_seed(5))
    lazy = ResizedImages(x, 8)  # resize to the same size: the same pictures
    streamed = make_feed((lazy, y), (x[:17], y[:17]), 8, cpu, torch.Generator().manual_seed(5))
    assert isinstance(streamed, StreamFeed)
    for _ in range(7):  # across epoch boundaries of both sides
        for a, b in zip(resident.next()[:4], streamed.next()[:4]):
            assert torch.equal(a, b)


def test_ranks_shard_each_global_batch():
    idx = torch.arange(12)
    parts = [shard(idx, r, 3) for r in range(3)]
    assert torch.equal(torch.cat(parts), idx) and all(len(p) == 4 for p in parts)
    x = torch.randint(0, 256, (40, 3, 4, 4), dtype=torch.uint8)
    y = torch.arange(40)
    feeds = [ResidentFeed((x, y), (x, y), 8, torch.device("cpu"), torch.Generator().manual_seed(1), rank=r,
                          world_size=2) for r in range(2)]
    whole = ResidentFeed((x, y), (x, y), 8, torch.device("cpu"), torch.Generator().manual_seed(1))
    for _ in range(3):
        ys = [f.next()[1] for f in feeds]
        assert torch.equal(torch.cat(ys), whole.next()[1])


def test_resized_named_domain_equals_load_domain_at_that_size():
    native = load_domain("ucidigits", "test")
    lazy = ResizedImages(native.images, 40)
    idx = [0, 7, 123, 499]
    assert torch.equal(lazy[idx], load_domain("ucidigits", "test", 40).images[idx])
    domains = load_run_domains("ucidigits", "ucidigits", 40, "auto", budget_mb=10)  # 17 MB in all
    assert domains.modes["source_train"] == "resized" and domains.modes["source_test"] == "resident"


def test_streamed_evaluation_matches_resident_evaluation(folders):
    from core.models import build_model

    src, _ = folders
    resident = load_run_domains(f"folder:{src}", f"folder:{src}", 32, "resident").source_train
    streamed = load_run_domains(f"folder:{src}", f"folder:{src}", 32, "stream").source_train
    torch.manual_seed(0)
    model = build_model({"arch": "digits_cnn", "num_classes": 3, "input_size": 32})
    assert evaluate_accuracy(model, streamed, batch_size=5, workers=1) == pytest.approx(
        evaluate_accuracy(model, resident))
