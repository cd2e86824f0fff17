"""Custom domains from an ImageFolder layout (``ROOT/<class>/<image>``) or a zip of one.

If ``ROOT/train`` and ``ROOT/test`` exist they are the splits; otherwise each class is split 80/20
deterministically (file names sorted by their path components). A zip may wrap everything in one
top-level folder. Every picture goes through :func:`core.imageio.read_image_bounded` (the bounded
form of the one ingest door, also used for uploads) and :func:`core.imageio.image_to_tensor`.

What a careless or hostile folder or zip cannot do:

* **Make us read more than** :data:`~core.imageio.MAX_BYTES` **of a file.** Its size is checked
  before reading (``fstat`` of the opened file; ``ZipInfo.file_size`` for a member), and at most
  that limit + 1 bytes are read whatever the header claims — a sparse 3 GB ``.png`` or a zip
  member that lies about its size. The members of a zip may together declare at most
  :data:`MAX_ZIP_BYTES`, and its table of contents may take at most
  :data:`MAX_CENTRAL_DIRECTORY` bytes (each entry costs memory when the zip is opened).
* **Crash the load.** A file that cannot be read — permission denied, vanished, not a regular
  file, too large, not a picture; in a zip also a bad CRC, a broken deflate stream, a local header
  that does not match, an encrypted or unsupported member — is skipped and named in
  ``TensorDomain.skipped`` with the reason (by the split it belongs to; what belongs to no split,
  like an unsafe zip path or a folder that cannot be listed, is named in the train split). Only
  when nothing readable is left does the load fail: one :class:`DomainError` line. A zip whose
  central directory cannot be read (damaged, truncated, not a zip) is one DomainError.
* **Reach outside its folder.** A symbolic link is never followed — to a file (refused by the
  kernel when the file is opened, ``O_NOFOLLOW``, so a link swapped in after the folder was listed
  is refused too) or to a folder (never entered): each is skipped and named, and the walk cannot
  loop or leave the tree. The same rule as a checkpoint's files (:func:`core.util.files.read_bounded`,
  the one bounded reader): a link that stays inside would need a resolved-path check between
  listing and reading, a window in which it can be swapped; a folder of links is copied with
  ``cp -L`` or zipped. On Linux the opened file's path is checked to lie inside ``ROOT`` too (a
  parent folder swapped for a link). Hidden files and folders (``.name``) are ignored. Zip member paths go
  through :func:`core.util.files.safe_member_path`: absolute paths, ``..``, backslashes and NUL are
  skipped and named (nothing is ever extracted to disk).
* **Walk forever.** At most :data:`MAX_WALK` directory entries are looked at and folders deeper
  than :data:`MAX_DEPTH` are not entered.

:func:`list_image_folder` lists a split without reading a picture (its readers are picklable, for
a streamed domain's DataLoader workers, and keep every check above); :func:`load_image_folder`
decodes it whole into a resident :class:`TensorDomain`. Both see the same files, labels and splits.

Names in ``skipped`` are made printable (control characters and undecodable bytes escaped), so a
file called ``"a\\nb.png"`` cannot break a one-line message. Class folders whose name is not valid
text are skipped with their files.
"""

from __future__ import annotations

import os
import stat
import unicodedata
import zipfile
from pathlib import Path, PurePosixPath
from typing import Callable

import torch

from ..util.files import ReadRefused, read_bounded, safe_member_path
from ..util.sizes import format_bytes
from .base import DomainError, TensorDomain

MAX_FILES = 50_000
MAX_ZIP_BYTES = 1 << 30          # uncompressed, all image members together, as the zip declares them
MAX_CENTRAL_DIRECTORY = 8 << 20  # bytes of a zip's table of contents (~50,000 entries with long names)
MAX_WALK = 500_000               # directory entries looked at in a folder
MAX_DEPTH = 32                   # folder levels below ROOT
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}

Entry = tuple[str, str, Callable[[], bytes]]  # (relative path, class, read the bytes or raise Unreadable)


class Unreadable(OSError):
    """A file that is left out; ``str(error)`` says why. An OSError, so code that reads entries and
    already expects files to vanish (a streamed domain) treats it alike."""


def _is_image_name(name: str) -> bool:
    base = PurePosixPath(name).name
    return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES and not base.startswith(".")


def printable(name: str) -> str:
    """``name`` with undecodable bytes and control characters escaped (``\\n``, ``\\udcff`` …)."""
    try:
        text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # surrogates that are not escaped bytes
        text = name.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if unicodedata.category(c)[0] != "C" else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def _valid_text(name: str) -> bool:
    return name == printable(name)


def _path_key(rel: str) -> list[str]:
    """Sort key: path components, as sorted(Path.rglob()) ordered files before (so the 80/20 split
    of a folder stays what it was)."""
    return rel.split("/")


