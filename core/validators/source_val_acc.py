"""Source validation accuracy: the plain baseline every label-free validator must beat.

    score = 100 · mean_i 1[argmax_c z_ic = y_i]   over the held-out source validation split

val_logits: (M, C), val_labels: (M,) → a float in [0, 100]. It never looks at the target, so it
cannot see negative transfer; Musgrave et al. (2022, "Three New Validators and a Large-Scale
Benchmark Ranking for Unsupervised Domain Adaptation") still found it hard to beat.

>>> ev = Evidence(val_logits=torch.tensor([[2.0, 0.0], [0.0, 1.0]]), val_labels=torch.tensor([0, 0]))
>>> SourceValAcc().score(ev)
50.0
"""


from .base import Evidence, Validator, register


@register
class SourceValAcc(Validator):
    name = "source_val_acc"
    label = "Source val. acc."
    summary = "Accuracy on the held-out source validation split (ignores the target)."
    paper = "baseline (Musgrave et al. 2022)"
    needs = ("val_logits", "val_labels")
    min_target = 0

    def compute(self, ev: Evidence) -> float:
        return 100.0 * (ev.val_logits.argmax(1) == ev.val_labels).double().mean().item()
