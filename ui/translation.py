"""The Translate page's helpers: which models can redraw pictures (a pixel-level GAN's generator),
loading that generator, and the noise the gallery feeds it.

A model can translate when its checkpoint carries an extra module of kind ``pixel_generator``
(``card["extras"]``, see :mod:`core.checkpoints`): the zoo's ``*/pixel_gan`` models and any model
trained in this session with a method that exports one. The pictures themselves come from
:mod:`core.inference.predictions.pixel_translation` and :func:`core.models.generators.translate`.

Noise: the generator draws z ~ U(−1, 1)^noise_dim (PixelDA); the gallery feeds it
``z = scale · u`` with u ~ U(−1, 1)^noise_dim drawn from a seeded generator, so ``scale`` 0 is the
"no noise" picture, 1 the noise it was trained with, and the draw number picks another u.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import streamlit as st
import torch

from . import labels, models, state

log = logging.getLogger(__name__)

GENERATOR_KIND = "pixel_generator"
HOW_TO_TRAIN = ("No model here can translate pictures yet: that takes a pixel-level GAN's generator. Train one on "
                "the **Train** page with the method *{label}* (its live view shows the translations as it learns), "
                "or on the command line: `python -m core train --method {name} --source mnist --target mnistm "
                "--threads 1`; `python -m core zoo rebuild` ships `mnist->mnistm/{name}` with the zoo.")


def generator_method() -> str | None:
    """The first method (registry order) that saves extra modules beside its classifier — a generator
    (it overrides ``Method.export_modules``); None when no registered method does."""
    from core.methods import METHODS, Method, ordered

    return next((m for m in ordered() if METHODS[m].export_modules is not Method.export_modules), None)


def how_to_train() -> str:
    name = generator_method()
    if name is None:
        return ("No model here can translate pictures, and no registered method trains a generator "
                "(a method whose export_modules() returns one).")
    return HOW_TO_TRAIN.format(label=labels.method_label(name), name=name)


def generator_name(card: dict | None) -> str | None:
    """The name of the card's pixel-generator extra (``"generator"``), or None."""
    for name, spec in ((card or {}).get("extras") or {}).items():
        if isinstance(spec, dict) and spec.get("kind") == GENERATOR_KIND:
            return name
    return None


def _folder_card(folder: str | None) -> dict | None:
    """card.json of a session model's checkpoint folder (the card kept in memory has no extras)."""
    from core.checkpoints import CARD_NAME, MAX_CARD_BYTES

    if not folder:
        return None
    path = Path(folder) / CARD_NAME
    try:
        if path.stat().st_size > MAX_CARD_BYTES:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _session_generator(entry):
    """A session model's generator: kept in memory (``entry.extras``), else in its run folder (still
    there), else None."""
    for module in (getattr(entry, "extras", None) or {}).values():
        if (getattr(module, "spec", None) or {}).get("kind") == GENERATOR_KIND:
            return module
    return "folder" if generator_name(_folder_card(entry.checkpoint)) else None


def generator_refs(scenario=None) -> list[str]:
    """Model references that carry a generator: this session's (newest first), then the zoo's; those
    of ``scenario`` before the others."""
    mine = [models.ref_for_session(m.id) for m in state.session_models() if _session_generator(m) is not None]
    zoo = [models.ref_for_zoo(n) for n in models.zoo_names() if generator_name(models.zoo_card(n))]
    refs = mine + zoo
    if scenario is not None:
        first = labels.scenario_key(scenario)
        refs.sort(key=lambda r: scenario_of(r) != first)  # stable: keeps session-first order within
    return refs


def scenario_of(ref: str) -> str | None:
    """``"mnist->mnistm"`` for a reference (zoo name's prefix, or the session model's card)."""
    if ref.startswith(models.ZOO):
        return ref[len(models.ZOO):].rsplit("/", 1)[0]
    entry = models.session_entry(ref)
    return None if entry is None else labels.scenario_key(entry.scenario)


def ref_label(ref: str) -> str:
    """"Pixel-level GAN · MNIST → MNIST-M (pretrained, 71.2 %)" or "… · your run 2 (…)"."""
    key = scenario_of(ref) or "?->?"
    return f"{labels.scenario_label(key)} · {models.label(ref)}"


@st.cache_resource(show_spinner="Loading the generator…", max_entries=16)
def _load_path(folder: str, signature: str):
    from core.checkpoints import load_with_extras

    _, card, extras = load_with_extras(Path(folder))
    name = generator_name(card)
    if name is None or name not in extras:
        raise ValueError(f"{card.get('method')!r} model without a generator: it cannot translate pictures")
    return extras[name].eval(), card


def load_generator(ref: str):
    """``(generator, card)`` of a reference; ValueError with a readable message."""
    if ref.startswith(models.ZOO):
        from core import zoo

        name = ref[len(models.ZOO):]
        try:
            folder = zoo.model_dir(name)
        except Exception as e:  # noqa: BLE001
            raise ValueError(f"could not find zoo model {name!r}: {e}") from e
        return _load_path(str(folder), models.zoo_signature())
    entry = models.session_entry(ref)
    if entry is None:
        raise ValueError("that session model is gone (the page was reloaded?); train it again")
    found = _session_generator(entry)
    if found is None:
        raise ValueError("this session model has no generator any more (its run folder is gone); train it again")
    if found != "folder":
        return found.eval(), entry.card
    return _load_path(entry.checkpoint, entry.id)


def noise(n: int, noise_dim: int, draw: int, seed: int, scale: float) -> torch.Tensor | None:
    """z = scale · u, u ~ U(−1, 1)^noise_dim, (n, noise_dim): the same (seed, draw) gives the same z;
    None for a generator without noise."""
    from core.models.generators import sample_noise

    if noise_dim <= 0:
        return None
    rng = torch.Generator().manual_seed(int(seed) * 100_003 + int(draw))
    return float(scale) * sample_noise(n, noise_dim, generator=rng)


def variations(generator, picture_u8: torch.Tensor, row: int, n: int, k: int, seed: int, scale: float) -> torch.Tensor:
    """Source picture ``row`` of an ``n``-picture gallery, (3, H, W) uint8, redrawn under noise draws
    0..k−1 (draw d uses the z that row gets in the gallery at draw d): uint8 (k, 3, H, W)."""
    from core.models.generators import translate

    noise_dim = int(getattr(generator, "noise_dim", 0))
    x = picture_u8.unsqueeze(0).expand(k, -1, -1, -1)
    z = None
    if noise_dim > 0:
        z = torch.stack([noise(n, noise_dim, d, seed, scale)[row] for d in range(k)])
    return (translate(generator, x, z=z).clamp(0, 1) * 255).round().to(torch.uint8)
