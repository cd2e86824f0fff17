"""Knowledge distillation (Hinton et al. 2015) from a teacher checkpoint into a smaller student.

    L = α · T² · KL(σ(z_t/T) ‖ σ(z_s/T)) + (1 − α) · CE(z_s(x_s), y_s)

The KD term is taken on source images *and* on unlabelled target images, so an adapted
teacher passes its target-domain knowledge on through its soft labels (cross-domain
distillation). The student is a narrower digits CNN (``student_width`` of the channels).
The teacher is given by a checkpoint path or a zoo name (hyperparameter ``teacher``); the engine
loads it, frozen, into ``ctx.models["teacher"]``.
"""

import torch

from ..losses import distillation_loss
from ..models import build_model
from . import Batch, Hyper, Method, register


@register
class Distill(Method):
    name = "distill"
    label = "Distillation"
    short_label = "Student"
    family = "student"
    app_steps = 300
    graph_safe = True
    needs_pictures = True  # the student is a narrower digits CNN
    summary = "Hinton distillation of a (possibly adapted) teacher into a smaller student, on source and target images."
    hyperparameters = {
        "teacher": Hyper("", "Teacher checkpoint path or zoo name (e.g. mnist->mnistm/dann).", label="Teacher",
                         kind="model", required=True),
        "temperature": Hyper(4.0, "Softmax temperature T of the soft targets.", 1.0, 50.0, label="Temperature T"),
        "alpha": Hyper(0.7, "Weight α of the distillation term; 1 − α goes to the source labels.", 0.0, 1.0, label="α (distillation weight)"),
        "student_width": Hyper(0.5, "Student channel width relative to the teacher's digits CNN.", 0.1, 2.0, label="Student width"),
    }

    @classmethod
    def student_spec(cls, spec: dict, width: float) -> dict:
        return {**spec, "arch": "digits_cnn", "width": width, "feature_dim": max(16, int(128 * width))}

    def setup(self):
        self.teacher, self.teacher_card = self.ctx.models["teacher"]  # loaded and frozen by the engine
        if self.teacher.num_classes != self.model.num_classes:
            raise ValueError(f"teacher predicts {self.teacher.num_classes} classes, student {self.model.num_classes}")
        # replace the student with a narrower network of the same input size and classes
        self.model = build_model(self.student_spec(self.model.spec, self.hp["student_width"])).to(self.ctx.device)

    def loss(self, batch: Batch, progress: float):
        t, alpha = self.hp["temperature"], self.hp["alpha"]
        x = torch.cat([batch.xs, batch.xt])
        with torch.no_grad():
            teacher_logits = self.teacher(x)
        student_logits = self.model(x)
        kd = distillation_loss(student_logits, teacher_logits, t)
        ce = self.cross_entropy(student_logits[: len(batch.xs)], batch.ys)
        return {"loss": alpha * kd + (1 - alpha) * ce, "kd": kd, "cls": ce}