def _reason(err: BaseException) -> str:
    if isinstance(err, PermissionError):
        return "permission denied"
    if isinstance(err, FileNotFoundError):
        return "the file vanished while the folder was read"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror[0].lower() + err.strerror[1:]
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 200 else text[:197] + "..."


# --------------------------------------------------------------------------- folders

def _read_file(path: str, root_real: str, limit: int) -> bytes:
    """The bytes of ``path`` (at most ``limit``), or :class:`Unreadable` saying why not
    (:func:`core.util.files.read_bounded`: a symbolic link is never followed)."""
    try:
        return read_bounded(path, limit, inside=root_real)
    except OSError as e:
        raise Unreadable(str(e) if isinstance(e, ReadRefused) else _reason(e)) from None


class FileReader:
    """Reads one file of a folder domain (see :func:`_read_file`); picklable, so a DataLoader
    worker of a streamed domain can call it."""

    def __init__(self, path: str, root_real: str, limit: int):
        self.path, self.root_real, self.limit = path, root_real, limit

    def __call__(self) -> bytes:
        return _read_file(self.path, self.root_real, self.limit)


def _folder_entries(root: Path, limit: int) -> tuple[list[Entry], dict[str, str]]:
    """(relative path, class, read) for each image file under ``root``, and what was left out
    while walking (folders that cannot be listed, linked folders, too deep)."""
    root_real = os.path.realpath(root)
    entries: list[Entry] = []
    skipped: dict[str, str] = {}
    seen = 0

    def unlistable(err: OSError) -> None:
        rel = os.path.relpath(err.filename, root) if err.filename else "?"
        skipped[printable(Path(rel).as_posix()) + "/"] = f"folder cannot be read: {_reason(err)}"

    for folder, dirs, files in os.walk(root, onerror=unlistable, followlinks=False):
        rel_folder = Path(os.path.relpath(folder, root))
        depth = len(rel_folder.parts)  # Path(".").parts == ()
        seen += len(dirs) + len(files)
        if seen > MAX_WALK:
            raise DomainError(f"{str(root)!r} holds too many files and folders (looked at {MAX_WALK:,}; "
                              f"at most {MAX_FILES:,} images are loaded)")
        for d in list(dirs):
            rel = (rel_folder / d).as_posix()
            if d.startswith("."):
                dirs.remove(d)
            elif os.path.islink(os.path.join(folder, d)):
                dirs.remove(d)
                skipped[printable(rel) + "/"] = "symbolic link to a folder: not followed"
            elif depth + 1 > MAX_DEPTH:
                dirs.remove(d)
                skipped[printable(rel) + "/"] = f"nested deeper than {MAX_DEPTH} folders: not read"
        dirs.sort()
        if depth == 0:
            continue  # files directly in ROOT belong to no class
        for name in files:
            if not _is_image_name(name):
                continue
            rel = (rel_folder / name).as_posix()
            path = os.path.join(folder, name)
            entries.append((rel, rel.split("/", 1)[0], FileReader(path, root_real, limit)))
    entries.sort(key=lambda e: _path_key(e[0]))
    return entries, skipped


# --------------------------------------------------------------------------- zips

def _open_zip(path: Path) -> zipfile.ZipFile:
    """Open a zip after checking its table of contents is of a sane size; DomainError otherwise."""
    what = f"{str(path)!r} is not a readable zip file"
    try:
        with open(path, "rb") as f:
            end = zipfile._EndRecData(f)  # the end-of-central-directory record (zip64 aware)
        if end is None:
            raise DomainError(f"{what}: its table of contents (central directory) is missing — "
                              "damaged, truncated, or not a zip")
        if end[zipfile._ECD_SIZE] > MAX_CENTRAL_DIRECTORY:
            raise DomainError(f"{what}: its table of contents takes {format_bytes(end[zipfile._ECD_SIZE])} "
                              f"(limit {format_bytes(MAX_CENTRAL_DIRECTORY, trim=True)}, about {MAX_FILES:,} files)")
        return zipfile.ZipFile(path)
    except DomainError:
        raise
    except Exception as e:  # noqa: BLE001 - BadZipFile, OSError, struct/zlib errors …: one line
        raise DomainError(f"{what}: its table of contents (central directory) is damaged ({_reason(e)})") from None


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """A member's bytes (at most ``limit``), or :class:`Unreadable` saying why not."""
    if info.flag_bits & 0x1:
        raise Unreadable("encrypted zip member")
    if info.file_size > limit:
        raise Unreadable(f"file too large: {format_bytes(info.file_size)} (limit {format_bytes(limit, trim=True)})")
    try:
        with zf.open(info) as f:
            data = f.read(limit + 1)
    except zipfile.BadZipFile as e:
        raise Unreadable(f"damaged zip member: {_reason(e)}") from None
    except Exception as e:  # noqa: BLE001 - zlib.error, EOFError, NotImplementedError, OSError …
        raise Unreadable(f"damaged zip member: {type(e).__name__}: {_reason(e)}") from None
    if len(data) > limit:
        raise Unreadable(f"file too large: over {format_bytes(limit, trim=True)} (the zip declares {format_bytes(info.file_size)})")
    return data


