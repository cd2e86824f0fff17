"""Write the unseen digit domains (core/data/unseen.py) as ImageFolder trees, ready for ``folder:``.

    python scripts/make_unseen.py --out DIR [--n-per-class-train 50] [--n-per-class-test 30]
                                  [--domains paper colour ...] [--seed 0]

Writes DIR/<domain>/{train,test}/<class>/<i>.<png|jpg> and DIR/manifest.json; prints one progress
line per domain on stderr and a JSON summary on the last line of stdout. Then, for example:

    python -m core eval --checkpoint pretrained/mnist-mnistm/source_only --domain folder:DIR/paper --json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data.unseen import DOMAINS, write_all  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder (one sub-folder per domain)")
    p.add_argument("--n-per-class-train", type=int, default=50, help="train pictures per class (default 50)")
    p.add_argument("--n-per-class-test", type=int, default=30, help="test pictures per class (default 30)")
    p.add_argument("--domains", nargs="+", default=list(DOMAINS), choices=list(DOMAINS), metavar="NAME",
                   help=f"which domains (default all: {', '.join(DOMAINS)})")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.n_per_class_train < 1 or args.n_per_class_test < 1:
        p.error("counts must be ≥ 1 (folder: domains read both splits)")
    manifest = write_all(args.out, args.domains, args.n_per_class_train, args.n_per_class_test, args.seed,
                         log=lambda line: print(line, file=sys.stderr, flush=True))
    print(json.dumps(manifest))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
