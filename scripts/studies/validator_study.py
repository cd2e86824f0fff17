"""Which label-free validator to trust: the selection gap of every validator on every pool
(:mod:`core.studies.validator_study`), and the default it declares.

    python scripts/studies/recommend_lodo.py --out docs/benchmarks/recommend-lodo             # the LODO pools
    python scripts/studies/recommend_unseen.py --fixtures unseen --seeds 1 --out docs/benchmarks/recommend-unseen  # the fixture pools
    python scripts/studies/validator_study.py --zoo pretrained --lodo docs/benchmarks/recommend-lodo \\
        --fixtures docs/benchmarks/recommend-unseen --json docs/benchmarks/validator-study.json

The fixture pools choose; the zoo's scenarios and the LODO folds (whose held-out domains are shipped
targets) only check. Nothing is trained here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def recommend_runs(folder: Path | None) -> dict[str, list[dict]]:
    """``{name: candidate rows}`` of every recommend JSON in ``folder``."""
    if folder is None or not folder.is_dir():
        return {}
    runs = {}
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and "candidates" in data:
            runs[path.stem] = data["candidates"]
    return runs


def main(argv=None) -> int:
    from core.studies.validator_study import combinations, markdown, study
    from core.validators import VALIDATORS

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--zoo", default=str(REPO / "pretrained"), help="a zoo folder (its leaderboard.json)")
    ap.add_argument("--lodo", default=None, help="folder of recommend JSON on the LODO folds")
    ap.add_argument("--fixtures", default=None, help="folder of recommend JSON on the fixture domains (the pools that choose)")
    ap.add_argument("--json", default=None, help="write the whole study here")
    args = ap.parse_args(argv)
    board = json.loads((Path(args.zoo) / "leaderboard.json").read_text())
    scenarios = {k: block.get("points") or [] for k, block in (board.get("selection") or {}).items()}
    lodo = recommend_runs(Path(args.lodo) if args.lodo else None)
    fixtures = recommend_runs(Path(args.fixtures) if args.fixtures else None)
    result = study(scenarios, lodo, fixtures, list(VALIDATORS))
    result["combinations"] = combinations(scenarios, lodo, fixtures, list(VALIDATORS))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    print(markdown(result))
    print(f"\ndefault by the declared rule ({result['rule']}): {result['default']}")
    single = result["validators"][result["default"]]["worst"] if result["default"] else None
    print("\nrank-mean combinations, best five by the rule's order (worst, then mean gap on the fixture pools):")
    for row in result["combinations"][:5]:
        checks = ", ".join(f"{k} {g['gap']:.1f} ({g['chosen']})" for k, g in row["scenarios"].items() if g)
        print(f"  {'+'.join(row['members'])}: worst {row['worst']:.1f}, mean {row['mean']:.2f}; scenarios: {checks}")
    if result["combinations"] and single is not None:
        lower = [r for r in result["combinations"] if r["worst"] < single]
        print(f"combinations with a lower worst fixture gap than {result['default']} ({single:.1f}): {len(lower)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
