"""Source only: train on labelled source images, apply to the target as is (the lower bound).

    L = CE(h(g(x_s)), y_s)
"""

from . import Batch, Method, register


@register
class SourceOnly(Method):
    name = "source_only"
    label = "Source only"
    family = "baseline"
    graph_safe = True
    summary = "Train on the labelled source only; the baseline every method must beat."

    def loss(self, batch: Batch, progress: float):
        ce = self.cross_entropy(self.model(batch.xs), batch.ys)
        return {"loss": ce, "cls": ce}
