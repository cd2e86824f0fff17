"""A corpus of broken, lying and hostile folders and zips for ``folder:`` / ``zip:`` domains.

Each case either loads what is readable and names the rest in ``TensorDomain.skipped`` (with a
reason), or fails with one ``DomainError`` line — never another exception, never unbounded memory
or time. The last tests run some of them through the CLI (exit code, one ``error:`` line).
"""

from __future__ import annotations

import contextlib
import io
import os
import resource
import struct
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.data import DomainError, load_domain
from core.data import folder as folder_module
from core.imageio import MAX_BYTES

CLASSES = ("3", "7")


def png(seed: int = 0) -> bytes:
    arr = np.zeros((28, 28, 3), np.uint8)
    arr[4:24, 8 + seed % 8:12 + seed % 8] = 255
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def good_members(n: int = 5) -> dict[str, bytes]:
    return {f"{cls}/{i}.png": png(i) for cls in CLASSES for i in range(n)}


def write_zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def write_folder(root: Path, members: dict[str, bytes]) -> Path:
    for name, data in members.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def load_both(spec: str):
    return load_domain(spec, "train"), load_domain(spec, "test")


def all_skipped(spec: str) -> dict[str, str]:
    train, test = load_both(spec)
    return {**train.skipped, **test.skipped}


def assert_one_line(err: BaseException) -> None:
    text = str(err)
    assert text and "\n" not in text and "Traceback" not in text, text


def central_entry(data: bytes, name: str) -> int:
    """Offset of the central-directory entry for ``name``."""
    pos = data.index(b"PK\x01\x02")
    while True:
        n = struct.unpack("<H", data[pos + 28:pos + 30])[0]
        if data[pos + 46:pos + 46 + n] == name.encode():
            return pos
        pos = data.index(b"PK\x01\x02", pos + 4)


# --------------------------------------------------------------------------- damaged zips

def test_damaged_central_directory_is_one_domain_error(tmp_path):
    data = bytearray(write_zip(tmp_path / "a.zip", good_members()).read_bytes())
    first = data.index(b"PK\x01\x02")
    data[first:first + 4] = b"PK\x09\x09"
    bad = tmp_path / "bad-cd.zip"
    bad.write_bytes(bytes(data))
    with pytest.raises(DomainError, match="table of contents") as e:
        load_domain(f"zip:{bad}", "train")
    assert_one_line(e.value)


def test_missing_end_of_central_directory_is_one_domain_error(tmp_path):
    data = write_zip(tmp_path / "a.zip", good_members()).read_bytes()
    bad = tmp_path / "no-eocd.zip"
    bad.write_bytes(data.replace(b"PK\x05\x06", b"XX\x05\x06"))
    with pytest.raises(DomainError, match="not a readable zip") as e:
        load_domain(f"zip:{bad}", "train")
    assert_one_line(e.value)


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.1, 10])
def test_truncated_zip_is_one_domain_error(tmp_path, keep):
    data = write_zip(tmp_path / "a.zip", good_members()).read_bytes()
    bad = tmp_path / "cut.zip"
    bad.write_bytes(data[:int(len(data) * keep)] if keep < 1 else data[:keep])
    with pytest.raises(DomainError) as e:
        load_domain(f"zip:{bad}", "train")
    assert_one_line(e.value)


