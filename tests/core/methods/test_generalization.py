"""Domain generalisation: multi-source domains, domain ids through the engine, the DG methods
(which must never look at target pictures), MixStyle and the randomising augmentations."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from core.data import augment as A
from core.data import DomainError, load_domain, split_sources
from core.training.engine import TrainConfig, train
from core.methods import METHODS, Batch, Context, get_method
from core.models import MixStyle, build_model, mixing_domains
from core.models.mixstyle import pick_partners

DG = [m for m in METHODS if METHODS[m].family == "generalization"]


def _ctx(seed=0) -> Context:
    digits = [str(i) for i in range(10)]
    return Context(device=torch.device("cpu"), source_classes=digits, target_classes=digits, steps=10,
                   generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------- multi-source domains

def test_multi_source_concatenates_sources_with_domain_ids():
    both = load_domain("mnist+ucidigits", "test")
    mnist, uci = load_domain("mnist", "test"), load_domain("ucidigits", "test")
    assert len(both) == len(mnist) + len(uci)
    assert both.domain_names == ["mnist", "ucidigits"] and both.num_domains == 2
    assert both.domain_ids.dtype == torch.int64 and both.domain_ids.shape == (len(both),)
    assert both.domain_ids.bincount().tolist() == [len(mnist), len(uci)]
    assert torch.equal(both.images[both.domain_ids == 1], uci.images)
    assert torch.equal(both.labels[both.domain_ids == 0], mnist.labels)
    assert both.classes == mnist.classes
    assert load_domain("mnist", "test").domain_ids is None  # a single domain has none


def test_multi_source_resizes_every_source_to_the_common_size():
    d = load_domain("mnist+syndigits", "test", size=32)
    assert d.images.shape[1:] == (3, 32, 32) and d.num_domains == 2


def _png(colour) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (12, 12), colour).save(buf, "PNG")
    return buf.getvalue()


def test_multi_source_matches_classes_by_name(tmp_path):
    for root, classes in (("a+b", ["cat", "dog"]), ("c", ["dog", "eel"])):
        for k, cls in enumerate(classes):
            for i in range(5):
                path = tmp_path / root / cls / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(_png((40 * k + i, 0, 0)))
    name = f"folder:{tmp_path / 'a+b'}+folder:{tmp_path / 'c'}"
    assert split_sources(name) == [f"folder:{tmp_path / 'a+b'}", f"folder:{tmp_path / 'c'}"]
    d = load_domain(name, "train", size=16)
    assert d.classes == ["cat", "dog", "eel"]
    second = d.domain_ids == 1
    # the second folder's "dog" (its class 0) is the joint class 1, its "eel" (1) is class 2
    assert set(d.labels[second].tolist()) == {1, 2} and set(d.labels[~second].tolist()) == {0, 1}


def test_multi_source_errors_name_the_bad_part():
    with pytest.raises(DomainError, match="nosuch"):
        load_domain("mnist+nosuch", "test")
    with pytest.raises(DomainError, match="twice"):
        load_domain("mnist+mnist", "test")


def test_multi_source_names_are_checked_before_loading(tmp_path):
    from core.data import check_domain_spec

    check_domain_spec("mnist+syndigits")  # no error
    for bad, why in (("mnist+nosuch", "nosuch"), ("mnist+mnist", "twice"),
                     (f"mnist+folder:{tmp_path / 'missing'}", "no such folder")):
        with pytest.raises(DomainError, match=why):
            check_domain_spec(bad)


def test_aligning_classes_keeps_the_domain_ids():
    both = load_domain("mnist+ucidigits", "test", classes=[str(9 - i) for i in range(10)])
    plain = load_domain("mnist+ucidigits", "test")
    assert torch.equal(both.domain_ids, plain.domain_ids) and both.domain_names == plain.domain_names
    assert torch.equal(both.labels, 9 - plain.labels)


def test_engine_hands_source_domain_ids_to_methods(monkeypatch):
    seen = []
    cls = get_method("source_only")
    original = cls.train_step

    def spy(self, batch, progress):
        seen.append(batch.ds.clone())
        return original(self, batch, progress)

    monkeypatch.setattr(cls, "train_step", spy)
    train(TrainConfig(method="source_only", source="mnist+ucidigits", target="ucidigits", steps=6,
                      batch_size=32, eval_every=0, precision="fp32", device="cpu"))
    ids = torch.cat(seen)
    assert len(seen) == 6 and all(len(s) == 32 for s in seen)
    assert set(ids.tolist()) == {0, 1}


# ---------------------------------------------------------------------------- DG methods ignore the target

def _grads_and_buffers(name: str, xt: torch.Tensor, seed: int = 0):
    torch.manual_seed(seed)
    cls = get_method(name)
    model = build_model({"arch": "digits_cnn", "batch_norm": True, **cls.model_spec})
    method = cls(model, _ctx(seed))
    g = torch.Generator().manual_seed(1)
    xs = torch.rand(16, 3, 28, 28, generator=g)
    batch = Batch(xs, torch.arange(16) % 10, xt, None, torch.arange(16) % 3)
    torch.manual_seed(seed + 1)
    method.model.train()
    losses = method.loss(batch, 0.5)
    losses["loss"].backward()
    grads = {k: p.grad.clone() for k, p in method.model.named_parameters() if p.grad is not None}
    buffers = {k: b.clone() for k, b in method.model.named_buffers()}
    return grads, buffers, losses


@pytest.mark.parametrize("name", DG)
def test_dg_methods_never_look_at_target_pictures(name):
    g = torch.Generator().manual_seed(5)
    grads_a, buffers_a, losses_a = _grads_and_buffers(name, torch.rand(16, 3, 28, 28, generator=g))
    grads_b, buffers_b, _ = _grads_and_buffers(name, torch.zeros(16, 3, 28, 28))
    assert grads_a and set(grads_a) == set(grads_b)
    for k in grads_a:
        assert torch.equal(grads_a[k], grads_b[k]), f"{name}: target pictures changed the gradient of {k}"
    for k in buffers_a:  # nor BatchNorm's running statistics
        assert torch.equal(buffers_a[k], buffers_b[k]), f"{name}: target pictures changed {k}"
    assert any(g.abs().sum() > 0 for g in grads_a.values())
    assert torch.isfinite(losses_a["loss"])


@pytest.mark.parametrize("name", DG)
def test_dg_methods_are_in_the_generalization_family(name):
    cls = METHODS[name]
    assert cls.family == "generalization" and cls.target_labels == "none" and cls.summary


def test_mixstyle_method_builds_its_model_with_mixstyle_layers():
    result = train(TrainConfig(method="mixstyle", source="mnist+ucidigits", target="ucidigits", steps=3,
                               batch_size=16, eval_every=0, precision="fp32", device="cpu"))
    layers = [m for m in result.model.modules() if isinstance(m, MixStyle)]
    assert len(layers) == 2 and result.card["model"]["mixstyle"] == 2


def test_multi_source_coral_pulls_the_source_domains_together():
    from core.methods.dg_coral import multi_domain_coral

    g = torch.Generator().manual_seed(0)
    f = torch.randn(60, 8, generator=g)
    ids = torch.arange(60) % 3
    same = multi_domain_coral(f, ids, 8)
    shifted = multi_domain_coral(f + 2.0 * (ids == 2).float()[:, None], ids, 8)
    scaled = multi_domain_coral(f * (1 + 2 * (ids == 1).float())[:, None], ids, 8)
    assert float(shifted) > 5 * float(same) and float(scaled) > 5 * float(same)  # means, covariances
    assert float(multi_domain_coral(f, torch.zeros(60, dtype=torch.long), 8)) == 0.0  # one domain: no term


# ---------------------------------------------------------------------------- MixStyle

def test_mixstyle_is_the_identity_at_eval():
    m = MixStyle(p=1.0).eval()
    x = torch.randn(8, 4, 6, 6)
    assert torch.equal(m(x), x)
    model = build_model({"arch": "digits_cnn", "mixstyle": 2}).eval()
    plain = build_model({"arch": "digits_cnn"}).eval()
    plain.load_state_dict(model.state_dict())  # no parameters of its own: the same weights load
    x = torch.rand(4, 3, 28, 28)
    assert torch.allclose(model(x), plain(x))


def test_mixstyle_mixes_instance_statistics_across_domains_in_training(monkeypatch):
    torch.manual_seed(0)
    m = MixStyle(p=1.0).train()
    monkeypatch.setattr(torch.distributions.Beta, "sample", lambda self, *a: torch.zeros(self.concentration0.shape))
    x = torch.randn(8, 3, 5, 5) * torch.arange(1, 9).view(8, 1, 1, 1) + torch.arange(8).view(8, 1, 1, 1)
    domains = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    m.domain_ids = domains
    y = m(x)
    mu_x, mu_y = x.mean((2, 3)), y.mean((2, 3))
    sd_x, sd_y = x.std((2, 3), unbiased=False), y.std((2, 3), unbiased=False)
    for b in range(8):  # λ = 0: every example wears exactly the style of one example of the other domain
        match = [j for j in range(8) if torch.allclose(mu_y[b], mu_x[j], atol=1e-4)
                 and torch.allclose(sd_y[b], sd_x[j], atol=1e-3)]
        assert match and all(domains[j] != domains[b] for j in match)
        # the content (the normalised map) is the example's own
        assert torch.allclose((y[b] - mu_y[b, :, None, None]) / sd_y[b, :, None, None],
                              (x[b] - mu_x[b, :, None, None]) / sd_x[b, :, None, None], atol=1e-3)


def test_mixing_domains_sets_and_clears_the_ids():
    model = build_model({"arch": "digits_cnn", "mixstyle": 1})
    ids = torch.zeros(4, dtype=torch.long)
    with mixing_domains(model, ids) as layers:
        assert len(layers) == 1 and layers[0].domain_ids is ids
    assert layers[0].domain_ids is None


def test_partners_come_from_other_domains_when_there_are_any():
    torch.manual_seed(0)
    ids = torch.tensor([0, 0, 0, 1, 2, 2])
    for _ in range(20):
        j = pick_partners(6, ids)
        assert (ids[j] != ids).all()
    j = pick_partners(5, torch.zeros(5, dtype=torch.long))  # one domain: any other example
    assert (j != torch.arange(5)).all()


def test_mixstyle_spec_round_trips_through_a_checkpoint(tmp_path):
    from core import checkpoints

    model = build_model({"arch": "digits_cnn", "mixstyle": 2, "batch_norm": True})
    card = checkpoints.make_card(model, method="mixstyle", source="mnist+syndigits", target="mnistm",
                                 class_names=[str(i) for i in range(10)])
    checkpoints.save(model, card, tmp_path / "ckpt")
    loaded, card2 = checkpoints.load(tmp_path / "ckpt")
    assert card2["model"]["mixstyle"] == 2
    assert sum(isinstance(m, MixStyle) for m in loaded.modules()) == 2
    with pytest.raises(ValueError, match="mixstyle"):
        build_model({"arch": "digits_cnn", "mixstyle": 3})


# ---------------------------------------------------------------------------- augmentations

def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _mnist(n=32):
    return load_domain("mnist", "test").float_images(torch.arange(n))


AUGMENTATIONS = {
    "domain_randomize": lambda x, g: A.domain_randomize(x, g),
    "random_affine": lambda x, g: A.random_affine(x, generator=g),
    "uneven_illumination": lambda x, g: A.uneven_illumination(x, generator=g),
    "box_blur": lambda x, g: A.box_blur(x, torch.rand(len(x), generator=g)),
    "jpeg_like": lambda x, g: A.jpeg_like(x, 100 * torch.rand(len(x), generator=g)),
    "background": lambda x, g: A.procedural_background(torch.rand(len(x), 3, 1, 1, generator=g), *x.shape[-2:], g),
}


@pytest.mark.parametrize("name", AUGMENTATIONS)
@pytest.mark.parametrize("size", [28, 30])
def test_augmentations_keep_shape_and_range(name, size):
    x = torch.rand(12, 3, size, size, generator=_g(1))
    copy = x.clone()
    y = AUGMENTATIONS[name](x, _g(0))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
    assert torch.equal(x, copy)  # input untouched
    assert torch.equal(y, AUGMENTATIONS[name](x, _g(0)))  # seeded
    assert not torch.equal(y, x)


def test_randomisation_varies_polarity_scale_and_position():
    x = _mnist(64)
    y = A.domain_randomize(x, _g(0))
    border = A.border_colour(y).mean((1, 2, 3))
    assert (border > 0.5).float().mean() > 0.2 and (border < 0.5).float().mean() > 0.2  # light and dark backgrounds
    m = A.ink_mask(A.random_affine(x, generator=_g(1))) > 0.5
    rows = m.any(3).squeeze(1).float()
    heights = rows.sum(1)
    centres = (rows * torch.arange(28)).sum(1) / heights.clamp_min(1)
    assert heights.min() < 12 and heights.max() > 20  # digits from ~30 % to ~100 % of the frame
    assert centres.std() > 1.5  # and off-centre


def test_ink_mask_recovers_an_mnist_digit_in_any_colours():
    x = _mnist(8)
    bg, ink = torch.tensor([0.9, 0.85, 0.7]).view(1, 3, 1, 1), torch.tensor([0.1, 0.1, 0.4]).view(1, 3, 1, 1)
    m = A.ink_mask(x)
    painted = bg * (1 - m) + ink * m
    assert torch.allclose(A.ink_mask(painted), m, atol=0.02)


def test_jpeg_like_at_full_quality_and_blur_at_zero_change_little():
    x = _mnist(8)
    assert (A.jpeg_like(x, torch.full((8,), 100.0)) - x).abs().max() < 0.02
    assert torch.equal(A.box_blur(x, torch.zeros(8)), x)
    assert (A.jpeg_like(x, torch.full((8,), 10.0)) - x).abs().mean() > 0.01
