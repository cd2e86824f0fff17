"""MixStyle (Zhou et al., "Domain Generalization with MixStyle", ICLR 2021).

Domain generalisation (source only; the target batch is never looked at). The backbone carries
:class:`core.models.MixStyle` layers after its conv stages (the model spec's ``mixstyle`` flag,
which this method sets): in training each example's feature statistics (μ, σ per channel) are
mixed with another example's — from another source domain when the batch has several
(``--source mnist+syndigits``) — so the classifier cannot rely on style:

    f̃ = σ_mix · (f − μ(f)) / σ(f) + μ_mix,   (μ, σ)_mix = λ (μ, σ)_b + (1 − λ) (μ, σ)_j,  λ ~ Beta(α, α)
    L = CE(h(g̃(x_s)), y_s)

At evaluation the layers are the identity.
"""

from ..models import MixStyle, mixing_domains
from . import Batch, Hyper, Method, register


@register
class MixStyleMethod(Method):
    name = "mixstyle"
    label = "MixStyle"
    family = "generalization"
    in_zoo = False
    order = 20
    model_spec = {"mixstyle": 2}
    needs_pictures = True  # mixes the channel statistics of a conv net's feature maps
    summary = "Mixes the feature statistics (style) of examples from different source domains while training."
    hyperparameters = {
        "p": Hyper(0.5, "Share of the examples whose feature style is mixed.", 0.0, 1.0,
                   label="Mixed share", search=(0.2, 0.8, "linear")),
        "alpha": Hyper(0.1, "Beta(α, α) concentration of the mixing weight λ.", 0.01, 10.0,
                       label="Beta α", search=(0.05, 1.0, "log")),
    }

    @staticmethod
    def setup_layers(model, p: float, alpha: float) -> None:
        """Set p and α on every MixStyle layer of ``model``."""
        for m in model.modules():
            if isinstance(m, MixStyle):
                m.p, m.alpha = float(p), float(alpha)

    def setup(self):
        self.setup_layers(self.model, self.hp["p"], self.hp["alpha"])

    def loss(self, batch: Batch, progress: float):
        with mixing_domains(self.model, batch.ds):
            ce = self.cross_entropy(self.model(batch.xs), batch.ys)
        return {"loss": ce, "cls": ce}
