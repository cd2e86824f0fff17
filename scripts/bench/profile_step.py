"""Where a CPU DANN step spends its time: ShiftLab's engine against pytorch-adapt's DANN adapter,
both under torch.profiler in one process, grouped by kind of work, plus the time of the
convolutions + poolings alone (forward and backward at batch 128, the layout the engine uses) —
the part neither loop can avoid. docs/performance.md quotes it.

    PYTHONPATH=<dir with setuptools<81, for pytorch-adapt's torchmetrics> \\
    OMP_NUM_THREADS=1 python scripts/bench/profile_step.py [--steps 40] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

GROUPS = {  # aten op name prefix → kind of work
    "conv": ("aten::convolution_backward", "aten::mkldnn_convolution", "aten::_slow_conv2d", "aten::thnn_conv"),
    "pool": ("aten::max_pool2d",),
    "zeroing": ("aten::fill_", "aten::zero_"),
    "linear": ("aten::mm", "aten::addmm", "aten::bmm"),
    "optimizer": ("aten::_fused_adam", "aten::_foreach", "aten::lerp", "aten::addcdiv", "aten::addcmul", "aten::sqrt"),
    "elementwise": ("aten::threshold_backward", "aten::clamp", "aten::relu", "aten::div", "aten::sub", "aten::mul",
                    "aten::add", "aten::copy_", "aten::_to_copy", "aten::cat", "aten::index", "aten::sum"),
}


def grouped(prof, steps: int) -> dict[str, float]:
    """Self CPU milliseconds per step of each group (and the rest)."""
    out = {k: 0.0 for k in [*GROUPS, "other"]}
    for ev in prof.key_averages():
        kind = next((g for g, names in GROUPS.items() if ev.key.startswith(names)), "other")
        out[kind] += ev.self_cpu_time_total / 1000 / steps
    return {k: round(v, 2) for k, v in out.items()}


def engine_step(steps: int):
    """Profile the engine's own DANN step (the training loop of core.training.engine, via its progress hook)."""
    from core.training.config import TrainConfig
    from core.training.engine import train

    state = {}
    start = 10

    def on_progress(p):
        if p.step == start:
            state["prof"] = profile(activities=[ProfilerActivity.CPU])
            state["prof"].__enter__()
            state["t"] = time.perf_counter()
        elif p.step == start + steps:
            state["ms"] = (time.perf_counter() - state["t"]) * 1000 / steps
            state["prof"].__exit__(None, None, None)

    train(TrainConfig(method="dann", steps=start + steps, eval_every=0, device="cpu"), progress=on_progress)
    return state["ms"], grouped(state["prof"], steps)


def peer_step(steps: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pytorch_adapt.adapters import DANN
        from pytorch_adapt.containers import Models, Optimizers
    from core.data import load_domain
    from core.models import DomainDiscriminator, build_model
    from core.data.sampling import IndexSampler

    gen = torch.Generator().manual_seed(0)
    src, tgt = load_domain("mnist", "train"), load_domain("mnistm", "train")
    model = build_model({"arch": "digits_cnn", "num_classes": 10})
    adapter = DANN(models=Models({"G": model.backbone, "C": model.head, "D": DomainDiscriminator(128, 512)}),
                   optimizers=Optimizers((torch.optim.Adam, {"lr": 1e-3})))
    xs, ys, xt = src.float_images(), src.labels, tgt.float_images()
    si, ti = IndexSampler(len(ys), 64, torch.device("cpu"), gen), IndexSampler(len(xt), 64, torch.device("cpu"), gen)
    zeros, ones = torch.zeros(64), torch.ones(64)

    def step():
        i, j = si.next(), ti.next()
        adapter.training_step({"src_imgs": xs[i], "src_labels": ys[i], "target_imgs": xt[j],
                               "src_domain": zeros, "target_domain": ones})

    for _ in range(10):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t = time.perf_counter()
        for _ in range(steps):
            step()
        ms = (time.perf_counter() - t) * 1000 / steps
    return ms, grouped(prof, steps)


def conv_floor(steps: int) -> float:
    """ms per step of the LeNet's convolutions and poolings alone, forward + backward, batch 128,
    channels-last (the engine's layout), fp32 — what any DANN step of this network must compute."""
    torch.manual_seed(0)
    x = torch.rand(128, 3, 28, 28).contiguous(memory_format=torch.channels_last)
    w1 = torch.randn(32, 3, 5, 5, requires_grad=True)
    w2 = torch.randn(64, 32, 5, 5, requires_grad=True)

    def once():
        h = F.max_pool2d(F.conv2d(x, w1), 2).relu()
        F.max_pool2d(F.conv2d(h, w2), 2).relu().sum().backward()

    for _ in range(3):
        once()
    t = time.perf_counter()
    for _ in range(steps):
        once()
    return (time.perf_counter() - t) * 1000 / steps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    e_ms, e_groups = engine_step(args.steps)
    p_ms, p_groups = peer_step(args.steps)
    floor = conv_floor(args.steps)
    print(json.dumps({"threads": args.threads, "cpu": torch.backends.cpu.get_cpu_capability(),
                      "engine_ms_per_step": round(e_ms, 1), "engine_self_ms": e_groups,
                      "pytorch_adapt_ms_per_step": round(p_ms, 1), "pytorch_adapt_self_ms": p_groups,
                      "conv_pool_floor_ms": round(floor, 1),
                      "ratio_now": round(p_ms / e_ms, 2),
                      "ratio_bound_if_engine_did_only_conv_pool": round(p_ms / floor, 2)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
