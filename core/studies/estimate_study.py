"""Which accuracy estimator to trust, judged on domains no shipped model has seen.

For every shipped model (the zoo's and the universal model) on every unseen fixture domain
(``python -m core fixtures``: six digit domains written as folders), each registered estimator's
estimate of the model's test accuracy is set against the true accuracy (labels for reporting only).

**The rule, declared before the numbers** (:data:`RULE`): the default estimator is the one with the
lowest mean absolute error on leave-one-domain-out folds over the six fixture domains — in each
fold, whatever an estimator fits on held-out domains (the agreement line, the range's error
quantile) is fitted on the other five domains and judged on the sixth. Ties go to the registry's
order. The four shipped scenarios' targets only check the choice (reported, never chosen on).

    report = run_study(fixture_specs, log=print)      # scripts/studies/estimate_study.py writes it
    report["mae"]["agreement"], report["coverage"]["agreement"], report["default"]

:func:`calibration_from` turns the report into ``core/estimators/calibration.json``: each estimator's
map fitted on all six domains and, for its range, the 90th percentile of its held-out (LODO) errors
divided by its label-free spread (:meth:`core.estimators.Estimator.spread`; 1 for most).
"""

from __future__ import annotations

import statistics
import time

import torch

RULE = ("the lowest mean absolute error (points) over the leave-one-domain-out folds of the six unseen fixture "
        "domains, every shipped model; ties: the registry's order; the shipped scenarios' targets only check it")


def _quantile(values: list[float], q: float) -> float:
    return float(torch.tensor(values, dtype=torch.float64).quantile(q)) if values else float("nan")


def shipped_models() -> list[str]:
    """References of every shipped model: the zoo's names and ``path:<universal folder>``."""
    from .. import zoo
    from ..inference.estimate import universal_dir

    refs = list(zoo.names())
    if (universal_dir() / "card.json").is_file():
        refs.append(f"path:{universal_dir()}")
    return refs


def gather(refs: list[str], domains: dict[str, str], log=None) -> dict:
    """Every estimator's raw statistic and the true accuracy, per (model, domain) on the test split.

    Returns ``{"pairs": [{"model", "domain", "true", "n", "raw": {estimator: value}}], "seconds"}``
    (accuracies as shares). Each model's logits on a domain are computed once and shared: the pool
    of a model is :func:`core.inference.estimate.pool_refs`, as for a user's pictures.
    """
    from ..data import load_domain
    from ..estimators import ESTIMATORS, Inputs
    from ..evaluation import predict_logits
    from ..inference.estimate import _pool_model, pool_refs, source_fit

    started = time.perf_counter()
    loaded = {ref: _pool_model(ref) for ref in refs}
    fits = {ref: source_fit(m, c, ref) for ref, (m, c) in loaded.items()}
    pools = {ref: pool_refs(c, exclude=ref) for ref, (m, c) in loaded.items()}
    for ref in {p for ps in pools.values() for p in ps} - set(loaded):
        loaded[ref] = _pool_model(ref)
    estimators = {name: cls() for name, cls in ESTIMATORS.items()}
    pairs = []
    for dname, spec in domains.items():
        t0 = time.perf_counter()
        cache: dict[str, torch.Tensor] = {}
        by_size: dict[int, object] = {}

        def logits_of(ref):
            if ref not in cache:
                model, card = loaded[ref]
                size = int(card["input_size"])
                if size not in by_size:
                    by_size[size] = load_domain(spec, "test", size=size, classes=card["class_names"])
                cache[ref] = predict_logits(model, by_size[size].images)
            return cache[ref]

        for ref in refs:
            model, card = loaded[ref]
            z = logits_of(ref)
            labels = by_size[int(card["input_size"])].labels
            inp = Inputs(z, fits[ref], [logits_of(p) for p in pools[ref]])
            usable = {name: est for name, est in estimators.items()
                      if not ("pool" in est.needs and len(inp.pool) < est.min_pool)}
            pairs.append({"model": ref, "domain": dname, "true": (z.argmax(1) == labels).double().mean().item(),
                          "n": int(len(z)), "raw": {n: float(e.raw(inp)) for n, e in usable.items()},
                          "spread": {n: float(e.spread(inp)) for n, e in usable.items()}, "pool": pools[ref]})
        if log:
            log(f"{dname:<16} {len(refs)} models in {time.perf_counter() - t0:5.1f} s")
    return {"pairs": pairs, "seconds": time.perf_counter() - started}


