"""Deep embedded validation, DEV (You et al., ICML 2019, "Towards Accurate Model Selection in Deep
Unsupervised Domain Adaptation"): the source-validation loss, importance-weighted towards the target.

    1. a domain classifier d(f) ≈ P(target | f) is fitted on source train features (K, D) against
       target features (N, D): logistic regression on standardised features, its L2 strength
       chosen by held-out log-loss (the paper fits an MLP; a linear one is cheaper and steadier
       on a few thousand points);
    2. density ratio on the M source validation features: w_j = (K / N) · d(f_j) / (1 − d(f_j))
       ≈ p_target(f_j) / p_source(f_j);
    3. per-image loss ℓ_j = CE(z_j, y_j), weighted loss L_j = w_j ℓ_j;
    4. control variate (E[w] = 1): η = −Cov(L, w) / Var(w),
       risk = mean(L) + η · mean(w) − η;
    score = −risk  (negated: higher is better).

val_logits: (M, C), val_labels: (M,), val_features: (M, D), source_features: (K, D),
target_features: (N, D) → a float ≤ 0 (roughly). When source and target features coincide the
weights are ≈ 1 and the score is the plain source-validation loss, −mean(ℓ). DEV's weights can be
heavy-tailed, which makes it noisy; :mod:`core.validators.devn` normalises them.
"""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F

from .base import Evidence, Validator, register

C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # inverse L2 strengths tried for the domain classifier
SEED = 0
CLIP = 1e-4                              # domain probabilities kept in [CLIP, 1 − CLIP]


def density_ratio(source: np.ndarray, target: np.ndarray, query: np.ndarray) -> np.ndarray:
    """w(x) ≈ p_target(x) / p_source(x) at each ``query`` row, from a logistic domain classifier.

    source: (K, D), target: (N, D), query: (M, D) → (M,) positive weights.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split

    x = np.concatenate([source, target]).astype(np.float64)
    y = np.r_[np.zeros(len(source)), np.ones(len(target))]
    mean, std = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / std
    z_tr, z_te, y_tr, y_te = train_test_split(z, y, test_size=0.2, random_state=SEED, stratify=y)
    best, best_loss = None, np.inf
    for c in C_GRID:
        clf = LogisticRegression(C=c, max_iter=300).fit(z_tr, y_tr)
        loss = log_loss(y_te, clf.predict_proba(z_te)[:, 1], labels=[0, 1])
        if loss < best_loss:
            best, best_loss = clf, loss
    p = np.clip(best.predict_proba((query.astype(np.float64) - mean) / std)[:, 1], CLIP, 1 - CLIP)
    return (len(source) / len(target)) * p / (1 - p)


def normalise_max(w: np.ndarray) -> np.ndarray:
    """DEVN's weights (Musgrave et al. 2022): w / max(w), shifted to mean 1."""
    w = w / w.max()
    return w - w.mean() + 1.0


def dev_risk(weights: np.ndarray, losses: np.ndarray) -> float:
    """mean(w ℓ) + η mean(w) − η with η = −Cov(wℓ, w) / Var(w) (η = 0 when the weights are constant)."""
    weighted = weights * losses
    var = np.var(weights, ddof=1)
    eta = 0.0 if var < 1e-12 else -np.cov(weighted, weights)[0, 1] / var
    return float(weighted.mean() + eta * weights.mean() - eta)


@register
class DEV(Validator):
    name = "dev"
    label = "DEV"
    summary = "Importance-weighted source-validation loss (density ratio from a domain classifier), negated."
    paper = "You et al., ICML 2019"
    needs = ("val_logits", "val_labels", "val_features", "source_features", "target_features")
    min_target = 20
    normalise = None  # DEVN: normalise_max

    def weights(self, ev: Evidence) -> np.ndarray:
        w = density_ratio(ev.source_features.numpy(), ev.target_features.numpy(), ev.val_features.numpy())
        return type(self).normalise(w) if type(self).normalise else w

    def compute(self, ev: Evidence) -> float:
        losses = F.cross_entropy(ev.val_logits.double(), ev.val_labels, reduction="none").numpy()
        return -dev_risk(self.weights(ev), losses)
