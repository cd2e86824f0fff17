"""BN statistics: re-estimate every BatchNorm layer's mean and variance on the target pictures.

Li et al. 2016 (AdaBN); Schneider et al., NeurIPS 2020 (with a source prior for small batches).
A network trained on the source normalises each channel with the *source* statistics; on a
shifted domain they are wrong, and most of what TENT gains comes from fixing them alone:

    μ_l ← (n₀ μ_l,source + N μ_l,target) / (n₀ + N),   σ²_l likewise,   for every BN layer l

No gradient step, no parameter changes: only the running statistics of a copy of the model.
"""

from .base import TTAMethod, reestimate_bn_statistics, register
from ..util.settings import Hyper

PRIOR = Hyper(8.0, "Weight n₀ of the source statistics, in pictures (0: the target's alone; it steadies "
                   "small batches).", 0.0, 100000.0, label="Source prior n₀")
# shared by the gradient-based methods: a cap on the passes over the pictures
EPOCHS = Hyper(5.0, "At most this many passes over the pictures, so few pictures get few steps.", 0.1, 1000.0,
               label="Passes (at most)")


@register
class BNStats(TTAMethod):
    name = "bn_stats"
    label = "BN statistics"
    order = 10
    needs_batch_norm = True
    min_images = 8
    summary = "Re-estimates the BatchNorm statistics on your pictures; nothing else changes."
    hyperparameters = {"prior": PRIOR}

    def adapt_in_place(self, model, images, generator):
        reestimate_bn_statistics(model, images, prior=self.hp["prior"])
