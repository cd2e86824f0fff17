"""The pretrained model zoo: shipped checkpoints the app loads instantly, and how to rebuild them.

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

import contextlib
import datetime as _dt
import difflib
import json
import math
import os
import re
import secrets
import shutil
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

ENV_VAR = "SHIFTLAB_ZOO_DIR"
ZOO_DIR = Path(__file__).resolve().parents[1] / "pretrained"
LEADERBOARD_NAME = "leaderboard.json"
ALIGNMENT_NAME = "alignment.npz"
MAX_TOTAL_BYTES = 30 * 1024 * 1024          # keep the shipped zoo under 30 MB
FP16_TOLERANCE = 0.5                        # points of target accuracy fp16 weights may cost
REBUILD_COMMAND = "python -m core zoo rebuild"

# Reference numbers to put beside ours (target test accuracy, %); see ../shared/DESIGN.md.
PUBLISHED: dict[str, dict[str, Any]] = {
    "mnist->mnistm": {
        "label": "MNIST → MNIST-M",
        "citation": "Ganin et al., Domain-Adversarial Training of Neural Networks, JMLR 2016, Table 2",
        "results": {"source_only": 52.25, "dann": 76.66, "oracle": 95.96},
    },
    "svhn->mnist": {
        "label": "SVHN → MNIST",
        "citation": "Ganin et al., Domain-Adversarial Training of Neural Networks, JMLR 2016, Table 2",
        "results": {"source_only": 54.90, "dann": 73.85, "oracle": 99.42},
    },
    "synnumbers->svhn": {
        "label": "SynNumbers → SVHN",
        "citation": "Ganin et al., Domain-Adversarial Training of Neural Networks, JMLR 2016, Table 2",
        "results": {"source_only": 86.74, "dann": 91.09, "oracle": 92.20},
    },
    "mnist->usps": {
        "label": "MNIST → USPS",
        "citation": "Tzeng et al., Adversarial Discriminative Domain Adaptation, CVPR 2017, Table 2 "
                    "(their 'gradient reversal' row is DANN)",
        "results": {"source_only": 75.2, "dann": 77.1, "adda": 89.4},
    },
}
PUBLISHED_NOTE = ("Published numbers use the full datasets (e.g. 55k MNIST / MNIST-M training images) "
                  "and their own networks; ShiftLab's embedded domains are small subsets, so compare "
                  "the gaps between methods rather than the absolute numbers.")

_NAME_RE = re.compile(r"^\s*([A-Za-z0-9_.:]+)\s*(?:->|→)\s*([A-Za-z0-9_.:]+)\s*/\s*([A-Za-z0-9_]+)\s*$")
_PART_RE = re.compile(r"^[A-Za-z0-9_]+$")


class ZooError(ValueError):
    """An unknown zoo name or a missing zoo file; the message lists what is available."""


# ------------------------------------------------------------------------------------ reading

def zoo_dir() -> Path:
    """The zoo folder: ``$SHIFTLAB_ZOO_DIR`` if set (read at every call), else ``pretrained/``."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else ZOO_DIR


def scenarios() -> list[tuple[str, str]]:
    """The (source, target) pairs the zoo ships, the app's default first (``recipes.SCENARIOS``)."""
    from . import recipes

    return [tuple(s) for s in recipes.SCENARIOS]


def method_order() -> list[str]:
    """Methods in display order: ``recipes.ZOO_METHODS`` then ``distill``."""
    from . import recipes

    return list(dict.fromkeys([*recipes.ZOO_METHODS, "distill"]))


def scenario_key(source: str, target: str) -> str:
    """``"mnist->mnistm"`` (the leaderboard's key and the first half of a zoo name)."""
    return f"{source}->{target}"


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


def _folder(source: str, target: str) -> str:
    return f"{source}-{target}"


def _split_folder(folder: str) -> tuple[str, str] | None:
    known = {_folder(s, t): (s, t) for s, t in scenarios()}
    if folder in known:
        return known[folder]
    source, sep, target = folder.partition("-")
    if sep and _PART_RE.match(source) and _PART_RE.match(target):
        return source, target
    return None


def _is_model_dir(path: Path) -> bool:
    from .checkpoints import CARD_NAME, WEIGHTS_NAME

    return (path.is_dir() and not path.is_symlink()
            and (path / CARD_NAME).is_file() and (path / WEIGHTS_NAME).is_file())


