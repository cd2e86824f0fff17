"""Random batches from domains held as resident uint8 tensors (the engine's data path).

Whole splits live on the training device; a batch is a gather by index, not a DataLoader pass.
"""

from __future__ import annotations

import numpy as np
import torch


class IndexSampler:
    """Epoch-wise random batches of indices into a domain of ``n`` images.

    ``next()`` returns a (B,) int64 index tensor on ``device``: consecutive slices of a fresh
    random permutation each epoch (dropping the remainder), or — when the domain is smaller than
    a batch — B indices drawn with replacement. Indices are drawn with ``generator`` on its own
    device (a CUDA generator draws on the GPU, with no host round trip) and then moved to ``device``.
    """

    def __init__(self, n: int, batch_size: int, device: torch.device, generator: torch.Generator):
        self.n, self.batch_size, self.device, self.gen = n, batch_size, device, generator
        self.order, self.pos = None, n

    def next(self) -> torch.Tensor:
        draw_on = self.gen.device
        if self.batch_size > self.n:
            idx = torch.randint(0, self.n, (self.batch_size,), device=draw_on, generator=self.gen)
            return idx.to(self.device)
        if self.pos + self.batch_size > self.n:
            self.order = torch.randperm(self.n, device=draw_on, generator=self.gen).to(self.device)
            self.pos = 0
        idx = self.order[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx


def sample_indices(n: int, k: int, seed: int) -> np.ndarray:
    """A fixed random sample of ``k`` of ``n`` indices (sorted), the same for every model and page."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=min(k, n), replace=False))
