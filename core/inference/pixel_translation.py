"""Pictures redrawn by a pixel-level GAN's generator (``pixel_gan``), for the CLI and the app.

    images, labels, index = translated_samples(generator, domain, n=16, seed=0)
    translate_domain("mnist->mnistm/pixel_gan", "mnist", "test", 64, 0, out_dir)

The generator travels inside the checkpoint as an extra module (``card["extras"]["generator"]``,
see :mod:`core.checkpoints`); a checkpoint without one cannot translate, and a domain whose picture
size or channels differ from the generator's is refused with a message saying so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..util.modes import unit_float


def load_generator(ref: str):
    """``(generator, card)`` of a checkpoint folder/zip or zoo name; ValueError when it has none."""
    from pathlib import Path as _P

    from .. import checkpoints, zoo
    from ..zoo.refs import is_path

    if is_path(ref):
        _, card, extras = checkpoints.load_with_extras(_P(ref).expanduser())
    else:
        _, card, extras = checkpoints.load_with_extras(zoo.model_dir(ref))
    if "generator" not in extras:
        raise ValueError(f"{ref} has no generator, so it cannot translate pictures: it is a {card.get('method')!r} "
                         "model; train one with --method pixel_gan (or use the zoo's */pixel_gan models)")
    return extras["generator"].eval(), card


def check_domain_fits(generator, domain) -> None:
    """ValueError when the domain's pictures are not the size (or channel count) the generator takes."""
    size = int(generator.spec.get("input_size", 28))
    if domain.images.shape[1] != 3:
        raise ValueError(f"{domain.name} has {domain.images.shape[1]} channels; the generator takes RGB (3)")
    if domain.input_size != size:
        raise ValueError(f"{domain.name} pictures are {domain.input_size}×{domain.input_size} pixels; this generator "
                         f"redraws {size}×{size} pictures (load the domain at that size, or train another generator)")


@torch.no_grad()
def translated_samples(generator, domain, n: int, seed: int, z: torch.Tensor | None = None):
    """``n`` pictures of ``domain`` (a fixed sample by ``seed``) and their translations:
    ``(source uint8 (n,3,H,W), translated uint8 (n,3,H,W), labels (n,), indices (n,))``."""
    from ..models.generators import translate
    from ..data.sampling import sample_indices

    check_domain_fits(generator, domain)
    index = torch.from_numpy(sample_indices(len(domain), n, seed)).long()
    x = unit_float(domain.images[index])
    rng = torch.Generator().manual_seed(seed)
    y = translate(generator, x, z=z, generator_rng=rng)
    as_u8 = lambda t: (t.clamp(0, 1) * 255).round().to(torch.uint8)  # noqa: E731
    return as_u8(x), as_u8(y), domain.labels[index], index


def translate_domain(ref: str, domain_name: str | None, split: str, n: int, seed: int, out_dir: Path) -> dict:
    """Write ``n`` translations of ``domain_name`` (default: the checkpoint's source) to ``out_dir`` as
    ``<index>_<label>.png`` (label = the source label's class name); returns a summary."""
    from PIL import Image

    from ..data import load_domain

    generator, card = load_generator(ref)
    name = domain_name or card["source"]
    domain = load_domain(name, split)  # at its own size: one the generator was not made for is refused below
    n = min(n, len(domain))
    _, translated, labels, index = translated_samples(generator, domain, n, seed)
    for img, label, i in zip(translated, labels.tolist(), index.tolist()):
        cls = domain.classes[label]
        Image.fromarray(np.ascontiguousarray(img.permute(1, 2, 0).numpy())).save(Path(out_dir) / f"{i}_{cls}.png")
    return {"domain": name, "split": split, "n": n, "seed": seed}
