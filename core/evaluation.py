"""Evaluation: accuracy, per-class accuracy, confusion, calibration and domain distances.

All functions take a model mapping float images in [0, 1] to logits, or arrays of predictions.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


#: Most pixels one evaluation batch holds (per channel): 512 pictures of 28×28 … 8 of 224×224.
#: Keeps evaluation memory flat whatever input size a checkpoint declares.
EVAL_PIXEL_BUDGET = 512 * 64 * 64


def _batched(model: nn.Module, images: torch.Tensor, fn, batch_size: int, device=None) -> torch.Tensor:
    """``fn(x)`` over ``images`` (N, 3, H, W; uint8 scaled by 1/255, or float in [0, 1]) in batches
    of at most ``batch_size`` pictures and :data:`EVAL_PIXEL_BUDGET` pixels, in eval mode, on CPU."""
    device = device or next(model.parameters()).device
    h, w = images.shape[-2:] if images.ndim == 4 else (1, 1)
    batch_size = max(1, min(batch_size, EVAL_PIXEL_BUDGET // max(1, h * w)))
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad():
            for i in range(0, len(images), batch_size):
                x = images[i:i + batch_size].to(device, non_blocking=True)
                x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
                out.append(fn(x).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int = 512,
                   device: torch.device | str | None = None) -> torch.Tensor:
    """Logits for ``images`` (N, 3, H, W) — uint8 (scaled by 1/255) or float in [0, 1] → (N, C) on CPU."""
    return _batched(model, images, model, batch_size, device)


def extract_features(model: nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """``model.features`` for ``images`` (N, 3, H, W) → (N, D) on CPU."""
    return _batched(model, images, model.features, batch_size)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of argmax predictions equal to the labels, in percent."""
    return 100.0 * (logits.argmax(1) == labels.to(logits.device)).float().mean().item()


def evaluate_accuracy(model: nn.Module, domain, batch_size: int = 512) -> float:
    """Top-1 accuracy (%) of ``model`` on a :class:`core.data.TensorDomain`."""
    return accuracy(predict_logits(model, domain.images, batch_size), domain.labels)


def per_class_accuracy(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Recall of each class in percent, (C,); NaN for classes absent from ``y_true``."""
    cm = confusion(y_true, y_pred, num_classes)
    support = cm.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, 100.0 * np.diag(cm) / support, np.nan)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Confusion matrix (C, C): rows true class, columns predicted class."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(np.asarray(y_true), np.asarray(y_pred), labels=list(range(num_classes)))


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, n_bins: int = 15) -> float:
    """ECE = Σ_b (|B_b| / N) · |acc(B_b) − conf(B_b)| over equal-width confidence bins, in percent.

    probs: (N, C) softmax outputs, y_true: (N,).
    """
    probs, y_true = np.asarray(probs), np.asarray(y_true)
    conf, pred = probs.max(1), probs.argmax(1)
    correct = (pred == y_true).astype(float)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        sel = bins == b
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return 100.0 * float(ece)


def reliability_curve(probs: np.ndarray, y_true: np.ndarray, n_bins: int = 10) -> dict[str, np.ndarray]:
    """Per-bin mean confidence, accuracy and count for a reliability diagram."""
    probs, y_true = np.asarray(probs), np.asarray(y_true)
    conf, pred = probs.max(1), probs.argmax(1)
    correct = (pred == y_true).astype(float)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    idx = [bins == b for b in range(n_bins)]
    return {
        "confidence": np.array([conf[s].mean() if s.any() else np.nan for s in idx]),
        "accuracy": np.array([correct[s].mean() if s.any() else np.nan for s in idx]),
        "count": np.array([int(s.sum()) for s in idx]),
    }


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
    from .losses import mk_mmd

    return float(mk_mmd(torch.as_tensor(source_features, dtype=torch.float64),
                        torch.as_tensor(target_features, dtype=torch.float64)))


def model_report(model: nn.Module, domain, n_bins: int = 10) -> dict:
    """Accuracy, per-class accuracy, confusion, ECE and a reliability curve on a TensorDomain.

    Returns plain Python / NumPy values: ``accuracy`` (%), ``per_class`` (% per class, NaN when a
    class is absent), ``confusion`` (C×C array, rows true), ``ece`` (%), ``reliability``
    ({confidence, accuracy, count} per bin), ``n``, ``class_names``.
    """
    logits = predict_logits(model, domain.images)
    probs = torch.softmax(logits, 1).numpy()
    y = domain.labels.numpy()
    pred = probs.argmax(1)
    c = probs.shape[1]
    return {
        "accuracy": float(100.0 * (pred == y).mean()) if len(y) else float("nan"),
        "per_class": per_class_accuracy(y, pred, c),
        "confusion": confusion(y, pred, c),
        "ece": expected_calibration_error(probs, y),
        "reliability": reliability_curve(probs, y, n_bins),
        "n": int(len(y)),
        "class_names": list(domain.classes),
    }
