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


def _quadratic(f: torch.Tensor) -> torch.Tensor:
    """[f, f_i f_j (i ≤ j)]: (n, d) → (n, d + d(d+1)/2)."""
    i, j = torch.triu_indices(f.shape[1], f.shape[1])
    return torch.cat([f, f[:, i] * f[:, j]], dim=1)


def fast_proxy_a_distance(source_features: torch.Tensor, target_features: torch.Tensor, ridge: float = 1e-3) -> float:
    """A proxy A-distance cheap enough to draw live (the Playground computes one per frame): the
    same d_A = 2 (1 − 2ε) as :func:`proxy_a_distance`, with ε the held-out error of a closed-form
    *linear discriminant* (Fisher LDA with a small ridge) instead of a fitted logistic regression,
    on quadratic features [f, f_i f_j] so that a change of spread (a scaling) shows as well as a
    change of place. Even rows train it, odd rows score it; no iterations, no randomness.

    Inputs (n, d) and (m, d) with small d (the toy domains' 2-D features; d ≤ 16); returns a float
    in [0, 2]. Checked beside :func:`proxy_a_distance` in tests/core/evaluation/test_fast_pad.py.

    >>> x = torch.randn(400, 2, generator=torch.Generator().manual_seed(0))
    >>> fast_proxy_a_distance(x, x + 10) == 2.0, fast_proxy_a_distance(x[:200], x[200:]) < 0.3
    (True, True)
    """
    fs = torch.as_tensor(source_features, dtype=torch.float64)
    ft = torch.as_tensor(target_features, dtype=torch.float64)
    if fs.ndim != 2 or fs.shape[1] > 16 or len(fs) < 4 or len(ft) < 4:
        raise ValueError("fast_proxy_a_distance takes (n, d ≤ 16) features, at least 4 rows a side")
    x = _quadratic(torch.cat([fs, ft]))
    x = (x - x.mean(0)) / x.std(0).clamp_min(1e-9)
    y = torch.cat([torch.ones(len(fs)), torch.zeros(len(ft))]).bool()
    train = torch.zeros(len(y), dtype=torch.bool)
    train[0::2] = True
    a, b = x[train & y], x[train & ~y]
    mu_a, mu_b = a.mean(0), b.mean(0)
    pooled = (torch.cov(a.T) * (len(a) - 1) + torch.cov(b.T) * (len(b) - 1)) / max(1, len(a) + len(b) - 2)
    pooled = pooled + ridge * torch.eye(x.shape[1], dtype=x.dtype)
    w = torch.linalg.solve(pooled, mu_a - mu_b)
    c = w @ (mu_a + mu_b) / 2 - torch.log(torch.tensor(len(a) / len(b), dtype=x.dtype))
    test = ~train
    err = ((x[test] @ w > c) != y[test]).double().mean().item()
    return float(min(2.0, max(0.0, 2.0 * (1.0 - 2.0 * err))))
