"""End to end in Chromium: upload a batch of your own pictures and adapt a model to it.

The pictures are phone-style photos of handwritten digits on paper (core.synth), a domain no
model was trained on; the app adapts the universal digits model to them and shows the guard's
verdict. scripts/bench/adapt_load.py does the same with 100 pictures and measures it.
"""

from __future__ import annotations

import pytest
from tests.support.appserver import settle

from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def paper_photo_files(n: int, seed: int = 0) -> list[dict]:
    import io

    from core.synth import sample

    files = []
    for i in range(n):
        img, ext, kwargs = sample("paper", i % 10, i, "test", seed)
        buf = io.BytesIO()
        img.save(buf, format="JPEG" if ext == "jpg" else ext.upper(), **kwargs)
        files.append({"name": f"photo-{i:03d}.{ext}", "mimeType": "image/jpeg", "buffer": buf.getvalue()})
    return files


def test_adapt_to_uploaded_pictures(server, page):
    page.goto(f"{server}/predict")
    settle(page)
    files = paper_photo_files(20) + [{"name": "broken.png", "mimeType": "image/png", "buffer": b"\x89PNG\r\nno"}]
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(files)
    page.wait_for_selector('[data-testid="stMetric"]')
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.get_by_role("tab", name="Adapt to these pictures").click()
    assert "broken.png" in page.get_by_text("left out because they could not be read").inner_text()
    page.get_by_role("button", name="Adapt to these pictures").click()
    verdict = page.locator('[data-testid="stAlert"]').filter(has_text="20 pictures")
    verdict.first.wait_for(timeout=60_000)
    text = verdict.first.inner_text()
    assert "Adapted" in text or "Kept the original model" in text
    assert "of 20 answers" in text, "the verdict says in plain words how many answers changed"
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("The statistics behind this verdict").count() >= 1
    assert page.get_by_text("Estimated accuracy without labels").count() >= 1, "before and after, estimated"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "predict-adapt.png"), full_page=True)
    # the drawing canvas (a custom component) renders in a real browser
    page.get_by_role("tab", name="Models side by side").click()
    page.get_by_text("Draw a digit", exact=True).click()
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator("canvas").count() >= 1
