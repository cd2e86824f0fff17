"""The Validator interface and the registry that maps names to validators.

A validator turns the *evidence* about one trained model (:class:`Evidence`: its logits and
features on unlabelled target train images and on the labelled source validation split) into one
number, **higher is better**, without ever looking at a target label::

    ev = gather_evidence(model, "mnist", "mnistm")   # core.validators.evidence, run once per model
    score = get_validator("im").score(ev)            # any registered validator, same evidence

A validator declares what evidence it ``needs`` (names of :class:`Evidence` fields) and how many
target images it needs at least (:meth:`Validator.min_target_images`); :meth:`Validator.score`
checks both and that the result is a finite float, so every caller gets one clear error.

**Pool-aware validators** (``pool = True``) score each candidate *relative to the pool* of
candidates it is chosen from — EnsV compares each with the pool's ensemble, MixVal ranks each
among the others — so they implement :meth:`Validator.compute_pool` and are scored through
:meth:`Validator.score_pool` (every validator can be: a single-model one scores each candidate
alone). Asked to score one model, a pool validator says how large a pool it needs. The same
one-file rule and the same ``--validator`` flag serve both kinds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import ClassVar

import torch
import torch.nn.functional as F

from ..util.registry import Registry


class ValidatorError(ValueError):
    """Evidence a validator cannot score: missing pieces, too few target images, no finite score."""


@dataclass
class Evidence:
    """What a trained model shows on unlabelled target images and the labelled source validation split.

    target_logits: (N, C) and target_features: (N, D) on N unlabelled target train images;
    val_logits: (M, C), val_labels: (M,), val_features: (M, D) on the source validation split;
    source_features: (K, D) on a sample of the source train split (DEV's domain classifier);
    mix_intra / mix_inter: (P,) bool, MixVal's probes — for pairs of target pictures mixed
    x = λ x_a + (1 − λ) x_b (λ = 0.55) whose predicted classes agree (intra) or differ (inter),
    whether the model's prediction on the mix is still x_a's.
    All CPU float32 tensors (labels int64); a field is ``None`` when it could not be gathered.
    """

    target_logits: torch.Tensor | None = None
    target_features: torch.Tensor | None = None
    val_logits: torch.Tensor | None = None
    val_labels: torch.Tensor | None = None
    val_features: torch.Tensor | None = None
    source_features: torch.Tensor | None = None
    mix_intra: torch.Tensor | None = None
    mix_inter: torch.Tensor | None = None

    @property
    def num_target(self) -> int:
        for t in (self.target_logits, self.target_features):
            if t is not None:
                return len(t)
        return 0

    @property
    def num_classes(self) -> int | None:
        for t in (self.target_logits, self.val_logits):
            if t is not None:
                return int(t.shape[1])
        return None

    def target_probs(self) -> torch.Tensor:
        """softmax(target_logits) in float64, (N, C)."""
        return F.softmax(self.target_logits.double(), dim=1)


EVIDENCE_FIELDS = tuple(f.name for f in fields(Evidence))


class Validator:
    """Subclass, set the class attributes, implement :meth:`compute`, decorate with :func:`register`."""

    name: ClassVar[str] = "base"
    label: ClassVar[str] = ""        # short display label, e.g. "SND"
    summary: ClassVar[str] = ""      # one sentence for people
    paper: ClassVar[str] = ""        # where it comes from
    needs: ClassVar[tuple[str, ...]] = ("target_logits",)  # Evidence fields it reads
    min_target: ClassVar[int] = 1    # unlabelled target images it needs at least
    pool: ClassVar[bool] = False     # scores a candidate relative to its pool (compute_pool)
    min_pool: ClassVar[int] = 1      # candidates a pool validator needs at least

    def min_target_images(self, num_classes: int | None = None) -> int:
        """The fewest unlabelled target images this validator can score from."""
        return self.min_target

    @property
    def uses_target(self) -> bool:
        return any(n.startswith("target_") for n in self.needs)

    def check_target_count(self, n: int, num_classes: int | None = None) -> None:
        """Raise :class:`ValidatorError` saying how many target images are needed if ``n`` is too few."""
        need = self.min_target_images(num_classes)
        if self.uses_target and n < need:
            raise ValidatorError(f"validator {self.name!r} needs at least {need} unlabelled target images, "
                                 f"got {n}; add target pictures or choose a validator that needs fewer "
                                 f"({', '.join(f'{k}: {v}' for k, v in min_images_table(num_classes).items())})")

    def check(self, ev: Evidence) -> None:
        missing = [n for n in self.needs if getattr(ev, n) is None or
                   (n.startswith("val_") and len(getattr(ev, n)) == 0)]
        if missing:
            raise ValidatorError(f"validator {self.name!r} needs {', '.join(missing)} in its evidence"
                                 + (" (the source has no validation split: too few images per class)"
                                    if any(m.startswith("val_") for m in missing) else ""))
        self.check_target_count(ev.num_target, ev.num_classes)

    def compute(self, ev: Evidence) -> float:
        raise NotImplementedError

    def compute_pool(self, evs: list[Evidence]) -> list[float]:
        """Pool validators: every candidate's score within the pool, in the pool's order."""
        raise NotImplementedError

    def _finite(self, value) -> float:
        value = float(value)
        if not math.isfinite(value):
            raise ValidatorError(f"validator {self.name!r} gave a non-finite score ({value})")
        return value

    def score(self, ev: Evidence) -> float:
        """The validator's score of the model behind ``ev`` (higher is better), a finite float.
        A pool validator raises :class:`ValidatorError`: it scores candidates within a pool."""
        if self.pool:
            raise ValidatorError(f"validator {self.name!r} scores a candidate relative to the others it is chosen "
                                 f"from: it needs a pool of at least {self.min_pool} candidates, got 1 "
                                 "(use it with recommend, tune or the zoo, which score pools)")
        self.check(ev)
        return self._finite(self.compute(ev))

    def score_pool(self, evs: list[Evidence]) -> list[float]:
        """Every candidate's score (higher is better) within the pool ``evs``: a single-model
        validator scores each alone; a pool validator needs at least :attr:`min_pool` of them."""
        if not self.pool:
            return [self.score(ev) for ev in evs]
        if len(evs) < self.min_pool:
            raise ValidatorError(f"validator {self.name!r} needs a pool of at least {self.min_pool} candidates, "
                                 f"got {len(evs)}")
        for ev in evs:
            self.check(ev)
        values = list(self.compute_pool(evs))
        if len(values) != len(evs):
            raise ValidatorError(f"validator {self.name!r} scored {len(values)} of {len(evs)} candidates")
        return [self._finite(v) for v in values]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _check_validator(cls: type[Validator]) -> None:
    unknown = [n for n in cls.needs if n not in EVIDENCE_FIELDS]
    if unknown:
        raise ValueError(f"validator {cls.name!r} needs unknown evidence {unknown}; valid: {', '.join(EVIDENCE_FIELDS)}")
    cls.label = cls.label or cls.name


#: Every registered validator, name → class (a :class:`core.util.registry.Registry`).
VALIDATORS = Registry("validator", check=_check_validator)
#: Class decorator adding a validator to :data:`VALIDATORS` under ``cls.name``.
register = VALIDATORS.register


def get_validator(name: str) -> Validator:
    """An instance of the validator called ``name``; unknown names raise listing the valid ones."""
    return VALIDATORS.lookup(name)()


def min_images_table(num_classes: int | None = None) -> dict[str, int]:
    """Validator name → the fewest target images it needs (for error messages and the docs)."""
    return {n: cls().min_target_images(num_classes) for n, cls in VALIDATORS.items() if cls().uses_target}
