"""The default model for pictures from elsewhere: the shipped universal digits model, cached
process-wide (its weights on disk are never written)."""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from . import labels

log = logging.getLogger(__name__)


def universal_path() -> Path:
    from core.tta.domain import DEFAULT_MODEL

    return Path(DEFAULT_MODEL)


@st.cache_resource(show_spinner="Loading the universal model…", max_entries=2)
def _load_universal(path: str, stamp: int):
    from core.zoo.refs import load_ref

    model, card = load_ref(path, "cpu")
    return model.eval(), card


def universal():
    """``(model, card)`` of the shipped universal digits model (cached process-wide), or None when
    it is missing or unreadable (the page then offers the scenario's models only)."""
    path = universal_path()
    try:
        stamp = (path / "model.safetensors").stat().st_mtime_ns
        return _load_universal(str(path), stamp)
    except Exception as e:  # noqa: BLE001 - the app works without it
        log.warning("universal model at %s: %s", path, e)
        return None


def universal_label(card: dict) -> str:
    method = labels.method_label(card.get("method", "?"), short=True)
    domains = len(str(card.get("source", "")).split("+"))
    return f"Universal digits model ({method}, {domains} domains)"
