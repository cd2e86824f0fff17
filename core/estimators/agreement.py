"""Pool agreement: how often the model agrees with the other models of a pool on the target pictures,
mapped to accuracy by a line fitted on held-out domains (a simple variant of agreement-on-the-line,
Baek, Jiang, Raghunathan & Kolter, NeurIPS 2022: agreement between models tracks their accuracy
under shift, linearly, with a slope and bias that a few held-out domains can pin down).

    p̄_i = (1/K) Σ_k softmax(z^(k)_i)        the other K models' mean prediction (the model left out)
    g   = (1/N) Σ_i 1[argmax_c z_ic = argmax_c p̄_ic]
    acc ≈ clip(a · g + b, 0, 1)               a, b: least squares over held-out (model, domain) pairs

logits: (N, C) of the model, pool: K ≥ 2 logits (N, C) of the other models on the same pictures
→ a share in [0, 1]. A confidently wrong model disagrees with a pool that is right, which confidence
alone cannot see; it is blind when the whole pool is wrong the same way. (a, b) come from
calibration.json (the study); without them the agreement itself is the estimate.

Its range scales with the pool's own disagreement (:meth:`Agreement.spread`): where the pool's
ensemble is right, agreeing with it *is* being right, so |g − acc| ≤ the ensemble's error rate, and
the share of pictures on which the pool's members do not all agree is a label-free stand-in for it.

    spread = 0.05 + (1/N) Σ_i 1[the K pool models do not all give the same top class on picture i]

(the 0.05: a pool that agrees on every picture can still be wrong on some, and the estimate carries
sampling noise; chosen among 0, 0.02, 0.03, 0.05, 0.08 on the fixture domains' LODO folds for the
range's coverage, the shipped scenarios not looked at).

>>> import torch
>>> one_hot = lambda y: 9 * torch.nn.functional.one_hot(torch.tensor(y), 3).float()
>>> pool = [one_hot([0, 1, 2, 0] * 5), one_hot([0, 1, 2, 1] * 5)]
>>> Agreement().estimate(Inputs(one_hot([0, 1, 2, 2] * 5), pool=pool))
0.75
"""

import torch
import torch.nn.functional as F

from .base import Estimator, EstimatorError, Inputs, register

#: Added to the pool's disagreement: a pool that agrees on every picture can still be wrong on some.
SPREAD_FLOOR = 0.05


def agreement(logits: torch.Tensor, pool: list[torch.Tensor]) -> float:
    """Share of pictures where ``logits``' top class equals the pool's mean prediction's top class."""
    shapes = {tuple(p.shape) for p in pool} | {tuple(logits.shape)}
    if len(shapes) != 1:
        raise EstimatorError(f"the pool's predictions must be on the same pictures and classes, got shapes {sorted(shapes)}")
    mean = torch.stack([F.softmax(p.double(), dim=1) for p in pool]).mean(0)
    return (logits.argmax(1) == mean.argmax(1)).double().mean().item()


@register
class Agreement(Estimator):
    name = "agreement"
    label = "Pool agreement"
    summary = "Agreement with the other models' mean prediction on the pictures, mapped to accuracy on held-out domains."
    paper = "after Baek et al., NeurIPS 2022 (agreement-on-the-line)"
    needs = ("pool",)
    min_pool = 2
    fits_map = True

    def raw(self, inp: Inputs) -> float:
        return agreement(inp.logits, inp.pool)

    def spread(self, inp: Inputs) -> float:
        tops = torch.stack([p.argmax(1) for p in inp.pool])  # (K, N)
        return SPREAD_FLOOR + (tops != tops[0]).any(0).double().mean().item()
