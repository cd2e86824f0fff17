"""SHOT-IM: source hypothesis transfer by information maximisation (Liang, Hu & Feng, ICML 2020).

The classifier head h (the "source hypothesis") is frozen; the feature extractor g is trained on
the unlabelled target pictures so its features suit h — confident and diverse predictions:

    min_g  mean_i H(p_i) − H(p̄),   p_i = softmax(h(g(x_i))),   p̄ = mean_i p_i

(:func:`core.losses.information_maximization`, minimised as ent + div). A few Adam steps with a small learning rate;
BatchNorm layers (if any) use batch statistics while training and are re-estimated on all the
pictures afterwards. Works with models without BatchNorm too.
"""


from ..util.settings import Hyper
from ..losses import information_maximization
from .base import TTAMethod, batch_norm_layers, reestimate_bn_statistics, register
from .bn_stats import EPOCHS, PRIOR


@register
class ShotIM(TTAMethod):
    name = "shot_im"
    label = "SHOT-IM"
    order = 30
    min_images = 8
    summary = "Retrains the feature extractor (head frozen) for confident, diverse predictions on your pictures."
    hyperparameters = {
        "steps": Hyper(30, "Adam steps (at most; see epochs).", 1, 1000, label="Steps"),
        "epochs": EPOCHS,
        "lr": Hyper(1e-4, "Adam learning rate.", 1e-7, 10.0, label="Learning rate"),
        "batch_size": Hyper(64, "Pictures per step.", 2, 4096, label="Batch size"),
        "prior": PRIOR,
    }

    def adapt_in_place(self, model, images, generator):
        layers = batch_norm_layers(model)
        if layers:  # start from statistics that fit the pictures
            reestimate_bn_statistics(model, images, prior=self.hp["prior"])
        self.minimise(model, images, generator, list(model.backbone.parameters()), im_loss)
        if layers:
            reestimate_bn_statistics(model, images, prior=self.hp["prior"])
        model.eval()


def im_loss(logits):
    """SHOT-IM's objective: mean entropy minus the entropy of the mean prediction (ent + div)."""
    ent, div = information_maximization(logits)
    return ent + div