def _scan(root: Path | None = None) -> dict[str, Path]:
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
            if md.name.startswith(".") or not _PART_RE.match(md.name):
                continue
            if _is_model_dir(Path(md.path)):
                found[make_name(*pair, md.name)] = Path(md.path)
    return found


def _sort_key(name: str) -> tuple:
    source, target, method = parse_name(name)
    scen, meths = scenarios(), method_order()
    si = scen.index((source, target)) if (source, target) in scen else len(scen)
    mi = meths.index(method) if method in meths else len(meths)
    return si, scenario_key(source, target), mi, method


def names() -> list[str]:
    """Zoo names ``SOURCE->TARGET/METHOD``, in scenario order (``recipes.SCENARIOS``) then method order."""
    return sorted(_scan(), key=_sort_key)


def available_message(found: Iterable[str] | None = None) -> str:
    found = sorted(found if found is not None else _scan(), key=_sort_key)
    if not found:
        return (f"No pretrained models in {zoo_dir()}; build them with: {REBUILD_COMMAND} "
                f"(or point ${ENV_VAR} at a zoo folder).")
    return "Available: " + ", ".join(found)


def model_dir(name: str) -> Path:
    """The folder of zoo model ``name``; :class:`ZooError` listing the available names if unknown."""
    source, target, method = parse_name(name)
    canonical = make_name(source, target, method)
    found = _scan()
    if canonical not in found:
        close = difflib.get_close_matches(canonical, list(found), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ZooError(f"unknown zoo model {name!r}.{hint} {available_message(found)}")
    return found[canonical]


def _read_card(folder: Path) -> dict:
    from .checkpoints import CARD_NAME, MAX_CARD_BYTES, BadCheckpoint, validate_card

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
    from . import checkpoints

    folder = model_dir(name)
    model, c = checkpoints.load(folder, device=device)
    c.setdefault("name", make_name(*parse_name(name)))
    return model, c


def _num(v) -> float:
    return float("nan") if v is None else float(v)


def _count_params(weights: Path) -> int:
    """Number of values in a safetensors file, from its header alone."""
    with open(weights, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        if not 2 <= n <= 16 * 1024 * 1024:
            return 0
        header = json.loads(f.read(n))
    return sum(math.prod(e["shape"]) for k, e in header.items() if k != "__metadata__")


def entries() -> list[dict]:
    """One row per shipped model: name, method, source, target, target_acc, source_acc, size_kb,
    params, path (plus target_acc_mean/std over seeds and the weights' dtype where recorded)."""
    from .checkpoints import WEIGHTS_NAME

    rows = []
    found = _scan()
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
            "params": int(params) if isinstance(params, int) else _count_params(weights),
            "weights_dtype": c.get("weights_dtype"),
            "path": str(folder),
        })
    return rows


def alignment(name: str):
    """The precomputed :class:`core.embedding.Alignment` of ``name`` (from alignment.npz)."""
    import numpy as np

    from .embedding import Alignment

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


def leaderboard() -> dict:
    """The leaderboard (``leaderboard.json``): generated, seeds, settings, device, seconds_total,
    scenarios {"mnist->mnistm": {method: {mean, std, values, ...}}} and published reference numbers.

    Without a leaderboard file this returns the same structure with no scenarios (and
    ``generated`` None), so the published numbers can always be shown.
    """
    path = zoo_dir() / LEADERBOARD_NAME
    try:
        board = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        board = {"generated": None, "seeds": [], "settings": {}, "device": None,
                 "seconds_total": None, "scenarios": {}}
    except (UnicodeDecodeError, ValueError) as e:
        raise ZooError(f"{path} is not valid JSON ({e}); rebuild it with: {REBUILD_COMMAND}") from e
    if not isinstance(board, dict):
        raise ZooError(f"{path} must hold a JSON object; rebuild it with: {REBUILD_COMMAND}")
    board.setdefault("scenarios", {})
    board.setdefault("published", PUBLISHED)
    board.setdefault("published_note", PUBLISHED_NOTE)
    return board


