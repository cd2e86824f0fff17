"""The Estimator interface, the registry, what is fitted on the source side, and the stated range.

An estimator turns what one model shows on **unlabelled** target pictures into an estimate of its
accuracy there (a share in [0, 1]), never looking at a target label::

    fit = fit_source(val_logits, val_labels)            # at training time, kept in the card
    inp = Inputs(logits=target_logits, source=fit)      # (N, C) logits on N target pictures
    get_estimator("atc_msp").estimate(inp)              # 0.83

What it may read (:class:`Inputs`): the model's target logits; the source fit (:func:`fit_source`,
from the labelled source *validation* split: its accuracy, mean confidence and ATC's thresholds);
and the logits of a pool of other models on the same pictures (pool estimators). An estimator
declares what it ``needs``; :meth:`Estimator.estimate` checks that and that there are at least
:data:`MIN_PICTURES` pictures, so every caller gets one clear line.

**Held-out calibration.** Some estimators map a raw statistic to accuracy with a line fitted on
held-out domains (:meth:`Estimator.fit_map`); the range every estimator states is the
:data:`RANGE_QUANTILE` quantile of its absolute errors on held-out domains, each divided by the
estimator's label-free :meth:`Estimator.spread` there (1 unless the estimator knows when it is
unsure), times its spread on the pictures at hand. Both are data produced
by the study (``scripts/studies/estimate_study.py``) and stored in ``calibration.json`` beside this
file; where an estimator has none, the range is a bootstrap over the pictures (:func:`bootstrap`),
and the result says which (``range_from``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F

from ..util.registry import Registry

#: Fewest pictures an estimate is given for: the binomial sampling error of an accuracy measured on
#: n pictures is up to 50/√n points (11 at n = 20), larger than the ranges the estimators state.
MIN_PICTURES = 20
#: The range is this quantile of the estimator's absolute errors on held-out domains.
RANGE_QUANTILE = 0.9
#: Where the study writes what it fitted on held-out domains (maps, error quantiles, the default).
CALIBRATION_PATH = Path(__file__).with_name("calibration.json")
#: The card key holding what is fitted on the source validation split.
CARD_KEY = "estimation"
#: Used before any study has run (the study's rule replaces it in calibration.json).
FALLBACK_DEFAULT = "atc_msp"


class EstimatorError(ValueError):
    """Inputs an estimator cannot estimate from: too few pictures, no source fit, too small a pool."""


# ------------------------------------------------------------------------------------ scores

def msp(logits: torch.Tensor) -> torch.Tensor:
    """Max-softmax confidence, (N, C) → (N,): s_i = max_c softmax(z_i)_c, in float64."""
    return F.softmax(logits.double(), dim=1).amax(1)


def neg_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Negative entropy, (N, C) → (N,): s_i = Σ_c p_ic log p_ic (≤ 0, higher is more certain)."""
    logp = F.log_softmax(logits.double(), dim=1)
    return (logp.exp() * logp).sum(1)


SCORES = {"msp": msp, "ne": neg_entropy}


def atc_threshold(scores: torch.Tensor, accuracy: float) -> float:
    """ATC's threshold t on source validation scores: the share of scores above t equals ``accuracy``.

    scores: (M,), accuracy in [0, 1] → t = the (1 − accuracy) quantile of the scores, so that
    (1/M) Σ_i 1[s_i > t] ≈ accuracy (exact up to ties and 1/M).
    """
    s = scores.double().sort().values
    m = len(s)
    k = int(round((1.0 - accuracy) * m))  # k scores at or below t, m - k above
    if k <= 0:
        return float(s[0]) - 1e-6 * max(1.0, abs(float(s[0])))  # below every score, in float32 too
    if k >= m:
        return float(s[-1])
    return float(0.5 * (s[k - 1] + s[k]))


def fit_source(val_logits: torch.Tensor, val_labels: torch.Tensor) -> dict:
    """What the estimators need from the labelled source validation split, as a card block.

    val_logits: (M, C), val_labels: (M,) → ``{"val_acc", "val_conf", "thresholds": {score: t},
    "n_val"}``: accuracy and mean max-softmax confidence as shares, ATC's threshold per score.
    """
    if len(val_logits) == 0:
        raise EstimatorError("the source validation split is empty: nothing to fit the estimators on")
    acc = (val_logits.argmax(1) == val_labels).double().mean().item()
    return {"val_acc": acc, "val_conf": msp(val_logits).mean().item(),
            "thresholds": {k: atc_threshold(f(val_logits), acc) for k, f in SCORES.items()},
            "n_val": int(len(val_logits))}


