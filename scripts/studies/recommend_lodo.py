"""``recommend`` on the leave-one-domain-out folds of the embedded domains: the pools the validator
study chooses the default validator on (beside the zoo's scenarios).

For each embedded domain D: ``python -m core recommend --source <the other three, joined by +>
--target D --seeds 1 --json``, as a user runs it with one seed (every candidate, 500 steps, every
validator's score kept in the JSON; ``--seeds`` to change). D's test labels only report; the study reads what each validator would have chosen.

    python scripts/studies/recommend_lodo.py --out docs/benchmarks/recommend-lodo

Resumable: a fold whose JSON is already in ``--out`` is not run again.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recommend_unseen import REPO, run_recommend  # noqa: E402  (this folder)


def folds() -> list[tuple[str, str]]:
    """(source of the other embedded domains joined by '+', held-out target), one per embedded domain."""
    sys.path.insert(0, str(REPO))
    from core.data import EMBEDDED

    return [("+".join(d for d in EMBEDDED if d != held), held) for held in EMBEDDED]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(REPO / "runs" / "recommend-lodo"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--held-out", nargs="*", default=None, help="only these folds (default: all)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--methods", default=None)
    ap.add_argument("--seeds", type=int, default=1,
                    help="seeds per candidate (default 1: the validator study's pools are one seed's runs)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for source, held in folds():
        if args.held_out and held not in args.held_out:
            continue
        if (out / f"{held}.json").exists():
            continue
        print(f"recommend {source} → {held} …", file=sys.stderr, flush=True)
        extra = [*(["--steps", str(args.steps)] if args.steps else []), *(["--methods", args.methods] if args.methods else []),
                 "--seeds", str(args.seeds)]
        result = run_recommend(source, held, held, out, args.threads, extra)
        print(json.dumps({k: result[k] for k in ("recommended", "target_acc", "source_only_acc", "seconds")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
