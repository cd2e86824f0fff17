"""Merge zoo folders built by parallel ``python -m core zoo rebuild --scenario ... --out DIR`` runs.

    OMP_NUM_THREADS=1 taskset -c 0 python -m core zoo rebuild --scenario "mnist->mnistm" --out /tmp/zoo-a &
    OMP_NUM_THREADS=1 taskset -c 1 python -m core zoo rebuild --scenario "syndigits->mnist" --out /tmp/zoo-b &
    wait
    python scripts/zoo_merge.py /tmp/zoo-a /tmp/zoo-b --into pretrained

Each DIR's scenario folders replace the same folders in ``--into``; the leaderboard's per-scenario
blocks (``scenarios``, ``recommended``, ``best_in_hindsight``, ``selection``) come from the DIR
that built the scenario, the rest (published numbers, the LODO table) stays. Entries that lack the
collapse guard's input (``largest_class_share``: zoos built before the guard existed) get it from
the shipped seed-0 model on the unlabelled target train images, and the label-free blocks are
recomputed (:func:`core.studies.zoo_build._selection`). No target label is read for any choice.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.util.files import write_json_atomic  # noqa: E402
from core.zoo.index import scenario_folder, make_name  # noqa: E402
from core.zoo.leaderboard import LEADERBOARD_NAME  # noqa: E402
from core.studies.zoo_build import _selection  # noqa: E402

BLOCKS = ("recommended", "best_in_hindsight", "selection")


def seed0_share(model_dir: Path, source: str, target: str) -> float:
    from core import checkpoints
    from core.validators import gather_evidence, largest_class_share

    model, _ = checkpoints.load(model_dir, device="cpu")
    return round(largest_class_share(gather_evidence(model, source, target)), 4)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dirs", nargs="+", type=Path)
    p.add_argument("--into", type=Path, default=Path("pretrained"))
    args = p.parse_args(argv)
    board_path = args.into / LEADERBOARD_NAME
    board = json.loads(board_path.read_text(encoding="utf-8")) if board_path.is_file() else {"scenarios": {}}
    parts = {d: json.loads((d / LEADERBOARD_NAME).read_text(encoding="utf-8")) for d in args.dirs}
    for d, part in parts.items():
        for key in ("settings", "device", "steps", "tiny", "validator"):
            if key in part:
                board[key] = part[key] if key != "settings" else {**board.get("settings", {}), **part[key]}
        for skey, entries in part["scenarios"].items():
            source, _, target = skey.partition("->")
            for method, entry in entries.items():
                if entry.get("largest_class_share") is None:
                    entry["largest_class_share"] = seed0_share(d / scenario_folder(source, target) / method, source, target)
                    entry["largest_class_share_from"] = "the shipped seed-0 model (computed when merging)"
            blocks = _selection({}, part["validator"], entries, (part.get("selection") or {}).get(skey))
            board["scenarios"][skey] = entries
            for name in BLOCKS:
                board.setdefault(name, {})[skey] = blocks[name]
            dest = args.into / scenario_folder(source, target)
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(d / scenario_folder(source, target), dest)
            rec = blocks["recommended"] or {}
            print(f"{skey}: {len(entries)} models; recommended {rec.get('method')} "
                  f"({rec.get('target_acc_mean')} vs source-only {rec.get('source_only_acc_mean')}); "
                  f"Spearman {blocks['selection']['spearman']}; e.g. {make_name(source, target, next(iter(entries)))}")
    # the seeds the zoo reports: every seed some entry was trained on (a later partial run of one
    # seed rewrites its own leaderboard's "seeds")
    board["seeds"] = sorted({s for entries in board["scenarios"].values() for e in entries.values()
                             for s in e.get("seeds", [])})
    board.pop("seconds_by_scenario", None)  # per-build times replace per-scenario ones
    board["seconds_by_build"] = {**board.get("seconds_by_build", {}),
                                 **{str(d): part["seconds_total"] for d, part in parts.items()}}
    board["seconds_total"] = round(sum(board["seconds_by_build"].values()), 1)
    board["generated"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    board["how"] = ("python -m core zoo rebuild --scenario S->T ... --out DIR, one process per core with one "
                    "thread each, then python scripts/zoo_merge.py DIR ... --into pretrained")
    write_json_atomic(board_path, board)
    return 0


if __name__ == "__main__":
    sys.exit(main())