def leaderboard_rows(board: dict | None = None) -> list[dict]:
    """The leaderboard flattened for a table, one row per (scenario, method).

    Rows of ours (``origin="shiftlab"``): scenario, source, target, method, mean, std, n_seeds,
    values, published (the paper's number for the same scenario and method, or None).
    Then rows of the published scenarios (``origin="published"``): mean = the paper's number,
    std None, plus citation.
    """
    board = leaderboard() if board is None else board
    published = board.get("published") or {}
    meths = method_order()
    scen_order = [scenario_key(*s) for s in scenarios()]

    def order(key: str, seq: list[str]) -> tuple:
        return (seq.index(key) if key in seq else len(seq), key)

    rows = []
    for skey in sorted(board.get("scenarios", {}), key=lambda k: order(k, scen_order)):
        source, _, target = skey.partition("->")
        paper = (published.get(skey) or {}).get("results", {})
        for method in sorted(board["scenarios"][skey], key=lambda k: order(k, meths)):
            e = board["scenarios"][skey][method]
            rows.append({"origin": "shiftlab", "scenario": skey, "source": source, "target": target,
                         "method": method, "mean": e.get("mean"), "std": e.get("std"),
                         "n_seeds": len(e.get("values") or []), "values": e.get("values"),
                         "teacher": e.get("teacher"), "published": paper.get(method)})
    for skey, info in published.items():
        source, _, target = skey.partition("->")
        for method, value in sorted((info.get("results") or {}).items(), key=lambda kv: order(kv[0], meths)):
            rows.append({"origin": "published", "scenario": skey, "source": source, "target": target,
                         "method": method, "mean": value, "std": None, "n_seeds": None, "values": None,
                         "teacher": None, "published": value, "citation": info.get("citation")})
    return rows


# ------------------------------------------------------------------------------------ rebuild

def _stats(values: list[float]) -> dict:
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return {"mean": None, "std": None}
    return {"mean": round(statistics.fmean(vals), 4),
            "std": round(statistics.stdev(vals), 4) if len(vals) > 1 else 0.0}


def _round(v, nd: int = 4):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), nd)


def _write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, ensure_ascii=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


_SHIPPED_FILES = {"model.safetensors", "card.json", ALIGNMENT_NAME}


def _is_shipped_dir(path: Path) -> bool:
    """A folder holding only what the rebuild writes (safe to replace or remove)."""
    if path.is_symlink() or not path.is_dir():
        return False
    return all(e.name in _SHIPPED_FILES and e.is_file(follow_symlinks=False) for e in os.scandir(path))


def _swap_in(staging: Path, final: Path) -> None:
    """Replace ``final`` by the complete folder ``staging`` (two renames; readers see old or new)."""
    if final.exists() or final.is_symlink():
        if not _is_shipped_dir(final):
            raise ValueError(f"{final} exists and holds files the zoo did not write; refusing to replace it")
        old = final.with_name(f".{final.name}.zoo-old-{os.getpid()}-{secrets.token_hex(4)}")
        os.rename(final, old)
        os.rename(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, final)


def _clean_stale(scen_dir: Path) -> None:
    """Remove staging/old folders that killed rebuilds left in ``scen_dir``."""
    if not scen_dir.is_dir():
        return
    for e in os.scandir(scen_dir):
        if e.name.startswith(".") and (".zoo-staging-" in e.name or ".zoo-old-" in e.name):
            shutil.rmtree(e.path, ignore_errors=True)


def _dir_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _device_label(device) -> str:
    import torch

    from .device import resolve_device

    dev = resolve_device(device)
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    if dev.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(dev)


def _settings(method: str, source: str, target: str, steps: int | None) -> dict:
    from . import recipes

    fields = asdict(recipes.recipe(method, source, target, **({"steps": steps} if steps else {})))
    for k in ("method", "source", "target", "seed", "device"):
        fields.pop(k, None)
    if method == "distill":
        fields["hparams"] = {**fields["hparams"],
                             "teacher": "best adapted method of the scenario by mean target accuracy, same seed"}
    return fields


def _normalise_scenarios(items) -> list[tuple[str, str]]:
    if items is None:
        return scenarios()
    out = []
    for item in items:
        if isinstance(item, str):
            source, sep, target = item.replace("→", "->").partition("->")
            if not sep:
                raise ValueError(f"scenario {item!r} should read SOURCE->TARGET, e.g. mnist->mnistm")
            item = (source.strip(), target.strip())
        source, target = item
        out.append((str(source), str(target)))
    return out


