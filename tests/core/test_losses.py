"""Tests for core.losses, checked against hand-computed values and direct formulas."""

from __future__ import annotations

import math

import pytest
import torch

from core.losses import (
    coral, distillation_loss, domain_adversarial_loss, entropy_rows, gaussian_kernel_matrix, information_maximization,
    median_bandwidth, mk_mmd, prediction_entropy,
)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------- MMD

def test_mk_mmd_same_distribution_is_near_zero():
    g = _gen(0)
    for _ in range(3):
        x, y = torch.randn(200, 8, generator=g), torch.randn(200, 8, generator=g)
        assert abs(mk_mmd(x, y).item()) < 0.02


def test_mk_mmd_mean_shift_is_clearly_positive_and_grows():
    g = _gen(1)
    x, y = torch.randn(200, 8, generator=g), torch.randn(200, 8, generator=g)
    same = mk_mmd(x, y).item()
    small, large = mk_mmd(x, y + 0.5).item(), mk_mmd(x, y + 2.0).item()
    assert large > 0.5
    assert small > 0.05
    assert large > small > same + 0.04


def test_mk_mmd_is_symmetric():
    g = _gen(2)
    x, y = torch.randn(50, 4, generator=g), torch.randn(70, 4, generator=g) + 1
    assert mk_mmd(x, y).item() == pytest.approx(mk_mmd(y, x).item(), rel=1e-5, abs=1e-7)


def test_mk_mmd_matches_direct_unbiased_formula():
    g = _gen(3)
    x, y = torch.randn(6, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64) + 0.7
    sigma = 1.3
    scales = (0.5, 1.0, 2.0)

    def k(a, b):
        d2 = float(((a - b) ** 2).sum())
        return sum(math.exp(-d2 / (2 * (sigma * s) ** 2)) for s in scales)

    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    expected = xx + yy - 2 * xy
    got = mk_mmd(x, y, scales=scales, bandwidth=sigma).item()
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_mk_mmd_gradient_flows_and_reduces_discrepancy():
    g = _gen(4)
    x = (torch.randn(64, 5, generator=g) + 1.5).requires_grad_(True)
    y = torch.randn(64, 5, generator=g)
    loss = mk_mmd(x, y)
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # a small step against the gradient lowers the MMD
    with torch.no_grad():
        x2 = x - 5.0 * x.grad
    assert mk_mmd(x2, y).item() < loss.item()


def test_mk_mmd_half_precision_inputs_are_computed_in_fp32():
    g = _gen(5)
    x, y = torch.randn(32, 4, generator=g), torch.randn(32, 4, generator=g) + 1
    out = mk_mmd(x.bfloat16(), y.bfloat16())
    assert out.dtype == torch.float32 and torch.isfinite(out)
    assert out.item() == pytest.approx(mk_mmd(x.bfloat16().float(), y.bfloat16().float()).item(), rel=1e-5)


def test_mk_mmd_needs_two_samples_each():
    with pytest.raises(ValueError):
        mk_mmd(torch.randn(1, 3), torch.randn(5, 3))


def test_gaussian_kernel_matrix_and_median_bandwidth():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    k = gaussian_kernel_matrix(x, x, [1.0, 5.0])
    assert k.shape == (2, 2)
    torch.testing.assert_close(k.diagonal(), torch.tensor([2.0, 2.0]))  # two kernels, each 1 on the diagonal
    expected = math.exp(-25 / 2) + math.exp(-25 / 50)
    assert k[0, 1].item() == pytest.approx(expected, rel=1e-5)
    # pooled distances: 0↔(3,4)=5, 0↔(0,1)=1, (3,4)↔(0,1)=√18≈4.24 → median √18
    bw = median_bandwidth(x, torch.tensor([[0.0, 1.0]]))
    assert bw.item() == pytest.approx(math.sqrt(18), rel=1e-5)


# ---------------------------------------------------------------------------- distillation

def test_distillation_loss_hand_computed_t1():
    # teacher softmax [0.75, 0.25] (logits ln 3, 0), student softmax [0.5, 0.5]
    teacher = torch.tensor([[math.log(3.0), 0.0]])
    student = torch.tensor([[0.0, 0.0]])
    kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)  # = 0.130812...
    assert kl == pytest.approx(0.1308120, abs=1e-6)
    assert distillation_loss(student, teacher, temperature=1.0).item() == pytest.approx(kl, rel=1e-5)


