"""Self-ensembling: a mean teacher for domain adaptation (French, Mackiewicz & Fisher, ICLR 2018),
with the ingredients that made the hard digit direction (MNIST → SVHN) work there and in DIRT-T.

A student g and a teacher g' whose weights are the exponential moving average of the student's,
θ' ← α θ' + (1 − α) θ after every step, see two different augmentations of each target picture.
Where the teacher is confident the student must agree with it, and the student's mean target
prediction is pulled towards every class being used:

    p_i = softmax(g(a(x_t,i))),   q_i = softmax(g'(a'(x_t,i)))                 (B, C) each
    m_i = 1[max_c q_ic ≥ τ]                                                     confidence mask
    L_cons = (1/B) Σ_i m_i ‖p_i − q_i‖²                                         consistency
    L_bal  = KL(u ‖ p̄) = Σ_c (1/C) log((1/C) / p̄_c),   p̄ = (1/B) Σ_i p_i        class balance
    L = CE(g(T(x_s)), y_s) + w(p) · (L_cons + β · L_bal)

w(p) rises from 0 to ``unlabeled_weight`` over the first ``ramp_fraction`` of the run
(½ (1 − cos π p/p_r), :func:`core.methods.mean_teacher.cosine_ramp`), so the teacher is not trusted
before it has learned the source. The teacher, its update and the mask are
:mod:`core.methods.mean_teacher`'s, shared with self-training and AdaMatch.

**What makes the hard direction work** (digits of other colours, polarities, textures):

* **Per-picture input standardisation** — the model normalises each picture by its own mean and
  standard deviation (``input_norm = "image"``, :class:`core.models.backbones.ImageStandardize`),
  so brightness and contrast carry no information (self-ensembling's standardisation; DIRT-T's
  instance-norm option).
* **Intensity inversion** — every augmentation flips a picture's intensities with probability ½,
  so dark-on-light and light-on-dark digits are the same to the network.
* **Heavy source augmentation** — French et al. found that MNIST → SVHN needed augmentation far
  beyond the usual; here the source view T(x_s) is domain randomisation
  (:func:`core.data.augment.domain_randomize`: scale, position, rotation, colours, procedural
  textures, light, blur, JPEG blocks), so the student has seen digits of every look.
* **Separate batch statistics per domain** — the student sees source and target in separate
  passes (batch norm normalises each with its own statistics); the teacher's running statistics
  come from both domains' pictures, so its source validation accuracy still means something.
* **The teacher is the model** — what is evaluated and saved is the teacher (its weights average
  the student's last ~1/(1 − α) steps).

Defaults from the paper: α = 0.99, τ = 0.968; β and w were set for this network on the source
validation split and the embedded scenarios' unlabelled target pictures, never on target labels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.augment import domain_randomize, random_translate
from ..models import build_model
from . import Batch, Hyper, register
from .mean_teacher import MeanTeacherMethod, confident, cosine_ramp


def invert_some(x: torch.Tensor, p: float, generator: torch.Generator | None) -> torch.Tensor:
    """x → 1 − x for each picture with probability ``p``: (B, 3, H, W) → same."""
    flip = torch.rand(x.shape[0], 1, 1, 1, device=x.device, generator=generator) < p
    return torch.where(flip, 1 - x, x)


def augment(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Self-ensembling's digit augmentation: a shift of up to 2 pixels, intensity inversion (p = ½),
    a random gain and offset per picture and a little Gaussian noise. Float [0, 1] in and out."""
    b = x.shape[0]
    y = invert_some(random_translate(x, 2, generator), 0.5, generator)
    rand = lambda *s: torch.rand(*s, device=x.device, generator=generator)  # noqa: E731
    y = y * (0.75 + 0.5 * rand(b, 1, 1, 1)) + (rand(b, 1, 1, 1) - 0.5) * 0.2
    y = y + torch.randn(y.shape, device=x.device, generator=generator) * 0.03
    return y.clamp(0, 1)


