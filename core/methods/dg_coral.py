"""Multi-source CORAL: align the feature covariances of the *source domains* with one another.

Domain generalisation (source only; the target batch is never looked at): with several sources
(``--source mnist+mnistm+syndigits``) features whose second-order statistics agree across the
sources are more likely to agree on an unseen domain too (Deep CORAL, Sun & Saenko 2016, applied
between source domains as in DomainBed's CORAL baseline, Gulrajani & Lopez-Paz 2021):

    L = CE(h(g(x_s)), y_s) + w · mean_{k<l} ( ‖μ_k − μ_l‖² / d + ‖C_k − C_l‖²_F / d² )

with μ_k, C_k the mean and covariance of the batch's features from source k (sources with fewer
than two images in the batch are left out). Computed with one-hot weights, so a batch needs no
host synchronisation. With a single source the alignment term is zero (plain source-only).
At most :data:`MAX_SOURCES` sources.
"""

import torch

from . import Batch, Hyper, Method, register

MAX_SOURCES = 8  # one-hot width: a fixed size keeps the step free of host synchronisation


def multi_domain_coral(features: torch.Tensor, domain_ids: torch.Tensor, num_domains: int) -> torch.Tensor:
    """Mean over pairs of domains of ‖μ_k − μ_l‖²/d + ‖C_k − C_l‖²_F/d² (DomainBed's CORAL penalty).

    features: (B, d), domain_ids: (B,) in 0..K−1 → scalar (0 when fewer than two domains have ≥ 2
    examples).

    >>> f = torch.randn(64, 8); d = torch.arange(64) % 2
    >>> float(multi_domain_coral(f, d, 2)) < float(multi_domain_coral(f + 3 * d[:, None], d, 2))
    True
    """
    f = features.float()
    dim = f.shape[1]
    w = torch.nn.functional.one_hot(domain_ids, num_domains).float()            # (B, K)
    n = w.sum(0)                                                                 # (K,)
    mu = (w.T @ f) / n.clamp_min(1)[:, None]                                     # (K, d)
    centred = f[None] - mu[:, None]                                              # (K, B, d)
    cov = (centred * w.T[..., None]).transpose(1, 2) @ centred / (n - 1).clamp_min(1)[:, None, None]  # (K, d, d)
    present = (n >= 2).float()
    pair = torch.triu(present[:, None] * present[None, :], diagonal=1)          # (K, K) pairs k < l
    mean_gap = (mu[:, None] - mu[None]).pow(2).sum(-1) / dim
    cov_gap = (cov[:, None] - cov[None]).pow(2).sum((-1, -2)) / (dim * dim)
    return ((mean_gap + cov_gap) * pair).sum() / pair.sum().clamp_min(1)


@register
class MultiSourceCORAL(Method):
    name = "dg_coral"
    label = "Multi-source CORAL"
    short_label = "MS-CORAL"
    family = "generalization"
    in_zoo = False
    order = 40
    graph_safe = True
    summary = "Aligns feature means and covariances between the source domains, never looking at the target."
    hyperparameters = {
        "coral_weight": Hyper(1.0, "Weight w of the between-source alignment term.", 0.0, 100.0,
                              label="Alignment weight", search=(0.1, 10.0, "log")),
    }

    def loss(self, batch: Batch, progress: float):
        features = self.model.features(batch.xs)
        ce = self.cross_entropy(self.model.head(features), batch.ys)
        if batch.ds is None:
            align = ce.new_zeros(())
        else:
            align = multi_domain_coral(features, batch.ds, MAX_SOURCES)
        return {"loss": ce + self.hp["coral_weight"] * align, "cls": ce, "coral": align}
