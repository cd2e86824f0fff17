"""Domain randomisation + MixStyle: both domain-generalisation recipes at once.

Source pictures are randomised (:mod:`core.methods.dg_randomize`) and the backbone mixes feature
statistics across examples / source domains (:mod:`core.methods.mixstyle`):

    L = CE(h(g̃(T(x_s))), y_s)

Source only; the target batch is never looked at.
"""

from ..models import mixing_domains
from . import Batch, register
from .dg_randomize import DomainRandomize
from .mixstyle import MixStyleMethod


@register
class RandomizeMixStyle(DomainRandomize):
    name = "randomize_mixstyle"
    label = "Randomisation + MixStyle"
    short_label = "Rand.+MixStyle"
    order = 30
    model_spec = {"mixstyle": 2}
    summary = "Domain randomisation of the source pictures plus MixStyle inside the backbone."
    hyperparameters = {**DomainRandomize.hyperparameters,
                       "mix_p": MixStyleMethod.hyperparameters["p"],
                       "alpha": MixStyleMethod.hyperparameters["alpha"]}

    def setup(self):
        MixStyleMethod.setup_layers(self.model, self.hp["mix_p"], self.hp["alpha"])

    def loss(self, batch: Batch, progress: float):
        with mixing_domains(self.model, batch.ds):
            ce = self.cross_entropy(self.model(self.randomized(batch)), batch.ys)
        return {"loss": ce, "cls": ce}
