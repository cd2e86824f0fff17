"""A model's accuracy on pictures nobody labelled: the glue between :mod:`core.estimators` and the
models, domains and the zoo (it loads things; the estimators only compute).

    res = estimate_images(model, card, images, ref="mnist->mnistm/dann")   # uint8 (N, 3, H, W)
    res["estimated_acc"], res["low"], res["high"], res["range_from"]

- **Source fit** (:func:`source_fit`): what the estimators fitted on the source validation split,
  read from the card (the engine writes it at training time); a card without it gets it computed
  from the source domain the card names — the same held-out split the engine uses — once per
  process. ``python -m core estimate --fit-zoo`` writes it into the shipped cards.
- **Pool** (:func:`pool_refs`): the shipped models every user has, so a pool exists for an upload:
  the universal digits model and each shipped scenario's recommended model (the leaderboard's
  label-free choice), those with the model's classes and input size, the model itself left out.
  Five models at most: a pass of 500 pictures through all of them fits the 2-second budget on one core.
"""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from ..estimators import CARD_KEY, EstimatorError, Inputs, check_source_fit, fit_source, get_estimator, result
from ..evaluation import predict_logits

UNIVERSAL = "universal"

_LOCK = threading.Lock()
_FITS: dict[tuple, dict] = {}
_POOL: dict[str, tuple] = {}
_POOL_LOGITS: dict[tuple, torch.Tensor] = {}
#: Pool passes kept (batch × pool model), oldest dropped first.
POOL_CACHE = 64


def universal_dir() -> Path:
    """The universal digits model's folder: in the zoo folder if it holds one, else the shipped one."""
    from .. import zoo

    here = zoo.zoo_dir() / UNIVERSAL
    return here if (here / "card.json").is_file() else zoo.ZOO_DIR / UNIVERSAL


def _card_key(card: dict) -> tuple:
    return (card.get("source"), card.get("method"), card.get("created"), card.get("seed"), card.get("input_size"))


def source_fit(model, card: dict, name: str | None = None) -> dict:
    """The card's source fit, or computed on the source validation split of the domain it names
    (cached per process). A source that cannot be loaded raises :class:`EstimatorError` naming it."""
    fit = check_source_fit(card.get(CARD_KEY))
    if fit is not None:
        return fit
    key = _card_key(card)
    with _LOCK:
        if key in _FITS:
            return _FITS[key]
    from ..data import load_domain
    from ..data.splits import split_source

    source = card.get("source")
    try:
        domain = load_domain(source, "train", size=int(card["input_size"]), classes=card["class_names"])
    except (ValueError, OSError, KeyError, RuntimeError) as e:
        raise EstimatorError(f"the source domain {source!r} of {name or 'the model'} cannot be loaded, so its "
                             f"confidence cannot be calibrated: {' '.join(str(e).split())[:300]}") from None
    _, val = split_source(domain)
    fit = fit_source(predict_logits(model, val.images), val.labels)
    with _LOCK:
        _FITS[key] = fit
    return fit


def pool_refs(card: dict, exclude: str | None = None) -> list[str]:
    """The pool's references (``path:…`` for the universal model, zoo names otherwise) for a model
    with ``card``'s classes and input size, the model named ``exclude`` left out."""
    from .. import zoo

    refs = []
    if (universal_dir() / "card.json").is_file():
        refs.append(f"path:{universal_dir()}")
    recommended = (zoo.leaderboard() or {}).get("recommended") or {}
    shipped = set(zoo.names())
    for source, target in zoo.scenarios():
        method = (recommended.get(zoo.scenario_key(source, target)) or {}).get("method")
        if method and zoo.make_name(source, target, method) in shipped:
            refs.append(zoo.make_name(source, target, method))
    out = []
    for ref in refs:
        if exclude is not None and _same(ref, exclude):
            continue
        c = _pool_model(ref)[1]
        if c["class_names"] == card["class_names"] and c["input_size"] == card["input_size"]:
            out.append(ref)
    return out


def _same(ref: str, other: str) -> bool:
    strip = lambda r: r[5:] if r.startswith("path:") else r  # noqa: E731
    a, b = strip(ref), strip(other)
    if a == b:
        return True
    try:
        return Path(a).resolve() == Path(b).resolve() if Path(a).exists() and Path(b).exists() else False
    except OSError:
        return False


def _pool_model(ref: str):
    with _LOCK:
        if ref in _POOL:
            return _POOL[ref]
    from ..zoo.refs import load_ref

    loaded = load_ref(ref[5:] if ref.startswith("path:") else ref)
    loaded[0].eval()
    with _LOCK:
        _POOL[ref] = loaded
    return loaded


