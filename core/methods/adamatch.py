"""AdaMatch (Berthelot, Roelofs, Sohn, Carlini & Kurakin, ICLR 2022): FixMatch made for domain shift.

Each step sees a weak (w) and a strong (s) view of every source and target image
(:func:`core.data.augment.weak_augment`, :func:`core.data.augment.strong_augment`), and:

1. **Random logit interpolation.** Two forward passes: the source views alone (batch-norm
   statistics of the source only; running statistics left untouched, as in the paper's code) and
   all four views together (joint statistics). Source logits are a random per-element mix,

       z_s = λ ⊙ z_s^joint + (1 − λ) ⊙ z_s^source-only,   λ ~ U(0, 1) elementwise,

   so the classifier must be right under both normalisations, and target images can share the
   batch without hurting the source fit. L_source = ½ [CE(z_s,w, y) + CE(z_s,s, y)].
2. **Distribution alignment.** Target weak-view predictions p_t are rescaled by the ratio of the
   source's running class distribution p̄_s (EMA, momentum 0.999) to the target's (the mean of
   the last 128 batches, :class:`core.methods.mean_teacher.TargetMeanWindow`: the batches seen so far
   until there are 128), p̃_t = normalise(p_t ⊙ p̄_s / p̄_t) (:func:`core.losses.distribution_alignment`).
3. **Relative confidence threshold.** A pseudo-label ŷ = argmax p̃_t counts where
   max p̃_t ≥ c_τ = τ · mean_i max_c p_s,w,ic (:func:`core.losses.relative_confidence_threshold`).
   L_target = mean_i 1[max p̃_t,i ≥ c_τ] · CE(z_t,s,i, ŷ_i).
4. **Ramp.** L = L_source + μ(p) · L_target, μ(p) = w · ½ (1 − cos(π · min(1, p / p_r))), rising
   from 0 to w over the first p_r = ``ramp_fraction`` (½ in the paper, its "warm-up") of the run
   (:func:`core.methods.mean_teacher.cosine_ramp`).

**Batch norm.** Logit interpolation only means something when the network normalises with batch
statistics, and the digits CNN has batch norm off by default. So when handed a digits CNN without
it, AdaMatch rebuilds the model with ``batch_norm=True`` (through :func:`core.models.build_model`,
the way distillation replaces its student); the checkpoint's card records that spec, so it loads
as any other model. Evaluation uses the running statistics of the joint batches.

The evaluated model is an EMA copy of the weights (:class:`core.methods.mean_teacher.MeanTeacherMethod`; the paper's momentum
0.999 is a window of ~1,000 steps, longer than most of a 1,500-step run, so α = 0.99 here). Left out
from the paper's recipe: its SGD/cosine schedule and weight decay (the shared recipe's Adam is used), CTAugment (the project's strong augmentation stands in),
and the 3:1 target:source batch ratio (the engine draws equal batches).
Defaults from the paper: τ = 0.9, w = 1, p_r = 0.5.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F

from ..data.augment import strong_augment, weak_augment
from ..losses import distribution_alignment, relative_confidence_threshold
from ..models import build_model
from . import Batch, Hyper, register
from .mean_teacher import MeanTeacherMethod, TargetMeanWindow, confident, cosine_ramp


@contextmanager
def frozen_batch_norm_statistics(model: torch.nn.Module):
    """Forward in train mode (batch statistics) without updating the running statistics:
    every BatchNorm's momentum is 0 inside the block (running ← 1·running + 0·batch)."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(norms, saved):
            m.momentum = momentum


