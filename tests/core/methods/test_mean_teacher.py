"""The mean-teacher pieces (core/methods/mean_teacher.py) and the three methods built on them."""

from __future__ import annotations

import pytest
import torch

from core.methods import get_method
from core.methods.mean_teacher import MeanTeacherMethod, TargetMeanWindow, confident, cosine_ramp
from core.training.plan import prepare_run

from .adaptation_util import make_batch, make_config, make_ctx, make_model

TRIO = ("self_training", "adamatch", "self_ensembling")


def test_the_three_mean_teacher_methods_share_one_teacher():
    for name in TRIO:
        cls = get_method(name)
        assert issubclass(cls, MeanTeacherMethod)
        for piece in ("eval_model", "train_step", "make_teacher"):  # none writes its own
            assert piece not in vars(cls), (name, piece)


def test_cosine_ramp_rises_from_zero_to_one_over_its_length_and_stays():
    assert cosine_ramp(0.0, 0.5) == 0.0
    assert cosine_ramp(0.25, 0.5) == pytest.approx(0.5)
    assert cosine_ramp(0.5, 0.5) == 1.0 and cosine_ramp(0.9, 0.5) == 1.0
    assert cosine_ramp(0.0, 0.0) == 1.0  # no ramp
    values = [cosine_ramp(p / 10, 0.6) for p in range(11)]
    assert values == sorted(values)


def test_confident_gives_argmax_labels_and_a_mask_at_the_threshold():
    probs = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    labels, mask = confident(probs, 0.8)
    assert labels.tolist() == [0, 0, 1] and mask.tolist() == [1.0, 0.0, 1.0]
    _, mask = confident(probs, torch.tensor(0.6))  # a tensor threshold (AdaMatch's relative bar)
    assert mask.tolist() == [1.0, 1.0, 1.0]


def test_the_target_window_averages_only_the_batches_seen_then_the_last_size():
    window = TargetMeanWindow(classes=2, size=3)
    first = window.push(torch.tensor([[1.0, 0.0]]))
    torch.testing.assert_close(first, torch.tensor([1.0, 0.0]))  # not pulled towards uniform
    window.push(torch.tensor([[0.0, 1.0]]))
    torch.testing.assert_close(window.push(torch.tensor([[0.0, 1.0]])), torch.tensor([1 / 3, 2 / 3]))
    last = window.push(torch.tensor([[0.0, 1.0], [0.0, 1.0]]))  # the first batch leaves the window
    torch.testing.assert_close(last, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="at least one batch"):
        TargetMeanWindow(classes=2, size=0)


@pytest.mark.parametrize("name", TRIO)
def test_the_teacher_is_the_model_evaluated_and_follows_the_student(name):
    method = get_method(name)(make_model(), make_ctx())
    assert method.eval_model() is method.teacher and method.teacher is not method.model
    before = [p.detach().clone() for p in method.teacher.parameters()]
    method.step(make_batch(), 0.9)
    moved = max((t - b).abs().max().item() for t, b in zip(method.teacher.parameters(), before))
    gap = max((t - s).abs().max().item() for t, s in zip(method.teacher.parameters(), method.model.parameters()))
    assert moved > 0 and gap > 0  # it moved, a step behind the student


def test_no_teacher_at_alpha_zero_unless_the_method_needs_one():
    st = get_method("self_training")(make_model(), make_ctx(), ema=0.0)
    assert st.teacher is None and st.eval_model() is st.model
    se = get_method("self_ensembling")(make_model(), make_ctx(), ema=0.0)
    assert se.teacher is not None and se.eval_model() is se.teacher  # its teacher keeps its own statistics


@pytest.mark.parametrize("name,old,new", [("self_training", "warmup_fraction", "source_only_fraction"),
                                          ("adamatch", "warmup_fraction", "ramp_fraction"),
                                          ("self_ensembling", "rampup_fraction", "ramp_fraction")])
def test_former_hyperparameter_names_still_read(name, old, new):
    method = get_method(name)(make_model(), make_ctx(), **{old: 0.2})
    assert method.hp[new] == 0.2 and old not in method.hp
    plan_config = make_config(name, hparams={old: "0.2"})
    prepare_run(plan_config)
    assert plan_config.hparams == {new: 0.2}  # cards and --set written with the old name
    with pytest.raises(ValueError, match=f"{new}.*given twice.*{old}"):
        get_method(name)(make_model(), make_ctx(), **{old: 0.2, new: 0.3})
