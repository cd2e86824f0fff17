"""Self-ensembling (core/methods/self_ensembling.py): its defining properties — a mean teacher
that trails the student, agreement only where the teacher is confident, class balance, and the
ingredients of the hard direction (per-picture standardisation, intensity inversion)."""

from __future__ import annotations

import torch

from core.methods import get_method
from core.methods.mean_teacher import cosine_ramp
from core.methods.self_ensembling import class_balance, invert_some
from core.models import build_model
from core.models.backbones import ImageStandardize
from core.models.ema import ema_copy, ema_update

from .adaptation_util import make_batch, make_ctx, make_model


def test_the_teacher_is_an_exponential_moving_average_of_the_student():
    student = build_model({"arch": "digits_cnn"})
    teacher = ema_copy(student)
    assert all(not p.requires_grad for p in teacher.parameters())
    before = [p.detach().clone() for p in teacher.parameters()]
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
    ema_update(teacher, student, 0.9)
    for t, b, s in zip(teacher.parameters(), before, student.parameters()):
        assert torch.allclose(t, 0.9 * b + 0.1 * s)


def test_training_moves_the_teacher_a_step_behind_and_it_is_the_model_evaluated():
    method = get_method("self_ensembling")(make_model(), make_ctx(), lr=1e-3, unlabeled_weight=1.0, ramp_fraction=0.0,
                                           threshold=0.0)
    assert method.model.spec["input_norm"] == "image" and method.model.spec["batch_norm"]
    assert method.eval_model() is method.teacher
    start = [p.detach().clone() for p in method.teacher.parameters()]
    losses = method.step(make_batch(), 0.5)
    assert losses["mask_rate"] == 1.0 and losses["consistency"] >= 0
    moved = [(t - s).abs().max().item() for t, s in zip(method.teacher.parameters(), start)]
    assert max(moved) > 0
    gap = [(t - s).abs().max().item() for t, s in zip(method.teacher.parameters(), method.model.parameters())]
    assert max(gap) > 0  # the teacher trails the student


def test_a_teacher_below_the_confidence_bar_asks_for_nothing():
    method = get_method("self_ensembling")(make_model(), make_ctx(), threshold=1.0, ramp_fraction=0.0)
    losses = method.step(make_batch(), 0.5)
    assert losses["mask_rate"] == 0.0 and losses["consistency"] == 0.0


def test_class_balance_is_zero_when_every_class_is_used_and_large_when_one_takes_all():
    even = torch.full((8, 4), 0.25)
    one = torch.tensor([[0.97, 0.01, 0.01, 0.01]] * 8)
    assert abs(class_balance(even).item()) < 1e-6 and class_balance(one).item() > 1.0


def test_per_picture_standardisation_ignores_brightness_and_contrast_and_inversion_flips():
    x = torch.rand(4, 3, 8, 8)
    std = ImageStandardize()
    assert torch.allclose(std(x), std(0.5 * x + 0.3), atol=1e-4)
    g = torch.Generator().manual_seed(0)
    y = invert_some(x, 1.0, g)
    assert torch.allclose(y, 1 - x) and torch.equal(invert_some(x, 0.0, g), x)
    assert cosine_ramp(0.0, 0.3) == 0.0 and cosine_ramp(0.3, 0.3) == 1.0 and 0 < cosine_ramp(0.1, 0.3) < 1
