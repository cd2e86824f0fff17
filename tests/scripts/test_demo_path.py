"""scripts/bench/demo_path.py's CPU split: a thread that ended during the run (the training thread)
is counted as the run's, the threads that lived through it as the rest."""

from __future__ import annotations

import os
import threading
import time

import pytest

from scripts.bench import demo_path

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="Linux /proc only")


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_an_ended_busy_thread_is_the_runs_and_the_lasting_threads_are_the_rest():
    before = demo_path.server_cpu(os.getpid())
    worker = threading.Thread(target=_spin, args=(0.5,))
    worker.start()
    worker.join()          # ended, as the training thread ends with its run
    _spin(0.1)             # this (lasting) thread works too
    split = demo_path.cpu_split(before, demo_path.server_cpu(os.getpid()))
    assert split["training_thread_cpu_s"] >= 0.4
    assert 0.05 <= split["other_threads_cpu_s"] < 0.4
    assert split["server_cpu_s"] == pytest.approx(split["training_thread_cpu_s"] + split["other_threads_cpu_s"], abs=0.02)
