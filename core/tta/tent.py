"""TENT: test entropy minimisation (Wang, Shelhamer, Liu, Olshausen & Darrell, ICLR 2021).

BatchNorm layers normalise with the statistics of the current target batch, and only their affine
parameters (γ, β) are trained, to make the predictions confident:

    min_{γ, β}  mean_i H(p_i),   H(p) = −Σ_c p_c log p_c,   p_i = softmax(f_{γ,β}(x_i; batch statistics))

A few Adam steps over mini-batches of the pictures; afterwards the BN statistics are re-estimated
on all of them (with the source prior of :mod:`core.tta.bn_stats`) so the adapted model predicts
one picture at a time exactly as it was tuned. Every other parameter stays as it was.
"""


from ..util.settings import Hyper
from ..losses import prediction_entropy
from .base import TTAMethod, batch_norm_layers, reestimate_bn_statistics, register
from .bn_stats import EPOCHS, PRIOR


@register
class Tent(TTAMethod):
    name = "tent"
    label = "TENT"
    order = 20
    needs_batch_norm = True
    min_images = 8
    summary = "Tunes only the BatchNorm scales and shifts so predictions on your pictures become confident."
    hyperparameters = {
        "steps": Hyper(10, "Adam steps (at most; see epochs).", 1, 1000, label="Steps"),
        "epochs": EPOCHS,
        "lr": Hyper(3e-3, "Adam learning rate.", 1e-6, 10.0, label="Learning rate"),
        "batch_size": Hyper(64, "Pictures per step.", 2, 4096, label="Batch size"),
        "prior": PRIOR,
    }

    def adapt_in_place(self, model, images, generator):
        layers = batch_norm_layers(model)
        params = [p for m in layers for p in (m.weight, m.bias) if p is not None]
        self.minimise(model, images, generator, params, lambda logits: prediction_entropy(logits).mean())
        reestimate_bn_statistics(model, images, prior=self.hp["prior"])