def test_distillation_loss_hand_computed_t2_is_scaled_by_t_squared_and_batch_averaged():
    # with T = 2 teacher logits (2 ln 3, 0) give the same soft targets [0.75, 0.25]
    teacher = torch.tensor([[2 * math.log(3.0), 0.0], [1.0, 1.0]])
    student = torch.tensor([[5.0, 5.0], [-2.0, -2.0]])  # row 2: student = teacher distribution → KL 0
    kl_row1 = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    expected = 2.0 ** 2 * (kl_row1 + 0.0) / 2  # T² · batch mean
    assert distillation_loss(student, teacher, temperature=2.0).item() == pytest.approx(expected, rel=1e-5)


def test_distillation_loss_zero_for_identical_logits_and_positive_otherwise():
    z = torch.randn(8, 10, generator=_gen(6))
    assert distillation_loss(z, z.clone()).item() == pytest.approx(0.0, abs=1e-6)
    assert distillation_loss(z, z + 3.0).item() == pytest.approx(0.0, abs=1e-5)  # softmax is shift invariant
    assert distillation_loss(z, -z).item() > 0.01


def test_distillation_loss_teacher_gets_no_gradient():
    s = torch.randn(4, 5, requires_grad=True)
    t = torch.randn(4, 5, requires_grad=True)
    distillation_loss(s, t).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None


# ---------------------------------------------------------------------------- CORAL, entropy, domain loss

def test_coral_zero_for_identical_and_hand_case():
    x = torch.randn(30, 4, generator=_gen(7))
    assert coral(x, x.clone()).item() == pytest.approx(0.0, abs=1e-10)
    assert coral(x, x + 5.0).item() == pytest.approx(0.0, abs=1e-5)  # a mean shift does not change covariances
    # y = 2x: C_y = 4 C_x, so ‖C_x − C_y‖² = 9 ‖C_x‖²
    cx = torch.cov(x.T)
    expected = 9 * cx.pow(2).sum().item() / (4 * 4 * 4)
    assert coral(x, 2 * x).item() == pytest.approx(expected, rel=1e-4)


def test_entropy_max_for_uniform_and_zero_for_confident():
    for c in (2, 10):
        assert prediction_entropy(torch.zeros(3, c)).mean().item() == pytest.approx(math.log(c), rel=1e-6)
        assert prediction_entropy(torch.full((2, c), 7.0)).mean().item() == pytest.approx(math.log(c), rel=1e-6)
    confident = torch.tensor([[100.0, 0.0, 0.0]])
    assert prediction_entropy(confident).item() == pytest.approx(0.0, abs=1e-6)
    random_logits = torch.randn(16, 10, generator=_gen(8))
    assert 0.0 < prediction_entropy(random_logits).mean().item() < math.log(10)


def test_entropy_hand_case():
    logits = torch.tensor([[math.log(3.0), 0.0]])  # p = [0.75, 0.25]
    expected = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert prediction_entropy(logits).item() == pytest.approx(expected, rel=1e-6)


def test_entropy_from_logits_equals_entropy_of_the_probabilities():
    logits = torch.randn(32, 7, generator=_gen(3), dtype=torch.float64) * 4
    assert torch.allclose(prediction_entropy(logits), entropy_rows(torch.softmax(logits, 1)), atol=1e-10)
    ent, div = information_maximization(logits)
    p = torch.softmax(logits, 1)
    assert ent.item() == pytest.approx(entropy_rows(p).mean().item(), rel=1e-9)
    assert div.item() == pytest.approx(-entropy_rows(p.mean(0, keepdim=True)).item(), rel=1e-9)


def test_domain_adversarial_loss_values():
    assert domain_adversarial_loss(torch.zeros(5), torch.zeros(3)).item() == pytest.approx(math.log(2), rel=1e-6)
    # a perfect discriminator: near 0; a perfectly wrong one: large
    assert domain_adversarial_loss(torch.full((4,), 20.0), torch.full((4,), -20.0)).item() < 1e-6
    assert domain_adversarial_loss(torch.full((4,), -20.0), torch.full((4,), 20.0)).item() > 19
    # hand case: source logit 0 (BCE ln 2), target logit ln 3 (BCE −ln(1 − 0.75) = ln 4)
    got = domain_adversarial_loss(torch.tensor([0.0]), torch.tensor([math.log(3.0)])).item()
    assert got == pytest.approx(0.5 * (math.log(2) + math.log(4)), rel=1e-6)
