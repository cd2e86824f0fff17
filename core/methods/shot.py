"""SHOT: source hypothesis transfer (Liang, Hu & Feng, ICML 2020) — source-free adaptation.

Two phases; the second never sees a source image.

1. **Source model.** Either trained within the run on labelled source images for the first
   ``source_fraction`` of the steps, with label smoothing as SHOT does
   (CE with targets (1 − ε) 1_y + ε / C, ε = ``label_smoothing``), or given ready-made by the
   ``source_model`` hyperparameter (a zoo name or checkpoint; the engine loads it into
   ``ctx.models["source_model"]`` and the whole run is phase 2).
2. **Hypothesis transfer.** The head h (the "source hypothesis") is frozen; only the feature
   extractor g is adapted, on unlabelled target images x_t alone:

       p = softmax(h(g(x_t)))                                          (B, C)
       L_IM = (1/B) Σ_i H(p_i) − H(p̄),  p̄ = (1/B) Σ_i p_i           confident and diverse
       ŷ = nearest centroid of g(x_t) (cosine), centroids from weighted k-means of target features
       L = L_IM + β · CE(h(g(x_t)), ŷ)

   SHOT clusters the whole target set with the current model once per epoch and keeps those
   labels for the epoch. A method here sees one batch at a time, so it keeps the last
   ``bank_size`` target *images* (≈ one epoch of the embedded domains; uint8, 2,048 × 3 × 28 × 28
   = 4.8 MB) and, every ⌈bank_size / B⌉ steps, freezes a copy of the model, embeds the bank with
   it and clusters (two k-means rounds: prediction-weighted, then hard); until the next refresh
   that copy and those centroids label each batch. (Labelling the current features against
   centroids of a moving bank of stale features instead made the labels chase the features:
   the run collapsed to chance within 100 steps.) Until the bank is full (the first
   ⌈bank_size / B⌉ adaptation steps) only L_IM is used: SHOT-IM.

The phase-2 optimiser is a fresh one over g only (the same optimiser kind, at ``adapt_lr_scale`` =
0.1 × the run's learning rate, as SHOT trains its backbone at 0.1 × the rate of its new layers; at
the full Adam rate the features drifted until even the source validation split read at chance).
Defaults from the paper: ε = 0.1, β = 0.3, IM weight 1. Paper digits results: SVHN → MNIST 98.9
(SHOT-IM 89.6), MNIST → USPS 98.0.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F

from ..losses import cluster_pseudo_labels, information_maximization, nearest_centroid
from . import Batch, Hyper, Method, register


@register
class SHOT(Method):
    name = "shot"
    label = "SHOT"
    short_label = "SHOT"
    family = "source_free"
    order = 10
    in_zoo = False  # not (yet) shipped by `zoo rebuild`; a candidate for `recommend`
    summary = "Source-free: freeze the source classifier, adapt the features on target images alone (information maximisation + cluster pseudo-labels)."
    hyperparameters = {
        "source_model": Hyper("", "Trained source model (zoo name or checkpoint) to adapt; empty: train one on the source first.",
                              label="Source model", kind="model"),
        "source_fraction": Hyper(0.5, "Share of the steps that train the source model (when none is given).", 0.05, 0.95,
                                 label="Source-training share", search=(0.3, 0.7, "linear")),
        "label_smoothing": Hyper(0.1, "Label smoothing ε of the source training.", 0.0, 0.5, label="Label smoothing ε"),
        "pseudo_weight": Hyper(0.3, "Weight β of the cluster pseudo-label loss (0: SHOT-IM).", 0.0, 10.0,
                               label="Pseudo-label weight β", search=(0.05, 1.0, "log")),
        "im_weight": Hyper(1.0, "Weight of the information-maximisation loss.", 0.0, 10.0, label="IM weight"),
        "adapt_lr_scale": Hyper(0.1, "Learning rate of the adaptation phase as a multiple of the run's (SHOT trains its "
                                "feature extractor at 0.1× the head's rate).", 0.001, 1.0,
                                label="Adaptation lr ×", search=(0.01, 1.0, "log")),
        "bank_size": Hyper(2048, "Recent target images kept and re-clustered once per bank turnover for the pseudo-labels.", 8, 65536,
                           label="Feature bank size"),
    }

    def setup(self):
        given = self.ctx.models.get("source_model")
        if given is not None:
            source_model, _card = given
            if source_model.num_classes != self.model.num_classes:
                raise ValueError(f"source_model predicts {source_model.num_classes} classes, "
                                 f"the source domain has {self.model.num_classes}")
            self.model = copy.deepcopy(source_model).to(self.ctx.device)  # the engine's copy is frozen
            for p in self.model.parameters():
                p.requires_grad_(True)
        self.given_source = given is not None
        self.adapting = False

    # ---- phase 2 --------------------------------------------------------------------------
    def start_adaptation(self):
        """Freeze the head (the source hypothesis); a fresh optimiser over the feature extractor."""
        self.model.head.requires_grad_(False)
        self.optimizer = self.make_optimizer([self.model.backbone], lr=self.lr * self.hp["adapt_lr_scale"])
        self.bank: torch.Tensor | None = None  # recent target images, uint8 (bank_size, 3, H, W) (points: float)
        self.bank_count = 0                    # images written so far (the ring is full once ≥ bank_size)
        self.labeller = None                   # (frozen snapshot, centroids, kept clusters) once the bank is full
        self.since_refresh = 0
        self.adapting = True

    def remember(self, xt: torch.Tensor) -> None:
        """Write a batch of target images (B, 3, H, W) in [0, 1] into the ring buffer (as uint8; the
        points (B, D) of a point domain are kept as they are, float)."""
        size = self.hp["bank_size"]
        pictures = xt.ndim == 4
        if self.bank is None:
            self.bank = torch.zeros((size, *xt.shape[1:]), dtype=torch.uint8 if pictures else torch.float32,
                                    device=xt.device)
        idx = (torch.arange(len(xt), device=xt.device) + self.bank_count) % size
        self.bank[idx] = (xt.detach() * 255).round().to(torch.uint8) if pictures else xt.detach().float()
        self.bank_count += len(xt)

    @torch.no_grad()
    def refresh_labeller(self) -> None:
        """SHOT's per-epoch step: freeze a copy of the model, embed the bank's images with it and
        cluster them (prediction-weighted, then hard k-means, cosine); the centroids and the copy
        then label every batch until the next refresh."""
        snapshot = copy.deepcopy(self.model).eval()
        feats, probs = [], []
        with self.ctx.autocast():
            for chunk in self.bank.split(512):
                f = snapshot.features(chunk.float() / 255 if chunk.dtype == torch.uint8 else chunk)
                feats.append(f.float())
                probs.append(F.softmax(snapshot.head(f).float(), dim=1))
        centroids, labels = cluster_pseudo_labels(torch.cat(feats), torch.cat(probs))
        keep = torch.bincount(labels, minlength=len(centroids)) > 0
        self.labeller = (snapshot, centroids, keep)
        self.since_refresh = 0

    @torch.no_grad()
    def pseudo_labels(self, xt: torch.Tensor) -> torch.Tensor:
        """Cluster pseudo-labels (B,) for target images xt: the snapshot's features, nearest centroid."""
        snapshot, centroids, keep = self.labeller
        return nearest_centroid(snapshot.features(xt).float(), centroids, keep)

    def adaptation_loss(self, xt: torch.Tensor) -> dict[str, torch.Tensor]:
        """L_IM + β CE(pseudo) on target images only: xt (B, 3, H, W)."""
        self.remember(xt)
        logits = self.model(xt).float()
        ent, div = information_maximization(logits)
        size = self.hp["bank_size"]
        full = self.bank_count >= size
        pseudo = logits.new_zeros(())
        if full and self.hp["pseudo_weight"] > 0:
            if self.labeller is None or self.since_refresh >= math.ceil(size / len(xt)):
                self.refresh_labeller()
            pseudo = F.cross_entropy(logits, self.pseudo_labels(xt))
            self.since_refresh += 1
        total = self.hp["im_weight"] * (ent + div) + self.hp["pseudo_weight"] * pseudo
        return {"loss": total, "ent": ent, "div": div, "pseudo": pseudo,
                "bank_full": torch.as_tensor(float(full), device=logits.device)}

    # ---- the step -------------------------------------------------------------------------
    def train_step(self, batch: Batch, progress: float):
        self.model.train()
        frac = 0.0 if self.given_source else self.hp["source_fraction"]
        if progress < frac:  # phase 1: the source model, with label smoothing
            self.anneal(self.optimizer, progress / frac)
            with self.ctx.autocast():
                logits = self.model(batch.xs)
            losses = {"loss": F.cross_entropy(logits.float(), batch.ys, label_smoothing=self.hp["label_smoothing"])}
            losses["cls"] = losses["loss"]
        else:  # phase 2: target images only, head frozen
            if not self.adapting:
                self.start_adaptation()
            self.anneal(self.optimizer, (progress - frac) / (1 - frac))
            with self.ctx.autocast():
                losses = self.adaptation_loss(batch.xt)
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        self.optimizer.step()
        return {k: torch.as_tensor(v).detach().float() for k, v in losses.items()}
