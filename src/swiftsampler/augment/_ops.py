"""Per-sample (non-mixing) augmentations: ``standard`` and ``cutout``, batched."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._base import AUGMENTATIONS, Augmentation, AugmentContext, Mixed, rand, randint


def translate_batch(x: Tensor, dy: Tensor, dx: Tensor, fill: Tensor, max_shift: int) -> Tensor:
    """Shift each image by ``(dy_i, dx_i)`` pixels (``|d| <= max_shift``), filling with ``fill`` (C,).

    ``out[i, :, r, c] = x[i, :, r - dy_i, c - dx_i]`` where in range. x (B, C, H, W), dy/dx (B,) int64.
    Equivalent to a random crop of an image padded by ``max_shift`` (torchvision's
    ``RandomCrop(padding=p)``).
    """
    b, c, h, w = x.shape
    pad = int(max_shift)
    padded = F.pad(x - fill.view(1, c, 1, 1), (pad, pad, pad, pad)) + fill.view(1, c, 1, 1)
    rows = (pad - dy).view(b, 1) + torch.arange(h, device=x.device).view(1, h)  # (B, H)
    cols = (pad - dx).view(b, 1) + torch.arange(w, device=x.device).view(1, w)  # (B, W)
    batch = torch.arange(b, device=x.device).view(b, 1, 1)
    out = padded.permute(0, 2, 3, 1)[batch, rows.unsqueeze(2), cols.unsqueeze(1)]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def roll_batch(x: Tensor, shift: Tensor) -> Tensor:
    """Circularly shift each signal: ``out[i, :, t] = x[i, :, (t - shift_i) mod L]``. x (B, C, L)."""
    b, c, length = x.shape
    index = (torch.arange(length, device=x.device).view(1, length) - shift.view(b, 1)) % length
    return x.gather(2, index.unsqueeze(1).expand(b, c, length))


@AUGMENTATIONS.register("standard")
class Standard(Augmentation):
    """The standard augmentation of the field.

    Images: a random crop of the image padded by ``padding`` pixels (fill: the channel minimum, black)
    and a horizontal flip with probability 0.5 (``flip=False`` for digits and SVHN) — Arazo et al.'s
    ``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip``. Signals: a random circular shift of up to
    ``shift`` steps and an amplitude scaling by a factor in ``[1 - scale, 1 + scale]``.
    """

    kinds = ("image", "signal")

    def __init__(self, context: AugmentContext, *, padding: int = 4, flip: bool = True,
                 shift: int = 4, scale: float = 0.1) -> None:
        super().__init__(context)
        if not isinstance(padding, int) or padding < 0:
            raise ValueError(f"padding must be an integer >= 0, got {padding!r}")
        if not isinstance(shift, int) or shift < 0:
            raise ValueError(f"shift must be an integer >= 0, got {shift!r}")
        if not 0 <= scale < 1:
            raise ValueError(f"scale must be in [0, 1), got {scale!r}")
        self.padding, self.flip, self.shift, self.scale = padding, bool(flip), shift, float(scale)

    def apply(self, x: Tensor, generator: torch.Generator) -> Mixed:
        b, device = x.shape[0], x.device
        if self.context.kind == "image":
            p = self.padding
            dy = randint(-p, p + 1, b, generator, device)
            dx = randint(-p, p + 1, b, generator, device)
            fill = self.context.low.to(device) if self.context.low is not None else \
                torch.zeros(x.shape[1], device=device)
            out = translate_batch(x, dy, dx, fill, p)
            if self.flip:
                flip = rand(b, generator, device) < 0.5
                out = torch.where(flip.view(b, 1, 1, 1), out.flip(-1), out)
            return Mixed.identity(out)
        shift = randint(-self.shift, self.shift + 1, b, generator, device)
        gain = rand(b, generator, device, 1 - self.scale, 1 + self.scale)
        return Mixed.identity(roll_batch(x, shift) * gain.view(b, 1, 1))


@AUGMENTATIONS.register("cutout")
class Cutout(Augmentation):
    """Cutout (DeVries & Taylor, 2017): zero a random square of side ``size`` (images; default half
    the side, 16 on 32x32) or a random segment of length ``size`` (signals; default a quarter of the
    length), centred uniformly, possibly partly outside. Zero is the mean of standardised inputs."""

    kinds = ("image", "signal")

    def __init__(self, context: AugmentContext, *, size: int | None = None) -> None:
        super().__init__(context)
        if size is not None and (not isinstance(size, int) or size < 0):
            raise ValueError(f"size must be an integer >= 0, got {size!r}")
        self.size = size

    def apply(self, x: Tensor, generator: torch.Generator) -> Mixed:
        b, device = x.shape[0], x.device
        length = x.shape[-1]
        size = self.size if self.size is not None else max(
            1, length // (2 if self.context.kind == "image" else 4))
        inside = _window(b, length, size, generator, device)  # (B, W) or (B, L)
        if self.context.kind == "image":  # a pixel is cut when its row and its column are inside
            inside = _window(b, x.shape[2], size, generator, device).unsqueeze(2) & inside.unsqueeze(1)
        return Mixed.identity(x * (~inside).unsqueeze(1))


def _window(b: int, extent: int, size: int, generator: torch.Generator, device: torch.device
            ) -> Tensor:
    """(B, extent) masks of ``size`` consecutive positions centred uniformly in ``[0, extent)``."""
    start = randint(0, extent, b, generator, device) - size // 2
    pos = torch.arange(extent, device=device).view(1, extent)
    return (pos >= start.view(b, 1)) & (pos < (start + size).view(b, 1))
