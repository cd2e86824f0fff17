"""The one label-free choice: which candidate to keep, given each one's validator scores and how
its predictions on the unlabelled target spread over the classes.

    best = choose(candidates, "source_val_acc")      # a name from candidates, or None

``candidates``: ``{name: {"scores": {validator: score}, "largest_class_share": share}}`` in the
order ties are broken (source-only first). A candidate whose most-predicted target class takes
more than :data:`core.evaluation.COLLAPSE_JUMP` above the baseline's share has collapsed and is
not eligible, whatever its score; among the rest the highest score of ``validator`` wins. Both
``recommend`` (one run per candidate) and the zoo (a method's mean over seeds) choose with it, and
no target label is read.
"""

from __future__ import annotations

from ..evaluation import collapsed


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
