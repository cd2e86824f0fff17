"""Soft neighbourhood density (Saito et al., ICCV 2021, "Tune it the Right Way: Unsupervised
Validation of Domain Adaptation via Soft Neighborhood Density").

    f_i = p_i / ‖p_i‖                         L2-normalised softmax predictions, (N, C)
    S_ij = f_i · f_j  (i ≠ j)                 cosine similarities, the diagonal left out
    P_ij = exp(S_ij / τ) / Σ_{k≠i} exp(S_ik / τ)  soft neighbourhoods, τ = 0.05
    score = (1/N) Σ_i H(P_i)                   mean entropy of the neighbourhoods

target_logits: (N, C) → a float in [0, log(N − 1)]. High when every image has many close
neighbours (dense, well-clustered predictions). Note that predictions collapsed onto one class
are the densest of all and score the maximum: SND must not be used alone where models can collapse.
"""

import torch
import torch.nn.functional as F

from ..losses import entropy_rows
from .base import Evidence, Validator, register

TEMPERATURE = 0.05
BLOCK = 1024  # rows of the similarity matrix computed at once (memory: BLOCK × N)


@register
class SND(Validator):
    name = "snd"
    label = "SND"
    summary = "Soft neighbourhood density of the target predictions."
    paper = "Saito et al., ICCV 2021"
    needs = ("target_logits",)
    min_target = 10

    def compute(self, ev: Evidence) -> float:
        f = F.normalize(ev.target_probs(), dim=1)
        n = len(f)
        total = 0.0
        for s in range(0, n, BLOCK):
            sim = f[s:s + BLOCK] @ f.T / TEMPERATURE               # (b, N)
            rows = torch.arange(len(sim))
            sim[rows, rows + s] = float("-inf")                     # leave each image out of its own neighbourhood
            total += entropy_rows(F.softmax(sim, dim=1)).sum().item()
        return total / n
