"""On-disk cache of built domains (``$SHIFTLAB_CACHE`` or ``~/.cache/shiftlab``), written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    root = os.environ.get("SHIFTLAB_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "shiftlab")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_arrays(key: str) -> dict[str, np.ndarray] | None:
    """Arrays cached under ``key``, or None if absent or unreadable (then it is rebuilt)."""
    path = cache_dir() / f"{key}.npz"
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except Exception:
        return None


def save_arrays(key: str, arrays: dict[str, np.ndarray]) -> None:
    path = cache_dir() / f"{key}.npz"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key}.", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
