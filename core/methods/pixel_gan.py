"""Pixel-level GAN adaptation (PixelDA, Bousmalis et al., CVPR 2017).

A generator G(x_s, z) redraws each labelled source picture in the target's style; an image
discriminator D tells those translations from real (unlabelled) target pictures; a task
classifier T learns the source labels on the translations (and on the source pictures), and its
loss also flows into G, which keeps the digit while the style changes. T is what gets evaluated
and saved; G is exported beside it (``export_modules``) for the translate view.

    fake = G(x_s, z),  z ~ U(−1, 1)^noise_dim                   (B, 3, H, W) in [0, 1]
    D:     min  ℓ_D(D(x_t), real) + ℓ_D(D(fake), fake)          (fake detached)
    G, T:  min  w_adv · ℓ_G(D(fake)) + w_task · CE(T(fake), y_s) + w_src · CE(T(x_s), y_s)
                [+ w_sem · CE(f_s(fake), y_s)]

PixelDA's objective (their eq. 1-4) is  min_{G,T} max_D  α L_d(D, G) + β L_t(G, T): T is trained
on generated and source pictures, and the gradient of L_t reaches G. ``gan_loss`` picks ℓ:
"ns" (the non-saturating game of Goodfellow et al. 2014 — D: BCE, G: −log D(fake)), "lsgan"
(Mao et al. 2017 — D: (D(x_t) − 1)² + D(fake)², G: (D(fake) − 1)²) or "hinge" (D:
ReLU(1 − D(x_t)) + ReLU(1 + D(fake)), G: −D(fake)). D scores patches (:class:`PatchDiscriminator`),
and the loss averages over them.

Optional semantic consistency (CyCADA, Hoffman et al., ICML 2018, eq. 4): after
``pretrain_fraction`` (> 0) of the steps spent on the source alone, a frozen copy f_s of T must
still read the source label in G's output, so G cannot swap digits even while T adapts. Off by
default: T's own loss in G's step (PixelDA) kept the digits (see below).

G and D use Adam(``gan_lr``, β = (0.5, 0.999)) as in PixelDA; T uses the run's optimiser and
learning rate.

Recipe (the defaults and ``recipe``: batch 32 + 32, PixelDA's, and 2,000 steps). PixelDA's
MNIST-M run (their code's hparams: resnet 6 blocks × 64 filters, noise 10 → 1 plane, D input
noise 0.2, Adam 1e-3 β₁ 0.5, G's adversarial and task weights ≈ 1 : 0.9, batch 32, 500k steps)
shrunk to a CPU budget: G 16 channels × 2 residual blocks with the noise mapped to 3 planes
(one plane gave nearly the same picture for every z), LSGAN, D input noise 0.2, Adam 1e-3 for
G and D (the non-saturating game at 2e-4 without D noise drew one red-stroke style for every
digit after 600 steps), w_adv = w_task = w_src = 1. Chosen without target labels: by the share of translated
MNIST test digits an independent MNIST-vs-MNIST-M classifier calls MNIST-M, the share the shipped
train-on-target model reads as their source label, the losses and the pictures
(scripts/studies/measure_pixel_gan.py; docs/methods.md's numbers come from it).

Example::

    python -m core train --method pixel_gan --source mnist --target mnistm --threads 1
    G = method.export_modules()["generator"];  y = translate(G, xs)   # (B, 3, H, W) in [0, 1]
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..models.generators import PatchDiscriminator, PixelGenerator, sample_noise, translate
from . import Batch, Hyper, Method, register

GAN_LOSSES = ("ns", "lsgan", "hinge")


def discriminator_terms(kind: str, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """D's loss on each side, from patch logits ``real`` = D(x_t) and ``fake`` = D(G(x_s)) (any
    shapes): (term on real target pictures, term on translations), each a scalar."""
    real, fake = real.float(), fake.float()
    if kind == "ns":
        return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real)),
                F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
    if kind == "lsgan":
        return (real - 1).pow(2).mean(), fake.pow(2).mean()
    if kind == "hinge":
        return F.relu(1 - real).mean(), F.relu(1 + fake).mean()
    raise ValueError(f"unknown gan_loss {kind!r}; choose one of {', '.join(GAN_LOSSES)}")


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """ℓ_D: the mean of the two :func:`discriminator_terms`, a scalar."""
    on_real, on_fake = discriminator_terms(kind, real, fake)
    return (on_real + on_fake) / 2


def generator_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """ℓ_G on patch logits ``fake`` = D(G(x_s)): G's adversarial loss, a scalar."""
    fake = fake.float()
    if kind == "ns":
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    if kind == "lsgan":
        return (fake - 1).pow(2).mean()
    if kind == "hinge":
        return -fake.mean()
    raise ValueError(f"unknown gan_loss {kind!r}; choose one of {', '.join(GAN_LOSSES)}")


