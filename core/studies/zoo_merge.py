"""Merge zoo folders built by parallel ``python -m core zoo rebuild --scenario ... --out DIR`` runs.

    OMP_NUM_THREADS=1 taskset -c 0 python -m core zoo rebuild --scenario "mnist->mnistm" --out /tmp/zoo-a &
    OMP_NUM_THREADS=1 taskset -c 1 python -m core zoo rebuild --scenario "syndigits->mnist" --out /tmp/zoo-b &
    wait
    python -m core zoo merge /tmp/zoo-a /tmp/zoo-b --into pretrained

Each DIR's scenario folders replace the same folders in ``--into``; the leaderboard's per-scenario
blocks (``scenarios``, ``recommended``, ``best_in_hindsight``, ``selection``) come from the DIR
that built the scenario, the rest (published numbers, the LODO table) stays. Entries that lack the
collapse guard's input (``largest_class_share``: zoos built before the guard existed) get it from
the shipped seed-0 model on the unlabelled target train images, and the label-free blocks are
recomputed (:func:`core.studies.zoo_build.selection_blocks`). No target label is read for any choice.

:func:`reselect` recomputes those blocks of every scenario for another validator (``python -m core
zoo reselect --validator V``): what a new default validator recommends from the runs already scored.
A pool-aware validator (EnsV, MixVal) that a zoo predates is first scored by
:func:`backfill_pool_scores` over the pool the zoo still holds: the shipped seed-0 model of every
candidate method (the further seeds' weights are not kept), so its choice is made among those.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
from pathlib import Path
from typing import Any, Callable

from ..data.scenarios import Scenario
from ..util.files import write_json_atomic
from ..zoo.index import make_name, scenario_folder
from ..zoo.leaderboard import LEADERBOARD_NAME, record_not_built
from .zoo_build import cell_seconds, selection_blocks

BLOCKS = ("recommended", "best_in_hindsight", "selection")


def seed0_share(model_dir: Path, source: str, target: str) -> float:
    """The collapse rule's input for a zoo that predates it: the shipped seed-0 model's largest
    predicted class share on the unlabelled target train images."""
    from .. import checkpoints
    from ..validators import gather_evidence, largest_class_share

    model, _ = checkpoints.load(model_dir, device="cpu")
    return round(largest_class_share(gather_evidence(model, source, target)), 4)


POOL_FROM = "the shipped seed-0 models of the scenario's candidates (computed when reselecting)"


def backfill_pool_scores(into: Path, log: Callable[[str], Any] = print) -> list[str]:
    """Score the pool-aware validators over the pool ``into`` still holds, where its leaderboard
    needs it: a scenario whose candidates lack a pool validator's score (a zoo built before it), or
    whose scores already came from this backfill (a later partial rebuild scored its new runs
    among themselves only, so the whole scenario is scored again, over one pool). The pool: the
    shipped seed-0 model of every candidate method (loaded through the checkpoints' readers;
    evidence on the unlabelled target train images and the source splits). The scores go into each
    method's ``validator_scores`` (marked ``pool_scores_from``) and its seed-0 point; the other
    seeds' points lose theirs (another pool's). Returns the scenarios it scored; reads no target label."""
    from .. import checkpoints
    from ..selection import is_candidate
    from ..validators import VALIDATORS, gather_evidence, score_pool_all

    board_path = Path(into) / LEADERBOARD_NAME
    board = json.loads(board_path.read_text(encoding="utf-8"))
    pooled = [n for n, v in VALIDATORS.items() if v.pool]
    done = []
    for skey, entries in board.get("scenarios", {}).items():
        source, target = Scenario.parse(skey)
        folder = Path(into) / scenario_folder(source, target)
        methods = [m for m in entries if is_candidate(m) and (folder / m).is_dir()]
        needed = any(n not in (entries[m].get("validator_scores") or {}) or entries[m].get("pool_scores_from")
                     for m in methods for n in pooled)
        if not methods or not pooled or not needed:
            continue
        evs = [gather_evidence(checkpoints.load(folder / m, device="cpu")[0], source, target) for m in methods]
        points = (board.get("selection", {}).get(skey) or {}).get("points", [])
        for p in points:
            if p.get("seed") != 0 and p.get("method") in methods:
                for n in pooled:
                    p.get("scores", {}).pop(n, None)
        seed0 = {p["method"]: p for p in points if p.get("seed") == 0}
        for m, (scores, errors) in zip(methods, score_pool_all(evs, pooled)):
            kept = {k: round(v, 6) for k, v in scores.items()}
            entries[m].setdefault("validator_scores", {}).update(kept)
            entries[m]["pool_scores_from"] = POOL_FROM
            if m in seed0:
                seed0[m].setdefault("scores", {}).update(kept)
            if errors:
                log(f"{skey}/{m}: {errors}")
        log(f"{skey}: {', '.join(pooled)} scored over {len(methods)} shipped seed-0 models")
        done.append(skey)
    if done:
        write_json_atomic(board_path, board)
    return done


def merge(dirs: list[Path], into: Path, log: Callable[[str], Any] = print, why: str | None = None) -> int:
    """Merge the zoo folders ``dirs`` into ``into`` (see the module docstring); return an exit code.
    The cells a full rebuild would train and no build made are listed in the leaderboard's
    ``not_built`` with ``why`` (:func:`core.zoo.leaderboard.record_not_built`)."""
    into = Path(into)
    board_path = into / LEADERBOARD_NAME
    board = json.loads(board_path.read_text(encoding="utf-8")) if board_path.is_file() else {"scenarios": {}}
    parts = {}
    for d in map(Path, dirs):
        if not (d / LEADERBOARD_NAME).is_file():
            raise ValueError(f"{d} is not a zoo folder: it has no {LEADERBOARD_NAME}")
        parts[d] = json.loads((d / LEADERBOARD_NAME).read_text(encoding="utf-8"))
    for d, part in parts.items():
        for key in ("settings", "device", "steps", "tiny", "validator"):
            if key in part:
                board[key] = part[key] if key != "settings" else {**board.get("settings", {}), **part[key]}
        for skey, entries in part["scenarios"].items():
            source, target = Scenario.parse(skey)
            for method, entry in entries.items():
                if entry.get("largest_class_share") is None:
                    entry["largest_class_share"] = seed0_share(d / scenario_folder(source, target) / method, source, target)
                    entry["largest_class_share_from"] = "the shipped seed-0 model (computed when merging)"
            blocks = selection_blocks({}, part["validator"], entries, (part.get("selection") or {}).get(skey))
            board["scenarios"][skey] = entries
            for name in BLOCKS:
                board.setdefault(name, {})[skey] = blocks[name]
            dest = into / scenario_folder(source, target)
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(d / scenario_folder(source, target), dest)
            rec = blocks["recommended"] or {}
            log(f"{skey}: {len(entries)} models; recommended {rec.get('method')} "
                  f"({rec.get('target_acc_mean')} vs source-only {rec.get('source_only_acc_mean')}); "
                  f"Spearman {blocks['selection']['spearman']}; e.g. {make_name(source, target, next(iter(entries)))}")
    # the seeds the zoo reports: every seed some entry was trained on (a later partial run of one
    # seed rewrites its own leaderboard's "seeds")
    board["seeds"] = sorted({s for entries in board["scenarios"].values() for e in entries.values()
                             for s in e.get("seeds", [])})
    board.pop("seconds_by_scenario", None)  # per-build times replace per-scenario ones
    rebuilt = {k for part in parts.values() for k in part["scenarios"]}
    earlier = {} if rebuilt >= set(board["scenarios"]) else board.get("seconds_by_build", {})  # all replaced: none kept
    board["seconds_by_build"] = {**earlier, **{str(d): part["seconds_total"] for d, part in parts.items()}}
    board["build"] = _merged_build(board, parts)
    board["seconds_total"] = round(sum(board["seconds_by_build"].values()), 1)
    board["generated"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    board["how"] = ("python -m core zoo rebuild --scenario S->T ... --out DIR, one process per core with one "
                    "thread each, then python -m core zoo merge DIR ... --into pretrained")
    why = why or next((part["not_built"]["why"] for part in parts.values()
                       if (part.get("not_built") or {}).get("cells") and part["not_built"].get("why")), None)
    missing = record_not_built(board, why)
    if missing:
        log(f"not built ({missing['why']}): " + "; ".join(f"{k}: {', '.join(v)}" for k, v in missing["cells"].items()))
    write_json_atomic(board_path, board)
    return 0


def _merged_build(board: dict, parts: dict) -> dict:
    """The merged leaderboard's ``build`` block: the code versions of every entry's cells, each
    scenario's failed cells from the build that made it, the cells the builds did not train."""
    failed = {k: v for k, v in ((board.get("build") or {}).get("failed") or {}).items()
              if not any(k in part["scenarios"] for part in parts.values())}
    not_trained = []
    for part in parts.values():
        failed.update((part.get("build") or {}).get("failed") or {})
        not_trained += (part.get("build") or {}).get("not_trained") or []
    versions = sorted({c["code_version"] for entries in board["scenarios"].values() for e in entries.values()
                       for c in e.get("cells", [])})
    return {"code_versions": versions, "failed": failed, "not_trained": not_trained,
            "cell_seconds_total": cell_seconds(board)}


