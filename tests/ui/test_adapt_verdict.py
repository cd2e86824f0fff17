"""The Predict → Adapt verdict (ui.adapt): one sentence whose words agree with its own numbers."""

from __future__ import annotations

from ui.adapt import plain_reason, verdict_sentence


def _done(adapted: bool, before: dict, after: dict, reason: str = "checks passed") -> dict:
    summary = {"before": before, "after": after, "reason": reason, "n_images": 20, "seconds": 0.2}
    return {"summary": summary, "rows": [{}] * 20, "adapted": adapted, "label": "SHOT-IM"}


def test_a_kept_adaptation_that_got_less_sure_does_not_claim_more_certainty():
    before = {"mean_confidence": 0.97, "mean_entropy": 0.10}
    after = {"mean_confidence": 0.96, "mean_entropy": 0.13}
    sentence = verdict_sentence(_done(True, before, after), changed=1)
    assert "less sure of them (96 % on average, was 97 %)" in sentence
    assert "more certain" not in sentence and "within the guard's limit" in sentence


def test_both_clauses_follow_the_confidence_the_sentence_reports_even_when_entropy_moves_the_other_way():
    before = {"mean_confidence": 0.97, "mean_entropy": 0.20}
    after = {"mean_confidence": 0.96, "mean_entropy": 0.15}  # lower entropy, yet a lower top probability
    sentence = verdict_sentence(_done(True, before, after), changed=2)
    assert "less sure of them" in sentence and "more certain" not in sentence


def test_a_kept_adaptation_that_got_surer_says_so():
    before = {"mean_confidence": 0.80, "mean_entropy": 0.50}
    after = {"mean_confidence": 0.90, "mean_entropy": 0.30}
    sentence = verdict_sentence(_done(True, before, after), changed=3)
    assert "more sure of them (90 % on average, was 80 %)" in sentence
    assert "became more certain without piling onto one class" in sentence


def test_refusals_keep_their_reasons_in_plain_words():
    assert "single class" in plain_reason(False, "predictions collapsed: 90% of the pictures now get class 3")
    assert "less sure" in plain_reason(False, "mean prediction entropy rose to 1.2 nats, above the reference's (0.9)")
    assert "fewer classes" in plain_reason(False, "information maximisation fell from 2.2 to 2.1 (…)")
