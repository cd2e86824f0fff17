"""ATC with the negative-entropy score (Garg et al., ICLR 2022; the variant the paper found best).

    s_i = Σ_c p_ic log p_ic,   p_i = softmax(z_i)
    t   : on the source validation split, (1/M) Σ_j 1[s_j > t] = source val accuracy   (fit_source)
    acc ≈ (1/N) Σ_i 1[s_i > t]

logits: (N, C), t from the card → a share in [0, 1].

>>> import torch
>>> fit = {"val_acc": 0.5, "val_conf": 0.7, "thresholds": {"msp": 0.6, "ne": -0.3}}
>>> z = torch.tensor([[5.0, 0.0]] * 10 + [[0.0, 0.0]] * 30)   # a quarter certain
>>> AtcNe().estimate(Inputs(z, fit))
0.25
"""

from .base import Estimator, Inputs, neg_entropy, register


@register
class AtcNe(Estimator):
    name = "atc_ne"
    label = "ATC (negative entropy)"
    summary = "Share of target pictures whose prediction entropy is below a threshold fitted on source validation."
    paper = "Garg et al., ICLR 2022"
    needs = ("source",)
    score = "ne"

    def raw(self, inp: Inputs) -> float:
        return (neg_entropy(inp.logits) > inp.source["thresholds"][self.score]).double().mean().item()