class ZipMember:
    """Reads one member of a zip (see :func:`_read_member`): ``ZipMember(path, info, zf, limit)()``
    → bytes. Uses ``zf`` in the process that opened it; elsewhere (a DataLoader worker, a pickled
    copy) each process opens the zip once, with the same checks, and keeps it open."""

    _opened: dict[tuple[int, str], zipfile.ZipFile] = {}

    def __init__(self, path, info: zipfile.ZipInfo, zf: zipfile.ZipFile | None = None, limit: int | None = None):
        from ..imageio import MAX_BYTES

        self.path, self.info, self.zf, self.pid = str(path), info, zf, os.getpid()
        self.limit = MAX_BYTES if limit is None else limit

    def __getstate__(self):
        return {**self.__dict__, "zf": None, "pid": None}

    def __call__(self) -> bytes:
        zf = self.zf if self.zf is not None and self.zf.fp is not None and self.pid == os.getpid() else None
        if zf is None:
            key = (os.getpid(), self.path)
            zf = self._opened.get(key)
            if zf is None:
                try:
                    zf = self._opened[key] = _open_zip(Path(self.path))
                except DomainError as e:
                    raise Unreadable(str(e)) from None
        return _read_member(zf, self.info, self.limit)


def _zip_entries(zf: zipfile.ZipFile, limit: int, max_zip_bytes: int | None,
                 ) -> tuple[list[Entry], dict[str, str]]:
    """Entries of a zip's pictures and what was left out; ``max_zip_bytes`` (None: no limit) caps
    what the members that would be read declare together."""
    infos = [i for i in zf.infolist() if not i.is_dir() and _is_image_name(i.filename)]
    skipped: dict[str, str] = {}
    safe = []
    for info in infos:
        rel = safe_member_path(info.filename)
        if rel is None:
            skipped[printable(info.filename)] = "unsafe path in the zip ('..', absolute, backslash or NUL): not read"
        elif any(p.startswith(".") for p in rel.parts):
            continue  # hidden, as in folders
        else:
            safe.append((rel.parts, info))
    if max_zip_bytes is not None and sum(i.file_size for _, i in safe if i.file_size <= limit) > max_zip_bytes:
        raise DomainError(f"zip too large when unpacked (its images declare more than {format_bytes(max_zip_bytes, trim=True)})")
    # allow one wrapping top-level folder: ROOT/<class>/<file> or <class>/<file>
    if safe and all(len(p) >= 3 for p, _ in safe) and len({p[0] for p, _ in safe}) == 1:
        safe = [(p[1:], i) for p, i in safe]
    entries = [("/".join(p), p[0], ZipMember(zf.filename, i, zf, limit)) for p, i in safe if len(p) >= 2]
    entries.sort(key=lambda e: _path_key(e[0]))
    return entries, skipped


# --------------------------------------------------------------------------- splits and loading

