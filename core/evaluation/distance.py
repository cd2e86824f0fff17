"""How far apart two domains' features are: the proxy A-distance and the feature MMD."""

from __future__ import annotations

import numpy as np
import torch


def proxy_a_distance(source_features: np.ndarray, target_features: np.ndarray, seed: int = 0) -> float:
    """Proxy A-distance (Ben-David et al. 2007): d_A = 2 (1 − 2ε), ε the held-out error of a
    linear classifier telling source features from target features.

    0 means indistinguishable domains, 2 perfectly separable. Inputs (n, d) and (m, d).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([source_features, target_features]).astype(np.float64)
    y = np.r_[np.ones(len(source_features)), np.zeros(len(target_features))]
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.5, random_state=seed, stratify=y)
    scaler = StandardScaler().fit(x_tr)
    clf = LogisticRegression(C=1.0, max_iter=500).fit(scaler.transform(x_tr), y_tr)
    err = 1.0 - clf.score(scaler.transform(x_te), y_te)
    return float(np.clip(2.0 * (1.0 - 2.0 * err), 0.0, 2.0))


def feature_mmd(source_features: np.ndarray, target_features: np.ndarray) -> float:
    """Unbiased multi-kernel MMD² between feature sets (see :func:`core.losses.mk_mmd`)."""
    from ..losses import mk_mmd

    return float(mk_mmd(torch.as_tensor(source_features, dtype=torch.float64),
                        torch.as_tensor(target_features, dtype=torch.float64)))