def reselect(into: Path, validator: str, log: Callable[[str], Any] = print) -> int:
    """Recompute every scenario's label-free blocks in ``into``'s leaderboard for ``validator`` from
    the scores already stored (nothing is trained or loaded); return an exit code."""
    from ..validators import get_validator

    pool_aware = get_validator(validator).pool  # an unknown name lists the valid ones
    board_path = Path(into) / LEADERBOARD_NAME
    if not board_path.is_file():
        raise ValueError(f"{into} is not a zoo folder: it has no {LEADERBOARD_NAME}")
    if pool_aware:
        backfill_pool_scores(into, log)
    board = json.loads(board_path.read_text(encoding="utf-8"))
    scored = [m for entries in board.get("scenarios", {}).values() for m, e in entries.items()
              if (e.get("validator_scores") or {}).get(validator) is not None]
    if not scored:
        raise ValueError(f"no model in {board_path} carries a {validator} score (built before it existed?); "
                         "rebuild the zoo to score it")
    for skey, entries in board.get("scenarios", {}).items():
        blocks = selection_blocks({}, validator, entries, (board.get("selection") or {}).get(skey))
        for name in BLOCKS:
            board.setdefault(name, {})[skey] = blocks[name]
        rec = blocks["recommended"] or {}
        log(f"{skey}: recommended by {validator}: {rec.get('method')} ({rec.get('target_acc_mean')} vs "
            f"source-only {rec.get('source_only_acc_mean')})")
    board["validator"] = validator
    write_json_atomic(board_path, board)
    return 0
