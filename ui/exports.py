"""Downloads of a model in other formats, built only when asked: ONNX beside the checkpoint zip.

    onnx_download(model, cache_key="session:abc", file_name="run1.onnx", key="dl_abc_onnx")

Exporting costs a second or two (``torch.onnx.export`` plus a check against PyTorch with ONNX
Runtime, :func:`core.checkpoints.onnx.export_onnx`), so the page shows a "Prepare ONNX" button first and the
download once the bytes exist. The bytes are kept per model (``cache_key``) in the session, the
last :data:`KEEP` models only, so a rerun does not export again.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

STATE_KEY = "onnx_bytes"
#: ONNX files kept per session (a digits model is ~0.4 MB).
KEEP = 6


def onnx_bytes(model) -> bytes:
    """``model`` as ONNX bytes, checked against PyTorch (:func:`core.checkpoints.onnx.export_onnx`)."""
    from core.checkpoints.onnx import export_onnx

    with tempfile.TemporaryDirectory(prefix="shiftlab-onnx-") as tmp:
        path = Path(tmp) / "model.onnx"
        export_onnx(model, path)
        return path.read_bytes()


def _store() -> dict:
    return st.session_state.setdefault(STATE_KEY, {})


def cached(cache_key: str) -> bytes | None:
    """The ONNX bytes prepared for ``cache_key`` in this session, if any."""
    return _store().get(cache_key)


def onnx_download(model, cache_key: str, file_name: str, key: str) -> None:
    """"Prepare ONNX" (exports ``model`` once per ``cache_key``), then "Download ONNX"."""
    store = _store()
    data = store.get(cache_key)
    if data is None:
        if not st.button("Prepare ONNX", key=f"{key}_prepare", icon=":material/build:",
                         help="Export the model to ONNX (runs in ONNX Runtime, TensorRT, OpenVINO, browsers …); "
                              "checked against PyTorch on random pictures."):
            return
        try:
            with st.spinner("Exporting to ONNX…"):
                data = onnx_bytes(model)
        except Exception as e:  # noqa: BLE001 - an export problem must not break the page
            st.warning(f"The model could not be exported to ONNX: {e}")
            return
        store[cache_key] = data
        while len(store) > KEEP:
            store.pop(next(iter(store)))
    st.download_button("Download ONNX", data, file_name=file_name, mime="application/octet-stream",
                       key=key, icon=":material/download:", on_click="ignore",
                       help="The model as ONNX: input `images` float (N, 3, S, S) in [0, 1], output `logits` "
                            "(N, classes); normalisation is inside the graph.")
