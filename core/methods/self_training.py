"""Pseudo-label self-training with consistency under augmentation (FixMatch-style, Sohn et al. 2020).

After a source-only warm-up (the first ``warmup_fraction`` of the steps), each unlabelled target
image gets a pseudo-label from a *weakly* augmented view; where the model is confident
(max softmax ≥ τ) the prediction on a *strongly* augmented view must agree:

    ŷ_t = argmax p(y | weak(x_t)),   m = 1[max p(y | weak(x_t)) ≥ τ]
    L = CE(f(x_s), y_s) + w · mean( m · CE(f(strong(x_t)), ŷ_t) )

Source images are weakly augmented too. The mask rate (share of target images used) is logged.
"""

import torch
import torch.nn.functional as F

from ..augment import strong_augment, weak_augment
from .base import Batch, Hyper, Method, register


@register
class SelfTraining(Method):
    name = "self_training"
    label = "Self-training"
    order = 40
    summary = "Confident pseudo-labels on weak views teach the model to agree on strong views of target images."
    hyperparameters = {
        "threshold": Hyper(0.9, "Confidence τ above which a pseudo-label is trusted.", 0.0, 1.0, label="Confidence threshold τ", search=(0.7, 0.98, "linear")),
        "unlabeled_weight": Hyper(1.0, "Weight w of the target consistency loss.", 0.0, 100.0, label="Unlabelled weight", search=(0.3, 3.0, "log")),
        "warmup_fraction": Hyper(0.3, "Share of the steps trained on the source only before pseudo-labelling.", 0.0, 0.95, label="Warm-up share", search=(0.1, 0.5, "linear")),
    }

    def loss(self, batch: Batch, progress: float):
        g = self.ctx.generator
        cls = self.cross_entropy(self.model(weak_augment(batch.xs, g)), batch.ys)
        if progress < self.hp["warmup_fraction"]:
            zero = cls.new_zeros(())
            return {"loss": cls, "cls": cls, "pseudo": zero, "mask_rate": zero}
        with torch.no_grad():
            probs = F.softmax(self.model(weak_augment(batch.xt, g)).float(), dim=1)
            confidence, pseudo = probs.max(1)
            mask = (confidence >= self.hp["threshold"]).float()
        per_image = F.cross_entropy(self.model(strong_augment(batch.xt, g)).float(), pseudo, reduction="none")
        pseudo_loss = (per_image * mask).mean()
        total = cls + self.hp["unlabeled_weight"] * pseudo_loss
        return {"loss": total, "cls": cls, "pseudo": pseudo_loss, "mask_rate": mask.mean()}
