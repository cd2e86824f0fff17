"""Information maximisation: diverse *and* confident target predictions score high.

    score = H(p̄) − (1/N) Σ_i H(p_i),   p̄ = (1/N) Σ_i p_i,   p_i = softmax(z_i)

target_logits: (N, C) → a float in [−log C, log C]: log C for confident predictions spread evenly
over the classes, ≤ 0 when all images go to one class. The mutual information between input and
prediction (Gomes, Krause & Perona, NeurIPS 2010; the loss of SHOT, Liang et al., ICML 2020).

>>> ev = Evidence(target_logits=10 * torch.eye(10).repeat(5, 1))   # confident, balanced
>>> round(IM().score(ev), 2)   # ≈ log 10
2.3
"""


from ..losses import information_maximization
from .base import Evidence, Validator, register


@register
class IM(Validator):
    name = "im"
    label = "IM"
    summary = "Information maximisation: entropy of the mean prediction minus mean entropy."
    paper = "Gomes et al., NeurIPS 2010; Liang et al. (SHOT), ICML 2020"
    needs = ("target_logits",)
    min_target = 10

    def compute(self, ev: Evidence) -> float:
        ent, div = information_maximization(ev.target_logits.double())
        return -(ent + div).item()