def class_balance(probs: torch.Tensor) -> torch.Tensor:
    """KL(u ‖ p̄) between the uniform distribution and the batch's mean prediction p̄ (C,):
    0 when every class gets an equal share, large when one class takes everything. (B, C) → scalar."""
    mean = probs.float().mean(0).clamp_min(1e-8)
    c = mean.numel()
    return (torch.log(torch.tensor(1.0 / c, device=mean.device)) - torch.log(mean)).mean()


@register
class SelfEnsembling(MeanTeacherMethod):
    name = "self_ensembling"
    label = "Self-ensembling (mean teacher)"
    short_label = "Self-ensembling"
    order = 47
    summary = ("A mean teacher on per-picture standardised, intensity-flipped digits: the student agrees "
               "with the confident teacher on target pictures, and no class is left out.")
    model_spec = {"input_norm": "image", "batch_norm": True}
    needs_pictures = True  # domain randomisation and intensity inversion are picture operations
    hyperparameters = {
        "ema": Hyper(0.99, "Teacher weight decay α: θ' ← α θ' + (1 − α) θ after every step.", 0.0, 0.9999,
                     label="Teacher EMA α", search=(0.95, 0.999, "linear")),
        "threshold": Hyper(0.968, "Teacher confidence τ above which a target picture counts.", 0.0, 1.0,
                           label="Confidence threshold τ", search=(0.8, 0.99, "linear")),
        "unlabeled_weight": Hyper(3.0, "Weight w of the consistency (and class-balance) term after the ramp.",
                                  0.0, 100.0, label="Unlabelled weight", search=(0.3, 10.0, "log")),
        "balance_weight": Hyper(0.1, "Weight β of the class-balance term KL(uniform ‖ mean prediction).",
                                0.0, 100.0, label="Class balance β", search=(0.01, 1.0, "log")),
        "randomize": Hyper(0.8, "Share of the source pictures re-rendered by domain randomisation "
                                "(core.data.augment.domain_randomize: geometry, colours, textures, light, blur).",
                            0.0, 1.0, label="Randomised source share", search=(0.5, 1.0, "linear")),
        "ramp_fraction": Hyper(0.3, "Share of the run over which w rises (cosine) from 0.", 0.0, 1.0,
                               label="Ramp share", search=(0.1, 0.5, "linear"), was=("rampup_fraction",)),
    }

    teacher_required = True   # the teacher is the model, whatever α
    teacher_buffers = False   # its own batch-norm statistics, from both domains' pictures

    def setup(self):
        spec = self.model.spec
        if spec.get("arch", "digits_cnn") == "digits_cnn" and any(spec.get(k) != v for k, v in self.model_spec.items()):
            self.model = build_model({**spec, **self.model_spec}).to(self.ctx.device)
        self.make_teacher()

    def loss(self, batch: Batch, progress: float):
        g = self.ctx.generator
        n = len(batch.xs)
        source = domain_randomize(batch.xs, g, p=self.hp["randomize"])
        cls = self.cross_entropy(self.model(source), batch.ys)  # the source's own BN statistics
        student = F.softmax(self.model(augment(batch.xt, g)).float(), dim=1)  # the target's
        with torch.no_grad():
            self.teacher.train()  # the teacher's running statistics: both domains' pictures
            teacher = F.softmax(self.teacher(torch.cat([source, augment(batch.xt, g)])).float()[n:], dim=1)
            _, mask = confident(teacher, self.hp["threshold"])
        consistency = (mask * (student - teacher).pow(2).sum(1)).mean()
        balance = class_balance(student)
        w = self.hp["unlabeled_weight"] * cosine_ramp(float(progress), self.hp["ramp_fraction"])
        total = cls + w * (consistency + self.hp["balance_weight"] * balance)
        return {"loss": total, "cls": cls, "consistency": consistency, "balance": balance,
                "mask_rate": mask.mean(), "w": torch.as_tensor(w)}
