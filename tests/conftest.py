"""Shared test settings: the repo on sys.path, one torch thread (the CI machine has 2 shared cores)."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")
# the engine's speed options are measured per machine (core.training.speed); a test's numbers must not
# depend on the machine it runs on, so tests train with the fixed options (the calibration's own tests
# turn it back on)
os.environ.setdefault("SHIFTLAB_SPEED", "fixed")

import torch  # noqa: E402

torch.set_num_threads(1)


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory):
    """A tiny zoo (MNIST → MNIST-M: source_only, dann, distill; 1 step each) for the app's tests."""
    from core.studies.zoo_build import rebuild

    out = tmp_path_factory.mktemp("tiny-zoo")
    code = rebuild(tiny=True, steps=1, scenarios=[("mnist", "mnistm")],
                       methods=["source_only", "dann", "distill"], out_dir=out, log=lambda *a, **k: None)
    assert code == 0
    return out
