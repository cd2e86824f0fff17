"""Predict and Adapt show each model's accuracy on the uploaded pictures, estimated without labels
(streamlit.testing, the shipped zoo), and say how many pictures are needed when there are too few."""

from __future__ import annotations

import re

import pytest

from tests.pages.test_app_pages import app, button, goto, paper_photos, texts, upload  # noqa: F401 - fixtures too
from tests.pages.test_app_pages import navigation_mode  # noqa: F401 - autouse fixture

pytest.importorskip("streamlit.testing.v1")

SENTENCE = re.compile(r"right on about (\d+) % of pictures like these, likely (\d+)–(\d+) %")


@pytest.fixture
def shipped_zoo(monkeypatch):
    from core import zoo

    monkeypatch.delenv("SHIFTLAB_ZOO_DIR", raising=False)
    if not zoo.names():
        pytest.skip("no shipped zoo in this checkout")


def test_predict_estimates_each_model_on_the_uploads(shipped_zoo):
    at = goto(app(), "predict")
    upload(at, paper_photos(24))
    assert {m.label: m.value for m in at.metric}["Pictures"] == "24"
    assert "Estimated accuracy on these pictures" in texts(at.markdown)
    lines = [c for c in texts(at.caption).splitlines() if SENTENCE.search(c)]
    assert {line.split("**")[1] for line in lines} >= {"Source only", "Universal"}, texts(at.caption)
    for line in lines:
        est, low, high = map(int, SENTENCE.search(line).groups())
        assert 0 <= low <= est <= high <= 100
    # before and after adapting, on the same pictures
    at.selectbox(key="predict_tta_method").set_value("shot_im").run()
    button(at, "Adapt to these pictures").click().run()
    assert not at.exception, [e.value for e in at.exception]
    estimates = at.session_state["predict_tta"]["estimates"]
    assert set(estimates) == {"before", "after"} and isinstance(estimates["before"], dict)
    caption = [c for c in texts(at.caption).splitlines() if "Estimated accuracy without labels" in c]
    assert caption and len(SENTENCE.findall(caption[0])) == (2 if at.session_state["predict_tta"]["adapted"] else 1)


def test_too_few_pictures_say_how_many_and_keep_the_answers(shipped_zoo):
    at = goto(app(), "predict")
    upload(at, paper_photos(5))
    assert {m.label: m.value for m in at.metric}["Pictures"] == "5"
    assert "An accuracy estimate needs at least 20 pictures; this batch has 5. Add 15 more" in texts(at.caption)
    assert not SENTENCE.search(texts(at.caption))
    assert "Models agree" in {m.label for m in at.metric}, "the answers are still shown"


def test_sentence_reads_like_a_person_wrote_it():
    from core.estimators import sentence
    from ui.estimate import phrase

    res = {"estimated_acc": 80.2, "low": 72.4, "high": 87.0}
    assert sentence(res) == "about 80 % of pictures like these, likely 72–87 %"
    assert SENTENCE.search(phrase({**res, "sentence": sentence(res)}))
    assert phrase("An accuracy estimate needs at least 20 pictures, got 3").startswith("an accuracy estimate")
