"""ADDA: adversarial discriminative domain adaptation (Tzeng et al., CVPR 2017).

Three stages, following the paper:

1. Pre-train a source encoder M_s and classifier C on labelled source: min CE(C(M_s(x_s)), y_s)
   (the first ``pretrain_fraction`` of the steps).
2. Freeze M_s and C. Initialise a target encoder M_t ← M_s and train it against a domain
   discriminator D in a GAN game with the *inverted label* loss:
       D:   min −log D(M_s(x_s)) − log(1 − D(M_t(x_t)))
       M_t: min −log D(M_t(x_t))
   (untied weights: M_s never changes after stage 1).
3. Classify target images with C(M_t(x)).

Both adversarial players use Adam with β₁ = 0.5 as in the paper.
"""

import copy

import torch
import torch.nn.functional as F

from ..models import Classifier, DomainDiscriminator
from . import Batch, Hyper, Method, register


@register
class ADDA(Method):
    name = "adda"
    label = "ADDA"
    order = 30
    points_recipe = {"hparams": {"disc_hidden": 64}}
    summary = "GAN-style: a separate target encoder learns to fool a domain discriminator; source encoder frozen."
    hyperparameters = {
        "pretrain_fraction": Hyper(0.5, "Share of the steps spent pre-training on the source.", 0.05, 0.95, label="Pre-training share", search=(0.2, 0.8, "linear")),
        "adversarial_lr": Hyper(2e-4, "Adam learning rate of the target encoder and the discriminator.", 1e-6, 1e-2, label="Adversarial learning rate", search=(2e-5, 2e-3, "log")),
        "disc_hidden": Hyper(512, "Hidden units of the domain discriminator.", 16, 4096, label="Discriminator hidden units"),
    }

    def setup(self):
        self.discriminator = DomainDiscriminator(self.model.backbone.out_dim, self.hp["disc_hidden"]).to(self.ctx.device)
        self.target_model: Classifier | None = None

    def trainable_modules(self):
        return [self.model]

    @property
    def adapting(self) -> bool:
        return self.target_model is not None

    def _start_adaptation(self):
        """Freeze M_s and C; copy M_s into a trainable M_t sharing the frozen head C."""
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.model.eval()
        self.target_model = copy.deepcopy(self.model)
        self.target_model.head = self.model.head  # the same frozen classifier C
        for p in self.target_model.backbone.parameters():
            p.requires_grad_(True)
        lr = self.hp["adversarial_lr"]
        self.opt_target = self.make_optimizer([self.target_model.backbone], lr=lr, betas=(0.5, 0.999))
        self.opt_disc = self.make_optimizer([self.discriminator], lr=lr, betas=(0.5, 0.999))

    def train_step(self, batch: Batch, progress: float):
        pre = self.hp["pretrain_fraction"]
        if progress < pre:  # stage 1: source pre-training, annealed over its own span
            self.model.train()
            self.anneal(self.optimizer, progress / pre)
            with self.ctx.autocast():
                ce = self.cross_entropy(self.model(batch.xs), batch.ys)
            self.optimizer.zero_grad(set_to_none=True)
            ce.backward()
            self.optimizer.step()
            ce = ce.detach()
            return {"loss": ce, "cls": ce}
        if not self.adapting:
            self._start_adaptation()
        self.target_model.backbone.train()
        # discriminator step: source features → 1, target features → 0
        with torch.no_grad(), self.ctx.autocast():
            fs = self.model.features(batch.xs)
            ft = self.target_model.features(batch.xt)
        with self.ctx.autocast():
            ds, dt = self.discriminator(fs).float(), self.discriminator(ft).float()
        d_loss = 0.5 * (F.binary_cross_entropy_with_logits(ds, torch.ones_like(ds))
                        + F.binary_cross_entropy_with_logits(dt, torch.zeros_like(dt)))
        self.opt_disc.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_disc.step()
        # target encoder step with inverted labels: make D call target features "source"
        with self.ctx.autocast():
            dt = self.discriminator(self.target_model.features(batch.xt)).float()
        g_loss = F.binary_cross_entropy_with_logits(dt, torch.ones_like(dt))
        self.opt_target.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_target.step()
        acc = ((ds > 0).float().mean() + (dt < 0).float().mean()) / 2
        g, d = g_loss.detach(), d_loss.detach()
        return {"loss": g, "disc": d, "target_enc": g, "disc_acc": acc.detach()}

    def eval_model(self):
        return self.target_model if self.adapting else self.model
