"""The pixel-level GAN (core/methods/pixel_gan.py, core/models/generators.py): G's output contract,
its noise, the discriminator's and the content loss's job, training through the engine, and
rebuilding G from its spec."""

import copy

import pytest
import torch

from core.data import load_domain
from core.methods import Batch, Context, get_method
from core.methods.pixel_gan import GAN_LOSSES, PixelGAN, discriminator_loss, discriminator_terms, generator_loss
from core.models import build_model
from core.models.generators import PatchDiscriminator, PixelGenerator, build_generator, sample_noise, translate

SPEC = {"kind": "pixel_generator", "channels": 8, "blocks": 2, "noise_dim": 10, "input_size": 28}


def small_generator(seed: int = 0, **kw) -> PixelGenerator:
    torch.manual_seed(seed)
    return build_generator({**SPEC, **kw})


def make_method(**hp) -> PixelGAN:
    torch.manual_seed(0)
    classes = [str(i) for i in range(10)]
    ctx = Context(device=torch.device("cpu"), source_classes=classes, target_classes=classes, steps=10,
                  generator=torch.Generator().manual_seed(0))
    model = build_model({"arch": "digits_cnn", "num_classes": 10, "input_size": 28})
    return get_method("pixel_gan")(model, ctx, **{"gen_channels": 8, "gen_blocks": 1, **hp})


@pytest.fixture(scope="module")
def digits():
    """32 MNIST train digits with labels and 32 MNIST-M train pictures, float in [0, 1]."""
    src, tgt = load_domain("mnist", "train"), load_domain("mnistm", "train")
    return src.float_images(slice(0, 32)), src.labels[:32], tgt.float_images(slice(0, 32))


@pytest.mark.parametrize("scale", [0.0, 1.0, 100.0, 1e6])
def test_generator_output_shape_and_range_for_any_noise(scale):
    g = small_generator()
    x = torch.rand(5, 3, 28, 28)
    z = scale * torch.randn(5, 10)
    y = g(x, z)
    assert y.shape == (5, 3, 28, 28)
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


def test_generator_refuses_wrong_shapes():
    g = small_generator()
    with pytest.raises(ValueError, match="noise"):
        g(torch.rand(2, 3, 28, 28), torch.rand(2, 5))
    with pytest.raises(ValueError, match="images"):
        g(torch.rand(2, 1, 28, 28), torch.rand(2, 10))


