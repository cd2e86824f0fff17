"""The one label-free choice: which candidate to keep, given each one's validator scores and how
its predictions on the unlabelled target spread over the classes.

    best = choose(candidates, "source_val_acc")      # a name from candidates, or None

``candidates``: ``{name: {"scores": {validator: score}, "largest_class_share": share}}`` in the
order ties are broken (source-only first). A candidate whose most-predicted target class takes
more than :data:`core.evaluation.COLLAPSE_JUMP` above the baseline's share has collapsed and is
not eligible, whatever its score; among the rest the highest score of ``validator`` wins.
``recommend`` with one run per candidate chooses with it; no target label is read.

With several seeds per candidate, :func:`choose_agreeing` first keeps the candidates whose seeds
agree with each other on the unlabelled target about as much as the most agreeing one's, then
chooses among them the same way — the zoo's rule (a method's means over three seeds) and
``recommend``'s with ``seeds`` ≥ 2:

    best = choose_agreeing(candidates, "devn")   # candidates[name]["seed_agreement"] ∈ [0, 1]

A candidate's scores over its seeds are :func:`mean_scores` of each seed's.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable

from ..evaluation import collapsed
from ..util.stats import rounded

#: How far below the most agreeing candidate's seed agreement a candidate may be and still be
#: chosen (:func:`choose_agreeing`); declared, then chosen on fixture pools, never on a shipped
#: scenario: docs/results.md, "Can the seeds choose?" (``scripts/studies/seed_choice.py``).
AGREEMENT_MARGIN = 0.03


def choose(candidates: dict[str, dict], validator: str, baseline: str | None = None,
           eligible=None) -> str | None:
    """The name of the best eligible candidate by ``validator`` (ties: the first in order), or None
    when none has a score. ``baseline``: the candidate whose share the collapse rule compares with
    (default: the registry's baseline, source-only); ``eligible(name)``: a further filter."""
    if baseline is None:
        from ..methods import baseline as registry_baseline

        baseline = registry_baseline()
    reference = (candidates.get(baseline) or {}).get("largest_class_share")
    scored = {}
    for name, c in candidates.items():
        score = (c.get("scores") or {}).get(validator)
        if score is None or (eligible is not None and not eligible(name)):
            continue
        if name != baseline and collapsed(c.get("largest_class_share"), reference):
            continue
        scored[name] = score
    return max(scored, key=scored.get) if scored else None


def mean_scores(per_seed: Iterable[dict[str, float | None]]) -> dict[str, float]:
    """Each validator's mean score over the seeds that have one, rounded to 6 decimals (None where
    it is not finite): what the
    choice ranks a candidate of several seeds by (the zoo's three, ``recommend``'s default two).

    >>> mean_scores([{"devn": -0.5, "im": 1.0}, {"devn": -0.25}])
    {'devn': -0.375, 'im': 1.0}
    """
    by_name: dict[str, list[float]] = {}
    for scores in per_seed:
        for name, value in (scores or {}).items():
            if value is not None:
                by_name.setdefault(name, []).append(value)
    return {name: rounded(statistics.fmean(values), 6) for name, values in sorted(by_name.items())}


def seed_agreement(tops: list[list[int]]) -> float | None:
    """How often a candidate's seeds give the same answer: the mean over every pair of seeds
    j < k of (1/N) Σ_i 1[ŷ_i^(j) = ŷ_i^(k)], ŷ^(j) the top classes (N,) of seed j on the unlabelled
    target pictures — 1 − the disagreement of Jiang et al. (ICLR 2022), who found that seeds
    disagree about as often as they err. None with fewer than two seeds.

    >>> seed_agreement([[0, 1, 2, 3], [0, 1, 2, 0], [0, 1, 1, 3]])  # pairs: 3/4, 3/4, 2/4
    0.6666666666666666
    """
    pairs = _seed_pairs(tops)
    return None if not pairs else statistics.fmean(_same_share(a, b) for a, b in pairs)


def seed_kappa(tops: list[list[int]]) -> float | None:
    """:func:`seed_agreement` corrected for chance: the mean over pairs of seeds j < k of Cohen's
    κ = (p_o − p_e) / (1 − p_e), p_o the share of pictures both answer alike, p_e = Σ_c p^(j)_c p^(k)_c
    what two seeds with these class shares would share by chance (κ = 0 where p_e = 1). None with
    fewer than two seeds.

    >>> seed_kappa([[0, 0, 0, 1], [0, 0, 0, 0]])   # p_o 0.75, p_e 0.75: no agreement beyond chance
    0.0
    """
    pairs = _seed_pairs(tops)
    return None if not pairs else statistics.fmean(_kappa(a, b) for a, b in pairs)


def _seed_pairs(tops: list[list[int]]) -> list[tuple[list[int], list[int]]]:
    """Every pair of seeds j < k."""
    return [(a, b) for i, a in enumerate(tops) for b in tops[i + 1:]]


def _same_share(a: list[int], b: list[int]) -> float:
    """The share of pictures two seeds answer alike (p_o)."""
    return sum(x == y for x, y in zip(a, b)) / len(a)


def _kappa(a: list[int], b: list[int]) -> float:
    """Cohen's κ of two seeds' answers; 0 where chance explains every agreement (p_e = 1)."""
    n = len(a)
    p_e = sum((a.count(c) / n) * (b.count(c) / n) for c in set(a) | set(b))
    return 0.0 if p_e >= 1 else (_same_share(a, b) - p_e) / (1 - p_e)


def reads_agreement(candidates: dict[str, dict]) -> bool:
    """Whether :func:`choose_agreeing` reads the seeds' agreement here: some candidate has one."""
    return any((c or {}).get("seed_agreement") is not None for c in candidates.values())


def choose_agreeing(candidates: dict[str, dict], validator: str, margin: float = AGREEMENT_MARGIN,
                    baseline: str | None = None, eligible=None) -> str | None:
    """:func:`choose` among the candidates whose ``seed_agreement`` is at least the most agreeing
    (non-collapsed, scored) candidate's minus ``margin``. Unstable recipes — seeds that answer
    differently, one of them often far worse — are left out before the validator ranks the rest; so
    is a candidate with no agreement of its own when others have one (it trained on fewer than two
    seeds: one failed). When no candidate has an agreement (one seed each), this is :func:`choose`
    (:func:`reads_agreement`)."""
    def agreement(name):
        return (candidates.get(name) or {}).get("seed_agreement")

    if not reads_agreement(candidates):
        return choose(candidates, validator, baseline, eligible)
    scored = [n for n, c in candidates.items() if (c.get("scores") or {}).get(validator) is not None
              and agreement(n) is not None and (eligible is None or eligible(n))]
    by_agreement = {n: {**c, "scores": {"seed_agreement": agreement(n) if n in scored else None}}
                    for n, c in candidates.items()}  # every entry: the collapse rule reads the baseline's share
    most = choose(by_agreement, "seed_agreement", baseline)
    if most is None:
        return None
    floor = agreement(most) - margin - 1e-9  # a candidate exactly at the margin is in, whatever the rounding
    return choose(candidates, validator, baseline, lambda n: n in scored and agreement(n) >= floor)
