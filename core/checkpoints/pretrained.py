"""Initial weights for a backbone: a local safetensors state dict, or torchvision's ImageNet weights.

``--pretrained PATH`` (``TrainConfig.pretrained``) names one of

* a ``.safetensors`` file holding a state dict in **torchvision naming** for the ResNets
  (``conv1.weight``, ``layer1.0.bn1.running_mean``, …; an ``fc.*`` ImageNet head is ignored) or
  the digits CNN's own naming (``conv.0.weight``, ``fc.1.weight``, …);
* a ShiftLab checkpoint (a folder holding ``model.safetensors`` + ``card.json``, or its zip):
  its backbone is taken, its head left behind — the "pre-train, then fine-tune" recipe;
* ``imagenet``: torchvision's ImageNet-1k weights (ResNet-18 ``IMAGENET1K_V1``, ResNet-50
  ``IMAGENET1K_V2``), downloaded once into torch's hub cache when the machine is online. Offline,
  and not cached, :func:`check_pretrained` fails at once — before any data is loaded or any step
  is trained — naming ``--pretrained PATH`` as the way out.

Files enter through the checkpoints' bounded readers (:func:`core.checkpoints.store.read_source`,
:func:`~core.checkpoints.store.read_file`: sizes checked before reading, whatever a header claims)
and are parsed with ``safetensors`` only: loading runs no code from them. A file that does not fit
the architecture raises :class:`PretrainedError` naming the first tensor that does not fit (in the
network's own order), its shape and the expected one.

>>> check_pretrained("digits_cnn", None)   # nothing to check
"""

from __future__ import annotations

import socket
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from .card import PICKLE_SUFFIXES, BadCheckpoint
from .store import MAX_BYTES, parse_card, read_file, read_source
from .tensors import parse_header

IMAGENET = "imagenet"
#: torchvision weight enums per architecture (``getattr(torchvision.models, enum).member``)
IMAGENET_WEIGHTS = {"resnet18": ("ResNet18_Weights", "IMAGENET1K_V1"),
                    "resnet50": ("ResNet50_Weights", "IMAGENET1K_V2")}
MAX_FILE_BYTES = MAX_BYTES        # a pretrained file larger than this is refused (ResNet-50 fp32: ~100 MB)
ONLINE_TIMEOUT_S = 3.0            # how long the "is the weights server reachable" probe may take


class PretrainedError(ValueError):
    """A ``--pretrained`` value that cannot initialise the chosen architecture (the message says why)."""


def _imagenet_weights(arch: str):
    if arch not in IMAGENET_WEIGHTS:
        raise PretrainedError(f"no ImageNet weights for {arch!r} (torchvision has them for "
                              f"{', '.join(IMAGENET_WEIGHTS)}); use --pretrained PATH with a safetensors file")
    import torchvision.models as tvm

    enum, member = IMAGENET_WEIGHTS[arch]
    return getattr(getattr(tvm, enum), member)


def _hub_file(weights) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name


