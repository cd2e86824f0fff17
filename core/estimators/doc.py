"""DoC, difference of confidences (Guillory, Shankar, Ebrahimi, Darrell & Schmidt, ICCV 2021,
"Predicting with Confidence on Unseen Distributions").

    acc ≈ acc_val − (conf_val − conf_target),   conf = mean_i max_c softmax(z_i)_c

logits: (N, C) on the target; acc_val and conf_val (shares) from the source validation split kept in
the card → a share in [0, 1]. Equals the source accuracy when the target is as confident as the
source; blind to a model that stays confident while wrong.

>>> import torch
>>> fit = {"val_acc": 0.9, "val_conf": 0.95, "thresholds": {"msp": 0.9, "ne": -0.2}}
>>> z = torch.log(torch.tensor([[0.75, 0.25]] * 20))   # mean confidence 0.75
>>> round(Doc().estimate(Inputs(z, fit)), 3)
0.7
"""

from .base import Estimator, Inputs, msp, register


@register
class Doc(Estimator):
    name = "doc"
    label = "DoC"
    summary = "Source validation accuracy minus the drop in mean confidence from source to target."
    paper = "Guillory et al., ICCV 2021"
    needs = ("source",)

    def raw(self, inp: Inputs) -> float:
        return float(inp.source["val_acc"]) - (float(inp.source["val_conf"]) - msp(inp.logits).mean().item())
