"""``python -m core bench``: ShiftLab's engine against a textbook DANN loop, side by side.

Both train the same DANN (digits CNN, Adam, batch 64 + 64) on MNIST → MNIST-M in one process:

- *textbook*: the loop tutorials write — ``DataLoader`` over a map-style dataset (one
  ``__getitem__`` per image, collated each step), fp32, NCHW, separate forward passes per domain;
- *engine*: :func:`core.engine.train` — domains resident on the device as uint8, batches gathered
  by index, one forward pass over both domains, channels-last, bf16 autocast where the hardware
  has it.

It prints images/s (source + target images per second) for each, their ratio, both target
accuracies after the same number of steps, and the engine's wall time to reach 95 % of its best
target accuracy. Ratios measured in one run are what to compare: absolute figures move with
whatever else the machine is doing.
"""

from __future__ import annotations

import json
import time

import torch
from torch.utils.data import DataLoader

from .data import load_domain
from .device import resolve_device
from .engine import TrainConfig, seed_everything, train
from .evaluation import evaluate_accuracy
from .losses import domain_adversarial_loss
from .models import DomainDiscriminator, build_model, dann_lambda, grad_reverse


def textbook_dann(steps: int, device: torch.device, batch_size: int = 64, seed: int = 0) -> dict:
    """A plain DANN loop as tutorials write it; returns images/s and target accuracy."""
    seed_everything(seed)
    src, tgt = load_domain("mnist", "train"), load_domain("mnistm", "train")
    model = build_model({"arch": "digits_cnn", "num_classes": 10}).to(device)
    disc = DomainDiscriminator(model.backbone.out_dim, 512).to(device)
    opt = torch.optim.Adam(list(model.parameters()) + list(disc.parameters()), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    src_loader = DataLoader(src, batch_size=batch_size, shuffle=True, drop_last=True)
    tgt_loader = DataLoader(tgt, batch_size=batch_size, shuffle=True, drop_last=True)
    step, start = 0, time.perf_counter()
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
            if step >= steps:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"images_per_s": 2 * batch_size * steps / seconds, "seconds": seconds,
            "target_acc": evaluate_accuracy(model, load_domain("mnistm", "test"))}


def engine_dann(steps: int, device: torch.device, batch_size: int = 64, seed: int = 0,
                precision: str = "auto", eval_every: int = 0) -> dict:
    config = TrainConfig(method="dann", source="mnist", target="mnistm", steps=steps, batch_size=batch_size,
                         seed=seed, device=str(device), precision=precision, eval_every=eval_every,
                         lr_anneal=False)
    marks: list[tuple[float, float]] = []
    t0 = time.perf_counter()

    def on_progress(p):
        if p.step % eval_every == 0 and "target_acc" in p.metrics:
            marks.append((time.perf_counter() - t0, p.metrics["target_acc"]))

    result = train(config, progress=on_progress if eval_every else None)
    out = {"images_per_s": result.images_per_s, "seconds": result.seconds, "target_acc": result.target_acc}
    if eval_every:
        marks.append((result.seconds, result.target_acc))
        best = max(acc for _, acc in marks)
        out["best_target_acc"] = best
        out["seconds_to_95pct_of_best"] = next(t for t, acc in marks if acc >= 0.95 * best)
    return out


def run(device: str = "auto", small: bool = False, threads: int | None = None) -> dict:
    dev = resolve_device(device)
    if threads:
        torch.set_num_threads(threads)
    steps = 30 if small else 400
    load_domain("mnist", "train"), load_domain("mnistm", "train")  # build/cache outside the timings
    engine_dann(5, dev)  # warm-up (allocator, kernels)
    textbook = textbook_dann(steps, dev)
    engine = engine_dann(steps, dev)
    engine_fp32 = engine_dann(steps, dev, precision="fp32")
    plateau = engine_dann(60 if small else 1500, dev, eval_every=10 if small else 100)
    return {
        "device": str(dev), "threads": torch.get_num_threads(), "steps": steps, "batch_size": 64,
        "textbook": textbook, "engine": engine, "engine_fp32": engine_fp32,
        "speedup": engine["images_per_s"] / textbook["images_per_s"],
        "speedup_fp32": engine_fp32["images_per_s"] / textbook["images_per_s"],
        "plateau": plateau,
    }


def main(device: str = "auto", as_json: bool = False, small: bool = False) -> int:
    report = run(device, small)
    if as_json:
        print(json.dumps(report))
        return 0
    t, e, f = report["textbook"], report["engine"], report["engine_fp32"]
    print(f"DANN MNIST→MNIST-M, {report['steps']} steps of 64+64 on {report['device']} ({report['threads']} threads)")
    print(f"  textbook loop     {t['images_per_s']:9.0f} images/s   target acc {t['target_acc']:.1f}%")
    print(f"  engine (fp32)     {f['images_per_s']:9.0f} images/s   target acc {f['target_acc']:.1f}%   "
          f"×{report['speedup_fp32']:.2f}")
    print(f"  engine (default)  {e['images_per_s']:9.0f} images/s   target acc {e['target_acc']:.1f}%   "
          f"×{report['speedup']:.2f}")
    p = report["plateau"]
    print(f"  engine plateau: best target acc {p['best_target_acc']:.1f}%, 95% of it after "
          f"{p['seconds_to_95pct_of_best']:.1f} s")
    return 0