def _reachable(url: str, timeout: float = ONLINE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to ``url``'s host opens within ``timeout`` seconds."""
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def check_imagenet_available(arch: str) -> None:
    """Return if torchvision's ImageNet weights for ``arch`` are cached or downloadable; otherwise
    raise :class:`PretrainedError` at once (a few seconds at most), naming the local-file alternative."""
    weights = _imagenet_weights(arch)
    if _hub_file(weights).exists():
        return
    if not _reachable(weights.url):
        raise PretrainedError(
            f"--pretrained imagenet needs torchvision's {arch} weights, which are not cached "
            f"({_hub_file(weights)}) and cannot be downloaded: this machine is offline "
            f"({urlparse(weights.url).hostname} is unreachable). Copy a safetensors state dict "
            f"(torchvision naming) here and pass --pretrained PATH instead")


def _imagenet_state(arch: str) -> dict[str, torch.Tensor]:
    check_imagenet_available(arch)
    weights = _imagenet_weights(arch)
    try:  # torchvision reads its .pth with torch.load(weights_only=True): tensors only, no code
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as err:  # noqa: BLE001 - a failed or corrupt download
        raise PretrainedError(f"could not fetch torchvision's ImageNet weights for {arch} "
                              f"({type(err).__name__}: {err}); use --pretrained PATH") from err


def _read(path: Path, origin: str) -> tuple[bytes, dict | None]:
    """The safetensors bytes behind ``path`` and, for a ShiftLab checkpoint (folder or zip), its
    validated card — read through the checkpoints' bounded readers (:func:`.store.read_source`,
    :func:`.store.read_file`): every size is checked before reading and no read goes past
    :data:`MAX_FILE_BYTES`, whatever a header claims."""
    try:
        if path.is_dir() or zipfile.is_zipfile(path):
            card_data, weights, _ = read_source(path, MAX_FILE_BYTES)
            return weights, parse_card(card_data)
        return read_file(path, MAX_FILE_BYTES), None
    except BadCheckpoint as err:
        raise PretrainedError(f"{origin}: {err}") from None


def _file_state(spec: str, arch: str) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    path = Path(spec).expanduser()
    origin = f"--pretrained {spec!r}"
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise PretrainedError(f"{origin} looks like a pickle, which is refused because loading it can run code; "
                              "convert it once with safetensors.torch.save_file(torch.load(f, weights_only=True), "
                              "'x.safetensors')")
    if not path.exists():
        raise PretrainedError(f"{origin}: no such file or folder; give a safetensors state dict, "
                              f"a ShiftLab checkpoint, or 'imagenet'")
    data, card = _read(path, origin)
    if card is not None:
        their = (card.get("model") or {}).get("arch")
        if their != arch:
            raise PretrainedError(f"{origin} is a {their} checkpoint; it cannot initialise {arch}")
    try:
        parse_header(data)  # sizes, dtypes and offsets checked before safetensors reads a tensor
        state = load_safetensors(data)
    except (BadCheckpoint, SafetensorError, ValueError, RuntimeError) as err:
        raise PretrainedError(f"{origin} is not a readable safetensors file ({err})") from None
    return _backbone_keys(state, arch)


def _backbone_keys(state: dict[str, torch.Tensor], arch: str) -> dict[str, torch.Tensor]:
    """The tensors in the backbone's own naming: a ShiftLab classifier's ``backbone.[net.]*`` keys
    are stripped of their prefix (its ``head.*`` dropped); torchvision's ``fc.*`` head is dropped;
    the constant normalisation buffers (``normalize.*``) are ignored."""
    if state and all(k.startswith(("backbone.", "head.", "extras.")) for k in state):
        prefix = "backbone.net." if arch.startswith("resnet") else "backbone."
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return {k: v for k, v in state.items() if not k.startswith(("fc.", "normalize."))}


def _target(module: nn.Module) -> nn.Module:
    """The module whose state-dict names a pretrained file uses (a ResNet's torchvision ``net``)."""
    return getattr(module, "net", module)


def _expected(module: nn.Module) -> dict[str, torch.Size]:
    return {k: v.shape for k, v in _target(module).state_dict().items()
            if not k.startswith(("fc.", "normalize."))}


def check_fits(state_shapes: dict[str, tuple], expected: dict[str, torch.Size], arch: str, origin: str) -> None:
    """PretrainedError naming the first tensor (in the network's order) that is missing or has the
    wrong shape, then the first one the network does not have."""
    for name, shape in expected.items():
        if name not in state_shapes:
            raise PretrainedError(f"{origin} does not fit {arch}: it lacks tensor {name!r} "
                                  f"(shape {tuple(shape)}); a {arch} state dict in torchvision naming is expected")
        if tuple(state_shapes[name]) != tuple(shape):
            raise PretrainedError(f"{origin} does not fit {arch}: tensor {name!r} has shape "
                                  f"{tuple(state_shapes[name])}, {arch} expects {tuple(shape)}")
    extra = [k for k in state_shapes if k not in expected]
    if extra:
        raise PretrainedError(f"{origin} does not fit {arch}: it has tensor {extra[0]!r} that {arch} does not have"
                              + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))


def pretrained_state(spec: str, arch: str) -> dict[str, torch.Tensor]:
    """The backbone tensors named by ``spec`` (``"imagenet"`` or a path), in the backbone's naming."""
    if spec == IMAGENET:
        return _backbone_keys(_imagenet_state(arch), arch)
    return _file_state(spec, arch)


def read_pretrained(arch: str, spec: str | None, input_size: int | None = None) -> dict[str, torch.Tensor] | None:
    """The initial backbone weights ``spec`` names for ``arch`` — read once, through the bounded
    readers — after checking that every tensor fits the network (built on the meta device: no
    memory); None without a ``spec``. PretrainedError at once (before any data is loaded) for
    ImageNet weights that are neither cached nor downloadable, a missing, oversized or unreadable
    file, or one whose tensors do not fit. :func:`apply_backbone_state` puts them in a model."""
    if not spec:
        return None
    from ..models import build_model

    state = pretrained_state(spec, arch)
    with torch.device("meta"):
        model = build_model({"arch": arch, "num_classes": 2, **({"input_size": input_size} if input_size else {})})
    origin = "torchvision's ImageNet weights" if spec == IMAGENET else f"--pretrained {spec!r}"
    check_fits({k: v.shape for k, v in state.items()}, _expected(model.backbone), arch, origin)
    return state


def check_pretrained(arch: str, spec: str | None, input_size: int | None = None) -> None:
    """:func:`read_pretrained` for its errors alone."""
    read_pretrained(arch, spec, input_size)


def apply_backbone_state(backbone: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy :func:`read_pretrained`'s tensors into ``backbone`` (a digits CNN or a ResNet backbone)."""
    with torch.no_grad():
        _target(backbone).load_state_dict(state, strict=False)  # normalize.* and fc.* deliberately absent
