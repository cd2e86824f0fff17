"""Model references: a trained model named by a checkpoint path (folder or zip) or a zoo name.

    model, card = load_ref("mnist->mnistm/dann")           # a shipped model
    model, card = load_ref("runs/my-run")                   # a checkpoint folder or .zip

Used wherever a user names a model (``eval --checkpoint``, ``adapt --model``, a distillation
teacher): one place decides how a reference is read, and both kinds are read without running
code from the files (:func:`core.checkpoints.load`).
"""

from __future__ import annotations

from pathlib import Path


def is_path(ref: str) -> bool:
    """Whether ``ref`` names something on disk (else it is read as a zoo name)."""
    return Path(ref).expanduser().exists()


def load_ref(ref: str, device="cpu"):
    """``(model, card)`` for a checkpoint path or a zoo name; ValueError listing what exists."""
    from .. import checkpoints, zoo

    if not isinstance(ref, str) or not ref.strip():
        raise ValueError("a model reference is needed: a checkpoint folder/zip or a zoo name "
                         "(see `python -m core zoo list`)")
    if is_path(ref):
        return checkpoints.load(Path(ref).expanduser(), device=str(device))
    if "/" in ref and ("->" in ref or "→" in ref):
        return zoo.load(ref, device=str(device))
    raise ValueError(f"no checkpoint at {ref!r}, and it is not a zoo name (SOURCE->TARGET/METHOD); "
                     f"{zoo.available_message()}")


def load_frozen(ref: str, device="cpu"):
    """:func:`load_ref`, with every parameter frozen and the model in eval mode (a teacher)."""
    model, card = load_ref(ref, device)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval(), card