def _apply(name: str, params: dict | None, raw: float) -> float:
    from ..estimators import ESTIMATORS

    return ESTIMATORS[name](params).apply(raw)


def _fit(name: str, pairs: list[dict]) -> dict | None:
    from ..estimators import ESTIMATORS

    cls = ESTIMATORS[name]
    if not cls.fits_map:
        return None
    use = [p for p in pairs if name in p["raw"]]
    return cls.fit_map([p["raw"][name] for p in use], [p["true"] for p in use])


def _held_out_errors(name: str, pairs: list[dict], domains: list[str]) -> list[float]:
    """|error| / spread of every pair's estimate, the map fitted without the pair's domain."""
    out = []
    for d in domains:
        params = _fit(name, [p for p in pairs if p["domain"] != d])
        for p in pairs:
            if p["domain"] == d and name in p["raw"]:
                out.append(abs(_apply(name, params, p["raw"][name]) - p["true"]) / p["spread"][name])
    return out


def lodo(pairs: list[dict], domains: list[str], quantile: float) -> dict:
    """Leave-one-domain-out: per estimator, each held-out pair's estimate (map fitted on the other
    domains), its range (± the quantile of errors measured out of sample on the other domains: each
    of them held out in turn from the rest) and whether the range holds the truth."""
    from ..estimators import ESTIMATORS

    result = {}
    for name in ESTIMATORS:
        rows = []
        for d in domains:
            train = [p for p in pairs if p["domain"] != d]
            scale = _quantile(_held_out_errors(name, train, [x for x in domains if x != d]), quantile)
            params = _fit(name, train)
            for p in pairs:
                if p["domain"] == d and name in p["raw"]:
                    est, half = _apply(name, params, p["raw"][name]), scale * p["spread"][name]
                    rows.append({"model": p["model"], "domain": d, "true": 100 * p["true"], "estimate": 100 * est,
                                 "spread": p["spread"][name],
                                 "low": 100 * max(0.0, est - half), "high": 100 * min(1.0, est + half),
                                 "holds": max(0.0, est - half) <= p["true"] <= min(1.0, est + half)})
        errors = [abs(r["estimate"] - r["true"]) for r in rows]
        result[name] = {"rows": rows, "mae": statistics.fmean(errors) if errors else None,
                        "max_error": max(errors) if errors else None,
                        "coverage": statistics.fmean(r["holds"] for r in rows) if rows else None,
                        "mae_by_domain": {d: statistics.fmean(abs(r["estimate"] - r["true"]) for r in rows
                                                              if r["domain"] == d) for d in domains
                                          if any(r["domain"] == d for r in rows)}}
    return result


def declare_default(folds: dict) -> str:
    """:data:`RULE`: the lowest LODO mean absolute error; ties to the registry's order."""
    from ..estimators import ESTIMATORS

    scored = [(folds[n]["mae"], i, n) for i, n in enumerate(ESTIMATORS) if folds.get(n, {}).get("mae") is not None]
    return min(scored)[2]


def calibration_from(pairs: list[dict], domains: list[str], folds: dict, default: str, quantile: float,
                     n_pictures: int, measured: str) -> dict:
    """``calibration.json``: per estimator the map fitted on every fixture domain and the half-width of
    its range (the quantile of its LODO held-out absolute errors over its spread, as a share)."""
    from ..estimators import ESTIMATORS

    out = {"default": default, "rule": RULE, "quantile": quantile, "measured": measured, "estimators": {}}
    for name in ESTIMATORS:
        rows = folds[name]["rows"]
        errs = [abs(r["estimate"] - r["true"]) / 100 / r["spread"] for r in rows]
        out["estimators"][name] = {"map": _fit(name, pairs), "half_width": round(_quantile(errs, quantile), 4),
                                   "n_pairs": len(errs), "n_pictures": n_pictures,
                                   "lodo_mae_points": round(folds[name]["mae"], 2)}
    return out


