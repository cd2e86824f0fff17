"""Checkpoints: a safetensors state dict plus a JSON model card, and nothing that can run code.

Format (``shiftlab-checkpoint/1``)
---------------------------------
A checkpoint is a **folder** holding exactly the two files that matter::

    my-run/
        model.safetensors   # the model's state_dict (float tensors fp32, or fp16 with half=True)
        card.json           # the model card, a JSON object (see below)

A **zip** of those two files, either at the zip root or inside one top-level folder, is
accepted by :func:`load` too (that is what :func:`save_zip` and :func:`to_zip_bytes` write,
for downloads and uploads).

``card.json`` required keys:

* ``format`` – the string ``"shiftlab-checkpoint/1"``;
* ``model`` – the :func:`core.models.build_model` spec (``arch``, ``num_classes``,
  ``input_size``, ``width``, ``feature_dim``, ``batch_norm``); the architecture is rebuilt from it,
  never from code in the file (a ``weights_path`` key is refused);
* ``class_names`` – list of str, as many as the spec's ``num_classes``;
* ``method``, ``source``, ``target`` – str (the adaptation method and the domains);
* ``input_size`` – int, equal to the spec's input size.

Optional (recorded by :func:`make_card`): ``name``, ``backbone``, ``metrics`` (name → float),
``hyperparameters`` (dict), ``seed``, ``training_seconds``, ``device``, ``versions`` (torch,
torchvision, python, shiftlab), ``created`` (ISO 8601), ``history`` (list).  Other keys are kept.

Guarantees
----------
* **No code execution.** :func:`load` reads only JSON (``json``) and safetensors
  (``safetensors``); pickles (``.pt``/``.pth``/``.pkl``/``.bin``/``.ckpt``, ``torch.save``
  output, a pickle renamed ``model.safetensors`` or hidden in a zip) are refused with
  :class:`BadCheckpoint` before anything unpickles them.
* **Validated.** Card keys and types, the format string, the spec (unknown ``arch``/keys),
  class count, file sizes (``max_bytes``), zip member count (≤ 10), zip uncompressed total
  (≤ ``max_bytes``), zip member paths (no ``..``/absolute paths), the safetensors header, tensor
  names (missing/unexpected are named), shapes and dtypes (F16/F32/F64/I64/BOOL only; cast to
  the model's dtype) are all checked, against a model built on the ``meta`` device first so a
  hostile card cannot make us allocate a huge model.  Every failure inside :func:`load`
  surfaces as :class:`BadCheckpoint` (a ``ValueError``), never a raw ``KeyError`` etc.
  (Only a bad ``device`` *argument* raises a plain ``ValueError``.)
* **Atomic save.** :func:`save` writes both files into a temporary sibling folder
  (``.NAME.tmp-PID-RANDOM``), fsyncs them, then swaps it in: ``NAME`` → ``NAME.old``,
  temp → ``NAME``, fsync the parent, delete ``NAME.old``.  A reader therefore always finds a
  complete checkpoint, old or new.  The one window where ``NAME`` does not exist (between the
  two renames) is covered by :func:`load` falling back to ``NAME.old``; a process killed in that
  window leaves ``NAME.old`` behind, which :func:`load` reads and the next :func:`save` cleans.
  Temp folders of killed writers are removed by the next :func:`save` (POSIX).  A folder is read
  through one directory handle, so the card and the weights always come from the same version.
  Concurrent *writers* to one path are not supported.  An existing ``NAME`` that is not a
  checkpoint folder (anything besides model.safetensors + card.json) is never replaced.
  :func:`save_zip` writes a temp file and ``os.replace``-s it.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import math
import os
import platform
import re
import secrets
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import torch
from torch import nn

CARD_FORMAT = "shiftlab-checkpoint/1"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "card.json"
REQUIRED_KEYS = ("format", "model", "class_names", "method", "source", "target", "input_size")

MAX_BYTES = 200 * 1024 * 1024        # default limit on a checkpoint (weights file, zip, zip contents)
MAX_CARD_BYTES = 4 * 1024 * 1024     # card.json
MAX_HEADER_BYTES = 16 * 1024 * 1024  # safetensors JSON header
MAX_ZIP_MEMBERS = 10
MAX_TENSORS = 100_000

PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt", ".tar", ".joblib"}
PICKLE_REFUSAL = ("only safetensors + card.json checkpoints are accepted; pickled .pt files are "
                  "refused because loading them can run code")

# safetensors dtype tag → torch dtype, for the dtypes we accept.
_DTYPES: dict[str, torch.dtype] = {
    "F16": torch.float16, "F32": torch.float32, "F64": torch.float64,
    "I64": torch.int64, "BOOL": torch.bool,
}
_ZIP_JUNK = re.compile(r"(^|/)(__MACOSX/.*|\.DS_Store)$")


class BadCheckpoint(ValueError):
    """The file/folder/bytes given is not a valid, safe ShiftLab checkpoint (the message says why)."""


# --------------------------------------------------------------------------------------- cards

def _versions() -> dict[str, str | None]:
    try:
        import torchvision
        tv = torchvision.__version__
    except Exception:  # pragma: no cover - torchvision is a requirement
        tv = None
    try:
        from core import __version__ as shiftlab
    except Exception:  # pragma: no cover
        shiftlab = None
    return {"torch": torch.__version__, "torchvision": tv,
            "python": platform.python_version(), "shiftlab": shiftlab}


def make_card(model: nn.Module, *, method: str, source: str, target: str, class_names,
              metrics: dict | None = None, hyperparameters: dict | None = None,
              seed: int | None = None, training_seconds: float | None = None,
              device: Any = None, extra: dict | None = None) -> dict:
    """Build a valid card for ``model`` (a :class:`core.models.Classifier`).

    ``model``, ``backbone`` and ``input_size`` come from ``model.spec``; ``versions`` and
    ``created`` (UTC, ISO 8601) are filled in.  ``extra`` (e.g. ``name``, ``history``) is merged
    last.  Raises ``ValueError`` (:class:`BadCheckpoint`) if the result is not a valid card.
    """
    spec = dict(getattr(model, "spec", None) or {})
    if not spec:
        raise ValueError("model has no .spec; build it with core.models.build_model")
    spec.pop("weights_path", None)
    card: dict[str, Any] = {
        "format": CARD_FORMAT,
        "model": spec,
        "backbone": spec.get("arch"),
        "input_size": int(getattr(model, "input_size", spec.get("input_size", 0))),
        "class_names": [str(c) for c in class_names],
        "method": str(method),
        "source": str(source),
        "target": str(target),
        "metrics": {str(k): (None if v is None else float(v)) for k, v in (metrics or {}).items()},
        "hyperparameters": dict(hyperparameters or {}),
        "seed": None if seed is None else int(seed),
        "training_seconds": None if training_seconds is None else float(training_seconds),
        "device": None if device is None else str(device),
        "versions": _versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if extra:
        card.update(extra)
    _check_card_matches_model(card, model)
    return card


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def validate_card(card: Any) -> dict:
    """Check the card's keys and types (not the weights); return it or raise :class:`BadCheckpoint`."""
    if not isinstance(card, dict):
        raise BadCheckpoint(f"card.json must hold a JSON object, not {type(card).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in card]
    if missing:
        raise BadCheckpoint(f"card.json lacks required key(s) {missing}; required: {list(REQUIRED_KEYS)}")
    fmt = card["format"]
    if fmt != CARD_FORMAT:
        if isinstance(fmt, str) and fmt.startswith("shiftlab-checkpoint/"):
            raise BadCheckpoint(f"checkpoint format {fmt!r} is not supported by this version "
                                f"(expected {CARD_FORMAT!r})")
        raise BadCheckpoint(f"card.json format is {fmt!r}, expected {CARD_FORMAT!r}")
    spec = card["model"]
    if not isinstance(spec, dict):
        raise BadCheckpoint("card.json 'model' must be a JSON object (the model spec)")
    if not isinstance(spec.get("arch"), str):
        raise BadCheckpoint("card.json model spec needs an 'arch' string")
    if "weights_path" in spec:
        raise BadCheckpoint("card.json model spec must not contain 'weights_path' "
                            "(a checkpoint may not point at other files)")
    for k, v in spec.items():
        if not (v is None or isinstance(v, (str, int, float, bool))):
            raise BadCheckpoint(f"card.json model spec key {k!r} must be a number, string or bool")
    names = card["class_names"]
    if not isinstance(names, list) or not names or not all(isinstance(c, str) for c in names):
        raise BadCheckpoint("card.json 'class_names' must be a non-empty list of strings")
    for key in ("method", "source", "target"):
        if not isinstance(card[key], str):
            raise BadCheckpoint(f"card.json {key!r} must be a string")
    size = card["input_size"]
    if not _is_int(size) or not 1 <= size <= 8192:
        raise BadCheckpoint(f"card.json 'input_size' must be an integer in 1..8192, got {size!r}")

    def opt(key, ok, what):
        if key in card and card[key] is not None and not ok(card[key]):
            raise BadCheckpoint(f"card.json {key!r} must be {what}")

    opt("name", lambda v: isinstance(v, str), "a string")
    opt("backbone", lambda v: isinstance(v, str), "a string")
    opt("metrics", lambda v: isinstance(v, dict)
        and all(x is None or _is_number(x) for x in v.values()), "an object of name → number")
    opt("hyperparameters", lambda v: isinstance(v, dict), "an object")
    opt("seed", _is_int, "an integer")
    opt("training_seconds", _is_number, "a number")
    opt("device", lambda v: isinstance(v, str), "a string")
    opt("versions", lambda v: isinstance(v, dict)
        and all(x is None or isinstance(x, str) for x in v.values()), "an object of name → string")
    opt("created", lambda v: isinstance(v, str), "an ISO date string")
    opt("history", lambda v: isinstance(v, list), "a list")
    return card


def _build_meta(card: dict) -> nn.Module:
    """Build the card's architecture on the meta device (no memory, no weights)."""
    from core.models import build_model

    try:
        with torch.device("meta"):
            model = build_model(card["model"])
    except ValueError as e:
        raise BadCheckpoint(f"card.json model spec is invalid: {e}") from e
    _check_card_vs_built(card, model)
    return model


def _check_card_vs_built(card: dict, model: nn.Module) -> None:
    n = int(model.num_classes)
    if len(card["class_names"]) != n:
        raise BadCheckpoint(f"card.json lists {len(card['class_names'])} class_names but the "
                            f"model spec has num_classes={n}")
    if card["input_size"] != int(model.input_size):
        raise BadCheckpoint(f"card.json input_size={card['input_size']} differs from the model "
                            f"spec's input_size={model.input_size}")


def _check_card_matches_model(card: dict, model: nn.Module) -> None:
    """For saving: the card must be valid and describe exactly this model."""
    validate_card(card)
    spec = dict(getattr(model, "spec", None) or {})
    spec.pop("weights_path", None)
    if json.loads(json.dumps(card["model"])) != json.loads(json.dumps(spec)):
        raise BadCheckpoint(f"card 'model' spec {card['model']} does not match the model's "
                            f"spec {spec}")
    _check_card_vs_built(card, model)
    try:
        json.dumps(card)
    except (TypeError, ValueError) as e:
        raise BadCheckpoint(f"card is not JSON-serialisable: {e}") from e


# -------------------------------------------------------------------------------------- saving

def _weights_bytes(model: nn.Module, half: bool) -> bytes:
    from safetensors.torch import save as st_save

    tensors = {}
    for k, v in model.state_dict().items():
        t = v.detach().to("cpu", copy=True)
        if t.is_floating_point():
            t = t.to(torch.float16 if half else (t.dtype if t.dtype in (torch.float32, torch.float64)
                                                 else torch.float32))
        elif t.dtype != torch.bool:
            t = t.to(torch.int64)
        tensors[k] = t.contiguous()
    return st_save(tensors, metadata={"format": "pt", "shiftlab": CARD_FORMAT})


def _card_bytes(card: dict) -> bytes:
    return (json.dumps(card, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
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


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}.tmp-"


def _clean_stale_temps(path: Path) -> None:
    """Remove temp folders/files left by writers of ``path`` that were killed (POSIX only)."""
    if os.name != "posix":
        return
    prefix = _tmp_prefix(path)
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        pid_text = entry.name[len(prefix):].split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            os.kill(int(pid_text), 0)
            continue  # still alive: not ours to touch
        except ProcessLookupError:
            pass
        except OSError:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            try:
                entry.unlink()
            except OSError:
                pass


def _is_checkpoint_dir(path: Path) -> bool:
    """A real (non-symlink) folder holding nothing but checkpoint files: safe to replace."""
    if path.is_symlink() or not path.is_dir():
        return False
    try:
        return all(e.name in (WEIGHTS_NAME, CARD_NAME) and e.is_file(follow_symlinks=False)
                   for e in os.scandir(path))
    except OSError:
        return False


def save(model: nn.Module, card: dict, path, *, half: bool = False) -> Path:
    """Write checkpoint folder ``path`` (model.safetensors + card.json) atomically; return it.

    ``half=True`` stores floating tensors as fp16 (about half the size; :func:`load` casts them
    back to float32).  An existing checkpoint at ``path`` is replaced; at every instant either
    the old or the new complete checkpoint is loadable (see the module docstring).  Raises
    ``ValueError`` if the card does not describe ``model``, or if ``path`` (or ``path.old``)
    exists but is not a checkpoint folder (only model.safetensors + card.json): such a folder is
    never renamed or deleted.
    """
    path = Path(path).absolute()
    _check_card_matches_model(card, model)
    weights = _weights_bytes(model, half)
    card_data = _card_bytes(card)
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True)
    old = path.with_name(path.name + ".old")
    for existing in (path, old):  # never delete something that is not one of our checkpoints
        if (existing.exists() or existing.is_symlink()) and not _is_checkpoint_dir(existing):
            raise ValueError(f"{existing} exists and is not a checkpoint folder (only "
                             f"{WEIGHTS_NAME} + {CARD_NAME}); refusing to replace it")
    _clean_stale_temps(path)
    tmp = parent / f"{_tmp_prefix(path)}{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        _write_synced(tmp / WEIGHTS_NAME, weights)
        _write_synced(tmp / CARD_NAME, card_data)
        _fsync_dir(tmp)
        if path.exists():
            # `path` is complete, so a stale NAME.old (from a killed save) can go first.
            if old.exists():
                shutil.rmtree(old)
            os.rename(path, old)
            # <- the one window: `path` is missing here; load() falls back to NAME.old.
        os.rename(tmp, path)
        _fsync_dir(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
    return path


def _safe_folder_name(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return name[:100] or "checkpoint"


def _zip_bytes(card_data: bytes, weights: bytes, folder: str) -> bytes:
    buf = io.BytesIO()
    stamp = _dt.datetime.now().timetuple()[:6]
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo(f"{folder}/{CARD_NAME}", date_time=stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, card_data)
        info = zipfile.ZipInfo(f"{folder}/{WEIGHTS_NAME}", date_time=stamp)
        info.compress_type = zipfile.ZIP_STORED  # float weights barely compress
        zf.writestr(info, weights)
    return buf.getvalue()


def save_zip(model: nn.Module, card: dict, zip_path, *, half: bool = False) -> Path:
    """Write the checkpoint as a zip (files inside one top-level folder) atomically; return it."""
    zip_path = Path(zip_path).absolute()
    _check_card_matches_model(card, model)
    data = _zip_bytes(_card_bytes(card), _weights_bytes(model, half), _safe_folder_name(zip_path.stem))
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_temps(zip_path)
    tmp = zip_path.with_name(f"{_tmp_prefix(zip_path)}{os.getpid()}-{secrets.token_hex(4)}")
    try:
        _write_synced(tmp, data)
        os.replace(tmp, zip_path)
        _fsync_dir(zip_path.parent)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    return zip_path


def to_zip_bytes(folder, *, max_bytes: int = MAX_BYTES) -> bytes:
    """Validate checkpoint folder ``folder`` and return it as zip bytes (for a download button)."""
    folder = Path(folder)
    try:
        card_data, weights, _ = _read_folder(folder, max_bytes)
        _validate(card_data, weights)
    except BadCheckpoint:
        raise
    except Exception as e:
        raise BadCheckpoint(f"could not read checkpoint {folder}: {type(e).__name__}: {e}") from e
    return _zip_bytes(card_data, weights, _safe_folder_name(folder.name))


# ------------------------------------------------------------------------------------- reading

def _looks_pickled(data: bytes) -> bool:
    head = bytes(data[:4])
    return head[:1] == b"\x80" or head.startswith(b"PK\x03\x04") or head[:1] in (b"(", b"]", b"}", b"c")


class _Vanished(Exception):
    """The folder was swapped away while we read it (a concurrent save); read again."""


def _read_regular(name: str, dir_fd: int | None, folder: Path, limit: int) -> bytes:
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    if dir_fd is not None:
        fd = os.open(name, flags, dir_fd=dir_fd)
    else:
        fd = os.open(folder / name, flags)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise BadCheckpoint(f"{name} in {folder} is not a regular file")
        if st.st_size > limit:
            raise BadCheckpoint(f"{name} is {st.st_size:,} bytes; the limit is {limit:,}")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise BadCheckpoint(f"{name} is larger than the limit of {limit:,} bytes")
    return data


def _missing_file_error(folder: Path, name: str) -> BadCheckpoint:
    try:
        present = sorted(p.name for p in folder.iterdir())
    except OSError:
        present = []
    if any(Path(p).suffix.lower() in PICKLE_SUFFIXES for p in present):
        return BadCheckpoint(f"{folder} has no {name} but holds {present}: {PICKLE_REFUSAL}")
    return BadCheckpoint(f"{folder} is not a checkpoint folder: it has no {name} "
                         f"(found {present or 'nothing'}; need {WEIGHTS_NAME} + {CARD_NAME})")


def _read_dir_once(folder: Path, max_bytes: int) -> tuple[bytes, bytes]:
    use_fd = os.open in os.supports_dir_fd and hasattr(os, "O_DIRECTORY")
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY) if use_fd else None
    try:
        try:
            card = _read_regular(CARD_NAME, dir_fd, folder, MAX_CARD_BYTES)
            weights = _read_regular(WEIGHTS_NAME, dir_fd, folder, max_bytes)
        except FileNotFoundError as e:
            if dir_fd is not None:
                try:
                    same = os.path.samestat(os.fstat(dir_fd), os.stat(folder))
                except OSError:
                    same = False
                if not same:
                    raise _Vanished() from e
            missing = CARD_NAME if not (folder / CARD_NAME).exists() else WEIGHTS_NAME
            raise _missing_file_error(folder, missing) from e
    finally:
        if dir_fd is not None:
            os.close(dir_fd)
    if len(card) + len(weights) > max_bytes:
        raise BadCheckpoint(f"checkpoint is {len(card) + len(weights):,} bytes; the limit is {max_bytes:,}")
    return card, weights


def _read_folder(folder: Path, max_bytes: int) -> tuple[bytes, bytes, Path]:
    """Read (card, weights) of a checkpoint folder, falling back to ``NAME.old`` mid-swap."""
    old = folder.with_name(folder.name + ".old")
    for _attempt in range(5):
        if folder.is_dir():
            target = folder
        elif old.is_dir():  # mid-swap: NAME.old is the previous complete version
            target = old
        elif folder.exists():
            if folder.is_dir():  # a concurrent save swapped the new version in between the checks
                continue
            raise BadCheckpoint(f"{folder} is not a checkpoint folder")
        else:
            raise BadCheckpoint(f"no checkpoint at {folder}")
        try:
            card, weights = _read_dir_once(target, max_bytes)
            return card, weights, target
        except _Vanished:
            continue
        except FileNotFoundError:  # the folder itself went away between the check and the open
            continue
    raise BadCheckpoint(f"checkpoint {folder} kept changing while being read; try again")


def _check_member_name(name: str) -> None:
    bad = (name.startswith(("/", "\\")) or "\\" in name or "\x00" in name
           or re.match(r"^[A-Za-z]:", name) is not None
           or any(part in ("..", ".") for part in name.rstrip("/").split("/")))
    if bad:
        raise BadCheckpoint(f"zip member {name!r} has an unsafe path (absolute or '..'); refused")


def _read_zip(data: bytes, max_bytes: int, origin: str) -> tuple[bytes, bytes]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as e:
        raise BadCheckpoint(f"{origin} is not a valid zip file: {e}") from e
    with zf:
        infos = zf.infolist()
        pickled = [i.filename for i in infos
                   if PurePosixPath(i.filename).suffix.lower() in PICKLE_SUFFIXES]
        if pickled:  # e.g. torch.save output, which is a zip around data.pkl
            raise BadCheckpoint(f"{origin} contains {pickled[:5]}: {PICKLE_REFUSAL}")
        if len(infos) > MAX_ZIP_MEMBERS:
            raise BadCheckpoint(f"{origin} has {len(infos)} members; at most {MAX_ZIP_MEMBERS} are allowed")
        for info in infos:
            _check_member_name(info.filename)
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise BadCheckpoint(f"{origin} has duplicate member names")
        files = [i for i in infos if not i.is_dir() and not _ZIP_JUNK.search(i.filename)]
        total = sum(i.file_size for i in infos)
        if total > max_bytes:
            raise BadCheckpoint(f"{origin} unpacks to {total:,} bytes; the limit is {max_bytes:,}")
        parts = [i.filename.split("/") for i in files]
        depths = {len(p) for p in parts}
        if files and not (depths == {1} or (depths == {2} and len({p[0] for p in parts}) == 1)):
            raise BadCheckpoint(f"{origin} must hold {WEIGHTS_NAME} and {CARD_NAME} at its root or "
                                f"in one top-level folder; found {[i.filename for i in files]}")
        by_name = {p[-1]: i for p, i in zip(parts, files)}
        unexpected = sorted(set(by_name) - {WEIGHTS_NAME, CARD_NAME})
        if unexpected:
            raise BadCheckpoint(f"{origin} has unexpected member(s) {unexpected}; a checkpoint zip "
                                f"holds only {WEIGHTS_NAME} and {CARD_NAME}")
        missing = [n for n in (WEIGHTS_NAME, CARD_NAME) if n not in by_name]
        if missing:
            raise BadCheckpoint(f"{origin} lacks {missing}; need {WEIGHTS_NAME} + {CARD_NAME}")

        def read(name: str, limit: int) -> bytes:
            info = by_name[name]
            if info.file_size > limit:
                raise BadCheckpoint(f"{name} in {origin} is {info.file_size:,} bytes; the limit is {limit:,}")
            with zf.open(info) as f:
                out = f.read(limit + 1)
            if len(out) > limit:
                raise BadCheckpoint(f"{name} in {origin} is larger than {limit:,} bytes")
            return out

        try:
            return read(CARD_NAME, MAX_CARD_BYTES), read(WEIGHTS_NAME, max_bytes)
        except BadCheckpoint:
            raise
        except Exception as e:  # CRC errors, encryption, unsupported compression …
            raise BadCheckpoint(f"cannot read {origin}: {type(e).__name__}: {e}") from e


def _read_bytes_source(data: bytes, max_bytes: int, origin: str) -> tuple[bytes, bytes]:
    if len(data) > max_bytes:
        raise BadCheckpoint(f"{origin} is {len(data):,} bytes; the limit is {max_bytes:,}")
    if bytes(data[:4]) == b"PK\x03\x04" or bytes(data[:4]) == b"PK\x05\x06":
        return _read_zip(data, max_bytes, origin)
    if _looks_pickled(data):
        raise BadCheckpoint(f"{origin} looks like a pickle (torch.save output): {PICKLE_REFUSAL}")
    raise BadCheckpoint(f"{origin} is not a checkpoint zip; expected a zip of {WEIGHTS_NAME} + {CARD_NAME}")


def _read_source(src, max_bytes: int) -> tuple[bytes, bytes, str]:
    """Return (card bytes, weights bytes, description) for any accepted source."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        return (*_read_bytes_source(data, max_bytes, "uploaded data"), "uploaded data")
    if not isinstance(src, (str, os.PathLike)) and (hasattr(src, "getvalue") or hasattr(src, "read")):
        data = src.getvalue() if hasattr(src, "getvalue") else src.read(max_bytes + 1)
        name = str(getattr(src, "name", "") or "uploaded file")
        if Path(name).suffix.lower() in PICKLE_SUFFIXES:
            raise BadCheckpoint(f"{name}: {PICKLE_REFUSAL}")
        return (*_read_bytes_source(bytes(data), max_bytes, name), name)
    if not isinstance(src, (str, os.PathLike)):
        raise TypeError(f"load() takes a path, zip bytes or a file object, not {type(src).__name__}")
    path = Path(src)
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise BadCheckpoint(f"{path.name}: {PICKLE_REFUSAL}")
    # a folder, or one caught mid-swap by a concurrent save (only NAME.old there for a moment)
    if path.is_dir() or (path.with_name(path.name + ".old").is_dir() and not path.is_file()):
        card, weights, used = _read_folder(path, max_bytes)
        return card, weights, str(used)
    if not path.exists():
        raise BadCheckpoint(f"no checkpoint at {path}")
    if suffix in (".safetensors", ".json"):
        raise BadCheckpoint(f"{path.name} alone is not a checkpoint; pass the folder holding "
                            f"{WEIGHTS_NAME} + {CARD_NAME} (or a zip of it)")
    data = _read_regular(path.name, None, path.parent, max_bytes)
    return (*_read_bytes_source(data, max_bytes, str(path)), str(path))


def _parse_header(data: bytes) -> dict[str, dict]:
    """Parse and check a safetensors header without trusting it; return name → entry."""
    if len(data) < 8:
        raise BadCheckpoint(f"{WEIGHTS_NAME} is too short ({len(data)} bytes) to be safetensors")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8 or n > MAX_HEADER_BYTES or n < 2:
        raise BadCheckpoint(f"{WEIGHTS_NAME} has an impossible safetensors header length {n:,} "
                            f"(file is {len(data):,} bytes)")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise BadCheckpoint(f"{WEIGHTS_NAME} has a corrupt safetensors header: {e}") from e
    if not isinstance(header, dict):
        raise BadCheckpoint(f"{WEIGHTS_NAME} safetensors header is not a JSON object")
    meta = header.pop("__metadata__", None)
    if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        raise BadCheckpoint(f"{WEIGHTS_NAME} has malformed __metadata__")
    if len(header) > MAX_TENSORS:
        raise BadCheckpoint(f"{WEIGHTS_NAME} lists {len(header):,} tensors; at most {MAX_TENSORS:,}")
    body = len(data) - 8 - n
    for name, entry in header.items():
        if not isinstance(entry, dict):
            raise BadCheckpoint(f"{WEIGHTS_NAME}: entry for tensor {name!r} is malformed")
        dtype, shape, offs = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in _DTYPES:
            raise BadCheckpoint(f"{WEIGHTS_NAME}: tensor {name!r} has dtype {dtype!r}; "
                                f"only {sorted(_DTYPES)} are accepted")
        if not (isinstance(shape, list) and all(_is_int(d) and d >= 0 for d in shape) and len(shape) <= 8):
            raise BadCheckpoint(f"{WEIGHTS_NAME}: tensor {name!r} has a malformed shape {shape!r}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(_is_int(o) for o in offs)
                and 0 <= offs[0] <= offs[1] <= body):
            raise BadCheckpoint(f"{WEIGHTS_NAME}: tensor {name!r} has bad data offsets {offs!r}")
        itemsize = torch.empty((), dtype=_DTYPES[dtype]).element_size()
        if math.prod(shape) * itemsize != offs[1] - offs[0]:
            raise BadCheckpoint(f"{WEIGHTS_NAME}: tensor {name!r} size does not match its shape {shape}")
    return header


def _check_tensors(header: dict[str, dict], meta_model: nn.Module) -> None:
    expected = meta_model.state_dict()
    missing = [k for k in expected if k not in header]
    unexpected = [k for k in header if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing tensor(s) {missing[:10]}{' …' if len(missing) > 10 else ''}")
        if unexpected:
            parts.append(f"unexpected tensor(s) {unexpected[:10]}{' …' if len(unexpected) > 10 else ''}")
        raise BadCheckpoint(f"{WEIGHTS_NAME} does not fit the card's model: " + "; ".join(parts))
    for k, ref in expected.items():
        entry = header[k]
        if list(ref.shape) != entry["shape"]:
            raise BadCheckpoint(f"{WEIGHTS_NAME}: tensor {k!r} has shape {entry['shape']}, the model "
                                f"needs {list(ref.shape)}")
        got = _DTYPES[entry["dtype"]]
        ok = (got.is_floating_point == ref.dtype.is_floating_point
              and (got == torch.bool) == (ref.dtype == torch.bool))
        if not ok:
            raise BadCheckpoint(f"{WEIGHTS_NAME}: tensor {k!r} has dtype {entry['dtype']}, "
                                f"incompatible with the model's {ref.dtype}")


def _validate(card_data: bytes, weights: bytes) -> tuple[dict, dict, nn.Module]:
    """Parse + check card and weights header against the (meta) model. No tensor data read."""
    try:
        card = json.loads(card_data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise BadCheckpoint(f"{CARD_NAME} is not valid JSON: {e}") from e
    validate_card(card)
    try:
        header = _parse_header(weights)
    except BadCheckpoint as e:
        if _looks_pickled(weights):
            raise BadCheckpoint(f"{WEIGHTS_NAME} is not safetensors but looks like a pickle: "
                                f"{PICKLE_REFUSAL}") from e
        raise
    meta_model = _build_meta(card)
    _check_tensors(header, meta_model)
    return card, header, meta_model


def load(path, *, device="cpu", max_bytes: int = MAX_BYTES):
    """Load a checkpoint; return ``(model, card)`` with the model in eval mode on ``device``.

    ``path``: a checkpoint folder, a ``.zip`` file, zip content as ``bytes`` (an upload) or a
    file object with ``getvalue()``/``read()``.  Only JSON and safetensors are ever parsed;
    anything invalid or unsafe raises :class:`BadCheckpoint` with the reason.
    """
    from core.device import resolve_device

    # Bad *arguments* raise plain ValueError/TypeError, before anything is read.
    dev = resolve_device(device)
    if not isinstance(path, (str, os.PathLike, bytes, bytearray, memoryview)) and not (
            hasattr(path, "getvalue") or hasattr(path, "read")):
        raise TypeError(f"load() takes a path, zip bytes or a file object, not {type(path).__name__}")
    origin = "checkpoint"
    try:
        card_data, weights, origin = _read_source(path, max_bytes)
        card, header, _ = _validate(card_data, weights)
        from core.models import build_model
        from safetensors.torch import load as st_load

        try:
            tensors = st_load(weights)
        except Exception as e:
            raise BadCheckpoint(f"{WEIGHTS_NAME} could not be read as safetensors: {e}") from e
        model = build_model(card["model"])
        _check_card_vs_built(card, model)
        ref = model.state_dict()
        state = {k: tensors[k].to(ref[k].dtype) for k in ref}
        model.load_state_dict(state, strict=True)
        model.to(dev).eval()
        return model, card
    except BadCheckpoint:
        raise
    except Exception as e:
        raise BadCheckpoint(f"could not load {origin}: {type(e).__name__}: {e}") from e


__all__ = [
    "BadCheckpoint", "CARD_FORMAT", "MAX_BYTES", "MAX_ZIP_MEMBERS", "REQUIRED_KEYS",
    "load", "make_card", "save", "save_zip", "to_zip_bytes", "validate_card",
]