def check_source_fit(fit) -> dict | None:
    """A card's estimation block if it is well formed, else None (then it is computed again)."""
    try:
        ok = (isinstance(fit, dict) and 0 <= float(fit["val_acc"]) <= 1 and 0 <= float(fit["val_conf"]) <= 1
              and all(math.isfinite(float(fit["thresholds"][k])) for k in SCORES))
    except (KeyError, TypeError, ValueError):
        return None
    return fit if ok else None


# ------------------------------------------------------------------------------------ inputs

@dataclass
class Inputs:
    """What an estimator may read about one model on N unlabelled target pictures.

    logits: (N, C) the model's logits; source: :func:`fit_source`'s block (or None);
    pool: the logits (N, C) of other models on the same N pictures in the same order (or empty).
    """

    logits: torch.Tensor
    source: dict | None = None
    pool: list[torch.Tensor] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(len(self.logits))

    def subset(self, idx: torch.Tensor) -> "Inputs":
        return Inputs(self.logits[idx], self.source, [p[idx] for p in self.pool])


# ------------------------------------------------------------------------------------ estimators

class Estimator:
    """Subclass, set the class attributes, implement :meth:`raw`, decorate with :func:`register`.

    ``raw(inp)`` is the estimator's statistic; where ``fits_map`` is set, a line fitted on held-out
    domains (``params = {"a", "b"}``) maps it to accuracy, else the statistic is the estimate.
    """

    name: ClassVar[str] = "base"
    label: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    needs: ClassVar[tuple[str, ...]] = ("source",)   # "source" and/or "pool"
    min_pool: ClassVar[int] = 0                       # other models a pool estimator needs at least
    fits_map: ClassVar[bool] = False

    def __init__(self, params: dict | None = None):
        self.params = dict(params or {})

    def raw(self, inp: Inputs) -> float:
        raise NotImplementedError

    def spread(self, inp: Inputs) -> float:
        """A label-free scale of how wrong this estimate may be on ``inp`` (1 by default: the same
        range everywhere); the stated range is the held-out quantile of |error| / spread times it."""
        return 1.0

    def check(self, inp: Inputs) -> None:
        if inp.n < MIN_PICTURES:
            raise EstimatorError(f"an accuracy estimate needs at least {MIN_PICTURES} pictures, got {inp.n}")
        if "source" in self.needs and check_source_fit(inp.source) is None:
            raise EstimatorError(f"estimator {self.name!r} needs the model's source validation fit "
                                 "(accuracy, confidence, thresholds), which is missing")
        if "pool" in self.needs and len(inp.pool) < self.min_pool:
            raise EstimatorError(f"no estimate: the {self.label or self.name} estimator compares the model's "
                                 f"answers with those of at least {self.min_pool} other shipped models on the same "
                                 f"pictures, and {len(inp.pool)} {'is' if len(inp.pool) == 1 else 'are'} available "
                                 "here (a full pretrained/ ships them)")

    def apply(self, raw: float) -> float:
        if self.fits_map:
            raw = float(self.params.get("a", 1.0)) * raw + float(self.params.get("b", 0.0))
        return min(1.0, max(0.0, raw))

    def estimate(self, inp: Inputs) -> float:
        """The estimated accuracy of the model behind ``inp`` on its pictures, a share in [0, 1]."""
        self.check(inp)
        value = self.apply(float(self.raw(inp)))
        if not math.isfinite(value):
            raise EstimatorError(f"estimator {self.name!r} gave a non-finite estimate")
        return value

    @staticmethod
    def fit_map(raws: list[float], truths: list[float]) -> dict:
        """Least-squares line truth ≈ a · raw + b over held-out (model, domain) pairs."""
        x, y = torch.tensor(raws, dtype=torch.float64), torch.tensor(truths, dtype=torch.float64)
        if len(x) < 2 or float(x.var()) < 1e-12:
            return {"a": 1.0, "b": float((y - x).mean()) if len(x) else 0.0}
        a = float(((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum())
        return {"a": a, "b": float(y.mean() - a * x.mean())}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params or ''})"


