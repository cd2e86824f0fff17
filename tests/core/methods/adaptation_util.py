"""Shared helpers for the adaptation-method tests: tiny configs, contexts, models and batches.

Runs use tiny step counts on MNIST → UCI digits with fp32 on the CPU (as tests/test_methods.py).
"""

from __future__ import annotations

import torch

from core.training.engine import TrainConfig
from core.methods import Batch, Context
from core.models import build_model


def make_config(method: str, steps: int = 4, **kw) -> TrainConfig:
    base = dict(method=method, source="mnist", target="ucidigits", steps=steps, batch_size=16,
                eval_every=0, seed=0, device="cpu", precision="fp32")
    base.update(kw)
    return TrainConfig(**base)


def make_ctx(steps: int = 10, **kw) -> Context:
    digits = [str(i) for i in range(10)]
    base = dict(device=torch.device("cpu"), source_classes=digits, target_classes=digits, steps=steps,
                generator=torch.Generator().manual_seed(0))
    base.update(kw)
    return Context(**base)


def make_model(**spec):
    torch.manual_seed(0)
    return build_model({"arch": "digits_cnn", "num_classes": 10, "width": 0.5, **spec})


def make_batch(n=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    return Batch(torch.rand(n, 3, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g),
                 torch.rand(n, 3, 28, 28, generator=g))


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before, after):
    return [k for k in before if before[k].is_floating_point() and not torch.equal(before[k], after[k])]
