"""``python -m core bench``: ShiftLab's engine against a textbook DANN loop, side by side.

Both train the same DANN (digits CNN, Adam, batch 64 + 64) on MNIST → MNIST-M in one process:

- *textbook*: the loop tutorials write — ``DataLoader`` over a map-style dataset (one
  ``__getitem__`` per image, collated each step), fp32, NCHW, separate forward passes per domain;
- *engine*: :func:`core.training.engine.train` — domains resident on the device as uint8, batches gathered
  by index, one forward pass over both domains, channels-last, bf16 autocast where the hardware
  has it.

- *pytorch-adapt* (optional, when ``pytorch-adapt`` is installed): the peer library's DANN
  adapter (``pytorch_adapt.adapters.DANN``, version 0.0.83 measured) on the same digits CNN
  (G = the backbone, C = the head, D = the same 512-unit discriminator), Adam 1e-3, fed resident
  float tensor batches gathered by index — its fast case (no DataLoader). Skipped with a note
  otherwise.

It prints images/s (source + target images per second, counted after the first steps so that
one-off costs stay out) for each, their ratio, both target accuracies after the same number of
steps, and the engine's wall time to reach 95 % of its best target accuracy. Ratios measured in
one run are what to compare: absolute figures move with whatever else the machine is doing.

``--peer`` measures only the engine against pytorch-adapt, ``--repeat`` times, alternating the
two loops so that slow drifts of the machine's load hit both (:func:`peer_ratio`).

``--resnet`` measures ResNet-50 at 224 px (:func:`resnet_rows`): the textbook loop (DataLoader
with 4 workers and pinned memory, fp32, NCHW) against the engine's plain fp32 loop and its fast
path (bf16, channels-last, fused Adam, CUDA graph; and + ``torch.compile``), on MNIST → MNIST-M
resized to 224 px — a GPU row (on a CPU, ``--small`` runs ResNet-18 at 64 px to check it runs).

On CUDA it adds the fast path (:mod:`core.training.accel`): batch 1024 (+1024) with the √-batch learning
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

from ..data import load_domain
from ..util.device import resolve_device
from ..training.engine import TrainConfig, seed_everything, train
from ..evaluation import evaluate_accuracy
from ..losses import domain_adversarial_loss
from ..models import DomainDiscriminator, build_model, dann_lambda, grad_reverse


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


def textbook_dann(steps: int, device: torch.device, batch_size: int = 64, seed: int = 0, skip: int = 10,
                  arch: str = "digits_cnn", image_size: int | None = None, workers: int = 0) -> dict:
    """A plain DANN loop as tutorials write it; returns images/s and target accuracy. ``workers``
    DataLoader processes (with pinned memory on CUDA) — what a tutorial uses for photos."""
    seed_everything(seed)
    src, tgt = load_domain("mnist", "train", image_size), load_domain("mnistm", "train", image_size)
    model = build_model({"arch": arch, "num_classes": 10, "input_size": src.input_size}).to(device)
    disc = DomainDiscriminator(model.backbone.out_dim, 512).to(device)
    opt = torch.optim.Adam(list(model.parameters()) + list(disc.parameters()), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    loader = dict(batch_size=batch_size, shuffle=True, drop_last=True, num_workers=workers,
                  pin_memory=workers > 0 and device.type == "cuda", persistent_workers=workers > 0)
    src_loader, tgt_loader = DataLoader(src, **loader), DataLoader(tgt, **loader)
    step, start, marks = 0, time.perf_counter(), []
    while step < steps:
        for (xs, ys), (xt, _) in zip(src_loader, tgt_loader):
            xs, ys, xt = (xs.to(device, non_blocking=True), ys.to(device, non_blocking=True),
                          xt.to(device, non_blocking=True))
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
            "batch_size": batch_size, "steps": steps, "arch": arch, "image_size": src.input_size,
            "target_acc": evaluate_accuracy(model, load_domain("mnistm", "test", image_size))}


def peer_pytorch_adapt(steps: int, device: torch.device, batch_size: int = 64, seed: int = 0, skip: int = 10) -> dict:
    """pytorch-adapt's DANN adapter on the same model and data, fed resident tensors (see the module
    docstring); ``{"skipped": why}`` when pytorch-adapt cannot be imported."""
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pytorch_adapt
            from pytorch_adapt.adapters import DANN as AdaptDANN
            from pytorch_adapt.containers import Models, Optimizers
    except Exception as err:  # noqa: BLE001 - not installed, or its pinned dependencies fail to import
        return {"skipped": f"pytorch-adapt not importable ({type(err).__name__}: {str(err)[:200]}); "
                           "pip install --no-deps pytorch-adapt==0.0.83 torchmetrics==0.9.3 "
                           "pytorch-metric-learning==1.6.3 (see docs/performance.md)"}
    from ..data.sampling import IndexSampler

    gen = seed_everything(seed)
    src, tgt = load_domain("mnist", "train"), load_domain("mnistm", "train")
    model = build_model({"arch": "digits_cnn", "num_classes": 10}).to(device)
    disc = DomainDiscriminator(model.backbone.out_dim, 512).to(device)
    adapter = AdaptDANN(models=Models({"G": model.backbone, "C": model.head, "D": disc}),
                        optimizers=Optimizers((torch.optim.Adam, {"lr": 1e-3})))
    xs_all, ys_all = src.float_images().to(device), src.labels.to(device)
    xt_all = tgt.float_images().to(device)
    src_idx = IndexSampler(len(ys_all), batch_size, device, gen)
    tgt_idx = IndexSampler(len(xt_all), batch_size, device, gen)
    zeros = torch.zeros(batch_size, device=device)
    ones = torch.ones(batch_size, device=device)
    marks, start = [], time.perf_counter()
    for step in range(1, steps + 1):
        i, j = src_idx.next(), tgt_idx.next()
        adapter.training_step({"src_imgs": xs_all[i], "src_labels": ys_all[i], "target_imgs": xt_all[j],
                               "src_domain": zeros, "target_domain": ones})
        if step == min(skip, steps - 1) or step == steps:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            marks.append((step, time.perf_counter() - start))
    model.eval()
    return {"images_per_s": _steady_rate(marks, 2 * batch_size, skip), "seconds": time.perf_counter() - start,
            "batch_size": batch_size, "steps": steps, "version": getattr(pytorch_adapt, "__version__", "?"),
            "target_acc": evaluate_accuracy(model, load_domain("mnistm", "test"))}


def engine_dann(steps: int, device: torch.device, batch_size: int = 64, seed: int = 0,
                precision: str = "auto", eval_every: int = 0, accel: str = "auto", lr_rule: str = "none",
                warmup: float = 0.0, skip: int = 10, arch: str = "digits_cnn", image_size: int | None = None,
                threads: int | None = None) -> dict:
    """:func:`core.training.engine.train` on DANN MNIST → MNIST-M; steady images/s, accuracy, time to plateau.
    ``threads``: the run's torch threads (None: the engine's measured choice)."""
    config = TrainConfig(method="dann", source="mnist", target="mnistm", steps=steps, batch_size=batch_size,
                         seed=seed, device=str(device), precision=precision, eval_every=eval_every,
                         lr_anneal=False, accel=accel, lr_rule=lr_rule, warmup=warmup, arch=arch,
                         image_size=image_size, threads=threads)
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
           "accel": result.card["hyperparameters"]["accel_used"], "precision": precision, "arch": arch,
           "speed": {k: result.card["speed"][k] for k in ("precision", "channels_last", "threads", "source")},
           "image_size": result.card["input_size"],
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
    engine_dann(5, dev, threads=threads)  # warm-up (allocator, kernels)
    report = _Report(device=str(dev), device_name=_device_name(dev), threads=torch.get_num_threads(),
                     torch=torch.__version__, steps=steps, batch_size=64)
    report["textbook"] = textbook_dann(steps, dev)
    report["engine_fp32"] = engine_dann(steps, dev, precision="fp32", accel="off", threads=threads)
    report["engine"] = engine_dann(steps, dev, threads=threads)
    report["speedup"] = report["engine"]["images_per_s"] / report["textbook"]["images_per_s"]
    report["speedup_fp32"] = report["engine_fp32"]["images_per_s"] / report["textbook"]["images_per_s"]
    report["plateau"] = engine_dann(60 if small else 1500, dev, eval_every=10 if small else 100, threads=threads)
    report["pytorch_adapt"] = peer_pytorch_adapt(steps, dev)
    if "images_per_s" in report["pytorch_adapt"]:
        report["speedup_vs_pytorch_adapt"] = report["engine"]["images_per_s"] / report["pytorch_adapt"]["images_per_s"]
    if dev.type == "cuda":
        _cuda_rows(report, dev, small, quick)
        report["fast_speedup"] = report["fast_best_images_per_s"] / report["textbook"]["images_per_s"]
    return dict(report)


def peer_ratio(device: str = "auto", steps: int = 400, repeat: int = 3, threads: int | None = None) -> dict:
    """The engine's DANN step against pytorch-adapt's, side by side in this process, ``repeat``
    times (engine, peer, engine, peer, …): images/s of each and their ratio per repeat."""
    dev = resolve_device(device)
    if threads:
        torch.set_num_threads(threads)
    load_domain("mnist", "train"), load_domain("mnistm", "train")
    engine_dann(5, dev, threads=threads)
    warm = peer_pytorch_adapt(5, dev)
    report = _Report(device=str(dev), device_name=_device_name(dev), threads=torch.get_num_threads(),
                     torch=torch.__version__, steps=steps, batch_size=64, precision_auto=_auto_precision(dev))
    if "skipped" in warm:
        report["pytorch_adapt"] = warm
        return dict(report)
    ratios = []
    for k in range(repeat):
        e, p = engine_dann(steps, dev, threads=threads), peer_pytorch_adapt(steps, dev)
        ratios.append(e["images_per_s"] / p["images_per_s"])
        report[f"repeat_{k}"] = {"engine": e["images_per_s"], "pytorch_adapt": p["images_per_s"], "ratio": ratios[-1],
                                 "engine_target_acc": e["target_acc"], "pytorch_adapt_target_acc": p["target_acc"],
                                 "pytorch_adapt_version": p["version"]}
    report["ratios"] = ratios
    report["median_ratio"] = sorted(ratios)[len(ratios) // 2]
    return dict(report)


def _auto_precision(dev: torch.device) -> str:
    from ..training.speed import autocast_dtype

    return "bf16" if autocast_dtype("auto", dev) is not None else "fp32"


def calibrate(device: str = "auto", method: str | None = None) -> dict:
    """``bench --calibrate``: measure every speed option of the engine on this machine now (whatever
    the cache holds; the result replaces it) for a default run of ``method`` (default DANN) on
    MNIST → MNIST-M, and report each option's images/s and the one the engine will use."""
    from ..methods import default_method
    from ..training.plan import prepare_run
    from ..training.recipes import recipe
    from ..training.speed import choose_speed, machine

    plan = prepare_run(recipe(method or default_method(), "mnist", "mnistm", device=device))
    speed = choose_speed(plan, pictures=True, calibrate=True)
    return {"machine": machine(), "method": plan.config.method, "batch_size": plan.config.batch_size,
            "rates": speed.rates, "chosen": {"precision": speed.precision, "channels_last": speed.channels_last,
                                             "threads": speed.threads}, "note": speed.note, "source": speed.source}


