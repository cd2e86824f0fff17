"""Per-class accuracy, confusion, calibration (ECE, reliability) and the report the Compare page
and ``python -m core eval`` show. Arrays of predictions in, plain NumPy / Python out."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .forward import predict_logits


def per_class_accuracy(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Recall of each class in percent, (C,); NaN for classes absent from ``y_true``."""
    cm = confusion(y_true, y_pred, num_classes)
    support = cm.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, 100.0 * np.diag(cm) / support, np.nan)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Confusion matrix (C, C): rows true class, columns predicted class; pairs with a label outside
    0..C-1 are left out. Counted with numpy: importing scikit-learn for this alone made the
    dashboard's process ~140 MB larger (scripts/bench/crowd_memory.py)."""
    c = int(num_classes)
    y_true, y_pred = np.asarray(y_true).astype(np.int64).ravel(), np.asarray(y_pred).astype(np.int64).ravel()
    keep = (y_true >= 0) & (y_true < c) & (y_pred >= 0) & (y_pred < c)
    return np.bincount(y_true[keep] * c + y_pred[keep], minlength=c * c).reshape(c, c)


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
