"""The engine's speed options on the machine at hand: which precision the hardware computes natively.

    autocast_dtype("auto", torch.device("cpu"))   # torch.bfloat16 where the CPU has AVX512-BF16/AMX, else None
"""

from __future__ import annotations

import torch

from .config import PRECISIONS


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively (CUDA Ampere+, CPUs with AVX512-BF16/AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            with open("/proc/cpuinfo") as f:
                flags = f.read()
            return "avx512_bf16" in flags or "amx_bf16" in flags
        except OSError:
            return False
    return False


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "bf16" or (precision == "auto" and native_bf16(device)):
        return torch.bfloat16
    return None
