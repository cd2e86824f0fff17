"""Loss functions, pure and stateless. Each docstring gives the formula, the shapes and an example."""

from __future__ import annotations

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


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Mean Shannon entropy of the predicted distributions, H = −Σ_c p_c log p_c.

    logits: (B, C) → scalar.
    """
    logp = F.log_softmax(logits, dim=1)
    return -(logp.exp() * logp).sum(1).mean()


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
