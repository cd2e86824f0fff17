"""File-system helpers every writer shares: atomic files, atomic folder swaps that a killed process
can never lose, "is this folder ours" checks, clean-up of what killed writers left, and the one
check that a path from an archive stays inside it.

Folder swap (checkpoints, zoo models)::

    write everything into   .NAME.tmp-PID-RAND/      (a sibling; fsynced)
    rename  NAME      ->    NAME.old                 (only if NAME exists and is ours)
    rename  .NAME.tmp-…  -> NAME
    delete  NAME.old

Readers that find no ``NAME`` read ``NAME.old`` (:func:`resolve_swapped`); a process killed between
the two renames leaves ``NAME.old``, which :func:`recover_swap` (called before every swap and by
the zoo rebuild) renames back. Temporary folders of dead writers are removed by
:func:`clean_dead_temps`.

Bounded reads (:func:`read_bounded`) are the one way a file from outside is read — a picture of a
folder domain, a checkpoint's weights and card: its size is checked before reading and at most
``limit`` + 1 bytes are read whatever it claims, a FIFO or device is refused without blocking, and
**a symbolic link is never followed**. The kernel refuses the link when the file is opened
(``O_NOFOLLOW``), so there is no moment between a check and the read in which a link can be swapped
in, and no rule about where a link may point to get wrong; a folder of links can be copied with
``cp -L`` or zipped. Linked folders are not entered either (the folder walk's rule).
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import stat
from pathlib import Path, PurePosixPath

from .sizes import format_bytes

OLD_SUFFIX = ".old"


def fsync_dir(path: Path) -> None:
    """fsync a directory so renames inside it survive a crash (a no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def write_synced(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and fsync it (not atomic by itself; see :func:`write_atomic`)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def temp_sibling(path: Path) -> Path:
    """``.NAME.tmp-PID-RAND`` beside ``path``: a name only this process uses."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")


def write_atomic(path: Path, data: bytes) -> Path:
    """Replace ``path`` by a file holding ``data``: readers see the old or the new file, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_dead_temps(path)
    tmp = temp_sibling(path)
    try:
        write_synced(tmp, data)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def json_bytes(obj) -> bytes:
    """Strict JSON (no NaN/Infinity: ValueError), indented, UTF-8, with a final newline."""
    return (json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def write_json_atomic(path: Path, obj) -> Path:
    """:func:`write_atomic` of ``obj`` as strict JSON."""
    return write_atomic(Path(path), json_bytes(obj))


def owned_dir(path: Path, allowed: set[str] | frozenset[str]) -> bool:
    """Whether ``path`` is a real folder (no symlink) holding only regular files named in ``allowed``:
    the one test of "this folder is ours to replace or delete"."""
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        return False
    try:
        return all(e.name in allowed and e.is_file(follow_symlinks=False) for e in os.scandir(path))
    except OSError:
        return False


def old_of(path: Path) -> Path:
    return path.with_name(path.name + OLD_SUFFIX)


def resolve_swapped(path: Path) -> Path | None:
    """``path`` if it is a folder, else its ``NAME.old`` left by a swap caught in the middle, else None."""
    path = Path(path)
    if path.is_dir():
        return path
    old = old_of(path)
    return old if old.is_dir() and not path.exists() else None


def recover_swap(path: Path, allowed: set[str] | frozenset[str]) -> bool:
    """Undo a swap that was killed between its two renames: ``NAME`` missing and ``NAME.old`` ours →
    rename it back. A complete ``NAME`` with a left-over ``NAME.old`` → delete the old one. Returns
    whether something was restored."""
    path = Path(path)
    old = old_of(path)
    if not owned_dir(old, allowed):
        return False
    if not path.exists() and not path.is_symlink():
        os.rename(old, path)
        fsync_dir(path.parent)
        return True
    if owned_dir(path, allowed):
        shutil.rmtree(old, ignore_errors=True)
    return False


def swap_dir_in(staging: Path, final: Path, allowed: set[str] | frozenset[str]) -> Path:
    """Replace folder ``final`` by the complete folder ``staging`` (see the module docstring).

    Refuses (ValueError) to replace a ``final`` or ``final.old`` that is not ours (see
    :func:`owned_dir`): nothing of a user's is ever renamed or deleted.
    """
    final = Path(final)
    old = old_of(final)
    recover_swap(final, allowed)
    for existing in (final, old):
        if (existing.exists() or existing.is_symlink()) and not owned_dir(existing, allowed):
            raise ValueError(f"{existing} exists and holds files ShiftLab did not write "
                             f"(only {', '.join(sorted(allowed))}); refusing to replace it")
    fsync_dir(staging)
    if final.exists():
        if old.exists():
            shutil.rmtree(old)
        os.rename(final, old)
        # <- the one window without `final`: readers use NAME.old, recover_swap restores it
    os.rename(staging, final)
    fsync_dir(final.parent)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
    return final


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: alive
        return True
    return True


def clean_dead_temps(path: Path) -> None:
    """Remove ``.NAME.tmp-PID-*`` siblings of ``path`` whose writer process is gone (POSIX)."""
    if os.name != "posix":
        return
    path = Path(path)
    prefix = f".{path.name}.tmp-"
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        pid = entry.name[len(prefix):].split("-", 1)[0]
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            Path(entry.path).unlink(missing_ok=True)


def clean_dead_workdirs(root: Path, prefix: str) -> int:
    """Remove ``root/PREFIX<pid>-*`` folders whose process is gone (temp work folders of killed
    runs); returns how many went."""
    removed = 0
    try:
        entries = list(os.scandir(root))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(prefix) or not entry.is_dir(follow_symlinks=False):
            continue
        pid = entry.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
    return removed


def safe_member_path(name: str) -> PurePosixPath | None:
    """The relative path of an archive member, or None when it could escape the archive's folder
    (absolute, drive letters, ``..``, backslashes, NUL): the one zip-path check."""
    if not isinstance(name, str) or not name or "\x00" in name or "\\" in name:
        return None
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    parts = [p for p in name.rstrip("/").split("/")]
    if any(p in ("", ".", "..") for p in parts):
        return None
    return PurePosixPath(*parts)


class ReadRefused(OSError):
    """A bounded read refused the file; the message says why in a few words ("symbolic link: not
    followed", "not a regular file", "file too large: 3.0 GiB (limit 20 MiB)")."""


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_READ_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
               | _NOFOLLOW)
LINK_REFUSED = "symbolic link: not followed"


def read_bounded(path, limit: int, *, dir_fd: int | None = None, inside: str | None = None) -> bytes:
    """The bytes of the regular file ``path`` (relative to ``dir_fd`` when given), at most ``limit``.

    :class:`ReadRefused` for a symbolic link (never followed, see the module docstring), anything but
    a regular file, a file over ``limit`` (checked before reading and while reading), and — with
    ``inside`` (a resolved folder) where ``/proc/self/fd`` exists — a file whose opened path lies
    outside that folder (a parent folder swapped for a link after it was listed). Other OSErrors
    (missing, permission denied) pass through.
    """
    if not _NOFOLLOW and dir_fd is None and os.path.islink(path):
        raise ReadRefused(LINK_REFUSED)  # no O_NOFOLLOW (Windows, where dir_fd is not supported either)
    try:
        fd = os.open(path, _READ_FLAGS, dir_fd=dir_fd) if dir_fd is not None else os.open(path, _READ_FLAGS)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.EMLINK):  # Linux, the BSDs: the last component is a link
            raise ReadRefused(LINK_REFUSED) from None
        raise
    try:
        opened = f"/proc/self/fd/{fd}"
        if inside is not None and os.path.islink(opened):
            real = os.readlink(opened)
            if not (real == inside or real.startswith(inside.rstrip(os.sep) + os.sep)):
                raise ReadRefused("outside the folder (a folder on its path was replaced by a link): not read")
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ReadRefused("not a regular file")
        if st.st_size > limit:
            raise ReadRefused(f"file too large: {format_bytes(st.st_size)} (limit {format_bytes(limit, trim=True)})")
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:
            raise ReadRefused(f"file too large: over {format_bytes(limit, trim=True)} (it grew while being read)")
        return b"".join(chunks)
    finally:
        os.close(fd)
