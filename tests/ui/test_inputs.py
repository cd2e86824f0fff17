"""ui.inputs: how Predict says what "Automatically" chose."""

from __future__ import annotations

from ui.inputs import auto_reading_sentence


def test_the_automatic_reading_is_one_plain_sentence():
    both = auto_reading_sentence({"Source only": "centre", "DANN": "centre", "Universal": "none"})
    assert both == ("Read automatically (no labels): **Source only** and **DANN** read the pictures centred like "
                    "MNIST, **Universal** reads them as they are — each the way its own answers are more confident.")
    one = auto_reading_sentence({"Universal": "none"})
    assert one == ("Read automatically (no labels): **Universal** reads the pictures as they are — the way its "
                   "answers are more confident.")
