"""The pretrained model zoo's index: which shipped models exist, their names, cards, weights and maps.

Layout (``pretrained/`` at the repo root, or ``$SHIFTLAB_ZOO_DIR``)::

    pretrained/
        leaderboard.json                 # mean ± std over seeds for every scenario × method
        mnist-mnistm/                    # <source>-<target>
            dann/                        # <method>
                model.safetensors        # seed-0 weights (fp16 unless that cost > 0.5 points)
                card.json                # model card; metrics re-evaluated on the shipped weights
                alignment.npz            # precomputed joint 2-D map of source/target features
            ...

A zoo **name** reads ``SOURCE->TARGET/METHOD``, e.g. ``mnist->mnistm/dann``.

    >>> from core import zoo
    >>> zoo.names()[:2]                                   # doctest: +SKIP
    ['mnist->mnistm/source_only', 'mnist->mnistm/oracle']
    >>> model, card = zoo.load("mnist->mnistm/dann")      # doctest: +SKIP
    >>> zoo.alignment("mnist->mnistm/dann").coords.shape  # doctest: +SKIP
    (1000, 2)

Rebuild (trains every scenario × method × seed, then distils the best adapted teacher)::

    python -m core zoo rebuild                 # the shipped zoo: 3 seeds, recipes' steps
    python -m core zoo rebuild --tiny          # 3 steps, 1 seed, into a temporary folder (CI)

Reading functions never execute code from the files: weights go through
:func:`core.checkpoints.load`, alignments through ``np.load(allow_pickle=False)``.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path
from typing import Iterable

from ..data.scenarios import Scenario, scenario_key
from ..util.files import resolve_swapped

ENV_VAR = "SHIFTLAB_ZOO_DIR"
ZOO_DIR = Path(__file__).resolve().parents[2] / "pretrained"
ALIGNMENT_NAME = "alignment.npz"
REBUILD_COMMAND = "python -m core zoo rebuild"

_NAME_RE = re.compile(r"^\s*([A-Za-z0-9_.:]+)\s*(?:->|→)\s*([A-Za-z0-9_.:]+)\s*/\s*([A-Za-z0-9_]+)\s*$")
_PART_RE = re.compile(r"^[A-Za-z0-9_]+$")


class ZooError(ValueError):
    """An unknown zoo name or a missing zoo file; the message lists what is available."""


# ------------------------------------------------------------------------------------ reading

def zoo_dir() -> Path:
    """The zoo folder: ``$SHIFTLAB_ZOO_DIR`` if set (read at every call), else ``pretrained/``."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else ZOO_DIR


#: The scenarios the zoo ships, the app's default first.
SCENARIOS = (Scenario("mnist", "mnistm"), Scenario("mnist", "ucidigits"), Scenario("syndigits", "mnist"),
             Scenario("mnist", "syndigits"))


def scenarios() -> list[Scenario]:
    """The (source, target) scenarios the zoo ships, the app's default first (:data:`SCENARIOS`)."""
    return list(SCENARIOS)


def method_order() -> list[str]:
    """The methods a full rebuild trains — every ``in_zoo`` method and every recommend candidate
    (:func:`core.methods.registry.is_candidate`) — in display order (by family, then ``order``)."""
    from ..methods import METHODS, ordered
    from ..methods.registry import is_candidate

    return [name for name in ordered() if METHODS[name].in_zoo or is_candidate(name)]


def display_order() -> list[str]:
    """Every registered method in display order: how shipped models and leaderboard rows are sorted
    (a partial rebuild may ship a method a full one does not train)."""
    from ..methods import ordered

    return ordered()


def make_name(source: str, target: str, method: str) -> str:
    """The zoo name ``SOURCE->TARGET/METHOD``."""
    return f"{scenario_key(source, target)}/{method}"


def parse_name(name: str) -> tuple[str, str, str]:
    """``"mnist->mnistm/dann"`` → ``("mnist", "mnistm", "dann")`` (``→`` is accepted too)."""
    m = _NAME_RE.match(name) if isinstance(name, str) else None
    if not m:
        raise ZooError(f"{name!r} is not a zoo name; a zoo name reads SOURCE->TARGET/METHOD, e.g. "
                       f"'mnist->mnistm/dann'. {available_message()}")
    return m.group(1), m.group(2), m.group(3)


def scenario_folder(source: str, target: str) -> str:
    """The zoo folder of a scenario: ``<source>-<target>``."""
    return f"{source}-{target}"


def _split_folder(folder: str) -> tuple[str, str] | None:
    known = {scenario_folder(s, t): (s, t) for s, t in scenarios()}
    if folder in known:
        return known[folder]
    source, sep, target = folder.partition("-")
    if sep and _PART_RE.match(source) and _PART_RE.match(target):
        return source, target
    return None


def _is_model_dir(path: Path) -> bool:
    from ..checkpoints import CARD_NAME, WEIGHTS_NAME

    return (path.is_dir() and not path.is_symlink()
            and (path / CARD_NAME).is_file() and (path / WEIGHTS_NAME).is_file())


