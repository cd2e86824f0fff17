"""Evaluation: what a model does on a domain, with labels (accuracy, per class, confusion,
calibration) and without them (prediction statistics, the collapse rule), and how far apart two
domains' features are (proxy A-distance, MMD, UMAP maps).

One module, one job: :mod:`.forward` (batched passes: logits, features, accuracy on a domain),
:mod:`.metrics` (per class, confusion, ECE, the report), :mod:`.label_free` (statistics and the
collapse rule), :mod:`.distance` (domain distances), :mod:`.embedding` (UMAP alignment maps).
"""

from .distance import fast_proxy_a_distance, feature_mmd, proxy_a_distance
from .forward import (EVAL_PIXEL_BUDGET, accuracy, evaluate_accuracy, extract_features, forward_features,
                      predict_logits)
from .label_free import COLLAPSE_JUMP, collapsed, label_free_stats, largest_class_share, logit_stats
from .metrics import confusion, expected_calibration_error, model_report, per_class_accuracy, reliability_curve

__all__ = ["COLLAPSE_JUMP", "EVAL_PIXEL_BUDGET", "accuracy", "collapsed", "confusion", "evaluate_accuracy",
           "expected_calibration_error", "extract_features", "fast_proxy_a_distance", "feature_mmd", "forward_features", "label_free_stats",
           "largest_class_share", "logit_stats", "model_report", "per_class_accuracy", "predict_logits",
           "proxy_a_distance", "reliability_curve"]
