"""CDAN and CDAN+E: conditional domain-adversarial networks (Long et al., NeurIPS 2018).

DANN's discriminator sees the features f alone; CDAN's sees them *conditioned on the prediction*
g = softmax(h(f)) through the multilinear map, so it can align the class-conditional
distributions, not just the marginals:

    T(f, g) = vec(f ⊗ g)                      (B, d_f · C)   when d_f · C ≤ ``max_multilinear_dim``
    T(f, g) = (R_f f) ⊙ (R_g g) / √d          (B, d)         otherwise (fixed random R_f, R_g; d = ``randomized_dim``)

    L = CE(h(f_s), y_s) + ½ [ BCE(D(R_λ(T(f_s, g_s))), 1) + BCE(D(R_λ(T(f_t, g_t))), 0) ]

with R_λ the gradient reversal layer, λ the DANN ramp 2/(1 + e^{−10p}) − 1 times ``domain_weight``,
and g detached (the paper's code and tllib: the classifier is trained by the source labels, the
features by the reversed domain gradient through T). For the digits CNN, d_f · C = 128 · 10 = 1,280,
so the exact map is used.

CDAN+E (entropy conditioning) weights every example's discriminator loss by how sure the
classifier is, w = 1 + e^{−H(g)}, normalised within each domain (see
:func:`core.losses.certainty_weights`), so uncertain, hard-to-transfer examples weigh less.

Shapes: features (2B, d_f) for the joint source + target batch, logits (2B, C).
Defaults from the paper and its code: discriminator 1024-1024-1, λ_max = 1, randomised d = 1024.
The paper's code (``AdversarialNetwork``) also drops half of each hidden layer's units in training;
``disc_dropout`` sets that rate (0: none).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses import (certainty_weights, multilinear_map, randomized_multilinear_map,
                      weighted_domain_adversarial_loss)
from ..models import DomainDiscriminator, dann_lambda, grad_reverse
from . import Batch, Hyper, Method, register


@register
class CDAN(Method):
    name = "cdan"
    label = "CDAN"
    order = 12
    graph_safe = True
    in_zoo = False  # shipped by `zoo rebuild` as a candidate for `recommend`
    # Batch norm in the digits CNN, per-picture input standardisation and the paper code's discriminator
    # dropout: chosen on MNIST → fixture domains by scripts/studies/classic_recipes.py (mean gain over
    # source-only +11.7 against +4.2 for batch norm alone and −0.2 for neither;
    # docs/benchmarks/classic-recipes.json). Point MLPs have none of them.
    recipe = {"model": {"batch_norm": True, "input_norm": "image"}, "hparams": {"disc_dropout": 0.5}}
    # a 2-D feature ⊗ C-class map is small; the dropout was chosen on pictures, the points keep none
    points_recipe = {"hparams": {"disc_hidden": 64, "disc_dropout": 0.0}}
    summary = "Conditional adversarial: the domain classifier sees features ⊗ predictions, aligning classes, not just domains."
    entropy_conditioning = False
    hyperparameters = {
        "domain_weight": Hyper(1.0, "Maximum λ of the gradient reversal (the schedule rises from 0 to it).", 0.0, 10.0,
                               label="Domain weight λ", search=(0.03, 3.0, "log")),
        "disc_hidden": Hyper(1024, "Hidden units of the domain discriminator MLP.", 16, 4096,
                             label="Discriminator hidden units", search=(256, 2048, "log")),
        "max_multilinear_dim": Hyper(4096, "Largest d_f·C for the exact outer product; above it the randomised map is used.",
                                     1, 1_000_000, label="Largest exact map"),
        "randomized_dim": Hyper(1024, "Output size d of the randomised multilinear map.", 16, 16384,
                                label="Randomised map size"),
        "disc_dropout": Hyper(0.0, "Dropout rate after each hidden layer of the discriminator (the paper's code: 0.5).",
                              0.0, 0.9, label="Discriminator dropout"),
    }

    def setup(self):
        d_f, n_classes = self.model.backbone.out_dim, self.model.num_classes
        self.randomized = d_f * n_classes > self.hp["max_multilinear_dim"]
        if self.randomized:
            d = self.hp["randomized_dim"]
            g = torch.Generator().manual_seed(self.ctx.seed)
            # fixed, never trained (plain tensors, not parameters)
            self.r_f = torch.randn(d_f, d, generator=g).to(self.ctx.device)
            self.r_g = torch.randn(n_classes, d, generator=g).to(self.ctx.device)
            in_dim = d
        else:
            in_dim = d_f * n_classes
        self.discriminator = DomainDiscriminator(in_dim, self.hp["disc_hidden"], self.hp["disc_dropout"]).to(self.ctx.device)

    def trainable_modules(self):
        return [self.model, self.discriminator]

    def conditioning(self, features: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        """The discriminator's input T(f, g): (B, d_f) and (B, C) → (B, d_f·C) or (B, d)."""
        if self.randomized:
            return randomized_multilinear_map(features, probs, self.r_f.to(features.dtype), self.r_g.to(features.dtype))
        return multilinear_map(features, probs)

    def domain_loss(self, features: torch.Tensor, logits: torch.Tensor, n_source: int,
                    lam: float | torch.Tensor) -> torch.Tensor:
        """The (entropy-weighted) adversarial term for a joint batch whose first ``n_source`` rows
        are source: features (2B, d_f), logits (2B, C) → scalar."""
        probs = F.softmax(logits.float(), dim=1).detach()
        h = self.conditioning(features, probs.to(features.dtype))
        d = self.discriminator(grad_reverse(h, lam)).float()
        ws = wt = None
        if self.entropy_conditioning:
            ws, wt = certainty_weights(probs[:n_source]), certainty_weights(probs[n_source:])
        return weighted_domain_adversarial_loss(d[:n_source], d[n_source:], ws, wt)

    def loss(self, batch: Batch, progress: float):
        lam = self.hp["domain_weight"] * dann_lambda(progress)
        n = len(batch.xs)
        features = self.model.features(torch.cat([batch.xs, batch.xt]))  # one pass over both domains
        logits = self.model.head(features)
        cls = self.cross_entropy(logits[:n], batch.ys)
        dom = self.domain_loss(features, logits, n, lam)
        return {"loss": cls + dom, "cls": cls, "domain": dom, "lambda": torch.as_tensor(lam, device=cls.device)}


@register
class CDANE(CDAN):
    name = "cdan_e"
    label = "CDAN+E"
    order = 13
    summary = "CDAN with entropy conditioning: confident examples weigh more in the domain game (w = 1 + e^−H)."
    entropy_conditioning = True
    hyperparameters = dict(CDAN.hyperparameters)

