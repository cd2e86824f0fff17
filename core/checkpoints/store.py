"""Checkpoint folders on disk: atomic saves (:func:`core.util.files.swap_dir_in`), reads that see one
complete version even while another process saves, and :func:`load` for every accepted source."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..util.files import (LINK_REFUSED, ReadRefused, clean_dead_temps, old_of, read_bounded, swap_dir_in,
                          temp_sibling, write_synced)
from .archive import read_zip, safe_folder_name, write_zip, zip_bytes
from .card import (CARD_NAME, MAX_CARD_BYTES, PICKLE_REFUSAL, PICKLE_SUFFIXES, WEIGHTS_NAME, BadCheckpoint,
                   build_meta, card_bytes, check_card_matches_model, check_card_vs_built, validate_card)
from .tensors import check_finite, check_tensors, looks_pickled, parse_header, weights_bytes

MAX_BYTES = 200 * 1024 * 1024        # default limit on a checkpoint (weights file, zip, zip contents)
CHECKPOINT_FILES = frozenset({WEIGHTS_NAME, CARD_NAME})
EXTRA_PREFIX = "extras."             # tensor-name prefix of a checkpoint's extra modules (a generator)


def _state(model: nn.Module, extras: dict[str, nn.Module] | None) -> dict[str, torch.Tensor]:
    state = dict(model.state_dict())
    for name, module in (extras or {}).items():
        state.update({f"{EXTRA_PREFIX}{name}.{k}": v for k, v in module.state_dict().items()})
    return state


def _card_with_extras(card: dict, extras: dict[str, nn.Module] | None) -> dict:
    if not extras:
        return card
    specs = {}
    for name, module in extras.items():
        spec = getattr(module, "spec", None)
        if not isinstance(spec, dict) or "kind" not in spec:
            raise ValueError(f"extra module {name!r} needs a JSON-able .spec with a 'kind'")
        specs[name] = dict(spec)
    return {**card, "extras": specs}


def save(model: nn.Module, card: dict, path, *, half: bool = False,
         extras: dict[str, nn.Module] | None = None) -> Path:
    """Write checkpoint folder ``path`` (model.safetensors + card.json) atomically; return it.

    ``half=True`` stores floating tensors as fp16 (about half the size; :func:`load` casts them
    back to float32). ``extras`` are other modules saved beside the classifier (a pixel-level
    GAN's generator), each with a ``.spec`` that :func:`core.models.build_extra` rebuilds; the
    card lists them under ``extras``. An existing checkpoint at ``path`` is replaced; at every
    instant the old or the new complete checkpoint is loadable. Raises ``ValueError`` if the card
    does not describe ``model``, or if ``path`` exists but is not a checkpoint folder.
    """
    path = Path(path).absolute()
    card = _card_with_extras(card, extras)
    check_card_matches_model(card, model)
    weights = weights_bytes(_state(model, extras), half)
    data = card_bytes(card)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_dead_temps(path)
    tmp = temp_sibling(path)
    tmp.mkdir()
    try:
        write_synced(tmp / WEIGHTS_NAME, weights)
        write_synced(tmp / CARD_NAME, data)
        swap_dir_in(tmp, path, CHECKPOINT_FILES)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def save_zip(model: nn.Module, card: dict, zip_path, *, half: bool = False,
             extras: dict[str, nn.Module] | None = None) -> Path:
    """Write the checkpoint as a zip (files inside one top-level folder) atomically; return it."""
    card = _card_with_extras(card, extras)
    check_card_matches_model(card, model)
    return write_zip(Path(zip_path), card_bytes(card), weights_bytes(_state(model, extras), half))


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
    return zip_bytes(card_data, weights, safe_folder_name(folder.name))


class _Vanished(Exception):
    """The folder was swapped away while we read it (a concurrent save); read again."""


def _read_regular(name: str, dir_fd: int | None, folder: Path, limit: int) -> bytes:
    """Read a regular file through the one bounded reader (:func:`core.util.files.read_bounded`: a
    symbolic link is refused without saying anything about what it points to — the same rule as a
    folder domain's pictures); BadCheckpoint naming the file and why."""
    try:
        return read_bounded(name if dir_fd is not None else folder / name, limit, dir_fd=dir_fd)
    except ReadRefused as e:
        if str(e) == LINK_REFUSED:
            raise BadCheckpoint(f"{name} in {folder} is a symbolic link (not followed); a checkpoint holds "
                                "regular files") from None
        raise BadCheckpoint(f"{name} in {folder}: {e}") from None


def read_file(path, max_bytes: int) -> bytes:
    """The bytes of one regular file (a symbolic link or a device is refused), its size checked
    before reading and the read bounded by ``max_bytes``: BadCheckpoint when it is larger."""
    path = Path(path)
    return _read_regular(path.name, None, path.parent, max_bytes)


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
    old = old_of(folder)
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



def _read_bytes_source(data: bytes, max_bytes: int, origin: str) -> tuple[bytes, bytes]:
    if len(data) > max_bytes:
        raise BadCheckpoint(f"{origin} is {len(data):,} bytes; the limit is {max_bytes:,}")
    if bytes(data[:4]) == b"PK\x03\x04" or bytes(data[:4]) == b"PK\x05\x06":
        return read_zip(data, max_bytes, origin)
    if looks_pickled(data):
        raise BadCheckpoint(f"{origin} looks like a pickle (torch.save output): {PICKLE_REFUSAL}")
    raise BadCheckpoint(f"{origin} is not a checkpoint zip; expected a zip of {WEIGHTS_NAME} + {CARD_NAME}")


def read_source(src, max_bytes: int = MAX_BYTES) -> tuple[bytes, bytes, str]:
    """``(card bytes, weights bytes, where they came from)`` of any accepted source — a checkpoint
    folder, a zip (path, bytes or file object) — without parsing either: every size is checked
    before it is read and every read is bounded (a zip member that inflates past what its header
    claims stops at the limit), pickles are refused. The one way weights files are read."""
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



def parse_card(card_data: bytes) -> dict:
    """The card's JSON (strict: no NaN), validated (:func:`validate_card`); BadCheckpoint otherwise."""
    import json

    try:
        card = json.loads(card_data.decode("utf-8"),
                          parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"{c} is not JSON")))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise BadCheckpoint(f"{CARD_NAME} is not valid JSON: {e}") from e
    return validate_card(card)