def _normalise_methods(items) -> list[str]:
    from .methods import METHODS

    order = method_order()
    if items is None:
        return order
    items = list(dict.fromkeys(items))
    unknown = [m for m in items if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from: {', '.join(order)}")
    return sorted(items, key=lambda m: (order.index(m) if m in order else len(order), m))


@dataclass
class _Run:
    """One finished training run: its numbers, its card and its fp32 checkpoint on disk."""

    target_acc: float
    source_acc: float
    seconds: float
    card: dict
    checkpoint: Path


class _Builder:
    """State of one :func:`rebuild`: trains runs into a work folder, ships seed 0 into ``out_dir``."""

    def __init__(self, *, out_dir: Path, work: Path, seeds: list[int], device, steps, tiny: bool,
                 n_runs: int, log: Callable[[str], Any]):
        self.out_dir, self.work, self.seeds, self.device = out_dir, work, seeds, device
        self.steps, self.tiny, self.n_runs, self.log = steps, tiny, n_runs, log
        self.n_points, self.embed = (60, "pca") if tiny else (500, "umap")
        self.done = 0
        self.failures: list[str] = []
        self.shipped: set[str] = set()

    # ---- training ----------------------------------------------------------------------------
    def train(self, source: str, target: str, method: str, seed: int, hparams: dict | None = None) -> _Run | None:
        """Train one run with the method's recipe; None (logged, counted as a failure) if it fails."""
        from . import recipes
        from .engine import train

        self.done += 1
        skey = scenario_key(source, target)
        where = f"[{self.done:>3}/{self.n_runs}] {skey:<22} {method:<14} seed {seed}"
        path = self.work / _folder(source, target) / f"{method}-seed{seed}"
        config = recipes.recipe(method, source, target, seed=seed, device=self.device,
                                **({"steps": self.steps} if self.steps else {}),
                                **({"hparams": hparams} if hparams else {}))
        try:
            r = train(config, out_dir=path)
        except Exception as e:  # one diverged run must not cost the others
            self.failures.append(f"{skey}/{method} seed {seed}: {type(e).__name__}: {e}")
            self.log(f"{where}: FAILED {type(e).__name__}: {e}")
            return None
        src = "" if math.isnan(r.source_acc) else f"  source {r.source_acc:6.2f}%"
        self.log(f"{where}: target {r.target_acc:6.2f}%{src}  ({r.seconds:.1f} s)")
        return _Run(r.target_acc, r.source_acc, r.seconds, r.card, path)

    def train_scenario(self, source: str, target: str, methods: list[str]) -> tuple[dict[str, dict[int, _Run]], str | None]:
        """Every method × seed, then distill from the best adapted method; → (runs, teacher)."""
        from . import recipes

        runs: dict[str, dict[int, _Run]] = {m: {} for m in methods}
        for seed in self.seeds:
            for method in methods:
                if method != "distill" and (run := self.train(source, target, method, seed)):
                    runs[method][seed] = run
        teacher = None
        if "distill" in methods:
            means = {m: statistics.fmean(r.target_acc for r in runs[m].values())
                     for m in recipes.ADAPTED_METHODS if m in runs and len(runs[m]) == len(self.seeds)}
            if not means:
                self.failures.append(f"{scenario_key(source, target)}/distill: no adapted teacher on every seed")
                self.log(f"      {scenario_key(source, target)}: distill skipped, no adapted teacher on every seed")
                return runs, None
            teacher = max(means, key=means.get)  # ties: the first in recipes.ADAPTED_METHODS
            self.log(f"      {scenario_key(source, target)}: distilling from {teacher} "
                     f"(mean target {means[teacher]:.2f}%)")
            for seed in self.seeds:
                if run := self.train(source, target, "distill", seed, {"teacher": str(runs[teacher][seed].checkpoint)}):
                    runs["distill"][seed] = run
        return runs, teacher

    # ---- shipping ----------------------------------------------------------------------------
    def ship(self, source: str, target: str, method: str, runs: dict[int, _Run], teacher: str | None,
             entry: dict) -> None:
        """Write seed 0 of ``method`` to out_dir/<source>-<target>/<method>/ (weights, card, map)."""
        import numpy as np

        from . import checkpoints
        from .data import load_domain
        from .embedding import compute_alignment
        from .evaluation import evaluate_accuracy

        run0, name = runs[0], make_name(source, target, method)
        model32, _ = checkpoints.load(run0.checkpoint, device="cpu")
        size = int(model32.input_size)
        tgt_test, src_test = load_domain(target, "test", size), load_domain(source, "test", size)
        scen_dir = self.out_dir / _folder(source, target)
        staging = scen_dir / f".{method}.zoo-staging-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            # fp16 unless the saved fp16 checkpoint, re-evaluated, is > 0.5 points off fp32
            checkpoints.save(model32, run0.card, staging, half=True)
            model, _ = checkpoints.load(staging, device="cpu")
            acc = evaluate_accuracy(model, tgt_test)
            half = abs(acc - run0.target_acc) <= FP16_TOLERANCE
            if not half:
                model, acc16, acc = model32, acc, evaluate_accuracy(model32, tgt_test)
                self.log(f"      {name}: fp16 weights give {acc16:.2f}%, fp32 {acc:.2f}%; shipping fp32")
                if abs(acc - run0.target_acc) > FP16_TOLERANCE:
                    self.log(f"      warning: {name} re-evaluates to {acc:.2f}% on the CPU, "
                             f"{run0.target_acc:.2f}% on the training device")
            # tiny (CI) runs keep the training-time source accuracy: one evaluation less per model
            src_acc = run0.source_acc
            if not self.tiny and list(tgt_test.classes) == list(src_test.classes):
                src_acc = evaluate_accuracy(model, src_test)
            hyper = dict(run0.card.get("hyperparameters") or {})
            if method == "distill":  # the teacher by zoo name, not a temporary path
                hyper["teacher"] = make_name(source, target, teacher)
            card = {
                **run0.card, "name": name, "hyperparameters": hyper,
                "metrics": {
                    "target_acc": round(acc, 4), "source_acc": _round(src_acc),
                    "target_acc_train": _round(run0.target_acc),
                    "target_acc_mean": entry["mean"], "target_acc_std": entry["std"],
                    "source_acc_mean": entry["source_mean"], "source_acc_std": entry["source_std"],
                    "n_seeds": len(entry["values"]),
                },
                "weights_dtype": "float16" if half else "float32",
                "params": sum(p.numel() for p in model.parameters()),
                "zoo": {"leaderboard": f"{LEADERBOARD_NAME}: scenarios / {scenario_key(source, target)} / {method}",
                        "seeds": entry["seeds"], "target_acc_values": entry["values"]},
            }
            checkpoints.save(model, card, staging, half=half)
            amap = compute_alignment(model, src_test, tgt_test, n_per_domain=self.n_points,
                                     method=self.embed, seed=0)
            with open(staging / ALIGNMENT_NAME, "wb") as f:
                np.savez_compressed(f, **amap.to_arrays())
                f.flush()
                os.fsync(f.fileno())
            _swap_in(staging, scen_dir / method)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self.shipped.add(name)
        kb = (scen_dir / method / "model.safetensors").stat().st_size / 1024
        self.log(f"      shipped {name:<34} target {acc:6.2f}% ({'fp16' if half else 'fp32'}, {kb:.0f} KB; "
                 f"mean {entry['mean']:.2f} ± {entry['std']:.2f} over {len(entry['values'])} seed(s))")


def _entry(runs: dict[int, _Run], seeds: list[int]) -> dict:
    """Leaderboard entry of one scenario × method: target mean/std/values over seeds, and more."""
    done = [s for s in seeds if s in runs]
    vals = [runs[s].target_acc for s in done]
    src = [runs[s].source_acc for s in done]
    sstats = _stats(src)
    return {**_stats(vals), "values": [_round(v) for v in vals], "seeds": done,
            "source_mean": sstats["mean"], "source_std": sstats["std"],
            "source_values": [_round(v) for v in src],
            "seconds_mean": _round(statistics.fmean(runs[s].seconds for s in done), 2)}


def rebuild(tiny: bool = False, seeds: int | None = None, device: str = "auto", steps: int | None = None,
            out_dir=None, scenarios=None, methods=None, log: Callable[[str], Any] = print) -> int:
    """Train the zoo and write it to ``out_dir`` (default: :func:`zoo_dir`); return an exit code.

    For each scenario and each seed in ``range(seeds)`` (default 3) every method of
    ``recipes.ZOO_METHODS`` is trained with its recipe (``steps``: default ``recipes.ZOO_STEPS``,
    else each recipe's own); then ``distill`` is trained per seed from
    the adapted method (``recipes.ADAPTED_METHODS``) with the best mean target accuracy, using
    that method's same-seed checkpoint as teacher. Only seed 0 is shipped: fp16 weights (fp32 if
    fp16 costs more than 0.5 points), a card whose ``target_acc`` was re-evaluated on the shipped
    weights (plus mean/std over seeds) and a precomputed alignment map (UMAP of 500 + 500 test
    images). ``leaderboard.json`` is rewritten after every scenario (atomically), so cards and
    leaderboard agree even if a run stops half way.

    ``scenarios`` (pairs or ``"S->T"`` strings) / ``methods`` restrict the run; the rest of the
    zoo and leaderboard is kept. A full run removes shipped models it did not build.

    ``tiny``: 3 steps (unless ``steps``), 1 seed (unless ``seeds``), PCA maps of 60 + 60 points,
    training-time source accuracy in the cards, into ``out_dir`` or a new temporary folder —
    never the shipped zoo. Returns 0, or 1 if a run failed or the zoo exceeds 30 MB.
    """
    from . import recipes

    t_start = time.perf_counter()
    seeds = (1 if tiny else 3) if seeds is None else int(seeds)
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {seeds}")
    partial = scenarios is not None or methods is not None
    scen_list, meth_list = _normalise_scenarios(scenarios), _normalise_methods(methods)
    if "distill" in meth_list and not set(meth_list) & set(recipes.ADAPTED_METHODS):
        raise ValueError("distill needs an adapted teacher trained in the same rebuild; add one of "
                         f"{', '.join(recipes.ADAPTED_METHODS)} to the methods")
    if tiny:
        steps = steps or 3
        out_dir = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="shiftlab-zoo-tiny-"))
    else:
        steps = steps or getattr(recipes, "ZOO_STEPS", None)  # the zoo trains longer than a CLI run
        out_dir = Path(out_dir) if out_dir is not None else zoo_dir()
    seed_list = list(range(seeds))
    out_dir.mkdir(parents=True, exist_ok=True)
    device_label = _device_label(device)
    n_runs = len(scen_list) * len(seed_list) * len(meth_list)
    log(f"zoo rebuild{' (tiny)' if tiny else ''}: {len(scen_list)} scenario(s) × {len(meth_list)} method(s) × "
        f"{seeds} seed(s) = {n_runs} runs on {device_label}, steps {steps or 'per recipe'} → {out_dir}")

    # Start from the existing leaderboard so that it agrees with the shipped cards after every
    # scenario, even if the run stops half way; a full rebuild drops what it did not build at the end.
    board_path = out_dir / LEADERBOARD_NAME
    board: dict = {}
    if board_path.is_file():
        try:
            board = json.loads(board_path.read_text(encoding="utf-8"))
        except ValueError:
            log(f"warning: {board_path} is unreadable; starting a new leaderboard")
    if not isinstance(board, dict) or not isinstance(board.get("scenarios"), dict):
        board = {}
    board.setdefault("scenarios", {})
    board["settings"] = dict(board.get("settings") or {}) if partial else {}
    board.update(seeds=seed_list, device=device_label, steps=steps, tiny=bool(tiny),
                 published=PUBLISHED, published_note=PUBLISHED_NOTE)
    for method in meth_list:
        board["settings"][method] = _settings(method, *scen_list[0], steps)

    with tempfile.TemporaryDirectory(prefix="shiftlab-zoo-work-") as work:
        b = _Builder(out_dir=out_dir, work=Path(work), seeds=seed_list, device=device, steps=steps,
                     tiny=tiny, n_runs=n_runs, log=log)
        for source, target in scen_list:
            skey = scenario_key(source, target)
            runs, teacher = b.train_scenario(source, target, meth_list)
            scen_dir = out_dir / _folder(source, target)
            scen_dir.mkdir(parents=True, exist_ok=True)
            _clean_stale(scen_dir)
            entries_now = dict(board["scenarios"].get(skey) or {}) if partial else {}
            for method in meth_list:
                if 0 not in runs[method]:
                    entries_now.pop(method, None)
                    continue
                entry = _entry(runs[method], seed_list)
                if method == "distill":
                    entry["teacher"] = teacher
                fields = _settings(method, source, target, steps)
                if fields != board["settings"].get(method):
                    entry["settings"] = fields  # a scenario-specific recipe
                b.ship(source, target, method, runs[method], teacher, entry)
                entries_now[method] = entry
            board["scenarios"][skey] = entries_now
            board["generated"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            board["seconds_total"] = round(time.perf_counter() - t_start, 1)
            _write_json_atomic(board_path, board)

    if not partial:  # a full rebuild: the zoo is exactly what was built
        keep = {scenario_key(s, t) for s, t in scen_list}
        board["scenarios"] = {k: v for k, v in board["scenarios"].items() if k in keep}
        for name, folder in _scan(out_dir).items():
            if name not in b.shipped and _is_shipped_dir(folder):
                shutil.rmtree(folder)
                log(f"      removed stale {name}")
                with contextlib.suppress(OSError):
                    folder.parent.rmdir()
    board["seconds_total"] = round(time.perf_counter() - t_start, 1)
    _write_json_atomic(board_path, board)

    total = _dir_bytes(out_dir)
    log(f"zoo rebuilt: {len(b.shipped)} model(s), {total / 1e6:.2f} MB in {out_dir}, "
        f"{time.perf_counter() - t_start:.1f} s total")
    code = 0
    if total > MAX_TOTAL_BYTES:
        log(f"error: the zoo is {total / 1e6:.1f} MB, over the {MAX_TOTAL_BYTES / 1e6:.0f} MB limit")
        code = 1
    if b.failures:
        log(f"error: {len(b.failures)} run(s) failed:\n  " + "\n  ".join(b.failures))
        code = 1
    return code


__all__ = [
    "ENV_VAR", "PUBLISHED", "ZOO_DIR", "ZooError", "alignment", "card", "entries", "leaderboard",
    "leaderboard_rows", "load", "make_name", "method_order", "model_dir", "names", "parse_name",
    "rebuild", "scenario_key", "scenarios", "zoo_dir",
]


# ------------------------------------------------------------------------------------ report

METHOD_LABELS = {"source_only": "source only", "oracle": "train on target", "finetune": "finetune (10/class)",
                 "dann": "DANN", "mmd": "MMD", "adda": "ADDA", "self_training": "self-training",
                 "distill": "distilled student"}


def markdown_table(board: dict | None = None) -> str:
    """The leaderboard as a Markdown table: methods × scenarios, target accuracy mean ± std (%),
    with the published MNIST → MNIST-M numbers beside. This is what the README's table is."""
    board = leaderboard() if board is None else board
    scen = [k for k in (scenario_key(*s) for s in scenarios()) if k in board.get("scenarios", {})]
    if not scen:
        return f"(no leaderboard yet: {REBUILD_COMMAND})"
    paper = (board.get("published") or {}).get("mnist->mnistm", {}).get("results", {})
    pretty = {"mnist": "MNIST", "mnistm": "MNIST-M", "ucidigits": "UCI digits", "syndigits": "SynDigits",
              "usps": "USPS", "svhn": "SVHN", "mnist_full": "MNIST (full)"}
    labels = {k: " → ".join(pretty.get(d, d) for d in k.split("->")) for k in scen}
    head = "| method | " + " | ".join(labels[k] for k in scen) + " | MNIST → MNIST-M, DANN paper |"
    lines = [head, "|---" * (len(scen) + 2) + "|"]
    for method in method_order():
        cells = []
        for k in scen:
            e = board["scenarios"][k].get(method)
            if not e or e.get("mean") is None:
                cells.append("—")
                continue
            cell = f"{e['mean']:.1f} ± {e['std']:.1f}"
            if e.get("teacher"):
                cell += f" (teacher: {e['teacher']})"
            cells.append(cell)
        ref = paper.get(method)
        lines.append(f"| {METHOD_LABELS.get(method, method)} | " + " | ".join(cells)
                     + f" | {ref if ref is not None else '—'} |")
    return "\n".join(lines)
