"""The zoo build's cells: one (scenario, method, seed) run each, stored the moment it finishes.

A rebuild trains every cell into its own folder of the build's *work folder*::

    <work>/<source>-<target>/<method>-seed<k>/model.safetensors, card.json   (the fp32 checkpoint)
    <work>/<source>-<target>/<method>-seed<k>/cell.json                      (written last, atomically)

``cell.json`` is the cell's record and its completion mark: the run's accuracies, every single-model
validator's label-free score, the collapse rule's input, the seed, the :func:`code_version` and the
settings it was trained with, when it was built and how long it took — or, for a run that diverged,
``status: "failed"`` and the error, never a number. ``python -m core zoo rebuild --resume`` reads
the cells a stopped build left and trains only the rest (:func:`load_cell` says why a cell cannot be
reused: corrupt, another code version, other settings, a missing checkpoint — the cell is then
trained again and the log says so). The pool-aware validators' scores are not stored: they depend on
the whole pool and are recomputed from the stored checkpoints.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..util.files import ReadRefused, pid_alive, read_bounded, write_json_atomic  # the dead-temp cleaner's pid test

CELL_NAME = "cell.json"
CELL_FORMAT = 1
CELL_MAX_BYTES = 1 << 20
#: The parts of core/ that cannot change what a cell trains or how it is scored: the CLI, the
#: benchmarks, the job manager, the estimators, test-time adaptation, the build itself and the
#: zoo's readers, the Train page's demo recipe and the Playground, and the choice made from stored
#: cells with ``recommend`` and ``tune`` (which train through ``selection/scoring.py``, hashed).
#: Everything else is hashed.
NOT_TRAINING = ("cli", "bench", "jobs", "estimators", "studies", "tta", "zoo", "training/demo.py",
                "training/playground.py", "selection/choice.py", "selection/recommend.py", "selection/tune.py")

#: The method package's shared files: every method's version includes them.
METHOD_SHARED = ("__init__.py", "base.py", "registry.py")
_ROOT = Path(__file__).resolve().parents[1]
_VERSIONS: dict[str | None, str] = {}


def _digest(files, seed: str = "") -> "hashlib._Hash":
    h = hashlib.sha256(seed.encode())
    for path in sorted(set(files)):
        h.update(path.relative_to(_ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h


def _shared_files() -> list[Path]:
    files = []
    for path in _ROOT.rglob("*.py"):
        rel = path.relative_to(_ROOT)
        if rel.parts[0] in NOT_TRAINING or rel.as_posix() in NOT_TRAINING:
            continue
        if rel.parts[0] == "methods" and rel.name not in METHOD_SHARED:
            continue  # a method's own file counts for its cells only
        files.append(path)
    return files


def _method_files(method: str) -> set[Path]:
    """The method's module and the method modules it imports (``from .name import``), recursively."""
    import re

    from ..methods import METHODS

    module = METHODS[method].__module__.rsplit(".", 1)[-1]
    todo, seen = [module], set()
    while todo:
        name = todo.pop()
        path = _ROOT / "methods" / f"{name}.py"
        if name in seen or not path.is_file() or f"{name}.py" in METHOD_SHARED:
            continue
        seen.add(name)
        todo += re.findall(r"^from \.(\w+) import", path.read_text(encoding="utf-8"), flags=re.M)
    return {_ROOT / "methods" / f"{n}.py" for n in seen}


def code_version(method: str | None = None) -> str:
    """A short hash of the training code and the torch version: every ``core/**/*.py`` outside
    :data:`NOT_TRAINING` except the methods' own files, plus (with ``method``) that method's file
    and the method files it imports. A cell built by another version is trained again on
    ``--resume``; changing one method's file leaves the other methods' cells valid."""
    if method not in _VERSIONS:
        import torch

        files = _shared_files() + (sorted(_method_files(method)) if method else [])
        _VERSIONS[method] = _digest(files, f"torch {torch.__version__}\n").hexdigest()[:12]
    return _VERSIONS[method]