@register
class AdaMatch(MeanTeacherMethod):
    name = "adamatch"
    label = "AdaMatch"
    short_label = "AdaMatch"
    order = 45
    # A full CPU rebuild does not train it (100 steps took 32.5 s vs self-training's 9.6 s, 3.4×); shipped where
    # the recommendation fell short by `zoo rebuild --method adamatch --scenario ...` (see pretrained/README.md); a
    # `recommend` candidate everywhere.
    in_zoo = False
    # its random logit interpolation is across the batch-norm statistics of a conv net (the point
    # MLP has none) and its strong view stands in for CTAugment's picture operations
    needs_pictures = True
    summary = ("FixMatch for domain shift: logit interpolation across batch-norm statistics, aligned target "
               "pseudo-labels and a confidence bar relative to the source.")
    hyperparameters = {
        "tau": Hyper(0.9, "Relative confidence τ: pseudo-labels need τ × the mean source confidence.", 0.0, 1.0,
                     label="Relative threshold τ", search=(0.7, 0.98, "linear")),
        "unlabeled_weight": Hyper(1.0, "Weight w of the target pseudo-label loss after the ramp.", 0.0, 100.0,
                                  label="Unlabelled weight", search=(0.3, 3.0, "log")),
        "ramp_fraction": Hyper(0.5, "Share of the run over which the target loss weight rises (cosine) to w.", 0.0, 1.0,
                               label="Ramp share", search=(0.1, 0.7, "linear"), was=("warmup_fraction",)),
        "ema": Hyper(0.99, "The run keeps an exponential moving average of the weights, θ' ← α θ' + (1 − α) θ "
                           "(the paper's evaluation model); 0 keeps the last weights.", 0.0, 0.9999,
                     label="Weight EMA α", search=(0.9, 0.999, "linear")),
    }
    ALIGN_WINDOW = 128     # batches in the target's moving average (the paper's code)
    SOURCE_MOMENTUM = 0.999

    def setup(self):
        spec = self.model.spec
        if spec.get("arch", "digits_cnn") == "digits_cnn" and not spec.get("batch_norm"):
            self.model = build_model({**spec, "batch_norm": True}).to(self.ctx.device)
        c = self.model.num_classes
        self.source_mean = torch.full((c,), 1.0 / c, device=self.ctx.device)
        self.target_window = TargetMeanWindow(c, self.ALIGN_WINDOW, self.ctx.device)
        self.make_teacher()  # its batch-norm statistics follow the student's

    def align(self, probs_target: torch.Tensor, probs_source: torch.Tensor) -> torch.Tensor:
        """Update the running class distributions with this batch and return the aligned target
        predictions: probs_target (B, C), probs_source (B, C) → (B, C)."""
        with torch.no_grad():
            m = self.SOURCE_MOMENTUM
            self.source_mean.mul_(m).add_((1 - m) * probs_source.float().mean(0))
            return distribution_alignment(probs_target, self.target_window.push(probs_target), self.source_mean)

    def loss(self, batch: Batch, progress: float):
        g = self.ctx.generator
        n = len(batch.xs)
        xs = torch.cat([weak_augment(batch.xs, g), strong_augment(batch.xs, g)])
        xt = torch.cat([weak_augment(batch.xt, g), strong_augment(batch.xt, g)])
        with frozen_batch_norm_statistics(self.model):
            z_source_only = self.model(xs).float()
        z = self.model(torch.cat([xs, xt])).float()
        z_joint, z_t = z[: 2 * n], z[2 * n:]
        lam = torch.rand(z_joint.shape, device=z.device, generator=g)
        z_s = lam * z_joint + (1 - lam) * z_source_only
        source = 0.5 * (F.cross_entropy(z_s[:n], batch.ys) + F.cross_entropy(z_s[n:], batch.ys))

        with torch.no_grad():
            p_s = F.softmax(z_s[:n], dim=1)
            threshold = relative_confidence_threshold(p_s, self.hp["tau"])
            aligned = self.align(F.softmax(z_t[:n], dim=1), p_s)
            pseudo, mask = confident(aligned, threshold)
        target = (F.cross_entropy(z_t[n:], pseudo, reduction="none") * mask).mean()
        mu = self.hp["unlabeled_weight"] * cosine_ramp(float(progress), self.hp["ramp_fraction"])
        return {"loss": source + mu * target, "cls": source, "pseudo": target, "mask_rate": mask.mean(),
                "threshold": threshold, "mu": torch.as_tensor(mu)}
