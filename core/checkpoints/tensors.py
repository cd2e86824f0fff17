"""The weights file: safetensors written from a model, and read back without trusting it.

:func:`parse_header` checks a safetensors header (sizes, dtypes, offsets) before any tensor is
read; :func:`check_tensors` compares it with the card's architecture (built on the meta device);
:func:`check_finite` refuses NaN / infinite weights. Nothing here can run code from a file.
"""

from __future__ import annotations

import json
import math

import torch
from torch import nn

from .card import WEIGHTS_NAME, BadCheckpoint, is_int

MAX_HEADER_BYTES = 16 * 1024 * 1024  # safetensors JSON header
MAX_TENSORS = 100_000

# safetensors dtype tag → torch dtype, for the dtypes we accept.
DTYPES: dict[str, torch.dtype] = {
    "F16": torch.float16, "F32": torch.float32, "F64": torch.float64,
    "I64": torch.int64, "BOOL": torch.bool,
}


def state_tensors(state: dict[str, torch.Tensor], half: bool) -> dict[str, torch.Tensor]:
    """A state dict as the tensors a checkpoint stores: floats fp32 (fp16 with ``half``), integers
    int64, on the CPU, contiguous."""
    tensors = {}
    for k, v in state.items():
        t = v.detach().to("cpu", copy=True)
        if t.is_floating_point():
            t = t.to(torch.float16 if half else (t.dtype if t.dtype in (torch.float32, torch.float64)
                                                 else torch.float32))
        elif t.dtype != torch.bool:
            t = t.to(torch.int64)
        tensors[k] = t.contiguous()
    return tensors


def weights_bytes(state: dict[str, torch.Tensor], half: bool) -> bytes:
    from safetensors.torch import save as st_save

    from .card import CARD_FORMAT

    return st_save(state_tensors(state, half), metadata={"format": "pt", "shiftlab": CARD_FORMAT})


def size_bytes(model: nn.Module, half: bool = False) -> int:
    """Size of ``model``'s weights as a checkpoint stores them (safetensors), in bytes."""
    return len(weights_bytes(model.state_dict(), half))


def looks_pickled(data: bytes) -> bool:
    head = bytes(data[:4])
    return head[:1] == b"\x80" or head.startswith(b"PK\x03\x04") or head[:1] in (b"(", b"]", b"}", b"c")



def parse_header(data: bytes) -> dict[str, dict]:
    """Parse and check a safetensors header without trusting it; return name → entry."""
    if len(data) < 8:
        raise BadCheckpoint(f"{WEIGHTS_NAME} is too short ({len(data)} bytes) to be safetensors")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8 or n > MAX_HEADER_BYTES or n < 2:
        raise BadCheckpoint(f"{WEIGHTS_NAME} has an impossible safetensors header length {n:,} "
                            f"(file is {len(data):,} bytes)")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise BadCheckpoint(f"{WEIGHTS_NAME} has a corrupt safetensors header: {e}") from e
    if not isinstance(header, dict):
        raise BadCheckpoint(f"{WEIGHTS_NAME} safetensors header is not a JSON object")
    meta = header.pop("__metadata__", None)
    if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        raise BadCheckpoint(f"{WEIGHTS_NAME} has malformed __metadata__")
    if len(header) > MAX_TENSORS:
        raise BadCheckpoint(f"{WEIGHTS_NAME} lists {len(header):,} tensors; at most {MAX_TENSORS:,}")
    body = len(data) - 8 - n
    for name, entry in header.items():
        if not isinstance(entry, dict):
            raise BadCheckpoint(f"{WEIGHTS_NAME}: entry for tensor {name!r} is malformed")
        dtype, shape, offs = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in DTYPES:
            raise BadCheckpoint(f"{WEIGHTS_NAME}: tensor {name!r} has dtype {dtype!r}; "
                                f"only {sorted(DTYPES)} are accepted")
        if not (isinstance(shape, list) and all(is_int(d) and d >= 0 for d in shape) and len(shape) <= 8):
            raise BadCheckpoint(f"{WEIGHTS_NAME}: tensor {name!r} has a malformed shape {shape!r}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(is_int(o) for o in offs)
                and 0 <= offs[0] <= offs[1] <= body):
            raise BadCheckpoint(f"{WEIGHTS_NAME}: tensor {name!r} has bad data offsets {offs!r}")
        itemsize = torch.empty((), dtype=DTYPES[dtype]).element_size()
        if math.prod(shape) * itemsize != offs[1] - offs[0]:
            raise BadCheckpoint(f"{WEIGHTS_NAME}: tensor {name!r} size does not match its shape {shape}")
    return header


def check_tensors(header: dict[str, dict], expected: dict[str, torch.Tensor]) -> None:
    """The header must name exactly the ``expected`` tensors (a meta model's state), with their shapes
    and compatible dtypes."""
    missing = [k for k in expected if k not in header]
    unexpected = [k for k in header if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing tensor(s) {missing[:10]}{' …' if len(missing) > 10 else ''}")
        if unexpected:
            parts.append(f"unexpected tensor(s) {unexpected[:10]}{' …' if len(unexpected) > 10 else ''}")
        raise BadCheckpoint(f"{WEIGHTS_NAME} does not fit the card's model: " + "; ".join(parts))
    for k, ref in expected.items():
        entry = header[k]
        if list(ref.shape) != entry["shape"]:
            raise BadCheckpoint(f"{WEIGHTS_NAME}: tensor {k!r} has shape {entry['shape']}, the model "
                                f"needs {list(ref.shape)}")
        got = DTYPES[entry["dtype"]]
        ok = (got.is_floating_point == ref.dtype.is_floating_point
              and (got == torch.bool) == (ref.dtype == torch.bool))
        if not ok:
            raise BadCheckpoint(f"{WEIGHTS_NAME}: tensor {k!r} has dtype {entry['dtype']}, "
                                f"incompatible with the model's {ref.dtype}")



def check_finite(tensors: dict[str, torch.Tensor]) -> None:
    """BadCheckpoint naming the first floating tensor that holds NaN or an infinity."""
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise BadCheckpoint(f"{WEIGHTS_NAME}: tensor {name!r} holds NaN or infinite values; "
                                "the model diverged when it was trained or the file is corrupt")
