"""The Playground's per-frame proxy A-distance (a closed-form linear probe) beside the fitted one."""

from __future__ import annotations

import time

import pytest
import torch

from core.evaluation import fast_proxy_a_distance, proxy_a_distance


@pytest.mark.parametrize("shift", [0.0, 0.5, 1.0, 3.0])
def test_it_reads_like_the_logistic_regression_proxy(shift):
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(1000, 2, generator=g), torch.randn(1000, 2, generator=g) + shift
    fast, slow = fast_proxy_a_distance(a, b), proxy_a_distance(a.numpy(), b.numpy())
    assert 0.0 <= fast <= 2.0 and abs(fast - slow) < 0.2, (fast, slow)


def test_it_sees_a_change_of_spread_a_linear_probe_cannot():
    g = torch.Generator().manual_seed(4)
    a, b = torch.randn(1000, 2, generator=g), 2.5 * torch.randn(1000, 2, generator=g)
    assert proxy_a_distance(a.numpy(), b.numpy()) < 0.2 < 0.6 < fast_proxy_a_distance(a, b)


def test_it_is_cheap_enough_for_every_frame_and_deterministic():
    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(1000, 2, generator=g), torch.randn(1000, 2, generator=g) + 0.3
    fast_proxy_a_distance(a, b)
    started = time.perf_counter()
    values = {fast_proxy_a_distance(a, b) for _ in range(20)}
    assert len(values) == 1 and (time.perf_counter() - started) / 20 < 0.02  # measured ~1 ms


def test_it_refuses_wide_or_tiny_inputs():
    with pytest.raises(ValueError, match="d ≤ 16"):
        fast_proxy_a_distance(torch.randn(10, 32), torch.randn(10, 32))