def _pick_split(entries: list[Entry], split: str) -> list[Entry]:
    """Use explicit train/ and test/ folders if present, else a deterministic 80/20 split per class."""
    tops = {e[1] for e in entries}
    if {"train", "test"} <= tops:
        chosen = [e for e in entries if e[1] == split]
        return [(e[0].split("/", 1)[1], e[0].split("/")[1], e[2]) for e in chosen if e[0].count("/") >= 2]
    by_class: dict[str, list] = {}
    for e in entries:
        by_class.setdefault(e[1], []).append(e)
    out = []
    for items in by_class.values():
        n_test = max(1, len(items) // 5) if len(items) > 1 else 0
        out += items[len(items) - n_test:] if split == "test" else items[:len(items) - n_test]
    return out


_LIMIT = object()  # "the module's limit, as it is when called"


def list_image_folder(spec: str, split: str, max_files: int | object = _LIMIT,
                      max_zip_bytes: int | None | object = _LIMIT, zf_holder: list | None = None,
                      skipped: dict[str, str] | None = None) -> tuple[Path, list[Entry], list[str]]:
    """``(path, entries, classes)`` of one split, without reading a picture: each entry is
    (relative name, class name, read-bytes callable — picklable, raising :class:`Unreadable`).
    ``zf_holder`` (a list) receives the open ZipFile of a zip so the caller can close it (the
    readers reopen it per process when it is closed); ``skipped`` (a dict) receives, for the train
    split, what was left out while listing (unsafe zip paths, linked or unlistable folders, class
    folders whose name is not text). ``max_files`` / ``max_zip_bytes`` default to :data:`MAX_FILES`
    / :data:`MAX_ZIP_BYTES`; ``max_zip_bytes=None`` lifts the zip's total limit (a streamed domain
    reads members one at a time). DomainError (one line) when nothing can be listed."""
    from ..imageio import MAX_BYTES

    max_files = MAX_FILES if max_files is _LIMIT else max_files
    max_zip_bytes = MAX_ZIP_BYTES if max_zip_bytes is _LIMIT else max_zip_bytes
    path, kind = check_folder_spec(spec)
    if kind == "folder":
        entries, left_out = _folder_entries(path, MAX_BYTES)
    else:
        zf = _open_zip(path)
        if zf_holder is not None:
            zf_holder.append(zf)
        entries, left_out = _zip_entries(zf, MAX_BYTES, max_zip_bytes)
    if len(entries) > max_files:
        raise DomainError(f"too many images ({len(entries)}; limit {max_files})")
    for rel, cls, _ in entries:
        if not _valid_text(cls):
            left_out[printable(rel)] = "the class folder's name is not valid text (rename it)"
    entries = [e for e in entries if _valid_text(e[1])]
    classes = sorted({e[1] for s in ("train", "test") for e in _pick_split(entries, s)})
    chosen = _pick_split(entries, split)
    if not chosen:
        raise DomainError(f"no images found in {str(path)!r} for split {split!r}; "
                          "expected ROOT/<class name>/<image files>"
                          + (f" ({len(left_out)} entries skipped, e.g. {_first(left_out)})" if left_out else ""))
    if skipped is not None and split == "train":  # named once, with the train split
        skipped.update(left_out)
    return path, chosen, classes


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    """A float picture in [0, 1] from :func:`core.imageio.image_to_tensor` → uint8, as stored
    (lossless: image_to_tensor gives multiples of 1/255)."""
    return image.mul(255).round_().to(torch.uint8)


def load_image_folder(spec: str, split: str, size: int = 28) -> TensorDomain:
    """One split of ``folder:PATH`` / ``zip:PATH`` as a resident :class:`TensorDomain` (see the
    module docstring for what is read, what is skipped and named, and what fails)."""
    from ..imageio import BadImage, image_to_tensor, read_image_bounded

    opened: list = []
    skipped: dict[str, str] = {}
    try:
        path, chosen, classes = list_image_folder(spec, split, zf_holder=opened, skipped=skipped)
        images, labels = [], []
        for name, cls, read in chosen:
            try:
                img = read_image_bounded(read(), size)
            except (Unreadable, BadImage) as err:
                skipped[printable(name)] = str(err)
                continue
            # uint8 per picture: the list holds a quarter of the float32 bytes while the split is decoded
            images.append(to_uint8(image_to_tensor(img, size)))
            labels.append(classes.index(cls))
        if not images:
            raise DomainError(f"none of the {len(chosen)} images in {str(path)!r} ({split}) could be read, "
                              f"e.g. {_first(skipped)}")
    finally:
        for zf in opened:
            zf.close()
    return TensorDomain(f"folder:{path}", split, torch.stack(images), torch.tensor(labels), classes, skipped)


def check_folder_spec(spec: str) -> tuple[Path, str]:
    """``(path, "folder" | "zip")`` for the PATH of ``folder:PATH`` / ``zip:PATH``, checked without
    reading any picture: it exists, and is a folder or a zip whose table of contents is sane.
    DomainError (one line) otherwise."""
    if not isinstance(spec, str) or not spec.strip():
        raise DomainError("folder: and zip: need a path, e.g. folder:/data/digits")
    path = Path(spec).expanduser()
    try:
        mode = path.stat().st_mode
    except OSError as e:
        raise DomainError(f"no such folder or zip: {str(path)!r}"
                          + ("" if isinstance(e, FileNotFoundError) else f" ({_reason(e)})")) from None
    if stat.S_ISDIR(mode):
        return path, "folder"
    if not stat.S_ISREG(mode) or not _looks_like_zip(path):
        raise DomainError(f"{str(path)!r} is neither a folder nor a zip file")
    _open_zip(path).close()
    return path, "zip"


def _looks_like_zip(path: Path) -> bool:
    """A zip by its name or its first bytes (a damaged zip still gets a zip's error message)."""
    if path.suffix.lower() == ".zip":
        return True
    try:
        with open(path, "rb") as f:
            return f.read(4) in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08") or zipfile.is_zipfile(f)
    except OSError:
        return False


def _first(skipped: dict[str, str]) -> str:
    name, why = next(iter(skipped.items()), ("?", "?"))
    return f"{name}: {why}"
