"""Training histories: one record per step ``{"step": k, <loss terms>..., ["target_acc": …]}``."""

from __future__ import annotations


def thin_history(records: list[dict], keep: int) -> list[dict]:
    """At most ``keep`` records: every evaluation (a record with ``target_acc``) and evenly
    spaced others, always the first and the last. When the evaluations alone are more than
    ``keep``, they are thinned evenly too. Returns a new list; the records are not copied.

    >>> len(thin_history([{"step": i} for i in range(1000)], 100)) <= 100
    True
    """
    n = len(records)
    if n <= keep:
        return list(records)
    evals = [i for i, r in enumerate(records) if "target_acc" in r]
    if len(evals) > keep // 2:  # evaluations on (nearly) every step: thin them with the rest
        evals = evals[:: -(-len(evals) // (keep // 2))]
    stride = max(1, -(-n // max(1, keep - len(evals) - 1)))
    chosen = set(evals) | set(range(0, n, stride)) | {n - 1}
    return [records[i] for i in sorted(chosen)]