def test_bad_crc_skips_that_member(tmp_path):
    members = good_members()
    path = write_zip(tmp_path / "a.zip", members, zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    victim = "3/0.png"
    start = data.index(members[victim])  # stored: the bytes are there as is
    data[start + 40] ^= 0xFF             # inside the picture data, not its header
    path.write_bytes(bytes(data))
    skipped = all_skipped(f"zip:{path}")
    assert list(skipped) == [victim] and "CRC" in skipped[victim]
    train, test = load_both(f"zip:{path}")
    assert len(train) + len(test) == len(members) - 1


def test_broken_deflate_stream_skips_that_member(tmp_path):
    members = good_members()
    path = write_zip(tmp_path / "a.zip", members)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("7/1.png")
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    body = info.header_offset + 30 + name_len + extra_len
    data[body:body + info.compress_size] = bytes([0xFF]) * info.compress_size  # not a deflate stream
    path.write_bytes(bytes(data))
    skipped = all_skipped(f"zip:{path}")
    assert list(skipped) == ["7/1.png"] and "damaged zip member" in skipped["7/1.png"]


def test_member_claiming_a_gigabyte_is_skipped_without_reading(tmp_path):
    members = good_members()
    path = write_zip(tmp_path / "a.zip", members)
    data = bytearray(path.read_bytes())
    entry = central_entry(bytes(data), "3/2.png")
    data[entry + 24:entry + 28] = struct.pack("<I", 1 << 30)  # uncompressed size: 1 GB
    path.write_bytes(bytes(data))
    reads = []
    real_open = zipfile.ZipFile.open
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(zipfile.ZipFile, "open", lambda self, name, *a, **k: reads.append(
            getattr(name, "filename", name)) or real_open(self, name, *a, **k))
        skipped = all_skipped(f"zip:{path}")
    assert list(skipped) == ["3/2.png"] and "file too large: 1.0 GiB" in skipped["3/2.png"]
    assert "3/2.png" not in reads


def test_member_whose_stream_is_larger_than_it_claims_is_bounded(tmp_path):
    """A member declares 1 KB but its deflate stream inflates to 1 GB: at most the declared size is
    ever inflated (zipfile stops there and the CRC then fails), so memory stays small."""
    path = write_zip(tmp_path / "a.zip", good_members())
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(1 << 20)
    stream = b"".join(comp.compress(zeros) for _ in range(1024)) + comp.flush()  # 1 GB → ~1 MB
    name = b"7/bomb.png"
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, 0, len(stream), 1024, len(name), 0)
    with open(path, "rb") as f:
        data = f.read()
    eocd = data.rindex(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack("<II", data[eocd + 12:eocd + 20])
    body, cd = data[:cd_offset], data[cd_offset:cd_offset + cd_size]
    entry = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, 0, len(stream), 1024,
                        len(name), 0, 0, 0, 0, 0, len(body)) + name
    new_body = body + local + name + stream
    count = struct.unpack("<H", data[eocd + 10:eocd + 12])[0] + 1
    new_cd = cd + entry
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count, count, len(new_cd), len(new_body), 0)
    path.write_bytes(new_body + new_cd + end)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    skipped = all_skipped(f"zip:{path}")
    assert "7/bomb.png" in skipped, skipped
    assert time.perf_counter() - started < 20
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200, f"peak memory grew by {grown_mb:.0f} MB"


def test_zip_bomb_of_many_large_members_is_one_domain_error(tmp_path, monkeypatch):
    """Members that together declare more than MAX_ZIP_BYTES: refused as a whole, before inflating."""
    monkeypatch.setattr(folder_module, "MAX_ZIP_BYTES", 8 << 20)
    members = {f"{CLASSES[i % 2]}/{i}.png": bytes(1 << 20) for i in range(12)}  # 12 × 1 MB of zeros
    path = write_zip(tmp_path / "bomb.zip", members)
    assert path.stat().st_size < 100_000
    with pytest.raises(DomainError, match="too large when unpacked") as e:
        load_domain(f"zip:{path}", "train")
    assert_one_line(e.value)


def test_overlapping_entries_are_skipped(tmp_path):
    """Central-directory entries that all point at one member (the 'overlapping files' bomb): their
    names differ from the one local header, so each is named and skipped; the real one loads."""
    path = write_zip(tmp_path / "a.zip", good_members(3))
    data = path.read_bytes()
    eocd = data.rindex(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack("<II", data[eocd + 12:eocd + 20])
    first = central_entry(data, "3/0.png")
    n, m, k = struct.unpack("<HHH", data[first + 28:first + 34])
    template = data[first:first + 46 + n + m + k]
    copies = b"".join(template[:28] + struct.pack("<H", len(f"3/x{i}.png")) + template[30:46]
                      + f"3/x{i}.png".encode() + template[46 + n:] for i in range(20))
    new_cd = data[cd_offset:cd_offset + cd_size] + copies
    count = struct.unpack("<H", data[eocd + 10:eocd + 12])[0] + 20
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count, count, len(new_cd), cd_offset, 0)
    path.write_bytes(data[:cd_offset] + new_cd + end)
    skipped = all_skipped(f"zip:{path}")
    assert len(skipped) == 20 and all("damaged zip member" in why for why in skipped.values())
    train, test = load_both(f"zip:{path}")
    assert len(train) + len(test) == 6


