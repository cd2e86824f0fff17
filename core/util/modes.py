"""Tensor idioms used everywhere: pictures as unit floats, and a model briefly in eval mode.

    >>> import torch
    >>> unit_float(torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)).max().item()
    1.0
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


def unit_float(images: torch.Tensor) -> torch.Tensor:
    """Pictures as float32 in [0, 1]: uint8 (…, 3, H, W) divided by 255, float left as float32
    (a new tensor either way for uint8; the memory format is kept)."""
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    return images.float()


@contextmanager
def evaluating(*modules: nn.Module):
    """Put ``modules`` in eval mode for the block and restore each one's own train/eval mode after,
    even when the block raises.

    >>> m = nn.Dropout(); m.train()
    Dropout(p=0.5, inplace=False)
    >>> with evaluating(m):
    ...     m.training
    False
    >>> m.training
    True
    """
    saved = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(modules, saved):
            m.train(mode)
