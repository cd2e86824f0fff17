"""Supervised fine-tuning with a few labelled target images (k per class).

    L = α · CE(h_s(g(x_s)), y_s) + (1 − α) · CE(h_t(g(x_t)), y_t)

When the target has the same label space as the source, h_t = h_s (one shared head). When the
target's class names differ (a *new label space*), h_t is a fresh linear head on the shared
backbone g, and the adapted model is g followed by h_t. The engine hands over only ``shots``
labelled target images per class (chosen with the run's seed).
"""

from ..models import Classifier
from . import Batch, Hyper, Method, register


@register
class Finetune(Method):
    name = "finetune"
    label = "Fine-tune (few labels)"
    short_label = "Fine-tune"
    family = "few_label"
    graph_safe = True
    summary = "Few-shot supervised DA: α·L_source + (1−α)·L_target on k labelled target images per class."
    target_labels = "few"
    hyperparameters = {
        "alpha": Hyper(0.5, "Weight α of the source loss; 1 − α goes to the labelled target images.", 0.0, 1.0, label="α (source weight)", search=(0.1, 0.9, "linear")),
        "shots": Hyper(10, "Labelled target images per class (k).", 1, 1000, label="Labelled target pictures per class"),
    }

    def setup(self):
        self.new_label_space = list(self.ctx.target_classes) != list(self.ctx.source_classes)
        if self.new_label_space:
            spec = {**self.model.spec, "num_classes": len(self.ctx.target_classes)}
            self.target_model = Classifier(self.model.backbone, len(self.ctx.target_classes), spec).to(self.ctx.device)
        else:
            self.target_model = self.model

    def trainable_modules(self):
        return [self.model, self.target_model.head] if self.new_label_space else [self.model]

    def loss(self, batch: Batch, progress: float):
        alpha = self.hp["alpha"]
        src = self.cross_entropy(self.model(batch.xs), batch.ys)
        tgt = self.cross_entropy(self.target_model(batch.xt), batch.yt)
        return {"loss": alpha * src + (1 - alpha) * tgt, "cls": src, "target_cls": tgt}

    def eval_model(self):
        return self.target_model