def scan_models(root: Path | None = None) -> dict[str, Path]:
    """name → model folder, for every complete model folder under the zoo (hidden ones skipped)."""
    root = zoo_dir() if root is None else root
    found: dict[str, Path] = {}
    try:
        scenario_dirs = sorted(os.scandir(root), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return found
    for sd in scenario_dirs:
        if sd.name.startswith(".") or not sd.is_dir(follow_symlinks=False):
            continue
        pair = _split_folder(sd.name)
        if pair is None:
            continue
        try:
            method_dirs = sorted(os.scandir(sd.path), key=lambda e: e.name)
        except OSError:
            continue
        for md in method_dirs:
            name = md.name[:-len(".old")] if md.name.endswith(".old") else md.name
            if name.startswith(".") or not _PART_RE.match(name):
                continue
            folder = resolve_swapped(Path(sd.path) / name)  # NAME.old: a swap caught half way
            if folder is not None and _is_model_dir(folder):
                found[make_name(*pair, name)] = folder
    return found


def _sort_key(name: str) -> tuple:
    source, target, method = parse_name(name)
    scen, meths = scenarios(), display_order()
    si = scen.index((source, target)) if (source, target) in scen else len(scen)
    mi = meths.index(method) if method in meths else len(meths)
    return si, scenario_key(source, target), mi, method


def names() -> list[str]:
    """Zoo names ``SOURCE->TARGET/METHOD``, in scenario order (:data:`SCENARIOS`) then method order."""
    return sorted(scan_models(), key=_sort_key)


def available_message(found: Iterable[str] | None = None) -> str:
    found = sorted(found if found is not None else scan_models(), key=_sort_key)
    if not found:
        return (f"No pretrained models in {zoo_dir()}; build them with: {REBUILD_COMMAND} "
                f"(or point ${ENV_VAR} at a zoo folder).")
    return "Available: " + ", ".join(found)


def model_dir(name: str) -> Path:
    """The folder of zoo model ``name``; :class:`ZooError` listing the available names if unknown."""
    source, target, method = parse_name(name)
    canonical = make_name(source, target, method)
    found = scan_models()
    if canonical not in found:
        close = difflib.get_close_matches(canonical, list(found), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ZooError(f"unknown zoo model {name!r}.{hint} {available_message(found)}")
    return found[canonical]


def _read_card(folder: Path) -> dict:
    from ..checkpoints import CARD_NAME, MAX_CARD_BYTES, BadCheckpoint, validate_card

    path = folder / CARD_NAME
    if path.stat().st_size > MAX_CARD_BYTES:
        raise BadCheckpoint(f"{path} is larger than {MAX_CARD_BYTES:,} bytes")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise BadCheckpoint(f"{path} is not valid JSON: {e}") from e
    return validate_card(data)


def card(name: str) -> dict:
    """The model card of ``name`` (card.json only, validated; no weights are read)."""
    folder = model_dir(name)
    c = _read_card(folder)
    c.setdefault("name", make_name(*parse_name(name)))
    return c


def load(name: str, device="cpu"):
    """Load zoo model ``name`` → ``(model, card)`` through :func:`core.checkpoints.load`."""
    from .. import checkpoints

    folder = model_dir(name)
    model, c = checkpoints.load(folder, device=device)
    c.setdefault("name", make_name(*parse_name(name)))
    return model, c


def _num(v) -> float:
    return float("nan") if v is None else float(v)


def entries() -> list[dict]:
    """One row per shipped model: name, method, source, target, target_acc, source_acc, size_kb,
    params, path (plus target_acc_mean/std over seeds and the weights' dtype where recorded)."""
    from ..checkpoints import WEIGHTS_NAME

    rows = []
    found = scan_models()
    for name in sorted(found, key=_sort_key):
        folder = found[name]
        source, target, method = parse_name(name)
        c = _read_card(folder)
        m = c.get("metrics") or {}
        weights = folder / WEIGHTS_NAME
        params = c.get("params")
        rows.append({
            "name": name, "method": method, "source": source, "target": target,
            "target_acc": _num(m.get("target_acc")), "source_acc": _num(m.get("source_acc")),
            "target_acc_mean": _num(m.get("target_acc_mean")), "target_acc_std": _num(m.get("target_acc_std")),
            "size_kb": round(weights.stat().st_size / 1024, 1),
            "params": int(params) if isinstance(params, int) and not isinstance(params, bool) else None,
            "weights_dtype": c.get("weights_dtype"),
            "path": str(folder),
        })
    return rows


def alignment(name: str):
    """The precomputed :class:`core.evaluation.embedding.Alignment` of ``name`` (from alignment.npz)."""
    import numpy as np

    from ..evaluation.embedding import Alignment

    path = model_dir(name) / ALIGNMENT_NAME
    if not path.is_file():
        raise ZooError(f"zoo model {name!r} has no precomputed alignment ({path} is missing); "
                       f"rebuild the zoo with: {REBUILD_COMMAND}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return Alignment.from_arrays({k: data[k] for k in data.files})
    except Exception as e:  # corrupt/truncated file, missing key, pickled object array …
        raise ZooError(f"could not read the alignment of {name!r} from {path}: "
                       f"{type(e).__name__}: {e}") from e
