"""Loss functions, pure and stateless. Each docstring gives the formula, the shapes and an example."""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F


def gaussian_kernel_matrix(x: torch.Tensor, y: torch.Tensor, bandwidths: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """Sum of Gaussian kernels k(a, b) = Σ_σ exp(−‖a − b‖² / (2σ²)) for every pair (x_i, y_j).

    x: (n, d), y: (m, d), bandwidths: (K,) → (n, m).
    """
    d2 = torch.cdist(x, y).pow(2)
    sig = torch.as_tensor(bandwidths, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    return torch.exp(-d2.unsqueeze(0) / (2 * sig ** 2)).sum(0)


def median_bandwidth(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Median heuristic: the median pairwise distance over the pooled sample (no gradient).

    x: (n, d), y: (m, d) → scalar σ.
    """
    with torch.no_grad():
        z = torch.cat([x, y]).float()
        d = torch.pdist(z)
        return d.median().clamp_min(1e-6).to(x.dtype)


def mk_mmd(x: torch.Tensor, y: torch.Tensor, scales: Sequence[float] = (0.25, 0.5, 1.0, 2.0, 4.0),
           bandwidth: torch.Tensor | float | None = None) -> torch.Tensor:
    """Unbiased multi-kernel MMD² between samples x ~ P and y ~ Q (Gretton et al. 2012; DAN, Long et al. 2015).

        MMD²_u = 1/(n(n−1)) Σ_{i≠j} k(x_i, x_j) + 1/(m(m−1)) Σ_{i≠j} k(y_i, y_j) − 2/(nm) Σ_{i,j} k(x_i, y_j)

    with k the sum of Gaussian kernels at bandwidths σ·scales, σ from the median heuristic
    (or given). Its expectation is exactly 0 when P = Q, so an estimate can be slightly negative.

    x: (n, d), y: (m, d), n, m ≥ 2 → scalar.

    >>> x, y = torch.randn(200, 8), torch.randn(200, 8)
    >>> abs(mk_mmd(x, y).item()) < 0.05, mk_mmd(x, y + 2).item() > 0.5
    (True, True)
    """
    x, y = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x, y.float() if y.dtype in (torch.float16, torch.bfloat16) else y
    n, m = x.shape[0], y.shape[0]
    if n < 2 or m < 2:
        raise ValueError("mk_mmd needs at least two samples from each distribution")
    sigma = median_bandwidth(x, y) if bandwidth is None else torch.as_tensor(bandwidth, dtype=x.dtype, device=x.device)
    bw = torch.stack([sigma * float(s) for s in scales])  # no host→device copy: graph-capturable
    kxx = gaussian_kernel_matrix(x, x, bw)
    kyy = gaussian_kernel_matrix(y, y, bw)
    kxy = gaussian_kernel_matrix(x, y, bw)
    xx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    yy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return xx + yy - 2 * kxy.mean()


def coral(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Deep CORAL (Sun & Saenko 2016): ‖C_x − C_y‖²_F / (4 d²), C the feature covariances.

    x: (n, d), y: (m, d) → scalar.
    """
    d = x.shape[1]
    cx, cy = torch.cov(x.T), torch.cov(y.T)
    return (cx - cy).pow(2).sum() / (4 * d * d)


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 4.0) -> torch.Tensor:
    """Hinton et al. (2015) soft-target loss, scaled so gradients keep their size as T changes:

        L_KD = T² · KL( softmax(z_t / T) ‖ softmax(z_s / T) ), averaged over the batch.

    student_logits, teacher_logits: (B, C) → scalar. The teacher is treated as a constant.

    >>> z = torch.tensor([[1.0, 2.0, 3.0]])
    >>> distillation_loss(z, z).item()
    0.0
    """
    t = temperature
    p_teacher = F.softmax(teacher_logits.detach().float() / t, dim=1)
    log_p_student = F.log_softmax(student_logits.float() / t, dim=1)
    return F.kl_div(log_p_student, p_teacher, reduction="batchmean") * t * t


def domain_adversarial_loss(logits_source: torch.Tensor, logits_target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of a domain discriminator: source labelled 1, target labelled 0.

        L_d = ½ [ BCE(D(f_s), 1) + BCE(D(f_t), 0) ]

    logits_source: (n,), logits_target: (m,) → scalar.
    """
    ls = F.binary_cross_entropy_with_logits(logits_source, torch.ones_like(logits_source))
    lt = F.binary_cross_entropy_with_logits(logits_target, torch.zeros_like(logits_target))
    return 0.5 * (ls + lt)


# ---------------------------------------------------------------------------- entropy-based weights

def entropy_rows(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy of each row of probabilities, H(p) = −Σ_c p_c log p_c in nats, 0 log 0 = 0.

    probs: (B, C), rows summing to 1 → (B,), each in [0, log C], in probs' dtype.

    >>> [round(h, 4) + 0.0 for h in entropy_rows(torch.tensor([[1.0, 0.0], [0.5, 0.5]])).tolist()]
    [0.0, 0.6931]
    """
    return -(probs * torch.log(probs.clamp_min(torch.finfo(probs.dtype).tiny))).sum(1)


def prediction_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of each predicted distribution p = softmax(z), H(p) = −Σ_c p_c log p_c, from logits
    (log-softmax: stable for confident predictions). Its mean is the entropy-minimisation loss
    (Grandvalet & Bengio 2005; TENT).

    logits: (B, C) → (B,), each in [0, log C], float32 (or float64 for float64 logits).

    >>> round(prediction_entropy(torch.zeros(2, 4)).mean().item(), 4)   # uniform: log 4
    1.3863
    """
    logp = F.log_softmax(logits.float() if logits.dtype != torch.float64 else logits, dim=1)
    return -(logp.exp() * logp).sum(1)


def certainty_weights(probs: torch.Tensor) -> torch.Tensor:
    """Entropy-aware example weights of CDAN+E and MCC: w = 1 + e^{−H(p)}, normalised to mean 1.

        w_i = B · (1 + exp(−H(p_i))) / Σ_j (1 + exp(−H(p_j)))

    Confident predictions (low H) weigh up to twice as much as uniform ones before normalising.
    No gradient flows through the weights. probs: (B, C) → (B,), mean exactly 1.

    >>> [round(w, 4) for w in certainty_weights(torch.tensor([[1.0, 0.0], [0.5, 0.5]])).tolist()]  # 2 vs 1.5
    [1.1429, 0.8571]
    """
    with torch.no_grad():
        w = 1.0 + torch.exp(-entropy_rows(probs.float()))
        return w * (len(w) / w.sum())


# ---------------------------------------------------------------------------- CDAN

def multilinear_map(features: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """CDAN's multilinear conditioning (Long et al., NeurIPS 2018): the flattened outer product

        T⊗(f, g) = vec(f ⊗ g),   (f ⊗ g)_{ij} = f_i · g_j

    features: (B, d_f), probs: (B, d_g) → (B, d_f · d_g), row-major in (i, j).

    >>> multilinear_map(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.25, 0.75]])).tolist()
    [[0.25, 0.75, 0.5, 1.5]]
    """
    return torch.bmm(features.unsqueeze(2), probs.unsqueeze(1)).flatten(1)


def randomized_multilinear_map(features: torch.Tensor, probs: torch.Tensor,
                               r_f: torch.Tensor, r_g: torch.Tensor) -> torch.Tensor:
    """CDAN's randomised multilinear map, for when d_f · d_g is too large:

        T⊙(f, g) = (R_f f) ⊙ (R_g g) / √d

    with fixed random matrices R_f (d_f, d) and R_g (d_g, d) (Gaussian, never trained); its inner
    products approximate those of f ⊗ g in expectation (Long et al. 2018, Theorem 1).
    features: (B, d_f), probs: (B, d_g), r_f: (d_f, d), r_g: (d_g, d) → (B, d).

    >>> f, g = torch.randn(4, 6), torch.softmax(torch.randn(4, 3), 1)
    >>> randomized_multilinear_map(f, g, torch.randn(6, 32), torch.randn(3, 32)).shape
    torch.Size([4, 32])
    """
    d = r_f.shape[1]
    return (features @ r_f) * (probs @ r_g) / math.sqrt(d)


def weighted_domain_adversarial_loss(logits_source: torch.Tensor, logits_target: torch.Tensor,
                                     weights_source: torch.Tensor | None = None,
                                     weights_target: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`domain_adversarial_loss` with per-example weights (CDAN+E's entropy conditioning):

        L_d = ½ [ Σ_i w^s_i BCE(D_i^s, 1) / Σ_i w^s_i + Σ_j w^t_j BCE(D_j^t, 0) / Σ_j w^t_j ]

    Each domain's weights are normalised on their own, so both domains count equally, as in the
    paper's code. None means all ones (then it equals :func:`domain_adversarial_loss`).
    logits_source: (n,), logits_target: (m,), weights (n,), (m,) → scalar.

    >>> z = torch.zeros(3)
    >>> round(weighted_domain_adversarial_loss(z, z, torch.tensor([1., 2., 3.]), None).item(), 4)
    0.6931
    """
    ls = F.binary_cross_entropy_with_logits(logits_source, torch.ones_like(logits_source), reduction="none")
    lt = F.binary_cross_entropy_with_logits(logits_target, torch.zeros_like(logits_target), reduction="none")
    ws = torch.ones_like(ls) if weights_source is None else weights_source.detach().to(ls.dtype)
    wt = torch.ones_like(lt) if weights_target is None else weights_target.detach().to(lt.dtype)
    return 0.5 * ((ws * ls).sum() / ws.sum() + (wt * lt).sum() / wt.sum())


