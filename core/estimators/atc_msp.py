"""ATC with the max-softmax score (Garg, Balakrishnan, Lipton, Neyshabur & Sedghi, ICLR 2022,
"Leveraging Unlabeled Data to Predict Out-of-Distribution Performance").

    s_i = max_c softmax(z_i)_c
    t   : on the source validation split, (1/M) Σ_j 1[s_j > t] = source val accuracy   (fit_source)
    acc ≈ (1/N) Σ_i 1[s_i > t]                                                           over the target

logits: (N, C) on N unlabelled target pictures; t from the card → a share in [0, 1]. Exact when
the model is as calibrated on the target as on the source (the share above t is then the accuracy);
a confidently wrong model on the target fools it.

>>> import torch
>>> fit = {"val_acc": 0.5, "val_conf": 0.7, "thresholds": {"msp": 0.6, "ne": -0.5}}
>>> z = torch.tensor([[3.0, 0.0]] * 15 + [[0.1, 0.0]] * 15)   # half confident, half not
>>> AtcMsp().estimate(Inputs(z, fit))
0.5
"""

from .base import Estimator, Inputs, msp, register


@register
class AtcMsp(Estimator):
    name = "atc_msp"
    label = "ATC (max-softmax)"
    summary = "Share of target pictures whose top probability clears a threshold fitted on source validation."
    paper = "Garg et al., ICLR 2022"
    needs = ("source",)
    score = "msp"

    def raw(self, inp: Inputs) -> float:
        return (msp(inp.logits) > inp.source["thresholds"][self.score]).double().mean().item()
