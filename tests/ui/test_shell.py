"""ui.shell.lean_process: the dashboard's process without Triton when there is no CUDA device, and
torch still trains (an optimizer step imports torch._dynamo, which asks for Triton); tune_allocator
applies glibc's settings where glibc is the C library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import importlib.util, sys
sys.path.insert(0, sys.argv[1])
import torch
from ui.shell import lean_process
lean_process(); lean_process()  # idempotent
model = torch.nn.Linear(3, 2)
opt = torch.optim.Adam(model.parameters(), lr=0.1)
before = model.weight.detach().clone()
model(torch.ones(4, 3)).sum().backward()
opt.step()
print(torch.cuda.is_available(), importlib.util.find_spec("triton") is None, "torch._dynamo" in sys.modules,
      bool((model.weight != before).any()))
"""


def test_lean_process_leaves_triton_out_without_cuda_and_torch_still_trains():
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    cuda, no_triton, dynamo, stepped = out.stdout.split()
    assert stepped == "True" and dynamo == "True"  # the optimizer ran, through torch._dynamo
    if cuda == "False":
        assert no_triton == "True"


ALLOCATOR = """
import platform, sys
sys.path.insert(0, sys.argv[1])
from ui.shell import MMAP_FROM, TRIM_FROM, tune_allocator
glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
print(glibc, tune_allocator(), MMAP_FROM < TRIM_FROM)
"""


def test_tune_allocator_applies_on_glibc_and_says_so():
    out = subprocess.run([sys.executable, "-c", ALLOCATOR, str(ROOT)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    glibc, applied, ordered = out.stdout.split()
    assert applied == glibc and ordered == "True"


def test_the_allocator_follows_training_and_gives_memory_back_when_it_ends(monkeypatch):
    """lean_process hands the job manager ui.shell.training_allocator: step-sized buffers stay on the
    heap while a run trains, the lean settings and a trim return when the last run ends."""
    from ui import shell

    calls = []
    monkeypatch.setattr(shell, "tune_allocator", lambda *a: calls.append(("tune", a)) or True)
    monkeypatch.setattr(shell, "release_free_memory", lambda: calls.append(("trim",)) or True)
    shell.training_allocator(True)
    shell.training_allocator(False)
    assert calls == [("tune", (shell.TRAIN_MMAP_FROM, shell.TRAIN_TRIM_FROM)), ("tune", ()), ("trim",)]
    assert shell.MMAP_FROM < shell.TRAIN_MMAP_FROM < shell.TRAIN_TRIM_FROM


FROZEN = """
import gc, sys
sys.path.insert(0, sys.argv[1])
from ui.shell import lean_process
from core import jobs
lean_process()
print(gc.get_freeze_count(), "torch" in sys.modules, jobs.manager().on_busy_change.__name__)
"""


def test_lean_process_freezes_the_startup_heap_and_registers_the_training_allocator():
    out = subprocess.run([sys.executable, "-c", FROZEN, str(ROOT)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    frozen, torch_loaded, hook = out.stdout.split()
    assert int(frozen) > 50_000 and torch_loaded == "True"  # torch, plotly and core: ~236,000 objects
    assert hook == "training_allocator"