# ---------------------------------------------------------------------------- MCC

def minimum_class_confusion(logits: torch.Tensor, temperature: float = 2.5, eps: float = 1e-8) -> torch.Tensor:
    """Minimum Class Confusion (Jin et al., ECCV 2020) of a batch of target predictions.

        Ŷ = softmax(Z / T)                               (B, C), temperature scaling
        w = certainty_weights(Ŷ)                         (B,),  w_i ∝ 1 + e^{−H(Ŷ_i)}, mean 1
        C = Ŷᵀ diag(w) Ŷ                                 (C, C), class correlation
        C̃_jk = C_jk / Σ_j' C_j'k                          category normalisation (columns sum to 1)
        L = (Σ_{j≠k} C̃_jk) / C  =  1 − tr(C̃) / C

    So L ∈ [0, 1]: ≈ 0 when every example is confidently one class (C̃ ≈ I), near 1 − 1/C when
    every prediction is uniform. Gradients flow through both Ŷ factors, not through w.
    logits: (B, C) → scalar.

    >>> confident = torch.eye(4) * 30
    >>> minimum_class_confusion(confident).item() < 1e-3, minimum_class_confusion(torch.zeros(4, 4)).item()
    (True, 0.75)
    """
    num_classes = logits.shape[1]
    probs = F.softmax(logits.float() / temperature, dim=1)
    w = certainty_weights(probs)
    confusion = (probs * w.unsqueeze(1)).T @ probs
    confusion = confusion / confusion.sum(0, keepdim=True).clamp_min(eps)
    return (confusion.sum() - confusion.trace()) / num_classes


