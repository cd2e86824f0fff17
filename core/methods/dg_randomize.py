"""Domain randomisation: train on source digits re-rendered as if from random unseen domains.

Domain generalisation (learns from the labelled source only; the target batch the engine hands
over is never looked at). Each source picture, with probability p, goes through
:func:`core.data.augment.domain_randomize` — new geometry (scale 30–90 % of the frame, position,
rotation), new ink / background colours or inverted polarity over procedural textures (noise,
gradients, stripes), uneven light and soft shadows, blur, noise and JPEG-like blocks:

    L = CE(h(g(T(x_s))), y_s),    T ~ the randomisation distribution

so features that survive every T are the ones the classifier can use (Tobin et al. 2017;
Volpi et al. 2018 for digits). Works with one source or several (``--source mnist+syndigits``).
"""

from ..data.augment import domain_randomize
from . import Batch, Hyper, Method, register


@register
class DomainRandomize(Method):
    name = "dg_randomize"
    label = "Domain randomisation"
    short_label = "Randomise"
    family = "generalization"
    in_zoo = False
    needs_pictures = True  # re-renders pictures (colours, textures, geometry)
    order = 10
    summary = ("Source digits re-rendered with random colours, textures, polarity, scale, position, light, "
               "shadow, blur and JPEG blocks, so features hold on domains never seen.")
    hyperparameters = {
        "p": Hyper(0.8, "Share of the source pictures randomised in each batch (the rest stay as they are).",
                   0.0, 1.0, label="Randomised share", search=(0.5, 1.0, "linear")),
        "min_scale": Hyper(0.4, "Smallest digit scale (1 = as in the source; MNIST's digit box is ~72 % of the frame).",
                           0.1, 1.0, label="Smallest scale", search=(0.3, 0.8, "linear")),
    }

    def randomized(self, batch: Batch):
        """The source images after randomisation (B, 3, H, W) in [0, 1]."""
        return domain_randomize(batch.xs, self.ctx.generator, p=self.hp["p"],
                                scale=(self.hp["min_scale"], max(1.25, self.hp["min_scale"])))

    def loss(self, batch: Batch, progress: float):
        ce = self.cross_entropy(self.model(self.randomized(batch)), batch.ys)
        return {"loss": ce, "cls": ce}
