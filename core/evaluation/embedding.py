"""2-D maps of source and target features for alignment plots.

Features of both domains are embedded *jointly* (one fit over the pooled sample), so distances
in the picture compare the domains. Pipeline: standardise → PCA to ≤ 50 dimensions → UMAP on a
k-NN graph from scikit-learn (``precomputed_knn``), which is several times faster than letting
umap-learn compute distances itself below 4,096 points. ``method="pca"`` skips UMAP.

umap (and numba) are imported only here, lazily; numba's compiled functions are cached on disk
(``NUMBA_CACHE_DIR`` in the ShiftLab cache) so a fresh process does not recompile them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from ..data.cache import cache_dir
from ..data.sampling import sample_indices
from .distance import feature_mmd, proxy_a_distance
from .forward import extract_features

EMBED_METHODS = ("umap", "pca")


@dataclass
class Alignment:
    """A joint 2-D map: coords (n_s + n_t, 2), domain (0 source / 1 target), labels, sample index."""

    coords: np.ndarray
    domain: np.ndarray
    labels: np.ndarray
    index: np.ndarray
    proxy_a_distance: float
    mmd: float
    method: str

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"coords": self.coords.astype(np.float16), "domain": self.domain.astype(np.uint8),
                "labels": self.labels.astype(np.int16), "index": self.index.astype(np.int32),
                "proxy_a_distance": np.float32(self.proxy_a_distance), "mmd": np.float32(self.mmd),
                "method": np.array(self.method)}

    @classmethod
    def from_arrays(cls, a: dict) -> "Alignment":
        return cls(a["coords"].astype(np.float32), a["domain"].astype(int), a["labels"].astype(int),
                   a["index"].astype(int), float(a["proxy_a_distance"]), float(a["mmd"]), str(a["method"]))


def _import_umap():
    os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_dir() / "numba"))
    import umap  # noqa: WPS433  (heavy: imported only when a map is computed)

    return umap


def embed_2d(features: np.ndarray, method: str = "umap", seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """(N, D) features → (N, 2) coordinates with PCA (→ ≤ 50 dims) then UMAP (or PCA alone)."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    if method not in EMBED_METHODS:
        raise ValueError(f"unknown embedding method {method!r}; choose one of {', '.join(EMBED_METHODS)}")
    x = StandardScaler().fit_transform(np.asarray(features, dtype=np.float32))
    n_comp = 2 if method == "pca" else min(50, x.shape[1], x.shape[0] - 1)
    x = PCA(n_components=n_comp, random_state=seed).fit_transform(x)
    if method == "pca":
        return x.astype(np.float32)
    from sklearn.neighbors import NearestNeighbors

    umap = _import_umap()
    k = min(n_neighbors, len(x) - 1)
    dist, idx = NearestNeighbors(n_neighbors=k).fit(x).kneighbors(x)
    reducer = umap.UMAP(n_neighbors=k, min_dist=0.1, random_state=seed, n_jobs=1,
                        precomputed_knn=(idx, dist, None), verbose=False)
    return reducer.fit_transform(x).astype(np.float32)


def compute_alignment(model: torch.nn.Module, source, target, n_per_domain: int = 500,
                      method: str = "umap", seed: int = 0) -> Alignment:
    """Joint 2-D map of ``model.features`` on fixed samples of two :class:`TensorDomain` test splits,
    with the proxy A-distance and MMD² between the two feature sets."""
    si = sample_indices(len(source), n_per_domain, seed)
    ti = sample_indices(len(target), n_per_domain, seed + 1)
    fs = extract_features(model, source.images[si]).numpy()
    ft = extract_features(model, target.images[ti]).numpy()
    coords = embed_2d(np.concatenate([fs, ft]), method=method, seed=seed)
    return Alignment(
        coords=coords,
        domain=np.r_[np.zeros(len(si), int), np.ones(len(ti), int)],
        labels=np.r_[source.labels.numpy()[si], target.labels.numpy()[ti]],
        index=np.r_[si, ti],
        proxy_a_distance=proxy_a_distance(fs, ft, seed),
        mmd=feature_mmd(fs, ft),
        method=method,
    )
