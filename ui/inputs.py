"""Pictures that do not come from a file: the camera and a drawing canvas, added to the upload
batch as ``(name, bytes, sha256)``; and the words beside the ingest normalisation choice."""

from __future__ import annotations

import hashlib
import io
import logging

import streamlit as st

log = logging.getLogger(__name__)

#: Canvas size in CSS pixels (the drawing is resized to the model's input like any picture).
CANVAS_SIDE = 224

#: The choices of how pictures enter the models, as people read them.
NORMALIZE_LABELS = {"auto": "Automatically (recommended)", "none": "As they are", "centre": "Centred like MNIST"}

NORMALIZE_HELP = (
    "**Automatically**: for each model and this batch, ShiftLab reads the pictures both ways and keeps "
    "the one whose predictions are more confident on average (no labels needed). "
    "**Centred like MNIST**: make the background dark, crop to the ink, pad to a square, scale the digit to "
    "20/28 of the frame and centre it by mass — how MNIST was made; it helps photos of digits on paper, "
    "scans and drawings and can hurt digits on photo textures. **As they are**: the whole picture, resized.")


def auto_reading_sentence(readings: dict[str, str]) -> str:
    """What "Automatically" chose, in one sentence a newcomer reads: ``{model title: "none" | "centre"}``
    → "Read automatically (no labels): **Source only** and **DANN** read the pictures centred like
    MNIST, **Universal** reads them as they are — each the way its own answers are more confident." """
    groups: dict[str, list[str]] = {}
    for title, how in readings.items():
        groups.setdefault(how, []).append(f"**{title}**")
    words = {k: v[0].lower() + v[1:] for k, v in NORMALIZE_LABELS.items()}  # "centred like MNIST"
    parts = []
    for i, (how, titles) in enumerate(groups.items()):
        who = titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " and " + titles[-1]
        verb = ("reads" if len(titles) == 1 else "read") + (" the pictures" if i == 0 else " them")
        parts.append(f"{who} {verb} {words.get(how, how)}")
    why = "each the way its own answers are more confident" if len(readings) > 1 else \
        "the way its answers are more confident"
    return f"Read automatically (no labels): {', '.join(parts)} — {why}."


def camera_and_drawing(use_camera: bool, use_canvas: bool, key: str = "predict") -> list[tuple]:
    """The camera photo and the drawing, when the user turned them on and made one, as
    ``(name, bytes, sha256)`` to add to the upload batch."""
    out = []
    wanted = [w for w, on in (("camera", use_camera), ("canvas", use_canvas)) if on]
    for where, col in zip(wanted, st.columns(len(wanted)) if wanted else []):
        with col:
            if where == "camera":
                shot = st.camera_input("Photo of a digit", key=f"{key}_camera",
                                       help="One digit, large in the frame; dark ink on light paper is fine.")
                data = shot.getvalue() if shot is not None else None
                name = "camera photo.jpg"
            else:
                st.caption("Draw one digit, large, in the middle of the square.")
                data, name = drawing(f"{key}_canvas"), "drawing.png"
            if data:
                out.append((name, data, hashlib.sha256(data).hexdigest()))
    return out


def drawing(key: str) -> bytes | None:
    """A white-on-black drawing canvas (streamlit-drawable-canvas); the drawing as PNG bytes, or
    None while it is empty or when the component is not available."""
    try:
        from streamlit_drawable_canvas import st_canvas

        result = st_canvas(stroke_width=18, stroke_color="#FFFFFF", background_color="#000000",
                           height=CANVAS_SIDE, width=CANVAS_SIDE, drawing_mode="freedraw",
                           return_image_data=True, key=key)
        pixels = result.image_data
    except Exception as e:  # noqa: BLE001 - a missing or broken component must not break the page
        log.warning("drawing canvas: %s", e)
        st.caption(f"The drawing canvas is not available here ({type(e).__name__}); upload a picture instead.")
        return None
    return drawing_png(pixels)


def drawing_png(pixels) -> bytes | None:
    """RGBA canvas pixels (H, W, 4) → PNG bytes of the RGB drawing, None when nothing is drawn."""
    import numpy as np
    from PIL import Image

    if pixels is None:
        return None
    arr = np.asarray(pixels)
    if arr.ndim != 3 or arr.shape[-1] < 3 or int((arr[..., :3].max(-1) > 127).sum()) < 20:
        return None
    buf = io.BytesIO()
    Image.fromarray(arr[..., :3].astype(np.uint8), "RGB").save(buf, format="PNG")
    return buf.getvalue()