def forget_pool_passes() -> None:
    """Drop the kept pool passes (a timing measures the passes themselves)."""
    with _LOCK:
        _POOL_LOGITS.clear()


def pool_logits(images: torch.Tensor, card: dict, exclude: str | None = None) -> list[torch.Tensor]:
    """The pool's logits (N, C) on ``images`` (uint8 or float in [0, 1], (N, 3, H, W)); the last
    :data:`POOL_CACHE` batches' are kept, so a page that estimates the same pictures again (a rerun,
    before and after adapting, several models) runs the pool once."""
    import hashlib

    digest = hashlib.sha256(images.contiguous().cpu().numpy().tobytes()).hexdigest() + str(images.dtype)
    out = []
    for ref in pool_refs(card, exclude):
        key = (digest, ref)
        with _LOCK:
            hit = _POOL_LOGITS.get(key)
        if hit is None:
            hit = predict_logits(_pool_model(ref)[0], images)
            with _LOCK:
                _POOL_LOGITS[key] = hit
                while len(_POOL_LOGITS) > POOL_CACHE:
                    _POOL_LOGITS.pop(next(iter(_POOL_LOGITS)))
        out.append(hit)
    return out


def inputs_for(model, card: dict, images: torch.Tensor, ref: str | None = None, needs=("source", "pool"),
               logits: torch.Tensor | None = None) -> Inputs:
    """Everything an estimator may read about ``model`` on ``images``; only what ``needs`` asks is loaded."""
    logits = predict_logits(model, images) if logits is None else logits
    fit = source_fit(model, card, ref) if "source" in needs else None
    pool = pool_logits(images, card, ref) if "pool" in needs else []
    return Inputs(logits, fit, pool)


def estimate_images(model, card: dict, images: torch.Tensor, ref: str | None = None, estimator: str | None = None,
                    logits: torch.Tensor | None = None) -> dict:
    """The estimate, its range and where the range comes from (percent), for ``model`` on ``images``.

    Raises :class:`EstimatorError` with one line: too few pictures (how many are needed), a source
    domain that cannot be loaded (named), a pool too small; ValueError listing the valid estimators."""
    est = get_estimator(estimator)
    from ..estimators import MIN_PICTURES

    if len(images) < MIN_PICTURES:
        raise EstimatorError(f"an accuracy estimate needs at least {MIN_PICTURES} pictures, got {len(images)}")
    return result(est, inputs_for(model, card, images, ref, est.needs, logits))


def fit_zoo(log=print) -> list[str]:
    """Write the source fit into every shipped card that lacks it (the zoo's models and the universal
    model), atomically; returns the folders written."""
    from .. import zoo
    from ..checkpoints import CARD_NAME, load
    from ..util.files import write_json_atomic

    folders = [zoo.model_dir(n) for n in zoo.names()]
    if (universal_dir() / CARD_NAME).is_file():
        folders.append(universal_dir())
    written = []
    for folder in folders:
        model, card = load(folder)
        if check_source_fit(card.get(CARD_KEY)) is not None:
            continue
        import json

        raw = json.loads((folder / CARD_NAME).read_text())
        raw[CARD_KEY] = source_fit(model, card, str(folder))
        write_json_atomic(folder / CARD_NAME, raw)
        written.append(str(folder))
        log(f"source fit -> {folder / CARD_NAME}")
    return written


def estimate_fields(model, card: dict, target: str, split: str = "test", ref: str | None = None) -> dict:
    """The estimate as fields of another command's JSON (``recommend``): ``estimated_acc``,
    ``estimated_low``, ``estimated_high``, ``estimator``, ``estimate_range_from``, on ``target``'s
    ``split`` read without labels — or ``estimated_acc: None`` and ``estimate_note`` saying why."""
    from ..data import load_domain

    try:
        images = load_domain(target, split, size=int(card["input_size"]), classes=card["class_names"]).images
        res = estimate_images(model, card, images, ref=ref)
    except Exception as e:  # noqa: BLE001 - a report beside the choice must never break the command
        return {"estimated_acc": None, "estimate_note": " ".join(str(e).split())[:300] or type(e).__name__}
    return {"estimated_acc": round(res["estimated_acc"], 1), "estimated_low": round(res["low"], 1),
            "estimated_high": round(res["high"], 1), "estimator": res["estimator"],
            "estimate_range_from": res["range_from"]}
