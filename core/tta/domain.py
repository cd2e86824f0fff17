"""Test-time adaptation of a saved model to a domain: what ``python -m core adapt`` does.

    summary = adapt_to_domain(target="folder:my_photos", method="shot_im", out_dir="runs/adapted")

Loads the model (a checkpoint path or a zoo name, :func:`core.zoo.refs.load_ref`), takes up to
``max_images`` unlabelled pictures of the target's *train* split (labels are never read), adapts
with :func:`core.tta.adapt`, scores the model before and after on the target's *test* split (for
reporting only) and saves the model that came out (the adapted copy, or the original when the
guard kept it) as a checkpoint whose card records the adaptation.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

#: The model adapted when none is named: the universal digits model (``python -m core zoo universal`` writes it
#: here; the zoo may ship it under another name).
DEFAULT_MODEL = str(Path(__file__).resolve().parents[2] / "pretrained" / "universal")


def load_pictures(target: str, split: str, size: int, normalize: str | None, classes: list[str] | None = None):
    """The target split as float pictures (N, 3, size, size) and labels (renumbered by name to
    ``classes``, a model's class names, when given). With ``normalize="centre"`` every picture goes
    through :func:`core.imageio.centre_like_mnist` (from a 4× larger load, so photos keep their detail)."""
    from ..data import load_domain
    from ..imageio import centre_batch, normalize_mode

    if normalize_mode(normalize) == "centre":
        domain = load_domain(target, split, size=4 * size, classes=classes)
        return centre_batch(domain.images, size), domain.labels
    domain = load_domain(target, split, size=size, classes=classes)
    return domain.float_images(), domain.labels


def ingest(model, target: str, size: int, normalize: str | None, classes: list[str], max_images: int = 500,
           seed: int = 0):
    """Up to ``max_images`` unlabelled train pictures (a fixed draw by ``seed``) and the test split of
    ``target``, read the way
    ``normalize`` says; ``"auto"`` chooses per batch from the model's predictions on the train
    pictures (:func:`core.inference.normalize.choose_normalization`) and reads the test split the
    same way. Returns ``(train_x, test_x, test_y, normalize used, reason)``."""
    from ..inference.normalize import VARIANTS, check_ingest, choose_normalization

    wanted = check_ingest(normalize)
    options = VARIANTS if wanted == "auto" else (wanted,)
    train, pick = {}, None
    for option in options:
        x, _ = load_pictures(target, "train", size, option, classes)  # the labels are not used
        if pick is None:
            pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:max_images].sort().values
        train[option] = x[pick]
    if wanted == "auto":
        choice = choose_normalization(model, train)
        used, reason = choice.normalize, choice.reason
    else:
        used, reason = wanted, "asked for"
    test_x, test_y = load_pictures(target, "test", size, used, classes)
    return train[used], test_x, test_y, used, reason


def adapt_to_domain(model_ref: str | None = None, target: str = "mnistm", method: str | None = None, *,
                    device: str = "cpu", out_dir: str | Path | None = None, max_images: int = 500,
                    normalize: str | None = "auto", seed: int = 0, settings: dict | None = None) -> dict:
    """Adapt ``model_ref`` (default :data:`DEFAULT_MODEL`) to ``target``'s unlabelled train pictures.

    Returns a JSON-able dict: ``model, method, target, before_acc, after_acc, seconds, checkpoint,
    verdict, reason, n_images, adapt_seconds, before, after`` (the label-free statistics),
    ``normalize`` (what the pictures went through: ``"auto"`` chooses, see :func:`ingest`) and
    ``normalize_reason``. ``seconds`` is the whole call; ``adapt_seconds`` the adaptation alone.
    """
    from ..checkpoints import save
    from ..evaluation import accuracy, predict_logits
    from ..zoo.refs import load_ref
    from .guard import DEFAULT_METHOD, adapt, adapted_card

    method = method or DEFAULT_METHOD
    started = time.perf_counter()
    ref = model_ref or DEFAULT_MODEL
    if model_ref is None and not Path(ref).exists():
        raise ValueError(f"no default model at {ref}: train it with `python -m core zoo universal` "
                         "or name one with --model (a checkpoint folder/zip or a zoo name)")
    model, card = load_ref(ref, device)
    size = int(card["input_size"])
    if max_images < 1:
        raise ValueError(f"max_images must be ≥ 1, got {max_images}")
    classes = list(card["class_names"])
    pictures, test_x, test_y, normalize, normalize_reason = ingest(model, target, size, normalize, classes,
                                                                   max_images, seed)
    scored = len(test_y) > 0  # a folder too small to have a test split: nothing to report
    before_acc = accuracy(predict_logits(model, test_x), test_y) if scored else None
    result = adapt(model, pictures, method, seed=seed, **(settings or {}))
    after_acc = accuracy(predict_logits(result.model, test_x), test_y) if scored and result.adapted else before_acc
    checkpoint = None
    if out_dir is not None:
        new_card = adapted_card(result, card, adapted_from=ref, target=target, normalize=normalize,
                                seed=seed, device=device,
                                metrics={"target_acc": after_acc, "before_tta_acc": before_acc})
        checkpoint = str(save(result.model, new_card, out_dir))
    return {"model": ref, "method": method, "target": target,
            "before_acc": None if before_acc is None else round(before_acc, 3),
            "after_acc": None if after_acc is None else round(after_acc, 3), "seconds": round(time.perf_counter() - started, 2),
            "adapt_seconds": round(result.seconds, 3), "checkpoint": checkpoint, "verdict": result.verdict,
            "reason": result.reason, "n_images": result.n_images, "before": result.before,
            "after": result.after, "normalize": normalize, "normalize_reason": normalize_reason}
