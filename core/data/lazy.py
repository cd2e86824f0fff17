"""Pictures that stay on disk: a split held as a lazy uint8 (N, 3, S, S) "tensor".

* :class:`FileImages` — pictures in their folder or zip, decoded on demand through the one ingest
  door (:func:`core.imageio.read_image_bounded` → :func:`core.imageio.image_to_tensor` → uint8),
  so a streamed picture is the same tensor a resident load gives;
* :class:`ResizedImages` — a resident named split kept at its own size and resized batch by batch
  (CIFAR at 224 px) with the interpolation :func:`core.data.load_domain` applies to a whole split;
* :class:`FileItems` — one picture per item for a ``DataLoader`` (the streamed feed, evaluation).
"""

from __future__ import annotations

import zipfile
import zlib

import torch
import torch.nn.functional as F

#: Files a streamed folder or zip may hold (the resident path stops at core.data.folder.MAX_FILES).
MAX_STREAM_FILES = 5_000_000


def decoded_bytes(n: int, size: int) -> int:
    """Bytes ``n`` pictures take resident: uint8 (n, 3, size, size)."""
    return int(n) * 3 * int(size) * int(size)


# ---------------------------------------------------------------------------------------- lazy splits

class LazyImages:
    """A split's pictures as a lazy uint8 (N, 3, S, S) "tensor": it has ``shape``, ``dtype``,
    ``ndim`` and ``len`` and can be indexed (an int, a slice, a list or index tensor), which reads
    just those pictures — so a :class:`~core.data.TensorDomain` can hold one, and code that only
    indexes its images (evaluation, few-shot selection, galleries) works unchanged.

    Subclasses implement :meth:`load`; unreadable pictures are recorded in :attr:`skipped`
    (name → why); direct indexing returns them as black pictures (the feeds and
    :func:`evaluate_accuracy` leave them out instead).
    """

    dtype = torch.uint8
    ndim = 4
    kind = "lazy"

    def __init__(self, n: int, size: int):
        self.n, self.size = int(n), int(size)
        self.skipped: dict[str, str] = {}

    @property
    def shape(self) -> torch.Size:
        return torch.Size((self.n, 3, self.size, self.size))

    def __len__(self) -> int:
        return self.n

    @property
    def nbytes(self) -> int:
        return decoded_bytes(self.n, self.size)

    def load(self, indices: list[int]) -> tuple[torch.Tensor, list[tuple[int, str, str]]]:
        """Pictures ``indices`` as uint8 (k, 3, S, S) and the unreadable ones as (position, name, why)."""
        raise NotImplementedError

    def __getitem__(self, index) -> torch.Tensor:
        if isinstance(index, int):
            return self[[index]][0]
        if isinstance(index, slice):
            index = list(range(*index.indices(self.n)))
        elif isinstance(index, torch.Tensor):
            index = index.flatten().tolist() if index.dtype != torch.bool else index.nonzero().flatten().tolist()
        x, bad = self.load([int(i) for i in index])
        for pos, name, why in bad:
            x[pos] = 0
            self.skipped[name] = why
        return x

    def subset(self, indices) -> "LazyImages":
        """The same kind of lazy view over pictures ``indices`` only (nothing is read); its
        unreadable pictures are recorded in this view's :attr:`skipped`."""
        raise NotImplementedError

    def to(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} stays on disk; read it through core.data.feed (it is streamed)")


class FileImages(LazyImages):
    """Pictures that stay in their folder or zip: entries (name, class, read-bytes callable) from
    :func:`core.data.folder.list_image_folder`, decoded on demand at ``size``."""

    kind = "stream"

    def __init__(self, entries: list, size: int):
        super().__init__(len(entries), size)
        self.names = [e[0] for e in entries]
        self.readers = [e[2] for e in entries]

    def subset(self, indices) -> "FileImages":
        picked = [int(i) for i in indices]
        view = FileImages([(self.names[i], None, self.readers[i]) for i in picked], self.size)
        view.skipped = self.skipped
        return view

    def read_one(self, i: int) -> torch.Tensor | None | tuple[str, str]:
        """Picture ``i`` as uint8 (3, S, S), or ``(name, why)`` if it cannot be read."""
        from ..imageio import BadImage, image_to_tensor, read_image_bounded
        from .folder import to_uint8

        try:  # the bounded door, as the resident loader reads (decoded memory bounded by the size)
            return to_uint8(image_to_tensor(read_image_bounded(self.readers[i](), self.size), self.size))
        except (BadImage, OSError, zipfile.BadZipFile, zlib.error, EOFError) as err:  # a file gone or broken mid-run
            return self.names[i], str(err) or type(err).__name__

    def load(self, indices):
        out = torch.zeros((len(indices), 3, self.size, self.size), dtype=torch.uint8)
        bad = []
        for pos, i in enumerate(indices):
            got = self.read_one(i)
            if isinstance(got, tuple):
                bad.append((pos, *got))
            else:
                out[pos] = got
        return out, bad


class ResizedImages(LazyImages):
    """A resident uint8 split at its own size, resized to ``size`` batch by batch — the same
    bilinear, antialiased interpolation :func:`core.data.load_domain` applies to a whole split (it
    works picture by picture, so the values are the same)."""

    kind = "resized"

    def __init__(self, images: torch.Tensor, size: int):
        super().__init__(len(images), size)
        self.base = images

    def subset(self, indices) -> "ResizedImages":
        view = ResizedImages(self.base[torch.as_tensor(indices, dtype=torch.long)], self.size)
        view.skipped = self.skipped
        return view

    @staticmethod
    def resize(x: torch.Tensor, size: int) -> torch.Tensor:
        y = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True)
        return y.round().clamp(0, 255).to(torch.uint8)

    def load(self, indices):
        return self.resize(self.base[torch.as_tensor(indices, dtype=torch.long)], self.size), []


def is_lazy(images) -> bool:
    return isinstance(images, LazyImages)


class FileItems(torch.utils.data.Dataset):
    """Picture i of a :class:`FileImages` as (uint8 (3, S, S) or None, label, (name, why) or None)."""

    def __init__(self, images: FileImages, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        got = self.images.read_one(i)
        label = int(self.labels[i])
        return (None, label, got) if isinstance(got, tuple) else (got, label, None)


def default_workers(world_size: int = 1, sides: int = 2) -> int:
    """Decoding processes per streamed split: the CPUs this process may use, shared among the
    ranks on this machine and the streamed sides, keeping one for the training loop itself."""
    from ..util.device import available_cpus

    local = max(1, min(world_size, torch.cuda.device_count() or world_size))
    return max(1, (available_cpus() // local - 1) // max(1, sides))