def _build_extras(card: dict) -> dict[str, nn.Module]:
    """The card's extra modules, built from their specs (on the current default device)."""
    from core.models import build_extra

    out = {}
    for name, spec in (card.get("extras") or {}).items():
        try:
            out[name] = build_extra(spec)
        except ValueError as e:
            raise BadCheckpoint(f"card.json extra module {name!r} is invalid: {e}") from e
    return out


def _validate(card_data: bytes, weights: bytes) -> tuple[dict, dict]:
    """Parse + check card and weights header against the (meta) model and its extras. No tensor
    data is read and nothing is allocated."""
    card = parse_card(card_data)
    try:
        header = parse_header(weights)
    except BadCheckpoint as e:
        if looks_pickled(weights):
            raise BadCheckpoint(f"{WEIGHTS_NAME} is not safetensors but looks like a pickle: "
                                f"{PICKLE_REFUSAL}") from e
        raise
    meta_model = build_meta(card)
    with torch.device("meta"):
        meta_extras = _build_extras(card)
    check_tensors(header, _state(meta_model, meta_extras))
    return card, header


def load(path, *, device="cpu", max_bytes: int = MAX_BYTES):
    """Load a checkpoint; return ``(model, card)`` with the model in eval mode on ``device``.

    ``path``: a checkpoint folder, a ``.zip`` file, zip content as ``bytes`` (an upload) or a
    file object with ``getvalue()``/``read()``.  Only JSON and safetensors are ever parsed;
    anything invalid or unsafe (NaN weights included) raises :class:`BadCheckpoint` with the reason.
    """
    model, card, _ = load_with_extras(path, device=device, max_bytes=max_bytes)
    return model, card


def load_with_extras(path, *, device="cpu", max_bytes: int = MAX_BYTES):
    """:func:`load`, plus the checkpoint's extra modules (``{}`` for most; a pixel-level GAN's
    ``{"generator": …}``): ``(model, card, extras)``."""
    from core.util.device import resolve_device

    # Bad *arguments* raise plain ValueError/TypeError, before anything is read.
    dev = resolve_device(device)
    if not isinstance(path, (str, os.PathLike, bytes, bytearray, memoryview)) and not (
            hasattr(path, "getvalue") or hasattr(path, "read")):
        raise TypeError(f"load() takes a path, zip bytes or a file object, not {type(path).__name__}")
    origin = "checkpoint"
    try:
        card_data, weights, origin = read_source(path, max_bytes)
        card, _ = _validate(card_data, weights)
        from core.models import build_model
        from safetensors.torch import load as st_load

        try:
            tensors = st_load(weights)
        except Exception as e:
            raise BadCheckpoint(f"{WEIGHTS_NAME} could not be read as safetensors: {e}") from e
        check_finite(tensors)
        model = build_model(card["model"])
        check_card_vs_built(card, model)
        extras = _build_extras(card)
        for prefix, module in [("", model)] + [(f"{EXTRA_PREFIX}{n}.", m) for n, m in extras.items()]:
            ref = module.state_dict()
            module.load_state_dict({k: tensors[prefix + k].to(ref[k].dtype) for k in ref}, strict=True)
            module.to(dev).eval()
        return model, card, extras
    except BadCheckpoint:
        raise
    except Exception as e:
        raise BadCheckpoint(f"could not load {origin}: {type(e).__name__}: {e}") from e
