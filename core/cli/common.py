"""What every command shares: argument types that check ranges before any work, the output
folder check, the progress bar, strict JSON on the last stdout line, and run-folder names."""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import re
import sys
import time
from pathlib import Path

from ..training.config import RANGES, check_range


def number_in(name: str, kind=float, low=None, high=None):
    """An argparse ``type`` that parses ``kind`` and checks [low, high] (from config.RANGES by default)."""
    lo, hi = RANGES.get(name, (low, high)) if low is None and high is None else (low, high)

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        try:
            check_range(name, value, lo, hi)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def parse_sets(pairs: list[str] | None) -> dict[str, str]:
    """``--set key=value`` pairs → {key: raw value}; the method's Hyper checks and converts them."""
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def prepare_out_dir(out: str | Path, allowed: frozenset[str] | None = None) -> Path:
    """Create (or accept) the folder a command will write into, *before* any work, so a bad
    ``--out`` fails at once instead of after a long run. With ``allowed`` (a checkpoint folder's
    files), an existing non-empty folder holding anything else is refused."""
    path = Path(out).expanduser()
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.is_dir():
            raise ValueError(f"--out {str(out)!r}: {str(parent)!r} exists and is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".shiftlab-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        why = {errno.ENAMETOOLONG: "a name in it is too long", errno.EACCES: "permission denied",
               errno.EPERM: "permission denied", errno.EROFS: "the file system is read-only",
               errno.ENOSPC: "the disk is full"}.get(e.errno, e.strerror or type(e).__name__)
        raise ValueError(f"--out {str(out)!r} cannot be written: {why}") from None
    if allowed is not None:
        from ..util.files import owned_dir

        if any(path.iterdir()) and not owned_dir(path, allowed):
            raise ValueError(f"--out {str(out)!r} is a folder holding other files; give a new or empty "
                             f"folder (a checkpoint folder holds only {', '.join(sorted(allowed))})")
    return path


def slug(spec: str, limit: int = 40) -> str:
    """A short file-name-safe name for a domain spec: ``zip:/data/my photos.zip`` → ``my_photos``."""
    name = spec.split(":", 1)[1] if spec.startswith(("folder:", "zip:")) else spec
    if spec.startswith(("folder:", "zip:")):
        name = Path(name.rstrip("/")).stem or "folder"
    name = re.sub(r"[^A-Za-z0-9_+.-]+", "_", name).strip("._") or "domain"
    return name[:limit]


def default_run_dir(kind: str, *parts: str) -> Path:
    """``runs/<kind>-<part>-…-<time>`` with every part made file-name safe."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / "-".join([kind, *[slug(p) for p in parts if p], stamp])


def finite(x, digits: int = 3):
    """A number for JSON output: None for None/NaN/inf, else rounded."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return round(float(x), digits)


def emit_json(obj: dict) -> None:
    """One strict JSON object on one line of stdout (NaN is refused, not written)."""
    print(json.dumps(obj, allow_nan=False), flush=True)


def progress_bar(total: int, desc: str, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, file=sys.stderr, desc=desc, unit="step", disable=quiet, dynamic_ncols=True)


def add_device(parser: argparse.ArgumentParser) -> None:
    from ..util.device import DEVICE_CHOICES

    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
