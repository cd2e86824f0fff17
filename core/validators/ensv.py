"""EnsV (Hu, Liang, Wang & Foo, NeurIPS 2024, "Pseudo-label ensembles: a validator with a worst-case
guarantee"): the candidates' ensemble stands in for the missing labels, and each candidate is
scored by how often it agrees with it.

    p̄ = (1/K) Σ_k softmax(z^(k))          (N, C) the pool's mean prediction on the target images
    ŷ_i = argmax_c p̄_ic                   the ensemble's pseudo-label
    score_k = (1/N) Σ_i 1[argmax_c z^(k)_ic = ŷ_i]

target_logits of each of the K ≥ 3 candidates: (N, C), the same N images in the same order (the
evidence's fixed sample) → K floats in [0, 1]. Its guarantee: the ensemble is never worse than
the worst candidate, and the candidate that agrees most with it never is either — the worst pick
is ruled out, whatever the pool. Blind when most of the pool fails the same way.

>>> import torch
>>> confident = lambda y: 20 * torch.nn.functional.one_hot(torch.tensor(y), 3).float()
>>> pool = [Evidence(target_logits=confident(y)) for y in ([0, 1, 2, 0], [0, 1, 2, 1], [0, 2, 2, 0])]
>>> [round(s, 2) for s in EnsV().score_pool(pool)]
[1.0, 0.75, 0.75]
"""

import torch
import torch.nn.functional as F

from .base import Evidence, Validator, ValidatorError, register


@register
class EnsV(Validator):
    name = "ensv"
    label = "EnsV"
    summary = "Agreement with the pool's ensemble prediction on the target images (pool-aware)."
    paper = "Hu et al., NeurIPS 2024"
    needs = ("target_logits",)
    min_target = 1
    pool = True
    min_pool = 3

    def compute_pool(self, evs: list[Evidence]) -> list[float]:
        shapes = {tuple(ev.target_logits.shape) for ev in evs}
        if len(shapes) != 1:
            raise ValidatorError(f"validator 'ensv' needs every candidate's predictions on the same target "
                                 f"pictures, got shapes {sorted(shapes)}")
        probs = torch.stack([F.softmax(ev.target_logits.double(), dim=1) for ev in evs])  # (K, N, C)
        pseudo = probs.mean(0).argmax(1)
        return [(p.argmax(1) == pseudo).double().mean().item() for p in probs]
