"""DEVN (Musgrave et al., 2022, "Three New Validators and a Large-Scale Benchmark Ranking for
Unsupervised Domain Adaptation"): DEV with max-normalised importance weights.

    w̃ = w / max(w);   w' = w̃ − mean(w̃) + 1          (in [0, 1] before the shift, mean 1 after)
    score = −[mean(w' ℓ) + η mean(w') − η],  η = −Cov(w'ℓ, w') / Var(w')

with w and ℓ as in :mod:`core.validators.dev` (same evidence: val_logits (M, C), val_labels (M,),
val_features (M, D), source_features (K, D), target_features (N, D)). Dividing by the largest weight keeps one
source image that looks very target-like from dominating the estimate — DEV's main source of noise.
"""

from .base import register
from .dev import DEV, normalise_max


@register
class DEVN(DEV):
    name = "devn"
    label = "DEVN"
    summary = "DEV with max-normalised importance weights (less noisy), negated."
    paper = "Musgrave et al. 2022"
    normalise = staticmethod(normalise_max)