@register
class PixelGAN(Method):
    name = "pixel_gan"
    label = "Pixel-level GAN (PixelDA)"
    short_label = "PixelGAN"
    family = "unsupervised"
    order = 35
    # PixelDA's batch of 32; 2,000 steps ≈ 64k source pictures (≈ 4-5 CPU minutes on one core)
    recipe = {"steps": 2000, "batch_size": 32}
    # by step 250 the translations already read as MNIST-M (scripts/studies/measure_pixel_gan.py's judge:
    # 99 %) and keep their digit (the oracle reads 91 %)
    app_steps = 300
    needs_pictures = True  # a generator redraws pictures
    in_zoo = True  # every scenario: the translate view needs a generator, the leaderboard its numbers
    summary = ("A generator redraws source pictures in the target's style against an image discriminator; "
               "the classifier learns from the redrawn pictures.")
    hyperparameters = {
        "gen_channels": Hyper(16, "Channels of the generator's residual blocks.", 4, 128, label="Generator channels"),
        "gen_blocks": Hyper(2, "Residual blocks of the generator.", 0, 8, label="Generator blocks"),
        "noise_dim": Hyper(10, "Dimension of the noise z ~ U(−1, 1) fed to the generator.", 0, 128, label="Noise dimension"),
        "noise_channels": Hyper(3, "Planes of the picture's size the noise is mapped to (PixelDA: 1).", 1, 8, label="Noise planes"),
        "disc_channels": Hyper(32, "Channels of the patch discriminator's first layer.", 4, 256, label="Discriminator channels"),
        "disc_noise": Hyper(0.2, "Std of Gaussian noise added to the discriminator's input.", 0.0, 1.0, label="Discriminator input noise"),
        "gan_loss": Hyper("lsgan", "Adversarial loss: ns (non-saturating), lsgan or hinge.", label="GAN loss", search=GAN_LOSSES),
        "adv_weight": Hyper(1.0, "Weight of the generator's adversarial loss.", 0.0, 100.0, label="Adversarial weight", search=(0.1, 10.0, "log")),
        "task_weight": Hyper(1.0, "Weight of the classifier's loss on translated pictures (also trains G).", 0.0, 100.0, label="Task weight", search=(0.1, 10.0, "log")),
        "source_weight": Hyper(1.0, "Weight of the classifier's loss on the source pictures themselves.", 0.0, 100.0, label="Source weight"),
        "semantic_weight": Hyper(0.0, "Weight of CyCADA's semantic consistency (a frozen source classifier reads G's output).", 0.0, 100.0, label="Semantic weight"),
        "pretrain_fraction": Hyper(0.0, "Share of the steps that train the classifier on the source alone before the GAN starts.", 0.0, 0.9, label="Pre-training share"),
        "gan_lr": Hyper(1e-3, "Adam learning rate of the generator and the discriminator.", 1e-6, 1e-2, label="GAN learning rate", search=(1e-4, 3e-3, "log")),
    }

    def setup(self):
        hp, device = self.hp, self.ctx.device
        if hp["gan_loss"] not in GAN_LOSSES:
            raise ValueError(f"unknown gan_loss {hp['gan_loss']!r}; choose one of {', '.join(GAN_LOSSES)}")
        if hp["semantic_weight"] > 0 and hp["pretrain_fraction"] <= 0:
            raise ValueError("semantic consistency needs a classifier trained on the source first: "
                             "set pretrain_fraction > 0 (e.g. --set pretrain_fraction=0.2)")
        size = self.model.input_size
        self.generator = PixelGenerator(hp["gen_channels"], hp["gen_blocks"], hp["noise_dim"], size,
                                        noise_channels=hp["noise_channels"]).to(device)
        self.discriminator = PatchDiscriminator(hp["disc_channels"], noise_std=hp["disc_noise"]).to(device)
        self.opt_gen = self.make_optimizer([self.generator], lr=hp["gan_lr"], betas=(0.5, 0.999))
        self.opt_disc = self.make_optimizer([self.discriminator], lr=hp["gan_lr"], betas=(0.5, 0.999))
        self.source_model: nn.Module | None = None  # f_s for semantic consistency, frozen at the switch
        # fixed noise for preview(): the same z every call, so the live view shows G changing
        rng = torch.Generator().manual_seed(self.ctx.seed)
        self._preview_z = sample_noise(64, max(1, hp["noise_dim"]), generator=rng)[:, :hp["noise_dim"]]

    # ---- what the checkpoint and the app use -------------------------------------------------
    def export_modules(self) -> dict[str, nn.Module]:
        """Modules saved beside the classifier: {"generator": G} (rebuild with build_generator(G.spec))."""
        return {"generator": self.generator}

    @torch.no_grad()
    def preview(self, xs: torch.Tensor, n: int = 8) -> torch.Tensor:
        """Current translations G(x, z) of the first ``n`` (≤ 64) pictures of ``xs`` with a fixed z:
        float (n, 3, H, W) in [0, 1] on the CPU; no gradients, G left in its training mode."""
        n = min(n, len(xs), len(self._preview_z))
        z = self._preview_z[:n] if self.hp["noise_dim"] > 0 else None
        return translate(self.generator, xs[:n], z).cpu()

    # ---- training ----------------------------------------------------------------------------
    def _source_step(self, batch: Batch, progress: float) -> dict[str, torch.Tensor]:
        """T on labelled source pictures only (the pre-training share)."""
        self.model.train()
        self.anneal(self.optimizer, progress)
        with self.ctx.autocast():
            ce = self.cross_entropy(self.model(batch.xs), batch.ys)
        self.optimizer.zero_grad(set_to_none=True)
        ce.backward()
        self.optimizer.step()
        ce = ce.detach()
        zero = ce.new_zeros(())
        out = {"loss": ce, "cls": ce, "task": zero, "gen_adv": zero, "disc": zero, "disc_acc": zero}
        if self.hp["semantic_weight"] > 0:
            out["semantic"] = zero
        return out

    def train_step(self, batch: Batch, progress: float) -> dict[str, torch.Tensor]:
        hp, kind = self.hp, self.hp["gan_loss"]
        if progress < hp["pretrain_fraction"]:
            return self._source_step(batch, progress)
        if hp["semantic_weight"] > 0 and self.source_model is None:
            self.source_model = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.model.train(), self.generator.train(), self.discriminator.train()
        self.anneal(self.optimizer, progress)
        z = sample_noise(len(batch.xs), hp["noise_dim"], generator=self.ctx.generator) if hp["noise_dim"] else None
        with self.ctx.autocast():
            fake = self.generator(batch.xs, z)
            # discriminator step: real target pictures vs translations (G held fixed)
            d_real, d_fake = self.discriminator(batch.xt), self.discriminator(fake.detach())
        d_loss = discriminator_loss(kind, d_real, d_fake)
        self.opt_disc.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_disc.step()
        # generator + classifier step: fool D, and T reads the source label in G's output
        self.discriminator.requires_grad_(False)  # D's gradients are not needed here
        with self.ctx.autocast():
            adv = generator_loss(kind, self.discriminator(fake))
            task = self.cross_entropy(self.model(fake), batch.ys)
            cls = self.cross_entropy(self.model(batch.xs), batch.ys) if hp["source_weight"] > 0 else task.new_zeros(())
            sem = (self.cross_entropy(self.source_model(fake), batch.ys) if self.source_model is not None
                   else task.new_zeros(()))
        total = hp["adv_weight"] * adv + hp["task_weight"] * task + hp["source_weight"] * cls + hp["semantic_weight"] * sem
        self.opt_gen.zero_grad(set_to_none=True)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.discriminator.requires_grad_(True)
        self.opt_gen.step()
        self.optimizer.step()
        cut = 0.5 if kind == "lsgan" else 0.0  # D's decision boundary: LSGAN's targets are 1 and 0
        acc = ((d_real.float() > cut).float().mean() + (d_fake.float() < cut).float().mean()) / 2
        out = {"loss": total, "cls": cls, "task": task, "gen_adv": adv, "disc": d_loss, "disc_acc": acc}
        if hp["semantic_weight"] > 0:
            out["semantic"] = sem
        return {k: v.detach().float() for k, v in out.items()}
