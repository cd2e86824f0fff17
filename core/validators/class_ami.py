"""ClassAMI (Musgrave et al., 2022, "Three New Validators and a Large-Scale Benchmark Ranking for
Unsupervised Domain Adaptation"): do the predicted classes agree with the clusters of the features?

    k = C;  c_i = k-means cluster of f_i  (target features, 10 restarts, fixed seed)
    ŷ_i = argmax_c z_ic                   (predicted labels)
    score = AMI(ŷ, c)                     adjusted mutual information, in [−1, 1], ≈ 0 by chance

target_features: (N, D), target_logits: (N, C) → a float. High when the classifier's decision
boundaries follow the structure of the target features; a collapsed classifier (one predicted
class) gives 0, as do predictions unrelated to the clusters and features with fewer than k
distinct vectors (dead features).
"""

import numpy as np

from .base import Evidence, Validator, register

SEED = 0


@register
class ClassAMI(Validator):
    name = "class_ami"
    label = "ClassAMI"
    summary = "Agreement (AMI) between k-means clusters of target features and predicted classes."
    paper = "Musgrave et al. 2022"
    needs = ("target_logits", "target_features")
    min_target = 50

    def min_target_images(self, num_classes: int | None = None) -> int:
        return max(self.min_target, 5 * (num_classes or 0))

    def compute(self, ev: Evidence) -> float:
        from sklearn.cluster import KMeans
        from sklearn.metrics import adjusted_mutual_info_score

        feats = ev.target_features.double().numpy()
        k = ev.target_logits.shape[1]
        if len(np.unique(feats.round(6), axis=0)) < k:
            return 0.0  # fewer distinct feature vectors than classes: no cluster structure to agree with
        clusters = KMeans(n_clusters=k, n_init=10, random_state=SEED).fit_predict(feats)
        predicted = ev.target_logits.argmax(1).numpy()
        if len(np.unique(predicted)) == 1:
            return 0.0  # AMI of a constant labelling (sklearn returns 1.0 if both are constant)
        return float(adjusted_mutual_info_score(predicted, clusters))