def resnet_rows(device: str = "auto", steps: int = 120, batch_size: int = 64, arch: str = "resnet50",
                image_size: int = 224, small: bool = False) -> dict:
    """ResNet at photo size (see the module docstring): textbook loop vs the engine's plain and fast
    paths, DANN MNIST → MNIST-M resized to ``image_size``; images/s after the first 20 steps."""
    dev = resolve_device(device)
    if small:
        steps, batch_size, arch, image_size = 6, 8, "resnet18", 64
    skip = min(20, steps // 3)
    report = _Report(device=str(dev), device_name=_device_name(dev), arch=arch, image_size=image_size,
                     batch_size=batch_size, steps=steps, torch=torch.__version__)
    load_domain("mnist", "train", image_size), load_domain("mnistm", "train", image_size)
    report["resnet_textbook"] = textbook_dann(steps, dev, batch_size, arch=arch, image_size=image_size,
                                              workers=0 if small else 4, skip=skip)
    report["resnet_engine_fp32"] = engine_dann(steps, dev, batch_size, precision="fp32", accel="off", arch=arch,
                                               image_size=image_size, skip=skip)
    report["resnet_engine"] = engine_dann(steps, dev, batch_size, arch=arch, image_size=image_size, skip=skip)
    if dev.type == "cuda" and not small:
        try:
            report["resnet_engine_compile"] = engine_dann(steps, dev, batch_size, accel="compile", arch=arch,
                                                          image_size=image_size, skip=max(skip, steps // 2))
        except Exception as err:  # noqa: BLE001 - a missing Triton toolchain is a result, not a crash
            report["resnet_engine_compile_error"] = f"{type(err).__name__}: {err}"[:500]
    best = max(v["images_per_s"] for k, v in report.items() if k.startswith("resnet_engine") and isinstance(v, dict))
    report["resnet_speedup"] = best / report["resnet_textbook"]["images_per_s"]
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


def main(device: str = "auto", as_json: bool = False, small: bool = False, quick: bool = False,
         peer: bool = False, resnet: bool = False, repeat: int = 3, threads: int | None = None,
         calibration: bool = False) -> int:
    if calibration:
        report = calibrate(device)
        if as_json:
            print(json.dumps(report))
        else:
            print(f"speed options on {report['machine']['cpu']} ({report['machine']['cpus']} CPUs, torch "
                  f"{report['machine']['torch']}), {report['method']} batch {report['batch_size']}+{report['batch_size']}:")
            for name, rate in sorted(report["rates"].items(), key=lambda kv: -(kv[1] or 0)):
                print(f"  {name:<22} {'failed' if rate is None else f'{rate:9.0f} images/s'}")
            print(f"  chosen: {report['chosen']}" + (f" ({report['note']})" if report["note"] else ""))
        return 0
    if peer:
        report = peer_ratio(device, steps=30 if small else 400, repeat=repeat, threads=threads)
    elif resnet:
        report = resnet_rows(device, small=small)
    else:
        report = run(device, small, quick, threads)
    if as_json:
        print(json.dumps(report))
    elif peer or resnet:
        for key, value in report.items():
            print(f"  {key:<28} {json.dumps(value)}")
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
    peer = report.get("pytorch_adapt", {})
    if "images_per_s" in peer:
        print(f"  pytorch-adapt {peer['version']} DANN {peer['images_per_s']:9.0f} images/s   target acc "
              f"{peer['target_acc']:.1f}%   engine ×{report['speedup_vs_pytorch_adapt']:.2f} of it")
    elif peer:
        print(f"  pytorch-adapt row skipped: {peer['skipped']}")
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
