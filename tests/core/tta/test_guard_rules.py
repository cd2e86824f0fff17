"""The guard's verdict from label-free statistics alone (core.tta.guard.judge), the IM rule included."""

from __future__ import annotations

from core.tta.guard import ADAPTED, KEPT, judge


def stats(entropy=0.5, share=0.2, im=1.5, top=0):
    return {"mean_entropy": entropy, "max_class_share": share, "im_loss": -im, "top_class": top}


def test_collapse_and_rising_entropy_keep_the_original_as_before():
    before = stats()
    assert judge(before, stats(share=0.5), before)[0] == KEPT
    verdict, reason = judge(before, stats(entropy=0.7), before)
    assert verdict == KEPT and "entropy rose" in reason


def test_the_im_rule_refuses_more_confidence_bought_with_less_spread():
    before = stats(entropy=0.5, im=1.5)
    confident_but_narrower = stats(entropy=0.3, im=1.2)  # entropy fell (the old rule says adapted)
    assert judge(before, confident_but_narrower, before, im_tolerance=None)[0] == ADAPTED
    verdict, reason = judge(before, confident_but_narrower, before, im_tolerance=0.0)
    assert verdict == KEPT and "information maximisation fell" in reason
    assert judge(before, confident_but_narrower, before, im_tolerance=0.5)[0] == ADAPTED  # within tolerance
    assert judge(before, stats(entropy=0.3, im=1.7), before, im_tolerance=0.0)[0] == ADAPTED
