"""The collapse rule along the training curve: a run that collapses part-way is caught without labels.

Every ``every`` steps the watch predicts a fixed sample of the *unlabelled* target train pictures
and records the share of the most-predicted class. The first check is the run's reference; a
later check whose share rises more than :data:`core.evaluation.COLLAPSE_JUMP` above it is
collapsed (:func:`core.evaluation.collapsed`, the rule selection and test-time adaptation apply).
Each healthy check keeps a copy of the evaluated model's weights; if the run *ends* collapsed, the
last healthy weights are put back and the card says so (``card["collapse_guard"]``). No label is read.

Self-training on SynDigits → MNIST showed why: one of three seeds rose to ~80 % and then fell to
~40 % as confident mistakes took over one class; the end-of-run rule only saw the end.
"""

from __future__ import annotations

import torch

from ..evaluation import collapsed, largest_class_share, predict_logits

SAMPLE = 512          # unlabelled target pictures per check (a fixed sample)
SAMPLE_SEED = 1_000_037


class CollapseWatch:
    """Label-free checks of a run's target predictions; see the module docstring."""

    def __init__(self, target_images, every: int, sample: int = SAMPLE):
        from ..data.sampling import sample_indices

        n = len(target_images)
        index = torch.from_numpy(sample_indices(n, min(sample, n), SAMPLE_SEED)).long()
        self.images = target_images[index]
        self.every = max(1, int(every))
        self.reference: float | None = None
        self.checks: list[dict] = []
        self.healthy: tuple[int, dict] | None = None

    def due(self, step: int) -> bool:
        return step % self.every == 0

    def check(self, step: int, model: torch.nn.Module) -> bool:
        """Record the share at ``step``; True when the model has collapsed against the reference."""
        share = largest_class_share(predict_logits(model, self.images))
        if self.reference is None:
            self.reference = share
        bad = collapsed(share, self.reference)
        self.checks.append({"step": step, "largest_class_share": round(share, 4), "collapsed": bad})
        if not bad:
            self.healthy = (step, {k: v.detach().clone() for k, v in model.state_dict().items()})
        return bad

    def finish(self, step: int, model: torch.nn.Module) -> dict:
        """The final check; a collapsed end is replaced by the last healthy weights. Returns what the
        card records: ``reference_share``, ``checks``, ``collapsed`` (the end was), ``restored_step``."""
        if not self.checks or self.checks[-1]["step"] != step:
            self.check(step, model)
        ended_collapsed = self.checks[-1]["collapsed"]
        restored = None
        if ended_collapsed and self.healthy is not None:
            restored = self.healthy[0]
            model.load_state_dict(self.healthy[1])
        self.healthy = None  # the copy is not needed any more
        return {"reference_share": self.reference, "checks": self.checks, "collapsed": ended_collapsed,
                "restored_step": restored}
