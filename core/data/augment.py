"""Batched image augmentations on tensors (any device), used by self-training and domain generalisation.

All take and return float images (B, 3, H, W) in [0, 1] and draw randomness from ``generator``.
The weak / strong views of self-training (:func:`weak_augment`, :func:`strong_augment`) also take
the points of a point domain (B, D) (the toy data sets): their views are Gaussian jitter
(:func:`jitter_points`), small for the weak view and larger for the strong one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_translate(x: torch.Tensor, max_shift: int = 2, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each image by up to ``max_shift`` pixels in x and y (edge-replicated padding)."""
    b, _, h, w = x.shape
    pad = F.pad(x, (max_shift,) * 4, mode="replicate")
    dx = torch.randint(0, 2 * max_shift + 1, (b,), device=x.device, generator=generator)
    dy = torch.randint(0, 2 * max_shift + 1, (b,), device=x.device, generator=generator)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None])  # (B, H)
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None])  # (B, W)
    idx_b = torch.arange(b, device=x.device)[:, None, None]
    out = pad.permute(0, 2, 3, 1)[idx_b, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def color_jitter(x: torch.Tensor, strength: float = 0.4, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random brightness, contrast, per-channel gain, channel permutation and inversion."""
    b = x.shape[0]
    rand = lambda *s: torch.rand(*s, device=x.device, generator=generator)
    brightness = (rand(b, 1, 1, 1) - 0.5) * 2 * strength
    contrast = 1 + (rand(b, 1, 1, 1) - 0.5) * 2 * strength
    gain = 1 + (rand(b, 3, 1, 1) - 0.5) * strength
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    y = ((x - mean) * contrast + mean + brightness) * gain
    perm = torch.stack([torch.randperm(3, device=x.device, generator=generator) for _ in range(b)])
    y = torch.gather(y, 1, perm[:, :, None, None].expand_as(y))
    invert = rand(b, 1, 1, 1) < 0.3
    y = torch.where(invert, 1 - y, y)
    return y.clamp(0, 1)


def cutout(x: torch.Tensor, size: int = 8, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill one random square of side 2·(size//2)+1 per image with grey."""
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b, 1, 1), device=x.device, generator=generator)
    cx = torch.randint(0, w, (b, 1, 1), device=x.device, generator=generator)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    mask = ((ys - cy).abs() <= size // 2) & ((xs - cx).abs() <= size // 2)
    return torch.where(mask[:, None], torch.full_like(x, 0.5), x)


#: Jitter (std, in the toy domains' units: their spread is about ±1.5) of the weak and strong views of points.
WEAK_POINT_JITTER, STRONG_POINT_JITTER = 0.05, 0.2


def jitter_points(x: torch.Tensor, std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Points (B, D) plus Gaussian noise of ``std``: x + std · N(0, I)."""
    return x + torch.randn(x.shape, device=x.device, generator=generator, dtype=x.dtype) * std


def weak_augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Small translation only: the view pseudo-labels are read from (points (B, D): small jitter)."""
    if x.ndim == 2:
        return jitter_points(x, WEAK_POINT_JITTER, generator)
    return random_translate(x, 2, generator)


def strong_augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Translation, colour jitter, Gaussian noise and cutout: the view that must agree (points
    (B, D): larger jitter)."""
    if x.ndim == 2:
        return jitter_points(x, STRONG_POINT_JITTER, generator)
    y = color_jitter(random_translate(x, 3, generator), 0.5, generator)
    noise = torch.randn(y.shape, device=y.device, generator=generator) * 0.05
    return cutout((y + noise).clamp(0, 1), 8, generator)


# ---- domain randomisation (domain generalisation, core/methods/dg_randomize.py) ----------------
#
# Every function below takes float images (B, 3, H, W) in [0, 1] and returns the same shape in
# [0, 1], with per-image random parameters drawn from ``generator`` (on the images' device): no
# Python loop over the batch, no host synchronisation.

def _uniform(generator, device, *shape, low=0.0, high=1.0) -> torch.Tensor:
    return low + (high - low) * torch.rand(*shape, device=device, generator=generator)


def _chance(generator, device, b: int, p: float) -> torch.Tensor:
    """(B, 1, 1, 1) bool: True with probability p for each image."""
    return torch.rand(b, 1, 1, 1, device=device, generator=generator) < p


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Rec. 601 luma Y = 0.299 R + 0.587 G + 0.114 B: (B, 3, H, W) → (B, 1, H, W)."""
    w = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def border_colour(x: torch.Tensor, width: int = 1) -> torch.Tensor:
    """Per-image median colour of the ``width``-pixel frame around the image: (B, 3, 1, 1)."""
    top, bottom = x[..., :width, :], x[..., -width:, :]
    left, right = x[..., width:-width, :width], x[..., width:-width, -width:]
    ring = torch.cat([t.flatten(2) for t in (top, bottom, left, right)], dim=2)  # (B, 3, P)
    return ring.median(dim=2).values[..., None, None]


def ink_mask(x: torch.Tensor, background: torch.Tensor | None = None) -> torch.Tensor:
    """Soft "ink-ness" m ∈ [0, 1] of every pixel: how far its luma is from the background's.

        m = |Y − Y_border| / max_hw |Y − Y_border|      (B, 3, H, W) → (B, 1, H, W)

    Exact for two-tone pictures (MNIST: m is the digit itself), approximate for textured ones.
    ``background`` (B, 3, 1, 1): the background colour if known (default: :func:`border_colour`).
    """
    y = luminance(x)
    d = (y - luminance(border_colour(x) if background is None else background)).abs()
    return d / d.amax(dim=(2, 3), keepdim=True).clamp_min(1e-3)


def random_affine(x: torch.Tensor, scale=(0.4, 1.25), max_rotate: float = 20.0, max_stretch: float = 0.1,
                  content_extent: float = 0.72, generator: torch.Generator | None = None,
                  fill: torch.Tensor | None = None) -> torch.Tensor:
    """Scale, rotate, stretch and move the content; the uncovered frame takes the border colour.

    Each image's content is scaled by s ~ U(scale) (MNIST's digit box is ~``content_extent`` = 0.72
    of the frame, so s ∈ [0.4, 1.25] gives a digit of ~30–90 % of the frame), stretched by
    1 ± ``max_stretch`` along one axis, rotated by ±``max_rotate`` degrees and moved by up to what
    keeps the scaled content inside the frame. Built with ``affine_grid``/``grid_sample``:
    p_in = A⁻¹ (p_out − t) in normalised coordinates, bilinear. ``fill`` (B, 3, 1, 1): the colour
    of the uncovered frame (default: :func:`border_colour`).
    """
    b, _, h, w = x.shape
    dev = x.device
    s = _uniform(generator, dev, b, low=scale[0], high=scale[1])
    stretch = 1 + _uniform(generator, dev, b, low=-max_stretch, high=max_stretch)
    sx, sy = s * stretch, s / stretch
    angle = _uniform(generator, dev, b, low=-max_rotate, high=max_rotate) * (torch.pi / 180)
    room_x = (1 - content_extent * sx).clamp_min(0) * 0.9
    room_y = (1 - content_extent * sy).clamp_min(0) * 0.9
    tx = _uniform(generator, dev, b, low=-1, high=1) * room_x
    ty = _uniform(generator, dev, b, low=-1, high=1) * room_y
    cos, sin = torch.cos(angle), torch.sin(angle)
    # inverse of p_out = R S p_in + t:  p_in = S⁻¹ Rᵀ (p_out − t)
    inv = torch.stack([torch.stack([cos / sx, sin / sx], -1), torch.stack([-sin / sy, cos / sy], -1)], -2)  # (B,2,2)
    offset = -(inv @ torch.stack([tx, ty], -1)[..., None])                                               # (B,2,1)
    grid = F.affine_grid(torch.cat([inv, offset], -1), list(x.shape), align_corners=False)
    fill = border_colour(x) if fill is None else fill
    warped = F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return (warped + fill).clamp(0, 1)


def random_colours(b: int, device, generator=None, min_contrast: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """Background and ink colours (B, 3, 1, 1) each: 70 % of pairs differ in brightness by
    ≥ ``min_contrast`` (dark on light or light on dark, half each), 30 % are any two colours at
    least 0.5 apart in RGB (a digit in one colour over another, maybe of equal brightness)."""
    light = _uniform(generator, device, b, 3, 1, 1, low=0.55, high=1.0)
    dark = _uniform(generator, device, b, 3, 1, 1, low=0.0, high=0.55 - min_contrast)
    dark_ink = _chance(generator, device, b, 0.5)
    bg, ink = torch.where(dark_ink, light, dark), torch.where(dark_ink, dark, light)
    any_bg, any_ink = torch.rand(b, 3, 1, 1, device=device, generator=generator), \
        torch.rand(b, 3, 1, 1, device=device, generator=generator)
    too_close = (any_bg - any_ink).norm(dim=1, keepdim=True) < 0.5
    any_ink = torch.where(too_close, 1 - any_bg, any_ink)
    free = _chance(generator, device, b, 0.3)
    return torch.where(free, any_bg, bg), torch.where(free, any_ink, ink)


def _coords(h: int, w: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised pixel coordinates yy, xx in [−1, 1], each (H, W)."""
    return torch.meshgrid(torch.linspace(-1, 1, h, device=device), torch.linspace(-1, 1, w, device=device),
                          indexing="ij")


def procedural_background(base: torch.Tensor, h: int, w: int, generator=None) -> torch.Tensor:
    """A random texture around each base colour (B, 3, 1, 1) → (B, 3, H, W), one kind per image:
    flat, a linear gradient, smooth noise (a 4×4 random field, bilinear) or stripes (a sine wave
    of 1.5–6 cycles per frame at a random angle). The pattern t ∈ [−1, 1] is drawn once per image
    and tinted per channel: background = base + amp · t, amp ∈ [−0.3, 0.3]³."""
    b, dev = base.shape[0], base.device
    yy, xx = _coords(h, w, dev)
    angle = _uniform(generator, dev, b, 1, 1, 1, high=2 * torch.pi)
    along = xx * torch.cos(angle) + yy * torch.sin(angle)                                   # (B,1,H,W)
    field = F.interpolate(torch.rand(b, 1, 4, 4, device=dev, generator=generator) * 2 - 1, size=(h, w),
                          mode="bilinear", align_corners=True)
    freq = _uniform(generator, dev, b, 1, 1, 1, low=1.5, high=6.0)
    phase = _uniform(generator, dev, b, 1, 1, 1, high=2 * torch.pi)
    stripes = torch.sin(torch.pi * freq * along + phase)
    kind = torch.randint(0, 4, (b, 1, 1, 1), device=dev, generator=generator)
    pattern = torch.where(kind == 1, along / 1.5, torch.where(kind == 2, field, stripes)) * (kind != 0)
    amp = _uniform(generator, dev, b, 3, 1, 1, low=-0.3, high=0.3)
    return (base + amp * pattern).clamp(0, 1)


def uneven_illumination(x: torch.Tensor, shadow_p: float = 0.5, generator=None) -> torch.Tensor:
    """Light as a phone photo gets it: a multiplicative field 1 + g·(linear ramp) − v·r² (a
    vignette), and with probability ``shadow_p`` a soft shadow — one side of a random line
    darkened by 20–55 % through a sigmoid edge 0.05–0.4 of the frame wide. One (B, 1, H, W)
    light field multiplies all channels."""
    b, _, h, w = x.shape
    dev = x.device
    yy, xx = _coords(h, w, dev)
    u = torch.rand(b, 8, 1, 1, device=dev, generator=generator)  # every per-image draw at once
    angle, edge_angle = u[:, 0:1] * 2 * torch.pi, u[:, 1:2] * 2 * torch.pi
    ramp = u[:, 2:3] * 0.35 * (xx * torch.cos(angle) + yy * torch.sin(angle))
    vignette = u[:, 3:4] * 0.125 * (xx ** 2 + yy ** 2)
    distance = xx * torch.cos(edge_angle) + yy * torch.sin(edge_angle) - (u[:, 4:5] * 1.6 - 0.8)
    softness = 0.05 + 0.35 * u[:, 5:6]
    depth = (0.2 + 0.35 * u[:, 6:7]) * (u[:, 7:8] < shadow_p)
    light = (1 + ramp - vignette) * (1 - depth * torch.sigmoid(distance / softness))
    return (x * light).clamp(0, 1)


def box_blur(x: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Blur of per-image strength ``amount`` (B,) in [0, 1]: a blend between the image and two
    passes of a 3×3 box filter (≈ a Gaussian of σ ≈ 1.15 px; edges replicated),

        out = (1 − a) · x + a · (box ∘ box)(x),

    a cheap stand-in for a per-image σ (pooling is much faster than depthwise convolution on CPUs)."""
    y = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    y = F.avg_pool2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    a = amount.to(x.dtype).view(-1, 1, 1, 1)
    return x + a * (y - x)


def _dct_matrix(n: int, device, dtype) -> torch.Tensor:
    """Orthonormal DCT-II matrix D (n, n): coefficients = D · block · Dᵀ."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    d = torch.cos(torch.pi * (2 * i + 1) * k / (2 * n)) * (2.0 / n) ** 0.5
    d[0] /= 2 ** 0.5
    return d.to(device=device, dtype=dtype)


def jpeg_like(x: torch.Tensor, quality: torch.Tensor, block: int = 4) -> torch.Tensor:
    """JPEG's artefacts as tensor ops: YCbCr, chroma smoothed over 2×2 pixels, and each
    ``block``×``block`` tile's DCT coefficients rounded to a step that grows with frequency,

        step_uv = q · (1 + u + v) / 16,   q = (100 − quality) / 100   (quality (B,) in 0‥100),

    then back to RGB. The 2-D DCT of a tile is one matrix product with D ⊗ D on the flattened
    tile. H and W are padded to a multiple of ``block`` (replicated) and cropped back.
    """
    b, _, h, w = x.shape
    y = luminance(x)
    cb = (x[:, 2:3] - y) * 0.564
    cr = (x[:, 0:1] - y) * 0.713
    chroma = F.avg_pool2d(F.pad(torch.cat([cb, cr], 1), (0, 1, 0, 1), mode="replicate"), 2, stride=1)
    cb, cr = chroma[:, :1], chroma[:, 1:]
    ph, pw = (-h) % block, (-w) % block
    yp = F.pad(y, (0, pw, 0, ph), mode="replicate")
    H, W = yp.shape[-2:]
    tiles = yp.reshape(b, H // block, block, W // block, block).permute(0, 1, 3, 2, 4).reshape(b, -1, block * block)
    d = _dct_matrix(block, x.device, x.dtype)
    kron = torch.kron(d, d)                                                            # (k², k²)
    coef = tiles @ kron.T                                                              # (B, tiles, k²)
    uv = torch.arange(block, device=x.device, dtype=x.dtype)
    freq = (1 + uv[:, None] + uv[None, :]).flatten() / 16                              # (k²,)
    step = (((100 - quality.to(x.dtype)) / 100).view(b, 1, 1) * freq).clamp_min(1e-4)
    coef = torch.round(coef / step) * step
    tiles = (coef @ kron).reshape(b, H // block, W // block, block, block)
    y = tiles.permute(0, 1, 3, 2, 4).reshape(b, 1, H, W)[..., :h, :w]
    rgb = torch.cat([y + cr / 0.713, y - 0.344 * cb / 0.564 - 0.714 * cr / 0.713, y + cb / 0.564], 1)
    return rgb.clamp(0, 1)


def domain_randomize(x: torch.Tensor, generator: torch.Generator | None = None, p: float = 1.0,
                     scale=(0.4, 1.25), keep_colours: float = 0.25) -> torch.Tensor:
    """Domain randomisation of source digits (Tobin et al. 2017 in spirit): render each picture's
    digit as if it came from a random unseen domain. For a share ``p`` of the images, in order:

    1. geometry — :func:`random_affine` (digit ~30–90 % of the frame, off-centre, ±20°, stretched);
    2. appearance — with probability 1 − ``keep_colours`` the digit's :func:`ink_mask` m is
       recomposited as ``bg·(1 − a·m) + ink·a·m`` over a :func:`procedural_background` with
       :func:`random_colours` (dark on light, light on dark or colour on colour) and ink opacity
       a ∈ [0.7, 1]; otherwise the picture keeps its colours and is inverted (1 − x) half the time;
    3. light — :func:`uneven_illumination` (gradient, vignette, soft shadow);
    4. camera — :func:`box_blur` (up to σ ≈ 1.15 px, half the images), Gaussian noise (σ ≤ 0.06)
       and :func:`jpeg_like` blockiness (40 % of the images, quality 20–90).

    (B, 3, H, W) in [0, 1] → (B, 3, H, W) in [0, 1]; the input is not modified.

        >>> g = torch.Generator().manual_seed(0)
        >>> domain_randomize(torch.rand(4, 3, 28, 28), g).shape
        torch.Size([4, 3, 28, 28])
    """
    b, _, h, w = x.shape
    dev = x.device
    background = border_colour(x)
    out = random_affine(x, scale=scale, generator=generator, fill=background)
    bg, ink = random_colours(b, dev, generator)
    m = ink_mask(out, background)
    a = _uniform(generator, dev, b, 1, 1, 1, low=0.7, high=1.0)
    recoloured = procedural_background(bg, h, w, generator) * (1 - a * m) + ink * a * m
    invert = _chance(generator, dev, b, 0.5)
    kept = torch.where(invert, 1 - out, out)
    out = torch.where(_chance(generator, dev, b, keep_colours), kept, recoloured)
    out = uneven_illumination(out, generator=generator)
    out = box_blur(out, _uniform(generator, dev, b) * _chance(generator, dev, b, 0.5).view(b))
    out = out + torch.randn(out.shape, device=dev, generator=generator) * _uniform(generator, dev, b, 1, 1, 1, high=0.06)
    quality = _uniform(generator, dev, b, low=20, high=90)
    out = torch.where(_chance(generator, dev, b, 0.4), jpeg_like(out.clamp(0, 1), quality), out.clamp(0, 1))
    if p < 1.0:
        out = torch.where(_chance(generator, dev, b, p), out, x)
    return out.clamp(0, 1)
