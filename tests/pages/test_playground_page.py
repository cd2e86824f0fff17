"""The Playground page in streamlit.testing: it trains, its pictures change while it does, the
presets teach what they say, and bad input is one line."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.support.waiting import rerun_until  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def page(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIFTLAB_ZOO_DIR", str(tmp_path / "no-zoo"))
    at = AppTest.from_file(str(ROOT / "pages" / "playground.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    yield at
    run = at.session_state["pg_run"] if "pg_run" in at.session_state else None
    if run is not None:  # never leave a training thread behind
        run.cancel()
        run.join(30)


def status(at) -> str:
    found = [c.value for c in at.caption if str(c.value).startswith("Step ")]
    return found[0] if found else ""


def charts(at) -> list[str]:
    return [c.proto.spec for c in at.get("plotly_chart")]


def live_pictures(at) -> list[str]:
    """The live view's pictures (their media URLs name their bytes: a new picture, a new URL)."""
    return [str(e.proto) for e in at.get("image")]


def test_the_page_offers_presets_sliders_and_only_methods_that_run_on_points(page):
    from core.methods import needs_pictures, runs_on_points
    from core.training.playground import PRESETS

    labels = [b.label for b in page.button]
    assert [p.label for p in PRESETS] == labels[:3] and "Train" in labels
    assert page.selectbox(key="pg_method").options == [page.selectbox(key="pg_method").format_func(n)
                                                       for n in runs_on_points()]
    assert page.slider(key="pg_rotate").value == 35.0  # the first visit shows a gap worth training on
    assert "source toy:moons   target toy:moons?rotate=35" in page.code[0].value
    note = " ".join(str(c.value) for c in page.caption if str(c.value).startswith("Not here"))
    from ui.labels import method_label

    assert all(method_label(n) in note for n in needs_pictures()) and "need pictures" in note


def test_the_domains_are_drawn_before_any_training_and_follow_the_sliders(page):
    import json

    def target_xs(spec: str) -> list:
        traces = json.loads(spec)["data"]
        return [x for t in traces if t["name"].startswith("target") for x in t["x"]]

    assert status(page) == "" and "pg_run" not in page.session_state  # nothing trained
    first = charts(page)
    assert len(first) == 1 and "before training" in first[0]
    page.slider(key="pg_rotate").set_value(65.0).run()
    assert not page.exception and not page.error
    moved = charts(page)
    assert len(moved) == 1 and target_xs(moved[0]) != target_xs(first[0])  # the target turned on the slider
    assert any("Press **Train**" in str(c.value) for c in page.caption)


def test_training_redraws_a_changing_picture_then_reads_what_happened(page):
    page.slider(key="pg_rotate").set_value(40.0).run()
    page.select_slider(key="pg_steps").set_value(3000).run()  # long enough to watch (each page run streams 1.5 s)
    page.button(key="pg_train").click().run()
    assert not page.exception and not page.error
    seen: dict[str, list[str]] = {}

    def finished():
        s = status(page)
        if s and "training" in s and live_pictures(page):
            seen.setdefault(s.split(" · ")[0], live_pictures(page))
        return s.endswith("done")

    rerun_until(page, finished, pause=0.1, what=lambda: f"the run finishing (status {status(page)!r})")
    assert len(seen) >= 3, seen.keys()  # several live frames were drawn while it trained
    pictures = [p[0] for p in seen.values()]
    assert len(set(pictures)) >= 2  # the picture itself changed, not only the caption
    assert len(charts(page)) == 5  # per method the input plane and the features, then the bound
    reading = page.success[0].value
    assert "closed" in reading and "DANN" in reading
    assert "python -m core train --source" in " ".join(str(c.value) for c in page.caption)


def test_the_label_shift_preset_trains_in_one_click_and_says_the_classes_swapped(page):
    page.button(key="pg_preset_label").click().run()
    assert page.slider(key="pg_prior").value == pytest.approx(0.9) and page.slider(key="pg_rotate").value == 20.0
    from core.training.playground import preset

    assert page.selectbox(key="pg_method").value == preset("label").method_name
    rerun_until(page, lambda: status(page).endswith("done"), pause=0.1,
                what=lambda: f"the run finishing (status {status(page)!r})")
    assert "aligned the domains but swapped the classes" in page.success[0].value
    assert any("90 % class A" in str(i.value) for i in page.info)  # the lesson


@pytest.mark.parametrize("typed, words", [
    ("toy:moons?rotate=400", ["rotate=400", "outside its range", "-180..180"]),
    ("toy:donut", ["unknown toy data set 'donut'", "moons, blobs, spirals"]),
    ("toy:moons?wobble=1", ["unknown toy parameter 'wobble'", "valid:"]),
])
def test_a_bad_typed_spec_is_one_line_and_blocks_training(page, typed, words):
    page.text_input(key="pg_typed").input(typed).run()
    assert len(page.error) == 1
    message = page.error[0].value
    assert "\n" not in message and all(w in message for w in words), message
    assert page.button(key="pg_train").disabled


def test_a_typed_spec_overrides_the_sliders(page):
    page.text_input(key="pg_typed").input("toy:spirals?classes=3&rotate=30").run()
    assert not page.error
    assert "source toy:spirals?classes=3   target toy:spirals?classes=3&rotate=30" in page.code[0].value
