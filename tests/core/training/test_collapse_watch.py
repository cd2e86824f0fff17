"""The collapse rule along the training curve: checks, the healthy copy, the restore at a collapsed end."""

from __future__ import annotations

import torch

from core.training.collapse_watch import CollapseWatch


class Switch(torch.nn.Module):
    """Predicts each picture's brightest channel, or class 0 for everything once ``collapsed``."""

    num_classes = 3

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(3))

    def forward(self, x):
        return 10 * x.mean((2, 3)) + self.bias


def pictures(n=60):
    x = torch.zeros(n, 3, 4, 4, dtype=torch.uint8)
    for i in range(n):
        x[i, i % 3] = 255
    return x


def test_a_run_that_collapses_part_way_ends_with_its_last_healthy_weights():
    model, watch = Switch(), CollapseWatch(pictures(), every=10)
    assert not watch.check(10, model)                 # the reference: an even spread (1/3)
    assert not watch.check(20, model)
    with torch.no_grad():
        model.bias.copy_(torch.tensor([100.0, 0.0, 0.0]))  # every picture is now class 0
    assert watch.check(30, model)
    report = watch.finish(40, model)
    assert report["collapsed"] and report["restored_step"] == 20
    assert torch.equal(model.bias.detach(), torch.zeros(3))   # the healthy weights are back
    assert [c["collapsed"] for c in report["checks"]] == [False, False, True, True]


def test_a_healthy_run_is_left_alone():
    model, watch = Switch(), CollapseWatch(pictures(), every=5)
    watch.check(5, model)
    report = watch.finish(10, model)
    assert not report["collapsed"] and report["restored_step"] is None
    assert abs(report["reference_share"] - 1 / 3) < 1e-6
