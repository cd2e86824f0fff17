"""core.data.sampling: random index batches over resident domains, and the uint8 → float conversion."""

import pytest
import torch

from core.data.sampling import IndexSampler
from core.util.modes import unit_float

CPU = torch.device("cpu")


def test_index_sampler_visits_every_index_once_per_epoch():
    s = IndexSampler(10, 3, CPU, torch.Generator().manual_seed(0))
    epoch = torch.cat([s.next() for _ in range(3)])  # 3 batches of 3, remainder of 1 dropped
    assert len(epoch.unique()) == 9 and epoch.max() < 10
    nxt = torch.cat([s.next() for _ in range(3)])
    assert len(nxt.unique()) == 9 and not torch.equal(nxt, epoch)  # a fresh permutation


def test_index_sampler_draws_with_replacement_when_the_domain_is_smaller_than_a_batch():
    s = IndexSampler(5, 64, CPU, torch.Generator().manual_seed(0))
    idx = s.next()
    assert idx.shape == (64,) and idx.min() >= 0 and idx.max() < 5 and len(idx.unique()) == 5


def test_unit_float_maps_uint8_to_the_unit_interval_and_keeps_the_layout():
    x = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 3, 1, 1).expand(2, 3, 4, 4)
    x = x.contiguous(memory_format=torch.channels_last)
    y = unit_float(x)
    assert y.dtype == torch.float32 and y.is_contiguous(memory_format=torch.channels_last)
    assert y[0, :, 0, 0].tolist() == pytest.approx([0.0, 0.2, 1.0])
