"""Tests for core.models: gradient reversal, the DANN schedule, the model zoo builder."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from core.models import (
    ARCHITECTURES, Classifier, DomainDiscriminator, GradientReversal, build_model, count_parameters,
    dann_lambda, grad_reverse,
)


# ---------------------------------------------------------------------------- gradient reversal

def _grads(x: torch.Tensor, lambda_: float | None, weight: torch.Tensor) -> torch.Tensor:
    """d/dx of a non-trivial scalar f(R_λ(x)) (or of f(x) when lambda_ is None)."""
    x = x.detach().clone().requires_grad_(True)
    h = x if lambda_ is None else grad_reverse(x, lambda_)
    out = torch.tanh(h @ weight).pow(2).sum() + (h ** 3).mean()
    out.backward()
    return x.grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("lambda_", [0.0, 0.3, 1.0, 5.0])
def test_grad_reverse_gradient_is_minus_lambda_times_plain_gradient(lambda_, dtype):
    gen = torch.Generator().manual_seed(int(lambda_ * 10) + 1)
    x = torch.randn(7, 5, generator=gen, dtype=dtype)
    w = torch.randn(5, 3, generator=gen, dtype=dtype)
    plain = _grads(x, None, w)
    reversed_ = _grads(x, lambda_, w)
    assert reversed_.dtype == dtype
    assert plain.abs().sum() > 0
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(reversed_, -lambda_ * plain, rtol=tol, atol=tol)


@pytest.mark.parametrize("lambda_", [0.0, 0.3, 1.0, 5.0])
def test_gradient_reversal_module_forward_is_identity_and_backward_reverses(lambda_):
    grl = GradientReversal(lambda_)
    x = torch.randn(4, 3, 2, 2, requires_grad=True)
    y = grl(x)
    assert y.shape == x.shape
    assert torch.equal(y, x)
    g = torch.randn_like(x)
    y.backward(g)
    torch.testing.assert_close(x.grad, -lambda_ * g)
    assert f"{lambda_:.4f}" in repr(grl)


def test_gradient_reversal_lambda_can_be_changed_between_calls():
    grl = GradientReversal(1.0)
    x = torch.ones(3, requires_grad=True)
    grl.lambda_ = 0.25
    grl(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((3,), -0.25))


def test_grad_reverse_in_a_network_flips_only_the_upstream_gradient():
    torch.manual_seed(0)
    feat, head = nn.Linear(4, 3), nn.Linear(3, 1)
    x = torch.randn(8, 4)

    def grads(lam):
        feat.zero_grad(), head.zero_grad()
        f = feat(x)
        f = f if lam is None else grad_reverse(f, lam)
        head(f).pow(2).mean().backward()
        return feat.weight.grad.clone(), head.weight.grad.clone()

    fw_plain, hw_plain = grads(None)
    fw_rev, hw_rev = grads(0.5)
    torch.testing.assert_close(hw_rev, hw_plain)          # the discriminator side is untouched
    torch.testing.assert_close(fw_rev, -0.5 * fw_plain)   # the feature side is reversed and scaled


# ---------------------------------------------------------------------------- dann_lambda

def test_dann_lambda_schedule():
    assert dann_lambda(0.0) == 0.0
    ps = [i / 100 for i in range(101)]
    values = [dann_lambda(p) for p in ps]
    assert all(b > a for a, b in zip(values, values[1:])), "λ_p must increase strictly"
    assert values[-1] == pytest.approx(1.0, abs=1e-4)
    assert 0.0 < dann_lambda(0.1) < 1.0
    assert dann_lambda(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    # clamped outside [0, 1]
    assert dann_lambda(-3.0) == 0.0
    assert dann_lambda(7.0) == dann_lambda(1.0)
    # gamma controls the speed of the ramp
    assert dann_lambda(0.1, gamma=50) > dann_lambda(0.1, gamma=10)


# ---------------------------------------------------------------------------- build_model

@pytest.mark.parametrize("spec, size, feature_dim", [
    ({"arch": "digits_cnn", "num_classes": 10}, 28, 128),
    ({"arch": "digits_cnn", "num_classes": 10, "input_size": 32}, 32, 128),
    ({"arch": "digits_cnn", "num_classes": 7, "input_size": 28, "width": 0.5, "feature_dim": 64}, 28, 64),
    ({"arch": "digits_cnn", "num_classes": 3, "batch_norm": True}, 28, 128),
    ({"num_classes": 10}, 28, 128),  # digits_cnn is the default architecture
])
def test_build_digits_cnn_shapes(spec, size, feature_dim):
    torch.manual_seed(0)
    model = build_model(spec)
    assert isinstance(model, Classifier)
    x = torch.rand(3, 3, size, size)
    assert model(x).shape == (3, spec["num_classes"])
    assert model.features(x).shape == (3, feature_dim)
    assert model.num_classes == spec["num_classes"]
    assert model.input_size == size
    assert model.spec["arch"] == "digits_cnn"
    assert model.spec["input_size"] == size


def test_digits_cnn_width_scales_channels_and_parameters():
    full = build_model({"arch": "digits_cnn", "num_classes": 10})
    half = build_model({"arch": "digits_cnn", "num_classes": 10, "width": 0.5})
    assert full.backbone.conv[0].out_channels == 32 and full.backbone.conv[4].out_channels == 64
    assert half.backbone.conv[0].out_channels == 16 and half.backbone.conv[4].out_channels == 32
    assert count_parameters(half) < count_parameters(full) / 2


def test_digits_cnn_batch_norm_layers():
    plain = build_model({"arch": "digits_cnn", "num_classes": 10})
    bn = build_model({"arch": "digits_cnn", "num_classes": 10, "batch_norm": True})
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in bn.modules()) == 2
    assert any(k.endswith("running_mean") for k in bn.state_dict())


def test_digits_cnn_too_small_input_raises():
    with pytest.raises(ValueError, match="too small"):
        build_model({"arch": "digits_cnn", "num_classes": 10, "input_size": 12})


def test_build_resnet18_small_input():
    torch.manual_seed(0)
    model = build_model({"arch": "resnet18", "num_classes": 5, "input_size": 64}).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert model(x).shape == (2, 5)
        assert model.features(x).shape == (2, 512)
    assert model.input_size == 64
    assert "weights_path" not in model.spec
    # ImageNet normalisation lives in the model
    torch.testing.assert_close(model.backbone.normalize.mean.flatten(), torch.tensor([0.485, 0.456, 0.406]))


def test_resnet18_default_input_size_is_224():
    model = build_model({"arch": "resnet18", "num_classes": 2})
    assert model.spec["input_size"] == 224


def test_unknown_arch_lists_available():
    with pytest.raises(ValueError) as err:
        build_model({"arch": "vgg99", "num_classes": 10})
    msg = str(err.value)
    assert "vgg99" in msg
    for name in ARCHITECTURES:
        assert name in msg


def test_extra_spec_key_is_refused_listing_allowed():
    with pytest.raises(ValueError) as err:
        build_model({"arch": "digits_cnn", "num_classes": 10, "code": "import os"})
    msg = str(err.value)
    assert "code" in msg
    for key in ("arch", "num_classes", "input_size", "width", "feature_dim", "batch_norm"):
        assert key in msg


@pytest.mark.parametrize("n", [0, -1, 10_001])
def test_num_classes_out_of_range(n):
    with pytest.raises(ValueError, match="num_classes"):
        build_model({"arch": "digits_cnn", "num_classes": n})


def test_build_model_does_not_mutate_spec():
    spec = {"arch": "digits_cnn", "num_classes": 4}
    build_model(spec)
    assert spec == {"arch": "digits_cnn", "num_classes": 4}


def test_normalisation_is_inside_the_model():
    torch.manual_seed(0)
    model = build_model({"arch": "digits_cnn", "num_classes": 10}).eval()
    state = model.state_dict()
    assert "backbone.normalize.mean" in state and "backbone.normalize.std" in state
    assert dict(model.named_parameters()).keys().isdisjoint({"backbone.normalize.mean", "backbone.normalize.std"})
    x = torch.rand(4, 3, 28, 28)
    # the backbone normalises (x − 0.5) / 0.5 before its convolutions
    manual = model.backbone.fc(model.backbone.conv((x - 0.5) / 0.5))
    torch.testing.assert_close(model.features(x), manual)
    # and changing the buffers changes the output: they are really used
    with torch.no_grad():
        before = model(x)
        model.backbone.normalize.mean.fill_(0.0)
        assert not torch.allclose(model(x), before)


def test_normalize_works_in_float64():
    model = build_model({"arch": "digits_cnn", "num_classes": 10}).double()
    out = model(torch.rand(2, 3, 28, 28, dtype=torch.float64))
    assert out.dtype == torch.float64


def test_domain_discriminator_shape():
    d = DomainDiscriminator(16, hidden=8)
    assert d(torch.randn(5, 16)).shape == (5,)
