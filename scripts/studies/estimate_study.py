"""How well do the accuracy estimators do on pictures no shipped model has seen? And which is the default?

The rule, declared before the numbers (core.studies.estimate_study.RULE): the default estimator is
the one with the lowest mean absolute error on leave-one-domain-out folds over the six unseen
fixture domains, with every shipped model; the four shipped scenarios' targets only check it.

    python -m core estimate --fit-zoo            # the source fit into the shipped cards (once)
    python -m core fixtures --out unseen
    python scripts/studies/estimate_study.py --fixtures unseen --out docs/benchmarks/estimate-study.json

Writes the report (estimated vs true per model and domain, MAE per estimator, how often the range
holds the truth, the check, the timing of 500 pictures on one core) and, with ``--calibrate``,
``core/estimators/calibration.json`` (the default, each estimator's held-out map and range).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", required=True, help="the folder `python -m core fixtures --out` wrote")
    ap.add_argument("--out", default="docs/benchmarks/estimate-study.json")
    ap.add_argument("--calibrate", action="store_true", help="write core/estimators/calibration.json")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-check", action="store_true", help="skip the shipped scenarios' targets")
    ap.add_argument("--timing-only", action="store_true",
                    help="only measure 500 pictures on one core again and update the report's timing")
    args = ap.parse_args()

    import torch

    from core.estimators import CALIBRATION_PATH
    from core.studies.estimate_study import run_study, time_estimate
    from core.util.files import write_json_atomic
    from core.zoo import scenarios

    torch.set_num_threads(args.threads)
    fixtures = Path(args.fixtures)
    names = sorted(d.name for d in fixtures.iterdir() if (d / "test").is_dir()) if fixtures.is_dir() else []
    if not names:
        print(f"error: no domains in {fixtures} (make them with `python -m core fixtures --out {fixtures}`)",
              file=sys.stderr)
        return 2
    specs = {n: f"folder:{fixtures / n}" for n in names}
    targets = {} if args.no_check else {f"{t} (scenario target)": t for t in dict.fromkeys(t for _, t in scenarios())}
    out_path = REPO / args.out if not Path(args.out).is_absolute() else Path(args.out)
    if args.timing_only:
        report = json.loads(out_path.read_text())
        report["timing"] = time_estimate(report["models"][-1], specs[names[0]], n=500, threads=1)
        write_json_atomic(out_path, report)
        print(f"500 pictures on one core: {report['timing']['seconds']} s")
        return 0
    measured = f"{time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, {args.threads} thread(s)"
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    report = run_study(specs, targets, log=log, measured=measured)
    first = report["models"][-1]  # the universal model: the upload default
    report["timing"] = time_estimate(first, specs[names[0]], n=500, threads=1)
    write_json_atomic(out_path, report)
    if args.calibrate:
        write_json_atomic(CALIBRATION_PATH, report["calibration"])

    print(f"rule: {report['rule']}\ndefault: {report['default']}\n")
    print("| estimator | LODO MAE (pts) | worst error | range holds the truth | check: MAE | check: range holds |")
    print("|---|---|---|---|---|---|")
    for name, mae in report["mae"].items():
        chk = report.get("check", {}).get(name, {})
        fmt = lambda v, pct=False: "—" if v is None else (f"{100 * v:.0f} %" if pct else f"{v:.1f}")  # noqa: E731
        print(f"| {name} | {fmt(mae)} | {fmt(report['max_error'][name])} | {fmt(report['coverage'][name], True)} | "
              f"{fmt(chk.get('mae'))} | {fmt(chk.get('coverage'), True)} |")
    print(f"\nper domain (LODO MAE): {json.dumps({n: {d: round(v, 1) for d, v in m.items()} for n, m in report['mae_by_domain'].items()})}")
    print(f"500 pictures on one core: {report['timing']['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
