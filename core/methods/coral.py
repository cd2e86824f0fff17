"""Deep CORAL (Sun & Saenko, ECCV 2016 workshops): align the second-order statistics of the source
and target features.

    L = CE(h(g(x_s)), y_s) + w · λ_p · ‖C_s − C_t‖²_F / (4 d²)

with C_s, C_t the (d × d) covariances of a batch's source and target features g(x)
(:func:`core.losses.coral`) and λ_p the DANN ramp 2/(1 + e^{−10p}) − 1, so the alignment starts
once the classifier has something to align. Covariances alone ignore a shift of the means; the
paper's digits-free experiments (Office-31) used w chosen so both terms end up of a size.
Shapes: xs, xt (B, …) → features (2B, d), one pass over both domains.

On the Playground's two moons it fixes a 20° turn (target error 8.6 → 1.5 % on seed 0, 9.8 → 1.4 %
on seed 1) but not the 35° preset (−4.8 and −1.7 points on seeds 0 and 2): a covariance matched
up to a rotation leaves the turn's direction free (``scripts/bench/bench_playground.py``).
"""

import torch

from ..losses import coral
from ..models import dann_lambda
from . import Batch, Hyper, Method, register


@register
class DeepCORAL(Method):
    name = "coral"
    label = "Deep CORAL"
    short_label = "CORAL"
    order = 22
    graph_safe = True
    in_zoo = False  # shipped by a partial rebuild (`zoo rebuild --method coral`), not part of a full one
    # not among recommend's candidates: the classic second-order baseline (on the Playground and on its own),
    # kept out of recommend's 10-minute budget on 2 CPU cores; MMD covers feature alignment there
    recommendable = False
    summary = "Aligns the covariances of the source and target features (second-order statistics)."
    hyperparameters = {
        "coral_weight": Hyper(1.0, "Weight w of the covariance alignment (ramped up from 0 with the DANN schedule).",
                              0.0, 1000.0, label="CORAL weight", search=(0.3, 30.0, "log")),
    }

    def loss(self, batch: Batch, progress: float):
        n = len(batch.xs)
        features = self.model.features(torch.cat([batch.xs, batch.xt])).float()
        cls = self.cross_entropy(self.model.head(features[:n]), batch.ys)
        align = coral(features[:n], features[n:])
        w = self.hp["coral_weight"] * dann_lambda(progress)
        return {"loss": cls + w * align, "cls": cls, "coral": align}
