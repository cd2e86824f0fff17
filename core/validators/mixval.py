"""MixVal (Hu, Liang, Liew, Xue, Bai & Wang, NeurIPS 2023, "Mixed Samples as Probes for Unsupervised
Model Selection in Domain Adaptation"): mix pairs of target pictures and ask whether a candidate
still predicts the dominant picture's class — inside its clusters (intra) and across the boundary
between two (inter) — then rank the candidates of the pool on both.

    x̃_i = λ x_i + (1 − λ) x_j,  λ = 0.55,  j = the paired picture      (core.validators.evidence.mix_probes)
    ICE_intra = mean over pairs with ŷ_i = ŷ_j of 1[argmax f(x̃_i) = ŷ_i]
    ICE_inter = mean over pairs with ŷ_i ≠ ŷ_j of 1[argmax f(x̃_i) = ŷ_i]
    score_k = ½ (rank_k(ICE_intra) + rank_k(ICE_inter)) / (K − 1)        in [0, 1], higher is better

Ranks are taken within the pool (ties share their mean rank), as the paper combines the two
probes. ICE_intra alone rewards a model that predicts one class everywhere (every pair is then
"intra" and kept); ICE_inter alone rewards fragmented boundaries; the mean of their ranks needs both.
A candidate with no pair of a kind (say, a collapsed one has no inter pairs) gets that probe's
lowest rank. target_logits (N, C) and mix_intra, mix_inter (P,) bool per candidate → K floats.

>>> import torch
>>> t, f = torch.tensor([True, True]), torch.tensor([False, True])
>>> pool = [Evidence(target_logits=torch.zeros(4, 2), mix_intra=a, mix_inter=b) for a, b in ((t, t), (f, t), (f, f))]
>>> MixVal().score_pool(pool)
[1.0, 0.5, 0.0]
"""

import torch

from .base import Evidence, Validator, register


def average_ranks(values: list[float]) -> list[float]:
    """0-based ranks (the smallest value 0), ties sharing their mean rank: [3, 1, 3] → [1.5, 0, 1.5]."""
    from scipy.stats import rankdata

    return [float(r) - 1.0 for r in rankdata(values, method="average")]


def _ice(kept: torch.Tensor) -> float:
    """The share of probes kept; −1 (below any share) without probes."""
    return float(kept.double().mean()) if len(kept) else -1.0


@register
class MixVal(Validator):
    name = "mixval"
    label = "MixVal"
    summary = "Predictions kept on mixed target pictures, inside and across clusters, ranked in the pool."
    paper = "Hu et al., NeurIPS 2023"
    needs = ("target_logits", "mix_intra", "mix_inter")
    min_target = 2
    pool = True
    min_pool = 2

    def compute_pool(self, evs: list[Evidence]) -> list[float]:
        intra = average_ranks([_ice(ev.mix_intra) for ev in evs])
        inter = average_ranks([_ice(ev.mix_inter) for ev in evs])
        top = len(evs) - 1
        return [0.5 * (a + b) / top for a, b in zip(intra, inter)]