def _check_estimator(cls: type[Estimator]) -> None:
    bad = [n for n in cls.needs if n not in ("source", "pool")]
    if bad:
        raise ValueError(f"estimator {cls.name!r} needs unknown inputs {bad}; valid: source, pool")


ESTIMATORS = Registry("estimator", check=_check_estimator)
register = ESTIMATORS.register


# ------------------------------------------------------------------------------------ calibration

def calibration(path: Path | None = None) -> dict:
    """The held-out calibration the study wrote (``{}`` before any study)."""
    path = CALIBRATION_PATH if path is None else Path(path)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def default_name() -> str:
    """The default estimator: the study's choice by its declared rule (calibration.json)."""
    name = calibration().get("default")
    return name if name in ESTIMATORS else FALLBACK_DEFAULT


def get_estimator(name: str | None = None, params: dict | None = None) -> Estimator:
    """An estimator by name (default: :func:`default_name`) with its held-out map from calibration.json
    unless ``params`` is given; an unknown name raises listing the valid ones."""
    name = name or default_name()
    cls = ESTIMATORS.lookup(name)
    if params is None:
        params = calibration().get("estimators", {}).get(name, {}).get("map")
    return cls(params)


def bootstrap(est: Estimator, inp: Inputs, rounds: int = 200, level: float = RANGE_QUANTILE,
              seed: int = 0) -> tuple[float, float]:
    """(low, high): the central ``level`` interval of the estimate over pictures resampled with replacement."""
    gen = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(rounds):
        idx = torch.randint(0, inp.n, (inp.n,), generator=gen)
        values.append(est.apply(float(est.raw(inp.subset(idx)))))
    v = torch.tensor(values, dtype=torch.float64)
    tail = (1 - level) / 2
    return float(v.quantile(tail)), float(v.quantile(1 - tail))


def estimate_range(est: Estimator, inp: Inputs, value: float) -> tuple[float, float, str]:
    """``(low, high, range_from)`` around ``value``: ± the estimator's held-out error quantile from
    calibration.json (times its spread on these pictures), widened by the sampling error of n pictures where n is below the study's;
    a bootstrap over the pictures where no held-out errors are stored."""
    entry = calibration().get("estimators", {}).get(est.name, {})
    half = entry.get("half_width")
    if half is not None:
        half = float(half) * est.spread(inp)
    else:
        low, high = bootstrap(est, inp)
        return min(low, value), max(high, value), "bootstrap over the pictures"
    n_ref = int(entry.get("n_pictures") or inp.n)
    p = min(max(value, 0.05), 0.95)
    extra = 1.645 ** 2 * p * (1 - p) * max(0.0, 1.0 / inp.n - 1.0 / n_ref)  # the sampling error n_ref did not see
    half = math.sqrt(float(half) ** 2 + extra)
    return (max(0.0, value - half), min(1.0, value + half),
            f"held-out domains: {int(RANGE_QUANTILE * 100)}th percentile of {entry.get('n_pairs', '?')} absolute errors"
            + (", scaled by the spread on these pictures" if type(est).spread is not Estimator.spread else ""))


def result(est: Estimator, inp: Inputs) -> dict:
    """``{"estimator", "estimated_acc", "low", "high", "range_from", "n_pictures"}`` in percent."""
    value = est.estimate(inp)
    low, high, why = estimate_range(est, inp, value)
    return {"estimator": est.name, "estimated_acc": 100 * value, "low": 100 * low, "high": 100 * high,
            "range_from": why, "n_pictures": inp.n}


def sentence(res: dict) -> str:
    """One plain sentence: "about 80 % of pictures like these, likely 72–87 %"."""
    return (f"about {res['estimated_acc']:.0f} % of pictures like these, likely "
            f"{res['low']:.0f}–{res['high']:.0f} %")


def fit_model(model, val) -> dict | None:
    """The engine's hook: :func:`fit_source` on ``model``'s logits over a labelled split (the source
    validation part, a :class:`core.data.TensorDomain`); None when there is none to fit on (then a
    reader computes it from the source domain the card names)."""
    if val is None or len(val) == 0 or not isinstance(val.images, torch.Tensor):
        return None
    from ..evaluation import predict_logits

    return fit_source(predict_logits(model, val.images), val.labels)
