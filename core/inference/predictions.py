"""Prediction helpers for people's pictures and for side-by-side model comparisons.

Everything the app's Predict, Compare and Distill pages compute lives here, so the pages stay
UI-only and the maths is testable without Streamlit:

    rows, errors = predict_uploads({"source only": m0, "adapted": m1}, [("a.png", data)])
    summary = summarize(rows, ["source only", "adapted"])        # agreement, accuracy
    frame = rows_to_frame(rows, ["source only", "adapted"])      # for a table / CSV

Uploads are decoded by :mod:`core.imageio.uploads` (once per distinct file with a cache, within limits on
files, pixels per picture and pixels per batch) through :mod:`core.imageio`, so an upload is
preprocessed exactly as folder domains are. A file that cannot be read is reported in ``errors``
with the reason and the rest of the batch is still predicted.
"""

from __future__ import annotations

import statistics
import time
from typing import Mapping, Sequence

import torch
from torch import nn

from ..imageio.uploads import UploadCache, decode_uploads
from ..util.modes import evaluating, unit_float

__all__ = ["Prediction", "csv_safe", "latency_ms", "predict_batch", "predict_uploads", "probabilities",
           "rows_to_frame", "summarize"]

Prediction = dict  # one row: {"name", "label", "predictions": {model: [(class, prob) × k]}, "agree", ...}


def _input_size(model: nn.Module, default: int = 28) -> int:
    size = getattr(model, "input_size", None)
    if size is None:
        size = getattr(model, "spec", {}).get("input_size", default)
    return int(size)


def _class_names(model: nn.Module, given: Sequence[str] | None) -> list[str]:
    if given is not None:
        return [str(c) for c in given]
    n = int(getattr(model, "num_classes", 0) or 0)
    return [str(i) for i in range(n)] if n else []