def check(pairs: list[dict], calib: dict) -> dict:
    """The shipped scenarios' targets with the final calibration: per estimator the MAE (points), the
    range's coverage and every row. Reported, never used to choose."""
    from ..estimators import ESTIMATORS

    out = {}
    for name in ESTIMATORS:
        entry = calib["estimators"][name]
        rows = []
        for p in pairs:
            if name not in p["raw"]:
                continue
            est, half = _apply(name, entry["map"], p["raw"][name]), entry["half_width"] * p["spread"][name]
            rows.append({"model": p["model"], "domain": p["domain"], "true": 100 * p["true"], "estimate": 100 * est,
                         "holds": max(0.0, est - half) <= p["true"] <= min(1.0, est + half)})
        errors = [abs(r["estimate"] - r["true"]) for r in rows]
        out[name] = {"mae": statistics.fmean(errors) if errors else None, "max_error": max(errors) if errors else None,
                     "coverage": statistics.fmean(r["holds"] for r in rows) if rows else None, "rows": rows}
    return out


def time_estimate(ref: str, spec: str, n: int = 500, threads: int = 1, repeats: int = 3) -> dict:
    """Seconds to estimate ``n`` pictures with each estimator once the model and pool are loaded
    (one core by default): the model's and the pool's forward passes (none kept from an earlier
    call) and the estimate with its range; best of ``repeats``."""
    from ..data import load_domain
    from ..estimators import ESTIMATORS
    from ..inference.estimate import _pool_model, estimate_images, forget_pool_passes, pool_refs

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model, card = _pool_model(ref)
        images = load_domain(spec, "test", size=int(card["input_size"]), classes=card["class_names"]).images
        images = images[torch.arange(n) % len(images)]
        for p in pool_refs(card, exclude=ref):
            _pool_model(p)
        out = {}
        for name in ESTIMATORS:
            estimate_images(model, card, images, ref=ref, estimator=name)  # warm (source fit cached)
            best = float("inf")
            for _ in range(repeats):
                forget_pool_passes()
                t0 = time.perf_counter()
                estimate_images(model, card, images, ref=ref, estimator=name)
                best = min(best, time.perf_counter() - t0)
            out[name] = round(best, 3)
        return {"model": ref, "pictures": n, "threads": threads, "seconds": out}
    finally:
        torch.set_num_threads(old)


def run_study(fixtures: dict[str, str], scenario_targets: dict[str, str] | None = None, quantile: float | None = None,
              log=None, measured: str = "") -> dict:
    """The whole study: gather on the fixture domains, LODO, the declared choice, the calibration,
    the check on the shipped scenarios' targets."""
    from ..estimators import RANGE_QUANTILE

    quantile = RANGE_QUANTILE if quantile is None else quantile
    refs = shipped_models()
    fx = gather(refs, fixtures, log)
    domains = list(fixtures)
    folds = lodo(fx["pairs"], domains, quantile)
    default = declare_default(folds)
    n_pictures = int(statistics.median(p["n"] for p in fx["pairs"]))
    calib = calibration_from(fx["pairs"], domains, folds, default, quantile, n_pictures, measured)
    report = {"rule": RULE, "default": default, "quantile": quantile, "models": refs, "domains": fixtures,
              "mae": {n: f["mae"] for n, f in folds.items()}, "max_error": {n: f["max_error"] for n, f in folds.items()},
              "coverage": {n: f["coverage"] for n, f in folds.items()},
              "mae_by_domain": {n: f["mae_by_domain"] for n, f in folds.items()},
              "lodo": {n: f["rows"] for n, f in folds.items()}, "calibration": calib,
              "raw": fx["pairs"], "seconds_gather": round(fx["seconds"], 1)}
    if scenario_targets:
        sc = gather(refs, scenario_targets, log)
        report["check"] = check(sc["pairs"], calib)
    return report
