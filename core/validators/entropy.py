"""Prediction entropy on the target, negated (confident predictions score high).

    score = −(1/N) Σ_i H(p_i),   H(p) = −Σ_c p_c log p_c,   p_i = softmax(z_i)

target_logits: (N, C) → a float in [−log C, 0]. Used for model selection since Morerio et al.
(ICLR 2018, "Minimal-Entropy Correlation Alignment"). Blind to collapse: a model that predicts
one class for every image with certainty scores the maximum, 0.

>>> round(Entropy().score(Evidence(target_logits=torch.zeros(4, 10))), 4)   # uniform: −log 10
-2.3026
"""


from ..losses import entropy_rows
from .base import Evidence, Validator, register


@register
class Entropy(Validator):
    name = "entropy"
    label = "Entropy"
    summary = "Negative mean prediction entropy on target images (confidence)."
    paper = "Morerio et al., ICLR 2018"
    needs = ("target_logits",)
    min_target = 1

    def compute(self, ev: Evidence) -> float:
        return -entropy_rows(ev.target_probs()).mean().item()
