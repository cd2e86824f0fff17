"""``python -m core bench``: ShiftLab's engine against a textbook DANN loop, side by side.

Both train the same DANN (digits CNN, Adam, batch 64 + 64) on MNIST → MNIST-M in one process:

- *textbook*: the loop tutorials write — ``DataLoader`` over a map-style dataset (one
  ``__getitem__`` per image, collated each step), fp32, NCHW, separate forward passes per domain;
- *engine*: :func:`core.engine.train` — domains resident on the device as uint8, batches gathered
  by index, one forward pass over both domains, channels-last, bf16 autocast where the hardware
  has it.

It prints images/s (source + target images per second, counted after the first steps so that
one-off costs stay out) for each, their ratio, both target accuracies after the same number of
steps, and the engine's wall time to reach 95 % of its best target accuracy. Ratios measured in
one run are what to compare: absolute figures move with whatever else the machine is doing.

On CUDA it adds the fast path (:mod:`core.accel`): batch 1024 (+1024) with the √-batch learning
rate, captured as a CUDA graph, with and without ``torch.compile``, and batch 16384; the time
for that configuration to reach its plateau; and target accuracy over three seeds of the plain
fp32 eager loop against the fast path at the default recipe (batch 64, 1,500 steps).
"""

from __future__ import annotations

import json
import sys
import time

import torch
from torch.utils.data import DataLoader

from .data import load_domain
from .device import resolve_device
from .engine import TrainConfig, seed_everything, train
from .evaluation import evaluate_accuracy
from .losses import domain_adversarial_loss
from .models import DomainDiscriminator, build_model, dann_lambda, grad_reverse


def _steady_rate(marks: list[tuple[int, float]], images_per_step: int, skip: int) -> float:
    """Images/s between the first read-back at or after step ``skip`` and the last one.

    ``marks`` are (step, seconds since the loop started) at each read-back; leaving out the
    first steps keeps one-off costs (cuDNN autotuning, graph capture, compilation) out of the rate.
    """
    start = next(((s, t) for s, t in marks if s >= skip), marks[0])
    start = max((m for m in marks if m[1] == start[1]), key=lambda m: m[0])  # last step of that read-back
    end = marks[-1]
    if end[0] <= start[0]:
        start = (0, 0.0)
    return images_per_step * (end[0] - start[0]) / max(end[1] - start[1], 1e-9)


