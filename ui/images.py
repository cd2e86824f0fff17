"""Pictures for display (no Streamlit here, so it is testable on its own)."""

from __future__ import annotations

import numpy as np
import torch


def upscale_nearest(images: torch.Tensor | np.ndarray, factor: int) -> np.ndarray:
    """uint8 images (N, 3, H, W) or (3, H, W) → HWC uint8 arrays enlarged ``factor``× with nearest
    neighbours (crisp pixels for display)."""
    a = images.numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if a.dtype != np.uint8:
        a = (np.clip(a, 0, 1) * 255).round().astype(np.uint8)
    single = a.ndim == 3
    if single:
        a = a[None]
    a = a.transpose(0, 2, 3, 1)  # NHWC
    a = a.repeat(factor, axis=1).repeat(factor, axis=2)
    return a[0] if single else a
