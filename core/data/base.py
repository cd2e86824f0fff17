"""The dataset type every domain loader returns, and the domain error."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.utils.data import Dataset

from ..util.modes import unit_float

DIGIT_CLASSES = [str(i) for i in range(10)]
INPUT_KINDS = ("pictures", "points")
MAX_POINT_DIM = 64  # widest point a point domain may hold (the toy domains have 2)


class DomainError(ValueError):
    """An unknown domain name, or a domain that cannot be loaded (offline, bad folder, ...)."""


@dataclass
class TensorDomain(Dataset):
    """A whole domain split held as tensors.

    images: uint8 (N, 3, H, W) pictures — or, for a *point domain* (the 2-D toy data sets,
    :mod:`core.data.toy`), float32 (N, D) points with 1 ≤ D ≤ :data:`MAX_POINT_DIM`; labels: int64
    (N,). :attr:`input_kind` says which ("pictures" or "points"), :attr:`input_size` is the picture
    side or the point dimension. Items are ``(float image in [0, 1] or float point, int label)``,
    so it is a regular map-style dataset; the engine instead takes ``images``/``labels`` whole and
    keeps them resident on the training device (batches are gathers by index either way, so feeds,
    splits and evaluation serve both kinds unchanged).

    A multi-source domain (``load_domain("mnist+syndigits")``) also carries ``domain_ids``: int64
    (N,), the index into ``domain_names`` of the source each image came from (``None`` for a
    single domain).
    """

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str] = field(default_factory=lambda: list(DIGIT_CLASSES))
    skipped: dict[str, str] = field(default_factory=dict)  # file name -> why it was skipped
    domain_ids: torch.Tensor | None = None   # (N,) int64 source index, multi-source domains only
    domain_names: list[str] | None = None    # the sources, in the order domain_ids count them

    def __post_init__(self):
        pictures = self.images.dtype == torch.uint8 and self.images.ndim == 4 and self.images.shape[1] == 3
        points = (self.images.dtype == torch.float32 and self.images.ndim == 2
                  and 1 <= self.images.shape[1] <= MAX_POINT_DIM)
        if not (pictures or points):
            raise ValueError(f"images must be uint8 pictures (N, 3, H, W) or float32 points (N, D ≤ {MAX_POINT_DIM}), "
                             f"got {tuple(self.images.shape)} {self.images.dtype}")
        if len(self.images) != len(self.labels):
            raise ValueError("images and labels differ in length")
        self.labels = self.labels.long()
        if self.domain_ids is not None:
            if len(self.domain_ids) != len(self.labels):
                raise ValueError("domain_ids and labels differ in length")
            self.domain_ids = self.domain_ids.long()
            ids = self.domain_ids
            if not self.domain_names or (len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= len(self.domain_names))):
                raise ValueError("domain_ids need a domain_names entry for every id")

    @property
    def num_domains(self) -> int:
        """How many source domains the images come from (1 for a single domain)."""
        return len(self.domain_names) if self.domain_ids is not None else 1

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return unit_float(self.images[i]), int(self.labels[i])

    @property
    def input_kind(self) -> str:
        """"points" for float (N, D) points, "pictures" for uint8 (N, 3, H, W) images."""
        return "points" if self.images.ndim == 2 else "pictures"

    @property
    def input_size(self) -> int:
        """The picture side (H = W), or the dimension D of a point domain's points."""
        return int(self.images.shape[-1])

    def float_images(self, index=None) -> torch.Tensor:
        """Images (or a subset) as float32 in [0, 1]."""
        return unit_float(self.images if index is None else self.images[index])

    def __repr__(self) -> str:
        size = f"dim={self.input_size}" if self.input_kind == "points" else f"size={self.input_size}"
        return f"TensorDomain({self.name!r}, {self.split!r}, n={len(self)}, {size}, classes={len(self.classes)})"