def cell_dir(work: Path, scenario_folder: str, method: str, seed: int) -> Path:
    return Path(work) / scenario_folder / f"{method}-seed{seed}"


@dataclass
class Cell:
    """What ``cell.json`` holds (see the module docstring)."""

    scenario: str
    method: str
    seed: int
    settings: dict
    status: str = "done"                  # "done" or "failed"
    error: str | None = None
    target_acc: float | None = None
    source_acc: float | None = None
    seconds: float | None = None          # the run's training time
    scores: dict = field(default_factory=dict)
    share: float | None = None
    guard: dict | None = None
    code_version: str = ""
    built_at: str = ""
    build_seconds: float | None = None    # training + scoring, as the build spent it
    format: int = CELL_FORMAT

    def as_json(self) -> dict:
        return dict(self.__dict__)


def now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def clear_cell(folder: Path) -> None:
    """Remove a cell before it is trained again: a build killed mid-run must not leave the old record
    beside a half-written checkpoint."""
    (folder / CELL_NAME).unlink(missing_ok=True)
    if folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder)


def save_cell(folder: Path, cell: Cell) -> None:
    """Write ``cell.json`` last, atomically: its presence means the cell is complete."""
    write_json_atomic(Path(folder) / CELL_NAME, cell.as_json())


def lock_cell(folder: Path) -> int | None:
    """Claim the cell for this process (``<cell>.lock`` beside it, created exclusively, holding the
    pid): None when claimed, else the pid of the live process building it. Builds sharing a work
    folder (one per core) thus never train the same cell twice; a dead builder's lock is taken over."""
    lock = Path(folder).with_name(Path(folder).name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                owner = 0
            if owner and owner != os.getpid() and pid_alive(owner):
                return owner
            lock.unlink(missing_ok=True)  # left by a killed build
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return None
    return -1


def unlock_cell(folder: Path) -> None:
    Path(folder).with_name(Path(folder).name + ".lock").unlink(missing_ok=True)


class StaleCell(ValueError):
    """A stored cell that cannot be reused; the message says why (for the build log)."""


def load_cell(folder: Path, *, settings: dict, version: str | None = None) -> Cell | None:
    """The cell stored in ``folder`` if it can be reused for a run with ``settings``; None where no
    cell was finished there. :class:`StaleCell` (with the reason) for a corrupt record, another code
    version, another format, other settings, or a finished cell whose checkpoint is missing."""
    folder = Path(folder)
    try:
        raw = read_bounded(folder / CELL_NAME, CELL_MAX_BYTES)
    except FileNotFoundError:
        return None
    except (OSError, ReadRefused) as e:
        raise StaleCell(f"its {CELL_NAME} cannot be read ({e})") from None
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        cell = Cell(**data)
    except (ValueError, TypeError, UnicodeDecodeError) as e:
        raise StaleCell(f"its {CELL_NAME} is corrupt ({type(e).__name__}: {e})") from None
    version = version or code_version(cell.method)
    if cell.format != CELL_FORMAT:
        raise StaleCell(f"it has cell format {cell.format}, this build writes {CELL_FORMAT}")
    if cell.code_version != version:
        raise StaleCell(f"it was built by code version {cell.code_version or '?'}, this is {version}")
    if cell.settings != settings:
        differ = sorted(k for k in set(cell.settings) | set(settings) if cell.settings.get(k) != settings.get(k))
        raise StaleCell(f"it was built with other settings ({', '.join(differ)})")
    if cell.status == "done":
        if cell.target_acc is None or not (folder / "model.safetensors").is_file() or not (folder / "card.json").is_file():
            raise StaleCell("its checkpoint or accuracy is missing")
    elif cell.status != "failed":
        raise StaleCell(f"its status {cell.status!r} is neither done nor failed")
    return cell