@torch.inference_mode()
def probabilities(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Softmax outputs (N, C) on CPU for float images in [0, 1] (or uint8, scaled by 1/255)."""
    if len(images) == 0:
        return torch.empty((0, int(getattr(model, "num_classes", 0) or 0)))
    try:
        device = next(model.parameters()).device
    except StopIteration:  # pragma: no cover - a model without parameters
        device = torch.device("cpu")
    with evaluating(model):
        return torch.softmax(model(unit_float(images.to(device))).float(), dim=1).cpu()


def predict_batch(models: Mapping[str, nn.Module], images: torch.Tensor | Mapping[int, torch.Tensor],
                  names: Sequence[str], labels: Sequence[int] | None = None,
                  class_names: Mapping[str, Sequence[str]] | Sequence[str] | None = None,
                  k: int = 3) -> list[Prediction]:
    """Top-``k`` predictions of every model for every image, and whether the models agree.

    ``images``: one batch (N, 3, H, W) for all models, ``{input_size: batch}`` when the models take
    different sizes, or ``{model name: batch (or {input_size: batch})}`` when each model sees the
    pictures its own way (``normalize="auto"``). ``class_names``: one list for all models or ``{model: list}``.
    ``labels`` (ints, optional) adds ``label`` and ``correct`` per model to each row.

    Each row: ``name``, ``label`` (class name or None), ``predictions`` {model: [(class, prob), …]}
    with probabilities in [0, 1] best first, ``top1`` {model: class}, ``agree`` (all models' top-1
    equal), ``image`` (the picture as the first model saw it, uint8 (3, H, W)), ``inputs`` {model:
    the picture as that model saw it} and, with labels, ``correct`` {model: bool}.
    """
    if not models:
        raise ValueError("predict_batch needs at least one model")
    n = len(names)
    tops: dict[str, list[list[tuple[str, float]]]] = {}
    seen: dict[str, torch.Tensor] = {}
    first_classes: list[str] | None = None
    for model_name, model in models.items():
        batch = images[model_name] if isinstance(images, Mapping) and model_name in images else images
        batch = batch[_input_size(model)] if isinstance(batch, Mapping) else batch
        seen[model_name] = batch if batch.dtype == torch.uint8 else (batch.clamp(0, 1) * 255).round().to(torch.uint8)
        if len(batch) != n:
            raise ValueError(f"{len(batch)} images but {n} names")
        given = class_names.get(model_name) if isinstance(class_names, Mapping) else class_names
        classes = _class_names(model, given)
        first_classes = first_classes or classes
        probs = probabilities(model, batch)
        kk = min(k, probs.shape[1]) if probs.ndim == 2 and probs.shape[1] else 0
        vals, idx = probs.topk(kk, dim=1) if kk else (torch.empty(n, 0), torch.empty(n, 0, dtype=torch.long))
        tops[model_name] = [[(classes[j] if j < len(classes) else str(j), float(v))
                             for v, j in zip(vals[i].tolist(), idx[i].tolist())] for i in range(n)]
    first = next(iter(models))
    rows = []
    for i, name in enumerate(names):
        preds = {m: tops[m][i] for m in models}
        top1 = {m: (p[0][0] if p else None) for m, p in preds.items()}
        row: Prediction = {"name": name, "label": None, "predictions": preds, "top1": top1,
                           "agree": len(set(top1.values())) == 1, "image": seen[first][i],
                           "inputs": {m: seen[m][i] for m in models}}
        if labels is not None:
            y = int(labels[i])
            label = first_classes[y] if first_classes and y < len(first_classes) else str(y)
            row["label"] = label
            row["correct"] = {m: t == label for m, t in top1.items()}
        rows.append(row)
    return rows


def predict_uploads(models: Mapping[str, nn.Module], named_bytes: Sequence[tuple],
                    size: int | None = None, class_names=None, k: int = 3, cache: UploadCache | None = None,
                    normalize: str | None = None, choices: dict | None = None) -> tuple[list[Prediction], dict[str, str]]:
    """Decode uploaded files and predict them with every model.

    ``named_bytes``: ``[(file name, bytes), …]`` (or ``(name, bytes, sha256)``, see
    :func:`core.imageio.uploads.decode_uploads`). ``size``: the input size for all models (by default
    each model's own). ``cache``: an :class:`~core.imageio.uploads.UploadCache`, so that files already
    seen are not decoded again. Returns ``(rows, errors)``: rows as :func:`predict_batch` for the
    files that could be read, in input order, each with a ``thumbnail`` (uint8 (h, w, 3)), and
    ``{file name: reason}`` for those that could not, or that went over a limit of
    :mod:`core.imageio.uploads` (files per batch, pixels per picture and per batch). Duplicate names are
    made unique (``a.png``, ``a.png (2)``) so every file keeps its row. ``normalize``: ``"centre"``
    centres every picture like MNIST before the models see it (:func:`core.imageio.centre_like_mnist`);
    each row's ``image`` is then the centred picture, its ``thumbnail`` the original. ``"auto"``
    decides for each model and this batch from its predictions, label-free
    (:func:`core.inference.normalize.choose_normalization`); ``choices``, a dict, receives
    ``{model name: NormalizeChoice}`` (what was chosen and why).
    """
    from .normalize import VARIANTS, check_ingest, choose_normalization

    if not models:
        raise ValueError("predict_uploads needs at least one model")
    wanted = check_ingest(normalize)
    sizes = {size} if size else {_input_size(m) for m in models.values()}
    decoded = {v: decode_uploads(named_bytes, sizes, cache=cache, normalize=v)
               for v in (VARIANTS if wanted == "auto" else (wanted,))}
    batch = next(iter(decoded.values()))
    if not batch.names:
        return [], batch.errors
    images = {}
    for name, model in models.items():
        side = size or _input_size(model)
        if wanted == "auto":
            choice = choose_normalization(model, {v: d.tensors[side] for v, d in decoded.items()})
        else:
            from .normalize import NormalizeChoice

            choice = NormalizeChoice(wanted, "asked for", "", {})
        images[name] = decoded[choice.normalize].tensors[side]
        if choices is not None:
            choices[name] = choice
    rows = predict_batch(models, images, batch.names, class_names=class_names, k=k)
    for row, thumbnail in zip(rows, batch.thumbnails):
        row["thumbnail"] = thumbnail
    return rows, batch.errors


def summarize(rows: Sequence[Prediction], model_names: Sequence[str]) -> dict:
    """Batch summary: ``n``, ``agreement`` (% of rows where all models agree) and ``accuracy``
    {model: % correct} over the rows that carry a label (None when no row has one)."""
    n = len(rows)
    agreement = 100.0 * sum(r["agree"] for r in rows) / n if n else float("nan")
    labelled = [r for r in rows if r.get("label") is not None and "correct" in r]
    accuracy = {m: (100.0 * sum(r["correct"][m] for r in labelled) / len(labelled) if labelled else None)
                for m in model_names}
    return {"n": n, "agreement": agreement, "labelled": len(labelled), "accuracy": accuracy}


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(text: str) -> str:
    """A user-supplied string made safe for spreadsheets: one starting like a formula (``=``,
    ``+``, ``-``, ``@``, tab, CR) gets a leading apostrophe, so Excel / LibreOffice show it as text
    instead of running it (OWASP "CSV injection")."""
    text = str(text)
    return "'" + text if text.startswith(_FORMULA_START) else text


def rows_to_frame(rows: Sequence[Prediction], model_names: Sequence[str]):
    """A flat :class:`pandas.DataFrame`: file, label, per model its prediction, confidence (%) and
    top-k, then agreement (and correctness when labelled). Ready for ``to_csv``."""
    import pandas as pd

    records = []
    for r in rows:
        rec = {"file": csv_safe(r["name"]), "label": r.get("label")}
        for m in model_names:
            preds = r["predictions"][m]
            rec[f"{m}: prediction"] = preds[0][0] if preds else None
            rec[f"{m}: confidence %"] = round(100.0 * preds[0][1], 2) if preds else None
            rec[f"{m}: top-3"] = ", ".join(f"{c} {100 * p:.1f}%" for c, p in preds)
            rec[f"{m}: prediction"] = csv_safe(rec[f"{m}: prediction"]) if preds else None
            if "correct" in r:
                rec[f"{m}: correct"] = bool(r["correct"][m])
        rec["models agree"] = bool(r["agree"])
        records.append(rec)
    frame = pd.DataFrame.from_records(records)
    if not records:
        frame = pd.DataFrame(columns=["file", "label", "models agree"])
    if frame["label"].isna().all():
        frame = frame.drop(columns=["label"])
    return frame


# ------------------------------------------------------------------------------ model facts

@torch.inference_mode()
def latency_ms(model: nn.Module, batch_size: int = 1, repeats: int = 20, warmup: int = 3,
               size: int | None = None, device: str | torch.device = "cpu") -> dict[str, float]:
    """Wall-clock time of one forward pass on ``batch_size`` random images, in milliseconds.

    Returns ``{"median", "p90", "per_image"}`` over ``repeats`` timed runs after ``warmup`` runs.
    The model is run where its parameters live unless ``device`` says otherwise (it is not moved:
    pass a model already on ``device``).
    """
    if batch_size < 1 or repeats < 1:
        raise ValueError("batch_size and repeats must be positive")
    size = size or _input_size(model)
    try:
        dev = next(model.parameters()).device
    except StopIteration:  # pragma: no cover
        dev = torch.device(device)
    x = torch.rand(batch_size, 3, size, size, device=dev)
    with evaluating(model):
        times = _timed(model, x, dev, warmup, repeats)
    times.sort()
    median = statistics.median(times)
    return {"median": median, "p90": times[min(len(times) - 1, int(0.9 * len(times)))],
            "per_image": median / batch_size}


def _timed(model: nn.Module, x: torch.Tensor, dev: torch.device, warmup: int, repeats: int) -> list[float]:
    """Milliseconds of each of ``repeats`` forward passes after ``warmup`` untimed ones."""
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        model(x)
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        model(x)
        sync()
        times.append(1000.0 * (time.perf_counter() - t))
    return times
