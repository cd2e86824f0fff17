"""Batch nuclear-norm of the target prediction matrix (Cui et al., CVPR 2020, "Towards
Discriminability and Diversity: Batch Nuclear-norm Maximization under Label Insufficient Situations").

    score = ‖P‖_* / √(N · min(N, C)),   P ∈ [0, 1]^{N×C} the softmax predictions, ‖·‖_* the sum of
                                         singular values

target_logits: (N, C) → a float in (0, 1]. ‖P‖_* ≤ √rank · ‖P‖_F ≤ √(min(N, C) · N), with equality
for confident predictions balanced over the classes; one class for every image gives
‖P‖_* = √N, i.e. 1/√C. The paper's ‖P‖_* / N differs by a constant for a fixed N, so rankings of
models scored on the same images are the same.

>>> round(BNM().score(Evidence(target_logits=20 * torch.eye(10).repeat(3, 1))), 3)
1.0
"""

import math

import torch

from .base import Evidence, Validator, register


@register
class BNM(Validator):
    name = "bnm"
    label = "BNM"
    summary = "Nuclear norm of the target prediction matrix (confident and diverse)."
    paper = "Cui et al., CVPR 2020"
    needs = ("target_logits",)
    min_target = 10

    def compute(self, ev: Evidence) -> float:
        p = ev.target_probs()
        n, c = p.shape
        return (torch.linalg.matrix_norm(p, ord="nuc") / math.sqrt(n * min(n, c))).item()