def test_different_noise_draws_different_pictures():
    g = small_generator().eval()
    x = torch.rand(4, 3, 28, 28).expand(2, 4, 3, 28, 28).reshape(8, 3, 28, 28)  # same pictures twice
    y = g(x, sample_noise(8, 10, generator=torch.Generator().manual_seed(1)))
    assert (y[:4] - y[4:]).abs().mean() > 1e-3
    # translate: seeded noise is reproducible, fresh noise differs
    a = translate(g, x[:4], generator_rng=torch.Generator().manual_seed(3))
    b = translate(g, x[:4], generator_rng=torch.Generator().manual_seed(3))
    c = translate(g, x[:4], generator_rng=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_noise_is_uniform_in_minus_one_one():
    z = sample_noise(1000, 10, generator=torch.Generator().manual_seed(0))
    assert z.shape == (1000, 10) and z.min() >= -1 and z.max() <= 1 and abs(z.mean()) < 0.05


def test_translate_takes_uint8_and_keeps_training_mode():
    g = small_generator().train()
    out = translate(g, (torch.rand(3, 3, 28, 28) * 255).to(torch.uint8))
    assert out.dtype == torch.float32 and out.shape == (3, 3, 28, 28) and g.training


def test_build_generator_reproduces_the_generator():
    g = small_generator(norm="batch")
    g.train()
    g(torch.rand(16, 3, 28, 28), torch.rand(16, 10))  # move BN running statistics off their defaults
    g.eval()
    rebuilt = build_generator(g.spec)
    rebuilt.load_state_dict(g.state_dict())
    rebuilt.eval()
    x, z = torch.rand(4, 3, 28, 28), sample_noise(4, 10)
    assert torch.equal(g(x, z), rebuilt(x, z))
    assert rebuilt.spec == g.spec


@pytest.mark.parametrize("bad", [
    {**SPEC, "kind": "unet"},
    {**SPEC, "channels": 10 ** 6},
    {**SPEC, "blocks": -1},
    {**SPEC, "input_size": 10 ** 5},
    {**SPEC, "channels": "64"},
    {**SPEC, "channels": True},
    {**SPEC, "norm": "spectral"},
    {**SPEC, "code": "import os"},
    ["pixel_generator"],
])
def test_build_generator_refuses_bad_specs(bad):
    with pytest.raises(ValueError):
        build_generator(bad)


@pytest.mark.parametrize("kind", GAN_LOSSES)
def test_discriminator_learns_to_tell_real_target_from_translations(kind, digits):
    """With G fixed, a few D steps lower D's loss (for the non-saturating game, its term on real
    target pictures and its term on translations both fall) and D scores real above translated."""
    xs, _, xt = digits
    torch.manual_seed(0)
    g, d = small_generator().eval(), PatchDiscriminator(16)
    with torch.no_grad():
        fake = g(xs, sample_noise(len(xs), 10))
    opt = torch.optim.Adam(d.parameters(), lr=2e-3, betas=(0.5, 0.999))

    def terms():
        with torch.no_grad():
            return [t.item() for t in discriminator_terms(kind, d(xt), d(fake))]

    before = terms()
    for _ in range(15):
        loss = discriminator_loss(kind, d(xt), d(fake))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = terms()
    assert sum(after) < 0.5 * sum(before)
    if kind == "ns":  # each term starts at log 2 (D undecided) and falls
        assert after[0] < before[0] and after[1] < before[1]
    d.eval()
    with torch.no_grad():
        assert (d(xt).mean(1) > d(fake).mean(1).max()).float().mean() > 0.9  # real scored above every fake


@pytest.mark.parametrize("kind", GAN_LOSSES)
def test_generator_loss_pushes_towards_real(kind):
    fake = torch.zeros(4, 9, requires_grad=True)
    generator_loss(kind, fake).backward()
    assert (fake.grad < 0).all()  # descending the loss raises D's "real" score
    with pytest.raises(ValueError, match="gan_loss"):
        generator_loss("wasserstein", fake)
    with pytest.raises(ValueError, match="gan_loss"):
        discriminator_loss("wasserstein", fake, fake)


def test_content_loss_keeps_labels_and_reaches_the_generator(digits):
    """T's CE on G(x_s) with the source labels: finite, and its gradient reaches every G parameter
    and T; a few joint steps on it alone lower it (G and T learn to keep the digit readable)."""
    xs, ys, _ = digits
    method = make_method()
    g, t = method.generator, method.model
    z = sample_noise(len(xs), 10, generator=torch.Generator().manual_seed(0))
    ce = method.cross_entropy(t(g(xs, z)), ys)
    ce.backward()
    for name, p in g.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert all(p.grad is not None for p in t.parameters())
    start = ce.item()
    opt = torch.optim.Adam([*g.parameters(), *t.parameters()], lr=1e-3)
    for _ in range(20):
        loss = method.cross_entropy(t(g(xs, z)), ys)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * start


def test_train_step_updates_every_player(digits):
    xs, ys, xt = digits
    method = make_method(gan_loss="ns", semantic_weight=0.5, pretrain_fraction=0.2)
    before = {n: copy.deepcopy(m.state_dict()) for n, m in
              [("G", method.generator), ("D", method.discriminator), ("T", method.model)]}
    losses = method.step(Batch(xs, ys, xt), 0.3)
    assert {"loss", "cls", "task", "gen_adv", "disc", "disc_acc", "semantic"} <= set(losses)
    for name, module in [("G", method.generator), ("D", method.discriminator), ("T", method.model)]:
        changed = any(not torch.equal(v, module.state_dict()[k]) for k, v in before[name].items())
        assert changed, f"{name} did not change"
    # the frozen semantic-consistency copy f_s is not trained
    assert all(not p.requires_grad for p in method.source_model.parameters())


def test_pretrain_share_trains_only_the_classifier(digits):
    xs, ys, xt = digits
    method = make_method(pretrain_fraction=0.5)
    g_before = copy.deepcopy(method.generator.state_dict())
    losses = method.step(Batch(xs, ys, xt), 0.1)
    assert losses["gen_adv"] == 0 and losses["cls"] > 0
    assert all(torch.equal(v, method.generator.state_dict()[k]) for k, v in g_before.items())


def test_preview_and_export(digits):
    xs, _, _ = digits
    method = make_method()
    a, b = method.preview(xs, n=8), method.preview(xs, n=8)
    assert a.shape == (8, 3, 28, 28) and torch.equal(a, b) and 0 <= a.min() and a.max() <= 1
    assert method.preview(xs[:3], n=8).shape == (3, 3, 28, 28)
    exported = method.export_modules()
    assert set(exported) == {"generator"} and exported["generator"] is method.generator
    assert build_generator(exported["generator"].spec).spec == method.generator.spec
    assert method.eval_model() is method.model


def test_unknown_gan_loss_is_refused():
    with pytest.raises(ValueError, match="gan_loss"):
        make_method(gan_loss="wgan")


def test_semantic_consistency_needs_a_source_trained_classifier():
    with pytest.raises(ValueError, match="pretrain_fraction"):
        make_method(semantic_weight=1.0)


def test_engine_trains_generator_and_classifier(monkeypatch):
    """Three steps through core.training.engine.train change G and T; the trained method comes back, and the
    evaluation's progress report shows G's translations."""
    from core.training.engine import TrainConfig, train

    initial = {}
    setup = PixelGAN.setup

    def recording_setup(self):
        setup(self)
        initial["G"] = copy.deepcopy(self.generator.state_dict())
        initial["T"] = copy.deepcopy(self.model.state_dict())

    monkeypatch.setattr(PixelGAN, "setup", recording_setup)
    config = TrainConfig(method="pixel_gan", source="mnist", target="mnistm", steps=3, batch_size=16,
                         eval_every=2, device="cpu", hparams={"gen_channels": 8, "gen_blocks": 1})
    previews = []
    result = train(config, progress=lambda p: previews.append(p.preview))
    assert result.steps_done == 3 and len(result.history) == 3
    # the evaluation at step 2 carries the method's preview: G's translations of 8 source test pictures
    shown = [p for p in previews if p is not None]
    assert len(shown) == 1 and shown[0].dtype == torch.uint8 and shown[0].shape == (8, 3, 28, 28)
    assert all(k in result.history[-1] for k in ("disc", "gen_adv", "task"))
    g, t = result.method.generator, result.method.model
    assert any(not torch.equal(v, g.state_dict()[k]) for k, v in initial["G"].items())
    assert any(not torch.equal(v, t.state_dict()[k]) for k, v in initial["T"].items())
    assert result.model is t


# ---------------------------------------------------------------------- the CLI, end to end

REPO = __import__("pathlib").Path(__file__).resolve().parents[3]


def run_cli(*args: str):
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def cli_checkpoint(tmp_path_factory):
    """``python -m core train --method pixel_gan`` for 3 tiny steps: a checkpoint with a generator."""
    out = tmp_path_factory.mktemp("pixel-gan-cli") / "model"
    proc = run_cli("train", "--method", "pixel_gan", "--steps", "3", "--batch-size", "8", "--eval-every", "0",
                   "--set", "gen_channels=4", "--set", "gen_blocks=1", "--device", "cpu", "--threads", "1",
                   "--quiet", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def test_cli_trained_checkpoint_translates_to_labelled_pngs(cli_checkpoint, tmp_path):
    """The checkpoint carries G (card extras + "extras.generator." tensors); ``translate`` writes
    ``<index>_<label>.png`` RGB pictures of the generator's size, the labels the source's."""
    from PIL import Image

    from core import checkpoints

    model, card, extras = checkpoints.load_with_extras(cli_checkpoint)
    assert card["extras"]["generator"]["kind"] == "pixel_generator"
    assert isinstance(extras["generator"], PixelGenerator) and extras["generator"].spec["channels"] == 4
    out = tmp_path / "translated"
    proc = run_cli("translate", "--model", str(cli_checkpoint), "--domain", "mnist", "--n", "8", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    files = sorted(out.glob("*.png"))
    assert len(files) == 8
    test = load_domain("mnist", "test")
    for f in files:
        index, label = f.stem.split("_")
        assert test.classes[int(test.labels[int(index)])] == label
        with Image.open(f) as im:
            assert im.mode == "RGB" and im.size == (28, 28)


def test_cli_translate_refuses_a_model_without_a_generator(tmp_path):
    proc = run_cli("translate", "--model", str(REPO / "pretrained" / "mnist-mnistm" / "source_only"),
                   "--domain", "mnist", "--n", "4", "--out", str(tmp_path / "t"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "no generator" in lines[0]
    assert not list((tmp_path / "t").glob("*.png"))


def test_cli_translate_refuses_a_domain_of_another_size(cli_checkpoint, tmp_path):
    """A generator made for 32×32 pictures does not redraw 28×28 MNIST: one clear line, no pictures."""
    from core import checkpoints

    model, card, _ = checkpoints.load_with_extras(cli_checkpoint)
    wide = tmp_path / "wide"
    checkpoints.save(model, card, wide, extras={"generator": small_generator(input_size=32)})
    proc = run_cli("translate", "--model", str(wide), "--domain", "mnist", "--n", "4", "--out", str(tmp_path / "t"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "28×28" in lines[0] and "32×32" in lines[0]
    assert not list((tmp_path / "t").glob("*.png"))
