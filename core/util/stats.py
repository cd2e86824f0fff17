"""Small statistics every report uses: mean ± standard deviation over seeds, Spearman's rank
correlation, and numbers made safe for strict JSON.

    >>> mean_std([70.0, 72.0, 74.0])
    {'mean': 72.0, 'std': 2.0}
    >>> spearman([1, 2, 3, 4], [10, 30, 20, 40])
    0.8
    >>> rounded(float("nan")) is None, rounded(2.34567, 2)
    (True, 2.35)
"""

from __future__ import annotations

import math
import statistics


def rounded(x, digits: int = 4):
    """``x`` rounded to ``digits`` for reports and strict JSON; None for None, NaN and infinities."""
    if x is None:
        return None
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def mean_std(values, digits: int = 4) -> dict:
    """``{"mean", "std"}`` of the finite values (sample standard deviation; 0.0 for one value;
    both None for none), rounded to ``digits``."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return {"mean": None, "std": None}
    return {"mean": round(statistics.fmean(vals), digits),
            "std": round(statistics.stdev(vals), digits) if len(vals) > 1 else 0.0}


def spearman(xs, ys) -> float | None:
    """Spearman's rank correlation of paired values, pairs with a None left out; None with fewer
    than 3 pairs or a constant side (no ranking to correlate)."""
    pairs = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
    if len(pairs) < 3:
        return None
    from scipy.stats import spearmanr

    rho = spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic
    return None if rho is None or not math.isfinite(rho) else round(float(rho), 4)
