"""DANN: domain-adversarial training (Ganin & Lempitsky 2015; Ganin et al., JMLR 2016).

A domain discriminator D sees features through a gradient reversal layer R_λ:

    L = CE(h(g(x_s)), y_s) + BCE(D(R_λ(g(x_s))), 1) + BCE(D(R_λ(g(x_t))), 0)

so one descent step trains D to tell the domains apart and g to make them indistinguishable.
λ follows λ_p = 2 / (1 + exp(−10 p)) − 1 (times ``domain_weight``), and the learning rate is
annealed as lr₀ / (1 + 10 p)^0.75 when ``lr_anneal`` is on.
"""

import torch

from ..losses import domain_adversarial_loss
from ..models import DomainDiscriminator, dann_lambda, grad_reverse
from . import Batch, Hyper, Method, register


@register
class DANN(Method):
    name = "dann"
    label = "DANN"
    order = 10
    graph_safe = True
    # Batch norm in the digits CNN and per-picture input standardisation: chosen on MNIST → fixture
    # domains by scripts/studies/classic_recipes.py (mean gain over source-only +8.5 against +4.0 for
    # the plain recipe; docs/benchmarks/classic-recipes.json). Point MLPs have neither.
    recipe = {"model": {"batch_norm": True, "input_norm": "image"}}
    points_recipe = {"hparams": {"disc_hidden": 64}}  # 2-D features need no 512-unit discriminator
    summary = "Domain-adversarial: a gradient reversal layer makes features fool a domain classifier."
    hyperparameters = {
        "domain_weight": Hyper(1.0, "Maximum λ of the gradient reversal (the schedule rises from 0 to it).", 0.0, 10.0, label="Domain weight λ", search=(0.03, 3.0, "log")),
        "disc_hidden": Hyper(512, "Hidden units of the domain discriminator MLP.", 16, 4096, label="Discriminator hidden units", search=(128, 1024, "log")),
    }

    def setup(self):
        self.discriminator = DomainDiscriminator(self.model.backbone.out_dim, self.hp["disc_hidden"]).to(self.ctx.device)

    def trainable_modules(self):
        return [self.model, self.discriminator]

    def loss(self, batch: Batch, progress: float):
        lam = self.hp["domain_weight"] * dann_lambda(progress)
        n = len(batch.xs)
        features = self.model.features(torch.cat([batch.xs, batch.xt]))  # one pass over both domains
        cls = self.cross_entropy(self.model.head(features[:n]), batch.ys)
        domain_logits = self.discriminator(grad_reverse(features, lam)).float()
        dom = domain_adversarial_loss(domain_logits[:n], domain_logits[n:])
        return {"loss": cls + dom, "cls": cls, "domain": dom, "lambda": torch.as_tensor(lam, device=cls.device)}