# ---------------------------------------------------------------------------- SHOT

def information_maximization(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Information maximisation's two terms (Gomes, Krause & Perona, NeurIPS 2010; SHOT, Liang et
    al., ICML 2020; SHOT-IM), to be *minimised* as ent + div:

        ent = (1/B) Σ_i H(p_i)                  mean entropy: each prediction confident
        div = Σ_c p̄_c log p̄_c = −H(p̄),  p̄ = (1/B) Σ_i p_i     minus the entropy of the mean: diverse

    ent ∈ [0, log C], div ∈ [−log C, 0]; ent + div = −I(x; ŷ), so −(ent + div) is the IM score a
    validator reads. logits: (B, C) → (ent, div), two scalars (float32, or float64 for float64 logits).

    >>> ent, div = information_maximization(torch.eye(4) * 50)   # confident and diverse
    >>> round(ent.item(), 3) + 0.0, round(div.item(), 3)
    (0.0, -1.386)
    """
    return prediction_entropy(logits).mean(), prediction_diversity(logits)


def prediction_diversity(logits: torch.Tensor) -> torch.Tensor:
    """Information maximisation's diversity term alone: div = Σ_c p̄_c log p̄_c = −H(p̄), the mean
    prediction p̄ = (1/B) Σ_i softmax(logits_i); (B, C) → a scalar in [−log C, 0].

    >>> round(prediction_diversity(torch.eye(4) * 50).item(), 3)
    -1.386
    """
    probs = F.softmax(logits.float() if logits.dtype != torch.float64 else logits, dim=1)
    return -entropy_rows(probs.mean(0, keepdim=True))[0]


def cluster_pseudo_labels(features: torch.Tensor, probs: torch.Tensor, rounds: int = 2,
                          min_count: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """SHOT's self-supervised pseudo-labels: weighted k-means in feature space, cosine distance.

        f̂ = [f, 1] / ‖[f, 1]‖                         (SHOT appends a constant 1, then normalises)
        c_k⁽⁰⁾ = Σ_i p_ik f̂_i / Σ_i p_ik              centroids weighted by the soft predictions
        ŷ_i = argmin_k (1 − cos(f̂_i, c_k))            nearest centroid
        c_k⁽ʳ⁾ = Σ_i 1[ŷ_i = k] f̂_i / Σ_i 1[ŷ_i = k]   then ``rounds − 1`` hard k-means updates

    Clusters holding ``min_count`` examples or fewer after a round are dropped from the next
    assignment (SHOT's ``threshold``). No gradients.
    features: (N, d), probs: (N, C) → (centroids (C, d + 1), already unit length; labels (N,)).
    Label any other feature vector x with :func:`nearest_centroid`.

    >>> f = torch.tensor([[1., 0.], [0.9, 0.1], [0., 1.], [0.1, 0.9]])
    >>> p = torch.tensor([[.6, .4], [.6, .4], [.4, .6], [.4, .6]])
    >>> cluster_pseudo_labels(f, p)[1].tolist()
    [0, 0, 1, 1]
    """
    with torch.no_grad():
        f = _unit_with_bias(features.float())
        probs = probs.float()
        weights = probs
        keep = torch.ones(probs.shape[1], dtype=torch.bool, device=probs.device)
        labels = torch.zeros(len(f), dtype=torch.long, device=f.device)
        centroids = f.new_zeros(probs.shape[1], f.shape[1])
        for _ in range(max(1, rounds)):
            centroids = weights.T @ f / (weights.sum(0).unsqueeze(1) + 1e-8)
            centroids = F.normalize(centroids, dim=1)
            labels = nearest_centroid(f, centroids, keep, normalized=True)
            counts = torch.bincount(labels, minlength=probs.shape[1])
            keep = counts > min_count
            weights = F.one_hot(labels, probs.shape[1]).float()
        return centroids, labels


def nearest_centroid(features: torch.Tensor, centroids: torch.Tensor, keep: torch.Tensor | None = None,
                     normalized: bool = False) -> torch.Tensor:
    """argmin_k cosine distance between [f, 1] / ‖[f, 1]‖ and unit centroids (see
    :func:`cluster_pseudo_labels`); ``keep`` (C,) masks out dropped clusters.
    features: (N, d) (or (N, d + 1) already normalised), centroids: (C, d + 1) → (N,) labels."""
    f = features if normalized else _unit_with_bias(features.float())
    sim = f @ centroids.T
    if keep is not None:
        sim = sim.masked_fill(~keep.unsqueeze(0), float("-inf"))
    return sim.argmax(1)


def _unit_with_bias(features: torch.Tensor) -> torch.Tensor:
    return F.normalize(torch.cat([features, torch.ones_like(features[:, :1])], 1), dim=1)


# ---------------------------------------------------------------------------- distribution alignment

def distribution_alignment(probs: torch.Tensor, target_mean: torch.Tensor, prior: torch.Tensor,
                           eps: float = 1e-6) -> torch.Tensor:
    """Distribution alignment (ReMixMatch, Berthelot et al. 2020; AdaMatch 2022): rescale each
    target prediction by the ratio of a prior class distribution to the (running or batch) mean of
    the target predictions, then renormalise:

        p̃_i = normalise( p_i ⊙ π / p̄_t ),   normalise(v) = v / Σ_c v_c

    A model that predicts class k for everything has p̄_t concentrated on k, so class k is scaled
    down and the pseudo-labels spread out again. No gradient.
    probs: (B, C), target_mean: (C,), prior: (C,) (source class frequencies or uniform) → (B, C).

    >>> p = torch.tensor([[0.6, 0.4], [0.9, 0.1]])
    >>> distribution_alignment(p, p.mean(0), torch.tensor([0.5, 0.5])).argmax(1).tolist()
    [1, 0]
    """
    with torch.no_grad():
        scaled = probs.float() * (prior.float() / target_mean.float().clamp_min(eps)).unsqueeze(0)
        return scaled / scaled.sum(1, keepdim=True).clamp_min(eps)


def relative_confidence_threshold(source_probs: torch.Tensor, tau: float = 0.9) -> torch.Tensor:
    """AdaMatch's relative confidence threshold: τ times the mean top-1 confidence on the
    (weakly augmented) source batch,

        c_τ = τ · (1/n) Σ_i max_c p_s,ic

    so the bar for target pseudo-labels follows how sure the model is where it is right.
    source_probs: (n, C) → scalar in [τ/C, τ].

    >>> round(relative_confidence_threshold(torch.tensor([[0.8, 0.2], [0.6, 0.4]]), 0.9).item(), 4)  # 0.9 · 0.7
    0.63
    """
    with torch.no_grad():
        return tau * source_probs.float().max(1).values.mean()
