"""What a whole ``train`` run delivers against the step it calibrates, side by side in one process.

    python scripts/bench/end_to_end.py [--method dann] [--steps 1500] [--threads 1] [--pairs 3] \\
        [--out docs/benchmarks/end-to-end.json]

Each pair measures, with the run's own options (precision, layout, threads: ``choose_speed``):
(a) the calibrated step — the measurement ``core.training.speed`` makes, over 100 timed steps of
random batches — and (b) a whole ``core.training.engine.train`` run of MNIST → MNIST-M, timing
inside it the step (batch gathering included), the target evaluations, the collapse watch and the
loss log. Reported: the medians over the pairs of the loop's images/s (the card's ``images_per_s``)
and of the whole run's (setup and the final evaluation included), each as a share of (a).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

PARTS = ("step", "evaluate", "collapse_watch", "loss_log")


def instrumented_train(plan) -> tuple[object, dict]:
    """``engine.train(plan)`` with the time spent in each of :data:`PARTS` recorded."""
    from core.training import engine

    spent = dict.fromkeys(PARTS, 0.0)

    def timed(name, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[name] += time.perf_counter() - t
        return wrapper

    saved = (engine.build_run, engine.evaluate_accuracy, engine.CollapseWatch.check, engine._LossLog.flush)

    def build(p, speed=None):
        run = saved[0](p, speed)
        run.step = timed("step", run.step)
        return run

    engine.build_run, engine.evaluate_accuracy = build, timed("evaluate", saved[1])
    engine.CollapseWatch.check, engine._LossLog.flush = timed("collapse_watch", saved[2]), timed("loss_log", saved[3])
    try:
        result = engine.train(plan)
    finally:
        engine.build_run, engine.evaluate_accuracy, engine.CollapseWatch.check, engine._LossLog.flush = saved
    return result, spent


def main(argv=None) -> int:
    import torch

    from core.training import speed as speed_mod
    from core.training.plan import prepare_run
    from core.training.recipes import recipe

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", default="dann")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = recipe(args.method, "mnist", "mnistm", steps=args.steps, threads=args.threads, device="cpu")
    plan = prepare_run(config)
    chosen = speed_mod.choose_speed(plan)
    config = recipe(args.method, "mnist", "mnistm", steps=args.steps, threads=args.threads, device="cpu",
                    precision=chosen.precision, channels_last=chosen.channels_last)
    pairs = []
    for i in range(args.pairs):
        plan = prepare_run(config)
        batches = speed_mod._random_batches(plan, True, 100)
        _, step_rate, _ = speed_mod._measure(plan, batches, chosen.precision, chosen.channels_last)
        result, spent = instrumented_train(plan)
        images = 2 * config.batch_size * result.steps_done
        pair = {"calibrated_step_images_per_s": step_rate, "loop_images_per_s": round(result.images_per_s, 1),
                "run_images_per_s": round(images / result.seconds, 1), "run_seconds": round(result.seconds, 2),
                "seconds_in": {k: round(v, 2) for k, v in spent.items()},
                "engine_step_images_per_s": round(images / spent["step"], 1)}
        pairs.append(pair)
        print(f"pair {i + 1}: step {step_rate:.0f}, loop {pair['loop_images_per_s']:.0f}, run "
              f"{pair['run_images_per_s']:.0f} images/s; {pair['seconds_in']}", file=sys.stderr, flush=True)
    med = lambda key: statistics.median(p[key] / p["calibrated_step_images_per_s"] for p in pairs)  # noqa: E731
    out = {"method": args.method, "steps": args.steps, "threads": args.threads,
           "options": f"{chosen.precision}/{'nhwc' if chosen.channels_last else 'nchw'}",
           "processor": speed_mod.machine(), "pairs": pairs,
           "loop_share_of_step": round(med("loop_images_per_s"), 3),
           "run_share_of_step": round(med("run_images_per_s"), 3),
           "engine_step_share_of_calibrated": round(med("engine_step_images_per_s"), 3)}
    text = json.dumps(out, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
