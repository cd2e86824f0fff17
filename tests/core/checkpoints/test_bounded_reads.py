"""The one bounded-read policy (core.util.files.read_bounded) as checkpoints see it: a symbolic link
is never followed, wherever it points — the same rule as a folder domain's pictures
(tests/core/data/test_corrupt_archives.py)."""

from __future__ import annotations

import shutil

import pytest

from core.checkpoints import BadCheckpoint, load, make_card, save
from core.checkpoints.store import read_file
from core.models import build_model
from core.util.files import LINK_REFUSED, ReadRefused, read_bounded


@pytest.fixture
def checkpoint(tmp_path):
    model = build_model({"arch": "digits_cnn", "num_classes": 3, "width": 0.25})
    card = make_card(model, method="source_only", source="mnist", target="mnistm", class_names=["a", "b", "c"])
    return save(model, card, tmp_path / "ck")


@pytest.mark.parametrize("name", ["model.safetensors", "card.json"])
@pytest.mark.parametrize("where", ["inside", "outside"])
def test_a_linked_checkpoint_file_is_refused_wherever_it_points(checkpoint, tmp_path, name, where):
    load(checkpoint)  # the real folder loads
    linked = tmp_path / "linked"
    shutil.copytree(checkpoint, linked)
    real = linked / f"real-{name}" if where == "inside" else tmp_path / f"elsewhere-{name}"
    (linked / name).rename(real)
    (linked / name).symlink_to(real)
    with pytest.raises(BadCheckpoint, match=f"{name} in .* is a symbolic link"):
        load(linked)


def test_one_reader_for_pictures_and_weights(tmp_path):
    data = tmp_path / "f.bin"
    data.write_bytes(b"x" * 100)
    assert read_bounded(data, 100) == b"x" * 100
    with pytest.raises(ReadRefused, match=r"file too large: 100 bytes \(limit 99 bytes\)"):
        read_bounded(data, 99)
    link = tmp_path / "link.bin"
    link.symlink_to(data)
    with pytest.raises(ReadRefused) as e:
        read_bounded(link, 100)
    assert str(e.value) == LINK_REFUSED
    with pytest.raises(BadCheckpoint, match="symbolic link"):
        read_file(link, 100)  # pretrained weights enter through the same door
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "missing", 100)
