"""Pseudo-label self-training with consistency under augmentation (FixMatch-style, Sohn et al. 2020),
with distribution alignment against collapse (ReMixMatch, Berthelot et al. 2020).

After a source-only phase (the first ``source_only_fraction`` of the steps), each unlabelled target
image gets a pseudo-label from a *weakly* augmented view; where the model is confident
(max aligned probability ≥ τ) the prediction on a *strongly* augmented view must agree:

    p_t = p(y | weak(x_t))                                     (B, C)
    p̃_t = normalise( p_t ⊙ π / p̄_t )                          distribution alignment
    ŷ_t = argmax p̃_t,   m = 1[max p̃_t ≥ τ]
    L = CE(f(x_s), y_s) + w · mean( m · CE(f(strong(x_t)), ŷ_t) )

p̄_t is the mean target prediction over the last 128 batches (those seen so far until there are 128:
:class:`core.methods.mean_teacher.TargetMeanWindow`), π the class prior: the source's
label frequencies over the batches seen (Laplace-smoothed; ``alignment="source"``), uniform (``"uniform"``), or no
alignment at all (``"none"``: plain FixMatch, p̃_t = p_t). Without it, confident mistakes
reinforce themselves until one class takes every pseudo-label (the shipped zoo's MNIST → UCI
digits runs: 33 ± 21 %); with it, a class that the model over-predicts on the target is scaled
down by exactly that excess, so the pseudo-labels keep the prior's spread.

**Mean teacher** (``ema`` > 0, the default): the pseudo-labels are read from an exponential moving
average of the weights (:class:`core.methods.mean_teacher.MeanTeacherMethod`), and that average is the model the run keeps — one
bad batch can no longer flip the labeller, which is how the collapses seen part-way through runs
(one of three seeds on SynDigits → MNIST fell from ~80 % to ~40 %) start.

Source images are weakly augmented too. Logged: the mask rate (share of target images used) and
the entropy of the batch's pseudo-label histogram among the used ones (``pseudo_spread``, nats;
log 10 ≈ 2.30 is perfectly even over ten classes, 0 is collapse).
"""

import torch
import torch.nn.functional as F

from ..data.augment import strong_augment, weak_augment
from ..losses import distribution_alignment
from . import Batch, Hyper, register
from .mean_teacher import MeanTeacherMethod, TargetMeanWindow, confident

ALIGNMENTS = ("source", "uniform", "none")


@register
class SelfTraining(MeanTeacherMethod):
    name = "self_training"
    label = "Self-training"
    order = 40
    summary = "Confident pseudo-labels on weak views teach the model to agree on strong views of target images."
    hyperparameters = {
        "threshold": Hyper(0.9, "Confidence τ above which a pseudo-label is trusted.", 0.0, 1.0, label="Confidence threshold τ", search=(0.7, 0.98, "linear")),
        "unlabeled_weight": Hyper(1.0, "Weight w of the target consistency loss.", 0.0, 100.0, label="Unlabelled weight", search=(0.3, 3.0, "log")),
        "source_only_fraction": Hyper(0.3, "Share of the steps trained on the source only before pseudo-labelling.", 0.0, 0.95,
                                      label="Source-only share", search=(0.1, 0.5, "linear"), was=("warmup_fraction",)),
        "alignment": Hyper("source", "Distribution alignment of the pseudo-labels to a class prior: source, uniform or none.",
                           label="Distribution alignment", search=ALIGNMENTS),
        "ema": Hyper(0.99, "Mean teacher α: pseudo-labels come from (and the run keeps) an exponential moving average "
                           "of the weights, θ' ← α θ' + (1 − α) θ; 0 reads them from the model itself.", 0.0, 0.9999,
                     label="Teacher EMA α", search=(0.9, 0.999, "linear")),
    }
    ALIGN_WINDOW = 128  # batches in the moving average of target predictions (ReMixMatch)

    def setup(self):
        if self.hp["alignment"] not in ALIGNMENTS:
            raise ValueError(f"alignment must be one of {', '.join(ALIGNMENTS)}, not {self.hp['alignment']!r}")
        c = self.model.num_classes
        self.source_counts = torch.ones(c, device=self.ctx.device)  # Laplace: no class starts impossible
        self.target_window = TargetMeanWindow(c, self.ALIGN_WINDOW, self.ctx.device)
        self.make_teacher()

    def prior(self) -> torch.Tensor:
        """π: the source label frequencies seen so far (counts start at 1 per class), or uniform; (C,)."""
        c = len(self.source_counts)
        if self.hp["alignment"] == "uniform":
            return torch.full((c,), 1.0 / c, device=self.source_counts.device)
        return self.source_counts / self.source_counts.sum()

    def aligned(self, probs: torch.Tensor) -> torch.Tensor:
        """Record this batch's mean target prediction and return p̃_t (B, C); p_t when alignment is off."""
        if self.hp["alignment"] == "none":
            return probs
        return distribution_alignment(probs, self.target_window.push(probs), self.prior())

    def loss(self, batch: Batch, progress: float):
        g = self.ctx.generator
        cls = self.cross_entropy(self.model(weak_augment(batch.xs, g)), batch.ys)
        self.source_counts += torch.bincount(batch.ys, minlength=len(self.source_counts)).float()
        if progress < self.hp["source_only_fraction"]:
            zero = cls.new_zeros(())
            return {"loss": cls, "cls": cls, "pseudo": zero, "mask_rate": zero, "pseudo_spread": zero}
        with torch.no_grad():
            probs = self.aligned(F.softmax(self.labeller()(weak_augment(batch.xt, g)).float(), dim=1))
            pseudo, mask = confident(probs, self.hp["threshold"])
            hist = torch.bincount(pseudo, weights=mask, minlength=probs.shape[1])
            share = hist / hist.sum().clamp_min(1.0)
            spread = -(share * torch.log(share.clamp_min(1e-12))).sum()
        per_image = F.cross_entropy(self.model(strong_augment(batch.xt, g)).float(), pseudo, reduction="none")
        pseudo_loss = (per_image * mask).mean()
        total = cls + self.hp["unlabeled_weight"] * pseudo_loss
        return {"loss": total, "cls": cls, "pseudo": pseudo_loss, "mask_rate": mask.mean(), "pseudo_spread": spread}
