"""Train on target (oracle): supervised on the labelled target training split — the upper bound
no unsupervised method can be expected to pass.

    L = CE(h(g(x_t)), y_t)

If the target's class names differ from the source's, the head is sized for the target classes.
"""

from ..models import Classifier
from . import Batch, Method, register


@register
class Oracle(Method):
    name = "oracle"
    label = "Train on target (oracle)"
    short_label = "Oracle"
    family = "upper_bound"
    graph_safe = True
    summary = "Train on labelled target images: the upper bound (uses labels adaptation never sees)."
    target_labels = "all"

    def setup(self):
        if list(self.ctx.target_classes) != list(self.ctx.source_classes):
            n = len(self.ctx.target_classes)
            self.model = Classifier(self.model.backbone, n, {**self.model.spec, "num_classes": n}).to(self.ctx.device)

    def loss(self, batch: Batch, progress: float):
        ce = self.cross_entropy(self.model(batch.xt), batch.yt)
        return {"loss": ce, "cls": ce}