def test_weird_member_paths_are_named_and_the_rest_loads(tmp_path):
    members = good_members(3)
    weird = {"../3/up.png": png(1), "/abs/3/a.png": png(2), "3\\back.png": png(3), "3/./dot.png": png(4),
             "3//double.png": png(5), "C:/3/drive.png": png(6), "3/new\nline.png": png(7)}
    deep = {"7/" + "/".join(["d"] * 40) + "/deep.png": png(8)}
    path = write_zip(tmp_path / "weird.zip", {**members, **weird, **deep})
    train, test = load_both(f"zip:{path}")
    named = {**train.skipped, **test.skipped}
    for name in ("../3/up.png", "/abs/3/a.png", "3\\back.png", "3/./dot.png", "3//double.png", "C:/3/drive.png"):
        assert "unsafe path" in named[name], (name, named)
    assert len(train) + len(test) == 6 + 2  # the newline name and the deep one are just files
    assert train.classes == ["3", "7"]
    for name in named:
        assert "\n" not in name


def test_encrypted_member_is_skipped(tmp_path):
    path = write_zip(tmp_path / "a.zip", good_members(), zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    for offset in (data.index(b"PK\x03\x04"), central_entry(bytes(data), "3/0.png")):
        flag_at = offset + (6 if data[offset + 2:offset + 4] == b"\x03\x04" else 8)
        data[flag_at] |= 0x1
    path.write_bytes(bytes(data))
    assert all_skipped(f"zip:{path}") == {"3/0.png": "encrypted zip member"}


def test_a_zip_with_nothing_readable_is_one_domain_error(tmp_path):
    path = write_zip(tmp_path / "junk.zip", {f"{c}/{i}.png": b"not a png" for c in CLASSES for i in range(3)})
    with pytest.raises(DomainError, match="could be read") as e:
        load_domain(f"zip:{path}", "train")
    assert_one_line(e.value)


def test_not_a_zip_and_a_device_are_one_domain_error(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"hello")
    for spec in (f"zip:{tmp_path / 'x.zip'}", "zip:/dev/null", "folder:", f"folder:{tmp_path / ('n' * 300)}"):
        with pytest.raises(DomainError) as e:
            load_domain(spec, "train")
        assert_one_line(e.value)


# --------------------------------------------------------------------------- folders

def test_sparse_three_gigabyte_png_is_skipped_without_reading(tmp_path):
    root = write_folder(tmp_path / "d", good_members())
    with open(root / "3" / "huge.png", "wb") as f:
        f.truncate(3 << 30)  # sparse: costs no disk
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    skipped = all_skipped(f"folder:{root}")
    assert time.perf_counter() - started < 10
    assert skipped == {"3/huge.png": f"file too large: 3.0 GiB (limit {MAX_BYTES >> 20} MiB)"}
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 100


def test_a_file_that_grows_past_the_limit_while_read_is_cut(tmp_path, monkeypatch):
    """Whatever stat said, at most limit + 1 bytes are read."""
    root = write_folder(tmp_path / "d", good_members())
    real_fstat = os.fstat
    monkeypatch.setattr(folder_module.os, "fstat", lambda fd: os.stat_result(
        (*real_fstat(fd)[:6], 10, *real_fstat(fd)[7:])))  # every file claims 10 bytes
    monkeypatch.setattr("core.imageio.MAX_BYTES", 100)
    reads = []
    real_read = os.read
    monkeypatch.setattr(folder_module.os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    with pytest.raises(DomainError, match="grew while being read"):
        load_domain(f"folder:{root}", "train")
    assert max(reads) <= 101


def test_unreadable_file_is_skipped(tmp_path):
    root = write_folder(tmp_path / "d", good_members())
    locked = root / "7" / "0.png"
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as root: chmod 000 does not stop reading (see the monkeypatched test)")
        assert all_skipped(f"folder:{root}") == {"7/0.png": "permission denied"}
    finally:
        locked.chmod(0o644)


def test_permission_denied_and_vanished_files_are_skipped(tmp_path, monkeypatch):
    """The same without relying on file modes (root reads anything): os.open refuses one file, and
    another disappears between listing and reading."""
    root = write_folder(tmp_path / "d", good_members())
    real_open = os.open

    def fake_open(path, flags, *args):
        if str(path).endswith("3/1.png"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args)

    real_entries = folder_module._folder_entries

    def entries_then_delete(*args):
        out = real_entries(*args)
        (root / "7" / "0.png").unlink(missing_ok=True)
        return out

    monkeypatch.setattr(folder_module.os, "open", fake_open)
    monkeypatch.setattr(folder_module, "_folder_entries", entries_then_delete)
    skipped = all_skipped(f"folder:{root}")
    assert skipped == {"3/1.png": "permission denied", "7/0.png": "the file vanished while the folder was read"}


def test_unlistable_folder_is_named(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "d", good_members())
    (root / "7" / "locked").mkdir()
    real_scandir = os.scandir

    def fake_scandir(path="."):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", fake_scandir)
    train = load_domain(f"folder:{root}", "train")
    assert train.skipped == {"7/locked/": "folder cannot be read: permission denied"}


def test_symbolic_links_are_never_followed(tmp_path):
    """One rule with checkpoints (core.util.files.read_bounded): a link is skipped and named wherever
    it points — outside, inside, nowhere — and a linked folder is never entered."""
    root = write_folder(tmp_path / "d", good_members())
    outside = tmp_path / "secret"
    write_folder(outside, {"3/s.png": png(9), "7/t.png": png(9)})
    (root / "3" / "leak.png").symlink_to(outside / "3" / "s.png")             # a file outside
    (root / "3" / "passwd.png").symlink_to("/etc/passwd")                     # a system file
    (root / "3" / "inside.png").symlink_to(root / "7" / "0.png")              # a file inside
    (root / "3" / "dangling.png").symlink_to(root / "nowhere.png")
    (root / "9").symlink_to(outside / "7", target_is_directory=True)          # a folder outside
    (root / "7" / "loop").symlink_to(root, target_is_directory=True)          # a loop
    train, test = load_both(f"folder:{root}")
    named = {**train.skipped, **test.skipped}
    links = ("3/leak.png", "3/passwd.png", "3/inside.png", "3/dangling.png")
    assert {named[k] for k in links} == {"symbolic link: not followed"}
    assert named["9/"] == named["7/loop/"] == "symbolic link to a folder: not followed"
    assert train.classes == ["3", "7"] and len(train) + len(test) == 10


def test_symlink_swapped_in_after_the_folder_was_listed_is_refused(tmp_path, monkeypatch):
    """A regular file when the folder was listed, a link to a file outside by the time it is opened:
    the kernel refuses the link at open (O_NOFOLLOW), so nothing outside is read."""
    root = write_folder(tmp_path / "d", good_members())
    outside = tmp_path / "secret.png"
    outside.write_bytes(png(9))
    swapped = root / "3" / "swap.png"
    swapped.write_bytes(png(1))
    real_open = os.open

    def swap_then_open(path, flags, *args, **kw):
        if str(path).endswith("swap.png"):
            swapped.unlink()
            swapped.symlink_to(outside)
        return real_open(path, flags, *args, **kw)

    monkeypatch.setattr(os, "open", swap_then_open)
    assert all_skipped(f"folder:{root}") == {"3/swap.png": "symbolic link: not followed"}


def test_fifo_and_weird_names_in_a_folder(tmp_path):
    root = write_folder(tmp_path / "d", good_members())
    os.mkfifo(root / "3" / "pipe.png")                      # would block a plain open()
    (root / "7" / "tab\there.png").write_bytes(png(1))      # an odd but fine name
    bad_class = os.fsencode(root) + b"/\xff\xfe"            # a class folder that is not UTF-8
    os.mkdir(bad_class)
    with open(bad_class + b"/a.png", "wb") as f:
        f.write(png(2))
    started = time.perf_counter()
    train, test = load_both(f"folder:{root}")
    assert time.perf_counter() - started < 10
    named = {**train.skipped, **test.skipped}
    assert named["3/pipe.png"] == "not a regular file"
    assert named["\\xff\\xfe/a.png"].startswith("the class folder's name is not valid text")
    assert train.classes == ["3", "7"] and len(train) + len(test) == 11
    for name in named:
        assert name.isprintable()


def test_a_folder_with_nothing_readable_is_one_domain_error(tmp_path):
    root = tmp_path / "d"
    for cls in CLASSES:
        (root / cls).mkdir(parents=True)
        (root / cls / "a.png").symlink_to("/etc/passwd")
    with pytest.raises(DomainError, match="could be read") as e:
        load_domain(f"folder:{root}", "train")
    assert_one_line(e.value)


def test_too_many_entries_is_one_domain_error(tmp_path, monkeypatch):
    monkeypatch.setattr(folder_module, "MAX_WALK", 50)
    root = write_folder(tmp_path / "d", {f"{CLASSES[i % 2]}/{i}.png": b"x" for i in range(60)})
    with pytest.raises(DomainError, match="too many files") as e:
        load_domain(f"folder:{root}", "train")
    assert_one_line(e.value)


# --------------------------------------------------------------------------- through the CLI

def run_cli(argv):
    from core import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def checkpoint():
    path = Path(__file__).resolve().parents[3] / "pretrained" / "mnist-mnistm" / "source_only"
    if not (path / "card.json").exists():
        pytest.skip("needs the shipped zoo (pretrained/)")
    return str(path)


def test_cli_eval_counts_and_names_skipped_files(tmp_path, checkpoint):
    root = write_folder(tmp_path / "d", good_members())
    (root / "3" / "00-broken.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    (root / "3" / "01-link.png").symlink_to("/etc/passwd")
    code, out, err = run_cli(["eval", "--checkpoint", checkpoint, "--domain", f"folder:{root}", "--split", "train"])
    assert code == 0, err
    assert "skipped 3/00-broken.png: image is truncated or corrupt" in out
    assert "skipped 3/01-link.png: symbolic link: not followed" in out
    code, out, err = run_cli(["eval", "--checkpoint", checkpoint, "--domain", f"folder:{root}", "--split", "train",
                              "--json"])
    assert code == 0 and '"skipped": 2' in out


@pytest.mark.parametrize("make", ["damaged_cd", "nothing_readable", "not_a_zip"])
def test_cli_fails_with_one_error_line(tmp_path, checkpoint, make):
    path = tmp_path / "d.zip"
    if make == "damaged_cd":
        data = bytearray(write_zip(path, good_members()).read_bytes())
        data[data.index(b"PK\x01\x02") + 2] = 0x09
        path.write_bytes(bytes(data))
    elif make == "nothing_readable":
        write_zip(path, {f"{c}/a.png": b"nope" for c in CLASSES})
    else:
        path.write_bytes(b"PK\x03\x04 not really")
    code, out, err = run_cli(["eval", "--checkpoint", checkpoint, "--domain", f"zip:{path}"])
    lines = err.splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err


# --------------------------------------------------------------------------- listing for streaming

def test_listed_readers_are_picklable_and_keep_their_checks(tmp_path):
    """list_image_folder's readers go to DataLoader workers of a streamed domain: they pickle, read
    the same bytes in the copy (a zip is reopened there) and refuse what the resident loader refuses,
    as an OSError (``Unreadable``)."""
    import pickle

    from core.data.folder import Unreadable, list_image_folder

    members = good_members(3)
    root = write_folder(tmp_path / "d", members)
    (root / "3" / "out.png").symlink_to("/etc/passwd")
    zpath = write_zip(tmp_path / "d.zip", members)
    for spec in (f"folder:{root}", f"zip:{zpath}"):
        opened: list = []
        path, entries, classes = list_image_folder(spec.split(":", 1)[1], "train", zf_holder=opened)
        assert classes == ["3", "7"]
        for name, cls, read in entries:
            copy = pickle.loads(pickle.dumps(read))
            if name == "3/out.png":
                with pytest.raises(Unreadable, match="symbolic link: not followed"):
                    copy()
                assert isinstance(Unreadable("x"), OSError)
            else:
                assert copy() == members[name] == read()
        for zf in opened:
            zf.close()
        if opened:  # the original reader reopens its zip once the holder closed it
            assert entries[0][2]() == members[entries[0][0]]
    assert list_image_folder(str(zpath), "train", max_zip_bytes=None)[1]  # a streamed zip: no total cap
