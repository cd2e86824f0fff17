"""CDAN and CDAN+E: the discriminator sees the (randomised) multilinear map through gradient reversal;
CDAN+E weights are 1 + e^−H.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from core.training.engine import train
from core.losses import (certainty_weights, entropy_rows, multilinear_map, randomized_multilinear_map,
                         weighted_domain_adversarial_loss)
from core.methods import get_method
from core.models import dann_lambda

from .adaptation_util import make_batch, make_config, make_ctx, make_model


def test_multilinear_map_is_the_flattened_outer_product():
    f, g = torch.randn(5, 7), torch.softmax(torch.randn(5, 3), 1)
    expected = torch.stack([torch.outer(f[i], g[i]).flatten() for i in range(5)])
    torch.testing.assert_close(multilinear_map(f, g), expected)


def test_randomized_map_preserves_inner_products_of_the_outer_product_in_expectation():
    g0 = torch.Generator().manual_seed(0)
    f, g = torch.randn(2, 6, generator=g0), torch.softmax(torch.randn(2, 4, generator=g0), 1)
    exact = (multilinear_map(f[:1], g[:1]) * multilinear_map(f[1:], g[1:])).sum()
    estimates = []
    for _ in range(200):
        h = randomized_multilinear_map(f, g, torch.randn(6, 256, generator=g0), torch.randn(4, 256, generator=g0))
        estimates.append((h[0] * h[1]).sum())
    assert torch.stack(estimates).mean().item() == pytest.approx(exact.item(), abs=0.1 * exact.abs().item() + 0.05)


@pytest.mark.parametrize("randomized", [False, True])
def test_cdan_discriminator_sees_the_conditioning_map_through_gradient_reversal(randomized):
    extra = {"max_multilinear_dim": 100, "randomized_dim": 64} if randomized else {}
    cdan = get_method("cdan")(make_model(), make_ctx(), disc_hidden=32, **extra)
    assert cdan.randomized == randomized
    d_f = cdan.model.backbone.out_dim
    assert cdan.discriminator.net[0].in_features == (64 if randomized else d_f * 10)
    seen = {}
    hook = cdan.discriminator.net[0].register_forward_pre_hook(lambda m, args: seen.update(h=args[0].detach()))
    batch = make_batch()
    x = torch.cat([batch.xs, batch.xt])
    features = cdan.model.features(x).detach().requires_grad_(True)
    logits = cdan.model.head(features)
    lam = 0.7
    dom = cdan.domain_loss(features, logits, 8, lam)
    hook.remove()
    probs = torch.softmax(logits, 1).detach()
    expected = (randomized_multilinear_map(features, probs, cdan.r_f, cdan.r_g) if randomized
                else multilinear_map(features, probs))
    torch.testing.assert_close(seen["h"], expected.detach())
    # gradient w.r.t. the features: −λ × the gradient of the same loss without the reversal
    (g_rev,) = torch.autograd.grad(dom, features, retain_graph=True)
    d = cdan.discriminator(cdan.conditioning(features, probs)).float()
    plain = weighted_domain_adversarial_loss(d[:8], d[8:])
    (g_plain,) = torch.autograd.grad(plain, features)
    assert g_plain.abs().sum() > 0
    torch.testing.assert_close(g_rev, -lam * g_plain, rtol=1e-4, atol=1e-7)
    # and no gradient reaches the classifier through the (detached) predictions
    cdan.model.zero_grad()
    logits2 = cdan.model.head(features.detach())
    cdan.domain_loss(features.detach(), logits2, 8, lam).backward()
    assert cdan.model.head.weight.grad is None or cdan.model.head.weight.grad.abs().sum() == 0


def test_cdan_discriminator_itself_descends_the_domain_loss():
    cdan = get_method("cdan")(make_model(), make_ctx(), disc_hidden=32)
    batch = make_batch()
    features = cdan.model.features(torch.cat([batch.xs, batch.xt])).detach()
    logits = cdan.model.head(features).detach()
    before = cdan.domain_loss(features, logits, 8, 1.0).item()
    opt = torch.optim.Adam(cdan.discriminator.parameters(), lr=1e-2)
    for _ in range(20):
        opt.zero_grad()
        cdan.domain_loss(features, logits, 8, 1.0).backward()
        opt.step()
    assert cdan.domain_loss(features, logits, 8, 1.0).item() < before - 0.1


def test_certainty_weights_are_one_plus_exp_minus_entropy_normalised():
    p = torch.softmax(torch.randn(9, 5, generator=torch.Generator().manual_seed(3)) * 3, 1)
    raw = 1 + torch.exp(-(-(p * p.log()).sum(1)))
    torch.testing.assert_close(certainty_weights(p), raw * 9 / raw.sum())
    assert certainty_weights(p).mean().item() == pytest.approx(1.0)
    sure, unsure = certainty_weights(torch.tensor([[1.0, 0.0], [0.5, 0.5]]))
    assert (sure / unsure).item() == pytest.approx(2.0 / 1.5)


def test_cdan_e_weights_each_example_by_its_certainty_within_its_domain():
    cdan_e = get_method("cdan_e")(make_model(), make_ctx(), disc_hidden=32)
    cdan = get_method("cdan")(make_model(), make_ctx(), disc_hidden=32)
    cdan.discriminator.load_state_dict(cdan_e.discriminator.state_dict())
    batch = make_batch()
    features = cdan_e.model.features(torch.cat([batch.xs, batch.xt])).detach()
    logits = cdan_e.model.head(features).detach() * 5  # spread the confidences
    probs = torch.softmax(logits, 1)
    d = cdan_e.discriminator(multilinear_map(features, probs)).float()
    bce_s = F.binary_cross_entropy_with_logits(d[:8], torch.ones(8), reduction="none")
    bce_t = F.binary_cross_entropy_with_logits(d[8:], torch.zeros(8), reduction="none")
    w = 1 + torch.exp(-entropy_rows(probs))
    ws, wt = w[:8] / w[:8].sum(), w[8:] / w[8:].sum()
    expected = 0.5 * ((ws * bce_s).sum() + (wt * bce_t).sum())
    assert cdan_e.domain_loss(features, logits, 8, 1.0).item() == pytest.approx(expected.item(), rel=1e-5)
    unweighted = 0.5 * (bce_s.mean() + bce_t.mean())
    assert cdan.domain_loss(features, logits, 8, 1.0).item() == pytest.approx(unweighted.item(), rel=1e-5)


def test_cdan_logs_the_dann_ramp():
    hist = train(make_config("cdan", steps=3, hparams={"domain_weight": 0.5})).history
    assert [h["lambda"] for h in hist] == pytest.approx([0.5 * dann_lambda(k / 3) for k in range(3)], rel=1e-5)
    assert all(h["loss"] == pytest.approx(h["cls"] + h["domain"], rel=1e-5) for h in hist)


def test_the_discriminator_drops_hidden_units_in_training_only_when_asked():
    from core.models import DomainDiscriminator

    plain, dropped = DomainDiscriminator(12, 32, 0.0), DomainDiscriminator(12, 32, 0.5)
    assert not any(isinstance(m, torch.nn.Dropout) for m in plain.modules())  # the paper's default: as before
    assert [m.p for m in dropped.modules() if isinstance(m, torch.nn.Dropout)] == [0.5, 0.5]
    # the weights' names are those the CDAN code's discriminator has always saved under
    assert list(plain.state_dict()) == [f"net.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")]
    assert list(dropped.state_dict()) == [f"net.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")]
    x = torch.randn(64, 12, generator=torch.Generator().manual_seed(0))
    dropped.train()
    torch.manual_seed(0)
    a = dropped(x)
    torch.manual_seed(1)
    assert a.shape == (64,) and not torch.allclose(a, dropped(x))  # a different mask, another output
    dropped.eval()
    assert torch.equal(dropped(x), dropped(x))  # no dropout outside training