def textbook_dann(steps: int, device: torch.device, batch_size: int = 64, seed: int = 0, skip: int = 10) -> dict:
    """A plain DANN loop as tutorials write it; returns images/s and target accuracy."""
    seed_everything(seed)
    src, tgt = load_domain("mnist", "train"), load_domain("mnistm", "train")
    model = build_model({"arch": "digits_cnn", "num_classes": 10}).to(device)
    disc = DomainDiscriminator(model.backbone.out_dim, 512).to(device)
    opt = torch.optim.Adam(list(model.parameters()) + list(disc.parameters()), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    src_loader = DataLoader(src, batch_size=batch_size, shuffle=True, drop_last=True)
    tgt_loader = DataLoader(tgt, batch_size=batch_size, shuffle=True, drop_last=True)
    step, start, marks = 0, time.perf_counter(), []
    while step < steps:
        for (xs, ys), (xt, _) in zip(src_loader, tgt_loader):
            xs, ys, xt = xs.to(device), ys.to(device), xt.to(device)
            lam = dann_lambda(step / steps)
            fs, ft = model.features(xs), model.features(xt)
            loss = loss_fn(model.head(fs), ys) + domain_adversarial_loss(
                disc(grad_reverse(fs, lam)), disc(grad_reverse(ft, lam)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step == min(skip, steps - 1) or step == steps:
                loss.item()  # the tutorial's logging line; also waits for the device
                marks.append((step, time.perf_counter() - start))
            if step >= steps:
                break
    seconds = time.perf_counter() - start
    return {"images_per_s": _steady_rate(marks, 2 * batch_size, skip), "seconds": seconds,
            "batch_size": batch_size, "steps": steps,
            "target_acc": evaluate_accuracy(model, load_domain("mnistm", "test"))}


def engine_dann(steps: int, device: torch.device, batch_size: int = 64, seed: int = 0,
                precision: str = "auto", eval_every: int = 0, accel: str = "auto", lr_rule: str = "none",
                warmup: float = 0.0, skip: int = 10) -> dict:
    """:func:`core.engine.train` on DANN MNIST → MNIST-M; steady images/s, accuracy, time to plateau."""
    config = TrainConfig(method="dann", source="mnist", target="mnistm", steps=steps, batch_size=batch_size,
                         seed=seed, device=str(device), precision=precision, eval_every=eval_every,
                         lr_anneal=False, accel=accel, lr_rule=lr_rule, warmup=warmup)
    marks: list[tuple[int, float]] = []
    evals: list[tuple[float, float]] = []

    def on_progress(p):
        marks.append((p.step, p.elapsed))
        if eval_every and p.step % eval_every == 0 and "target_acc" in p.metrics:
            evals.append((p.elapsed, p.metrics["target_acc"]))

    result = train(config, progress=on_progress)
    loop_seconds = 2 * batch_size * result.steps_done / result.images_per_s
    marks.append((result.steps_done, loop_seconds))
    out = {"images_per_s": _steady_rate(marks, 2 * batch_size, skip), "seconds": result.seconds,
           "loop_seconds": loop_seconds, "batch_size": batch_size, "steps": steps,
           "accel": result.card["hyperparameters"]["accel_used"], "precision": precision,
           "lr": result.card["hyperparameters"]["effective_lr"], "warmup": warmup, "target_acc": result.target_acc}
    if eval_every:
        evals.append((loop_seconds, result.target_acc))
        best = max(acc for _, acc in evals)
        out["best_target_acc"] = best
        out["seconds_to_95pct_of_best"] = next(t for t, acc in evals if acc >= 0.95 * best)
    return out


def _mean_sd(values: list[float]) -> dict:
    t = torch.tensor(values, dtype=torch.float64)
    return {"values": values, "mean": float(t.mean()), "sd": float(t.std()) if len(values) > 1 else 0.0}


class _Report(dict):
    """The report dict; each row is also written to stderr as one JSON line as soon as it is measured
    (so a run cut short still leaves what it measured)."""

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        print(json.dumps({key: value}), file=sys.stderr, flush=True)


def run(device: str = "auto", small: bool = False, quick: bool = False, threads: int | None = None) -> dict:
    """Every row side by side in this process; see the module docstring. ``small``: a smoke test."""
    dev = resolve_device(device)
    if threads:
        torch.set_num_threads(threads)
    steps = 30 if small else 400
    load_domain("mnist", "train"), load_domain("mnistm", "train")  # build/cache outside the timings
    engine_dann(5, dev)  # warm-up (allocator, kernels)
    report = _Report(device=str(dev), device_name=_device_name(dev), threads=torch.get_num_threads(),
                     torch=torch.__version__, steps=steps, batch_size=64)
    report["textbook"] = textbook_dann(steps, dev)
    report["engine_fp32"] = engine_dann(steps, dev, precision="fp32", accel="off")
    report["engine"] = engine_dann(steps, dev)
    report["speedup"] = report["engine"]["images_per_s"] / report["textbook"]["images_per_s"]
    report["speedup_fp32"] = report["engine_fp32"]["images_per_s"] / report["textbook"]["images_per_s"]
    report["plateau"] = engine_dann(60 if small else 1500, dev, eval_every=10 if small else 100)
    if dev.type == "cuda":
        _cuda_rows(report, dev, small, quick)
        report["fast_speedup"] = report["fast_best_images_per_s"] / report["textbook"]["images_per_s"]
    return dict(report)


def _device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    import platform

    return platform.processor() or platform.machine()


def _cuda_rows(rows: dict, dev: torch.device, small: bool, quick: bool) -> None:
    """The GPU fast path: large batches, graph vs graph+compile, plateau time, accuracy vs plain fp32."""
    big = 1024
    steps = 40 if small else 1500
    rows["fast_graph"] = engine_dann(steps, dev, batch_size=big, accel="graph", lr_rule="sqrt", skip=20)
    if not small:
        try:  # torch.compile needs a working Triton toolchain; report rather than abort the bench
            rows["fast_compile"] = engine_dann(steps, dev, batch_size=big, accel="compile", lr_rule="sqrt", skip=100)
        except Exception as err:  # noqa: BLE001
            rows["fast_compile_error"] = f"{type(err).__name__}: {err}"[:500]
        # throughput only, at lr 1e-3: the √-batch rate (0.016) diverges at 16k without a warm-up
        # (docs/benchmarks/h100-warmup.txt)
        rows["fast_graph_16k"] = engine_dann(300, dev, batch_size=16384, accel="graph", skip=20)
    best = max((r for k, r in rows.items() if k.startswith("fast") and isinstance(r, dict) and r["batch_size"] <= big),
               key=lambda r: r["images_per_s"])
    rows["fast_best_images_per_s"] = best["images_per_s"]
    rows["plateau_fast"] = engine_dann(60 if small else 2000, dev, batch_size=big, accel="graph", lr_rule="sqrt",
                                       eval_every=10 if small else 25)
    if not (small or quick):
        seeds = range(3)
        plain = [engine_dann(1500, dev, precision="fp32", accel="off", seed=s)["target_acc"] for s in seeds]
        fast = [engine_dann(1500, dev, accel="graph", seed=s)["target_acc"] for s in seeds]
        rows["accuracy_plain_fp32"], rows["accuracy_fast"] = _mean_sd(plain), _mean_sd(fast)


def main(device: str = "auto", as_json: bool = False, small: bool = False, quick: bool = False) -> int:
    report = run(device, small, quick)
    if as_json:
        print(json.dumps(report))
    else:
        print_report(report)
    return 0


def print_report(report: dict) -> None:
    """The human-readable table of a :func:`run` report."""
    t, e, f = report["textbook"], report["engine"], report["engine_fp32"]
    print(f"DANN MNIST→MNIST-M, {report['steps']} steps of 64+64 on {report['device']} "
          f"({report['device_name']}, {report['threads']} threads); images/s after the first steps")
    print(f"  textbook loop           {t['images_per_s']:11.0f} images/s   target acc {t['target_acc']:.1f}%")
    print(f"  engine (fp32, eager)    {f['images_per_s']:11.0f} images/s   target acc {f['target_acc']:.1f}%   "
          f"×{report['speedup_fp32']:.2f}")
    print(f"  engine (default: {e['accel']}) {e['images_per_s']:11.0f} images/s   target acc {e['target_acc']:.1f}%   "
          f"×{report['speedup']:.2f}")
    p = report["plateau"]
    print(f"  engine plateau (batch 64): best target acc {p['best_target_acc']:.1f}%, 95% of it after "
          f"{p['seconds_to_95pct_of_best']:.1f} s")
    for key in ("fast_graph", "fast_compile", "fast_graph_16k"):
        if key in report:
            r = report[key]
            print(f"  {key:<22}  batch {r['batch_size']:>5}  {r['images_per_s']:11.0f} images/s  "
                  f"×{r['images_per_s'] / t['images_per_s']:.1f} textbook   target acc {r['target_acc']:.1f}%")
    if "plateau_fast" in report:
        p = report["plateau_fast"]
        print(f"  fast plateau (batch {p['batch_size']}, lr {p['lr']:.4g}): best target acc {p['best_target_acc']:.1f}%, "
              f"95% of it after {p['seconds_to_95pct_of_best']:.2f} s")
    if "accuracy_fast" in report:
        a, b = report["accuracy_plain_fp32"], report["accuracy_fast"]
        print(f"  accuracy over seeds, 1500 steps: plain fp32 {a['mean']:.1f} ± {a['sd']:.1f}   "
              f"fast path {b['mean']:.1f} ± {b['sd']:.1f}")
    if "fast_compile_error" in report:
        print(f"  torch.compile failed: {report['fast_compile_error']}")
