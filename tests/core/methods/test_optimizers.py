"""The engine's optimisers: torch.optim's update, bit for bit, without importing torch._dynamo."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from core.methods import optimizers


def trained(cls, **kw) -> list[torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.ReLU(), torch.nn.Linear(20, 3))
    opt = cls(model.parameters(), lr=1e-2, **kw)
    for i in range(5):
        x = torch.randn(8, 10, generator=torch.Generator().manual_seed(i))
        opt.zero_grad(set_to_none=True)
        model(x).pow(2).mean().backward()
        opt.step()
    return [p.detach() for p in model.parameters()]


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("ours, theirs, kw", [(optimizers.Adam, torch.optim.Adam, {"weight_decay": 1e-4}),
                                              (optimizers.SGD, torch.optim.SGD, {"momentum": 0.9})])
def test_the_update_is_torch_optims_bit_for_bit(ours, theirs, kw, fused):
    for a, b in zip(trained(ours, fused=fused, **kw), trained(theirs, fused=fused, **kw)):
        assert torch.equal(a, b)


def test_training_a_method_does_not_import_the_compiler_stack():
    code = ("import sys, torch\n"
            "from core.training.recipes import recipe\n"
            "from core.training.engine import train\n"
            "train(recipe('dann', 'toy:moons', 'toy:moons?rotate=30', steps=5, device='cpu', eval_every=0))\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"
