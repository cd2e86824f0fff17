"""The universal digits model's recipe: every embedded domain, the best domain-generalisation method.

    python -m core zoo universal [--out pretrained/universal] [--steps 4000] [--seed 0]

:func:`train_universal` fits the digits CNN with batch norm (so test-time adaptation has
statistics to re-estimate, :mod:`core.tta`) on mnist + mnistm + syndigits + ucidigits train splits
with :func:`lodo_winner` — the method that scored best on the leave-one-domain-out benchmark
(scripts/studies/lodo.py: trained on three embedded domains, judged on the fourth; no unseen domain
and no target test label chose it) — and writes an fp16 checkpoint (≈ 0.4 MB) whose card lists the
test accuracy on every embedded domain. Deterministic for a seed on the CPU, one thread. It is the
model ``python -m core adapt`` and the Predict page adapt by default (:data:`core.tta.domain.DEFAULT_MODEL`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..data import EMBEDDED
from ..tta.domain import DEFAULT_MODEL

SOURCES = "+".join(EMBEDDED)  # mnist+mnistm+syndigits+ucidigits
MODEL = {"arch": "digits_cnn", "batch_norm": True}
# chosen on scripts/studies/lodo.py (see docs/your-pictures.md's leave-one-domain-out table): the best mean held-out
# accuracy over the four embedded domains at the LODO budget
STEPS = 4000


def lodo_winner(board: dict | None = None) -> str:
    """The method with the best mean held-out accuracy in the leaderboard's leave-one-domain-out
    table (``lodo``: trained on three embedded domains, judged on the fourth — neither an unseen
    domain nor a target test label of a user's domain takes part); ValueError without the table."""
    from ..zoo import leaderboard

    table = ((board if board is not None else leaderboard()).get("lodo") or {}).get("methods") or {}
    scored = {m: row["mean"] for m, row in table.items() if isinstance(row, dict) and row.get("mean") is not None}
    if not scored:
        raise ValueError("the leaderboard has no leave-one-domain-out table to choose the universal model's "
                         "method from; run `python scripts/studies/lodo.py --leaderboard` first (or pass a method)")
    return max(scored, key=scored.get)
DEFAULT_OUT = Path(DEFAULT_MODEL)  # where adapt and the Predict page look for it


def train_universal(out: Path, steps: int, seed: int, method: str, device: str = "cpu") -> dict:
    from .. import checkpoints
    from ..data import load_domain
    from ..evaluation import evaluate_accuracy
    from ..training.engine import train
    from ..training.recipes import recipe

    config = recipe(method, SOURCES, SOURCES, steps=steps, seed=seed, eval_every=0, threads=1, device=device,
                    model=dict(MODEL))
    started = time.perf_counter()
    result = train(config, progress=_progress(steps))
    per_domain = {f"{d}_test_acc": evaluate_accuracy(result.model, load_domain(d, "test")) for d in EMBEDDED}
    card = dict(result.card)
    card["metrics"] = {**card["metrics"], **per_domain}
    card["name"] = "universal digits model"
    card["description"] = (f"{method} on {SOURCES} ({steps} steps, seed {seed}); the default model for "
                           "uploads; adapt it to your pictures with `python -m core adapt`")
    path = checkpoints.save(result.model, card, out, half=True)
    summary = {"checkpoint": str(path), "method": method, "steps": steps, "seed": seed,
               "seconds": round(time.perf_counter() - started, 1),
               "size_kb": round(sum(f.stat().st_size for f in Path(path).iterdir()) / 1024, 1),
               **{k: round(v, 2) for k, v in card["metrics"].items() if v is not None}}
    return summary


def _progress(total: int):
    last = [time.perf_counter()]

    def report(p):
        if p.step % 250 == 0 or p.step == total:
            print(f"step {p.step}/{total} loss {p.losses['loss']:.3f} ({time.perf_counter() - last[0]:.0f} s)",
                  file=sys.stderr, flush=True)
    return report
