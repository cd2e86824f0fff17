"""Train on target (oracle): supervised on the labelled target training split — the upper bound
no unsupervised method can be expected to pass.

    L = CE(h(g(x_t)), y_t)
"""

from .base import Batch, Method, register


@register
class Oracle(Method):
    name = "oracle"
    summary = "Train on labelled target images: the upper bound (uses labels adaptation never sees)."
    target_labels = "all"

    def loss(self, batch: Batch, progress: float):
        ce = self.cross_entropy(self.model(batch.xt), batch.yt)
        return {"loss": ce, "cls": ce}
