"""RandAugment (Cubuk et al., CVPRW 2020), batched, for images (B, C, H, W) and 1-D signals (B, C, L).

Every sample independently draws ``n`` operations (with replacement) from the op set of its data kind
and applies them in sequence at the global magnitude ``m`` (0..30). The defaults N=2, M=4 are those of
Arazo et al. (BMVC 2021). An op's value at magnitude ``m`` is ``m / 30 * (end - start) + start``, where
``start`` is its value at M=0 and ``end`` at M=30; signed ops (geometric ops, enhancement factors) draw a
random sign per sample, so an enhancement factor is ``1 + sign * 0.9 * m / 30``. ``m = 0`` makes every
op the identity: the magnitude-free ops (autocontrast, equalize) are applied in full when ``m > 0`` and
not at all when ``m = 0``.

Ops work in ``[0, 1]`` space: ``x`` is mapped to ``u = (x - low) / (high - low)`` with the per-channel
range of :class:`AugmentContext`, augmented, clamped to ``[0, 1]`` and mapped back, so outputs stay within
``[low, high]``. Geometric padding fills with 0 in that space, i.e. with ``low``.

Each op is a pure batched function ``op(u, v) -> u`` of the whole batch and a (B,) tensor of per-sample
values (ops that need noise also take a tensor drawn beforehand by the op's ``draw``); the op sets are
tables, ``IMAGE_OPS`` and ``SIGNAL_OPS``. Choices are drawn on the CPU generator, so a round knows on the
host which samples chose which op: it permutes the batch once so that each op's samples are contiguous,
runs each chosen op on its slice and scatters the results back. There is no per-sample Python loop, no
host-device synchronisation, and the work is that of one op per sample (evaluating every op on the whole
batch and selecting with ``torch.where`` would cost ``len(ops)`` times more). The geometric image ops
(rotate, shear, translate) are affine: a round builds one per-sample 2x3 matrix for the samples that
chose any of them and warps once with ``affine_grid`` + ``grid_sample``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ._base import AUGMENTATIONS, Augmentation, AugmentContext, Mixed, rand, randint

MAX_MAGNITUDE = 30.0
LEVELS = 255  # ops that quantise (posterize, equalize) use 256 levels, 0..255
GRAY = (0.299, 0.587, 0.114)  # ITU-R 601 luma weights for RGB


def _per_sample(v: Tensor, like: Tensor) -> Tensor:
    """(B,) -> (B, 1, ..., 1), broadcastable against ``like``."""
    return v.view(-1, *([1] * (like.dim() - 1)))


def _blend(degenerate: Tensor, u: Tensor, factor: Tensor) -> Tensor:
    """Enhancement: ``degenerate + factor * (u - degenerate)`` per sample, clamped to [0, 1]."""
    return (degenerate + _per_sample(factor, u) * (u - degenerate)).clamp(0.0, 1.0)


def _gray(u: Tensor) -> Tensor:
    """(B, 1, ...) luma of RGB images; the channel mean for other channel counts."""
    if u.shape[1] == 3:
        r, g, b = u.unbind(1)
        return (GRAY[0] * r + GRAY[1] * g + GRAY[2] * b).unsqueeze(1)
    return u.mean(dim=1, keepdim=True)


# ---------------------------------------------------------------------------------------------------
# Colour ops on [0, 1] values; shared by images and signals where they make sense.


def identity(u: Tensor, v: Tensor) -> Tensor:
    return u


def autocontrast(u: Tensor, v: Tensor) -> Tensor:
    """Stretch each sample's channel to span [0, 1] (constant channels unchanged); applied where v > 0."""
    dims = tuple(range(2, u.dim()))
    lo, hi = u.amin(dim=dims, keepdim=True), u.amax(dim=dims, keepdim=True)
    span = hi - lo
    stretched = (u - lo) / torch.where(span > 0, span, torch.ones_like(span))
    out = torch.where(span > 0, stretched, u)
    return torch.where(_per_sample(v > 0, u), out, u)


def equalize(u: Tensor, v: Tensor) -> Tensor:
    """Histogram equalisation per sample and channel on 256 levels; applied where v > 0.

    The histogram is a ``scatter_add`` over the (B*C, pixels) level indices and the lookup table the
    cumulative count below each level divided by ``step``, the number of pixels per output level (pixels
    at the highest level present excluded, as PIL does). ``step`` is not rounded down to an integer, so
    small images (fewer than 256 pixels) are equalised too; a constant channel is left unchanged.
    """
    b, c = u.shape[:2]
    flat = u.reshape(b * c, -1)
    q = (flat * LEVELS).round().long().clamp(0, LEVELS)
    hist = torch.zeros(b * c, LEVELS + 1, dtype=torch.long, device=u.device)
    hist.scatter_add_(1, q, torch.ones_like(q))
    top = hist.gather(1, q.amax(dim=1, keepdim=True))  # pixels at the highest level present
    step = (q.shape[1] - top).to(u.dtype) / LEVELS
    below = (hist.cumsum(dim=1) - hist).to(u.dtype)  # pixels strictly below each level
    lut = torch.floor((below + step / 2) / torch.where(step > 0, step, torch.ones_like(step)))
    out = torch.where(step > 0, lut.clamp(max=LEVELS).gather(1, q) / LEVELS, flat).view_as(u)
    return torch.where(_per_sample(v > 0, u), out, u)


def solarize(u: Tensor, v: Tensor) -> Tensor:
    """Invert values above the threshold ``v`` (1 -> 0 as M grows; nothing is inverted at 1)."""
    return torch.where(u > _per_sample(v, u), 1.0 - u, u)


def posterize(u: Tensor, v: Tensor) -> Tensor:
    """Keep the ``round(v)`` most significant bits of the 8-bit value; 8 bits leaves ``u`` unchanged."""
    drop = (8.0 - v.round()).clamp(0.0, 8.0)
    div = _per_sample(torch.pow(2.0, drop), u)
    out = torch.floor((u * LEVELS).round() / div) * div / LEVELS
    return torch.where(_per_sample(drop > 0, u), out, u)


def color(u: Tensor, v: Tensor) -> Tensor:
    """Saturation: blend with the grayscale image by factor ``v`` (a no-op for 1-channel data)."""
    return _blend(_gray(u), u, v)


def contrast(u: Tensor, v: Tensor) -> Tensor:
    """Blend with the per-sample mean of the grayscale (signals: of all channels) by factor ``v``."""
    dims = tuple(range(1, u.dim()))
    return _blend(_gray(u).mean(dim=dims, keepdim=True), u, v)


def brightness(u: Tensor, v: Tensor) -> Tensor:
    """Blend with black (0, i.e. ``low``) by factor ``v``: ``v * u``."""
    return (_per_sample(v, u) * u).clamp(0.0, 1.0)


def sharpness(u: Tensor, v: Tensor) -> Tensor:
    """Blend with a 3x3-smoothed image (kernel 1 1 1 / 1 5 1 / 1 1 1, over 13) by factor ``v``.

    Border pixels of the smoothed image are the original ones, so only the interior is sharpened.
    """
    h, w = u.shape[-2:]
    if h < 3 or w < 3:
        return u
    c = u.shape[1]
    kernel = torch.ones(3, 3, dtype=u.dtype, device=u.device)
    kernel[1, 1] = 5.0
    kernel = (kernel / 13.0).expand(c, 1, 3, 3)
    smooth = u.clone()
    smooth[..., 1:-1, 1:-1] = F.conv2d(u, kernel, groups=c)
    return _blend(smooth, u, v)


# ---------------------------------------------------------------------------------------------------
# Geometric image ops: per-sample affine maps in centred pixel coordinates, (B, 2, 3), taking each
# output pixel position p to the input position A p + t it samples.


def _affine(rows: list[list[Tensor | float]], like: Tensor) -> Tensor:
    entry = lambda e: e if isinstance(e, Tensor) else torch.full_like(like, e)  # noqa: E731
    return torch.stack([torch.stack([entry(e) for e in row], dim=-1) for row in rows], dim=1)


def rotate_matrix(v: Tensor, h: int, w: int) -> Tensor:
    """Rotation by ``v`` degrees about the centre."""
    a = v * (math.pi / 180.0)
    cos, sin = a.cos(), a.sin()
    return _affine([[cos, -sin, 0.0], [sin, cos, 0.0]], v)


def shear_x_matrix(v: Tensor, h: int, w: int) -> Tensor:
    return _affine([[1.0, v, 0.0], [0.0, 1.0, 0.0]], v)


def shear_y_matrix(v: Tensor, h: int, w: int) -> Tensor:
    return _affine([[1.0, 0.0, 0.0], [v, 1.0, 0.0]], v)


def translate_x_matrix(v: Tensor, h: int, w: int) -> Tensor:
    """Shift right by ``v * w`` pixels."""
    return _affine([[1.0, 0.0, -v * w], [0.0, 1.0, 0.0]], v)


def translate_y_matrix(v: Tensor, h: int, w: int) -> Tensor:
    """Shift down by ``v * h`` pixels."""
    return _affine([[1.0, 0.0, 0.0], [0.0, 1.0, -v * h]], v)


def warp(u: Tensor, matrix: Tensor) -> Tensor:
    """Resample ``u`` (B, C, H, W) through per-sample pixel-space affine maps (B, 2, 3), zero fill.

    ``affine_grid`` works in normalised coordinates (``align_corners=False``: x_n = 2 x_c / W for the
    centred pixel coordinate x_c), so the map becomes ``D A D^-1`` and ``D t`` with D = diag(2/W, 2/H).
    """
    h, w = u.shape[-2:]
    scale = torch.tensor([[1.0, h / w, 2.0 / w], [w / h, 1.0, 2.0 / h]], dtype=matrix.dtype)
    theta = matrix * scale.to(matrix.device, non_blocking=True)
    grid = F.affine_grid(theta, list(u.shape), align_corners=False)
    return F.grid_sample(u, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _geometric(matrix: Callable[[Tensor, int, int], Tensor]) -> Callable[[Tensor, Tensor], Tensor]:
    def op(u: Tensor, v: Tensor) -> Tensor:
        return warp(u, matrix(v, *u.shape[-2:]))

    op.__name__ = matrix.__name__.removesuffix("_matrix")
    return op


# ---------------------------------------------------------------------------------------------------
# Signal ops, (B, C, L).


def shift(u: Tensor, v: Tensor) -> Tensor:
    """Circular shift right by ``round(v * L)`` samples."""
    b, c, n = u.shape
    steps = (v * n).round().long()
    src = (torch.arange(n, device=u.device)[None, :] - steps[:, None]) % n
    return u.gather(2, src[:, None, :].expand(b, c, n))


def jitter(u: Tensor, v: Tensor, noise: Tensor) -> Tensor:
    """Add Gaussian noise of standard deviation ``v`` (a fraction of the channel's range)."""
    return (u + _per_sample(v, u) * noise).clamp(0.0, 1.0)


def smooth(u: Tensor, v: Tensor) -> Tensor:
    """Move a fraction ``v`` of the way to the 3-tap moving average (edges replicated)."""
    average = F.avg_pool1d(F.pad(u, (1, 1), mode="replicate"), kernel_size=3, stride=1)
    return _blend(average, u, 1.0 - v)


def cutout(u: Tensor, v: Tensor, position: Tensor) -> Tensor:
    """Set a segment of ``round(v * L)`` samples to 0 (``low``); ``position`` (B,) in [0, 1) places it."""
    n = u.shape[-1]
    length = (v * n).round().clamp(0, n)
    start = torch.floor(position.to(u.dtype) * (n - length + 1))
    pos = torch.arange(n, device=u.device, dtype=u.dtype)[None, :]
    inside = (pos >= start[:, None]) & (pos < (start + length)[:, None])
    return torch.where(inside[:, None, :], torch.zeros_like(u), u)


def _normal_noise(generator: torch.Generator, u: Tensor) -> Tensor:
    return torch.randn(u.shape, generator=generator).to(u.device, u.dtype, non_blocking=True)


def _uniform_position(generator: torch.Generator, u: Tensor) -> Tensor:
    return rand(u.shape[0], generator, u.device)


# ---------------------------------------------------------------------------------------------------
# The op tables.


@dataclass(frozen=True)
class Op:
    """One RandAugment operation.

    Attributes:
        fn: ``fn(u, v)`` (or ``fn(u, v, aux)`` when ``draw`` is set), batched over samples.
        start, end: the op's magnitude at M=0 and at M=30.
        signed: draw a random sign per sample; the value is ``centre + sign * magnitude``.
        centre: see ``signed`` (1 for enhancement factors).
        gated: magnitude-free op: value 1 (apply) when M > 0, 0 (identity) when M = 0.
        matrix: for geometric image ops, ``matrix(v, h, w)`` -> (B, 2, 3) pixel-space affine maps, so
            that a round can fuse all of them into one warp.
        draw: ``draw(generator, u)`` -> the extra random tensor ``fn`` takes.
    """

    fn: Callable[..., Tensor]
    start: float = 0.0
    end: float = 0.0
    signed: bool = False
    centre: float = 0.0
    gated: bool = False
    matrix: Callable[[Tensor, int, int], Tensor] | None = None
    draw: Callable[[torch.Generator, Tensor], Tensor] | None = None

    def value(self, m: float, sign: Tensor) -> Tensor:
        """Per-sample values (B,) at magnitude ``m``, given per-sample signs (B,) of +-1."""
        if self.gated:
            return torch.full_like(sign, 1.0 if m > 0 else 0.0)
        magnitude = m / MAX_MAGNITUDE * (self.end - self.start) + self.start
        if self.signed:
            return self.centre + sign * magnitude
        return torch.full_like(sign, magnitude)


def _factor(fn: Callable[[Tensor, Tensor], Tensor]) -> Op:
    """An enhancement op: factor ``1 + sign * 0.9 * m / 30``."""
    return Op(fn, 0.0, 0.9, signed=True, centre=1.0)


def _geometric_op(matrix: Callable[[Tensor, int, int], Tensor], end: float) -> Op:
    return Op(_geometric(matrix), 0.0, end, signed=True, matrix=matrix)


IMAGE_OPS: dict[str, Op] = {
    "identity": Op(identity),
    "autocontrast": Op(autocontrast, gated=True),
    "equalize": Op(equalize, gated=True),
    "rotate": _geometric_op(rotate_matrix, 30.0),
    "solarize": Op(solarize, 1.0, 0.0),
    "color": _factor(color),
    "posterize": Op(posterize, 8.0, 4.0),
    "contrast": _factor(contrast),
    "brightness": _factor(brightness),
    "sharpness": _factor(sharpness),
    "shear_x": _geometric_op(shear_x_matrix, 0.3),
    "shear_y": _geometric_op(shear_y_matrix, 0.3),
    "translate_x": _geometric_op(translate_x_matrix, 0.45),
    "translate_y": _geometric_op(translate_y_matrix, 0.45),
}

SIGNAL_OPS: dict[str, Op] = {
    "identity": Op(identity),
    "translate": Op(shift, 0.0, 0.3, signed=True),
    "scale": _factor(brightness),
    "contrast": _factor(contrast),
    "jitter": Op(jitter, 0.0, 0.3, draw=_normal_noise),
    "smooth": Op(smooth, 0.0, 0.9),
    "cutout": Op(cutout, 0.0, 0.3, draw=_uniform_position),
}

OPS: dict[str, dict[str, Op]] = {"image": IMAGE_OPS, "signal": SIGNAL_OPS}
NDIM = {"image": 4, "signal": 3}


@AUGMENTATIONS.register("randaugment")
class RandAugment(Augmentation):
    """RandAugment: n random ops per sample at magnitude m of 30 (images and 1-D signals).

    Args:
        context: data kind ("image" or "signal") and per-channel range.
        n: number of ops applied to each sample, drawn with replacement (default 2).
        m: magnitude, 0..30 (default 4); 0 makes every op the identity.
    """

    kinds = ("image", "signal")

    def __init__(self, context: AugmentContext, *, n: int = 2, m: float = 4.0) -> None:
        super().__init__(context)
        if isinstance(n, bool) or not isinstance(n, numbers.Real) or n != int(n) or n < 0:
            raise ValueError(f"n must be an integer >= 0, got {n!r}")
        if isinstance(m, bool) or not isinstance(m, numbers.Real) or not 0.0 <= m <= MAX_MAGNITUDE:
            raise ValueError(f"m must be a number in [0, {MAX_MAGNITUDE:g}], got {m!r}")
        self.n = int(n)
        self.m = float(m)
        self._ops = list(OPS[context.kind].items())
        # Samples are grouped by op for a round; the geometric ops form one group (one fused warp).
        geometric = [k for k, (_, op) in enumerate(self._ops) if op.matrix is not None]
        self._groups = [[k] for k, (_, op) in enumerate(self._ops) if op.matrix is None]
        self._groups += [geometric] if geometric else []
        self._group_of = torch.empty(len(self._ops), dtype=torch.long)
        for g, members in enumerate(self._groups):
            self._group_of[members] = g
        self._ranges: dict[tuple[torch.device, torch.dtype], tuple[Tensor, Tensor]] = {}

    def _range(self, x: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """Per-channel ``low`` and ``high`` on x's device, shaped (1, C, 1, ...); cached."""
        key = (x.device, dtype)
        if key not in self._ranges:
            c = x.shape[1]
            low = self.context.low if self.context.low is not None else torch.zeros(c)
            high = self.context.high if self.context.high is not None else torch.ones(c)
            shape = (1, -1, *([1] * (x.dim() - 2)))
            self._ranges[key] = (low.to(x.device, dtype, non_blocking=True).reshape(shape),
                                 high.to(x.device, dtype, non_blocking=True).reshape(shape))
        return self._ranges[key]

    def apply(self, x: Tensor, generator: torch.Generator) -> Mixed:
        kind = self.context.kind
        if x.dim() != NDIM[kind]:
            raise ValueError(f"randaugment: {kind} batches have {NDIM[kind]} dimensions, got {x.dim()}")
        if self.n == 0 or x.shape[0] == 0:
            return Mixed.identity(x)
        dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
        low, high = self._range(x, dtype)
        span = high - low
        u = ((x.to(dtype) - low) / torch.where(span > 0, span, torch.ones_like(span))).clamp(0.0, 1.0)
        for _ in range(self.n):
            u = self._round(u, generator)
        out = torch.clamp(low + u * span, min=low, max=high)
        return Mixed.identity(out.to(x.dtype))

    def _round(self, u: Tensor, generator: torch.Generator) -> Tensor:
        """Apply one op to each sample.

        Choices and signs are drawn on the host, so the grouping of samples by op is known there with
        no device sync: the batch is permuted once so that each op's samples are contiguous, each op
        runs on its slice (all geometric ops share one slice and one warp, with per-sample matrices),
        and the results are scattered back. Work is proportional to the batch, not to batch x ops, and
        there is no per-sample Python loop (the loop is over the at most ``len(ops)`` groups).
        """
        b = u.shape[0]
        choice = randint(0, len(self._ops), b, generator, "cpu")
        sign = torch.where(rand(b, generator, "cpu") < 0.5, -1.0, 1.0)
        group = self._group_of[choice]
        order = torch.argsort(group, stable=True)
        counts = torch.bincount(group, minlength=len(self._groups)).tolist()
        choice = choice[order]
        order_dev = order.to(u.device, non_blocking=True)
        choice_dev = choice.to(u.device, non_blocking=True)
        sign_dev = sign[order].to(u.device, u.dtype, non_blocking=True)
        grouped = u.index_select(0, order_dev)
        parts, start = [], 0
        for members, count in zip(self._groups, counts):
            if count == 0:
                continue
            end = start + count
            part = grouped[start:end]
            if self._ops[members[0]][1].matrix is not None:  # geometric: one warp, per-sample matrices
                matrix = torch.eye(2, 3, dtype=u.dtype, device=u.device).expand(count, 2, 3)
                present = set(torch.unique(choice[start:end]).tolist())  # a host tensor: no sync
                for k in members:
                    if k in present:
                        op = self._ops[k][1]
                        m = op.matrix(op.value(self.m, sign_dev[start:end]), *u.shape[-2:])
                        matrix = torch.where((choice_dev[start:end] == k)[:, None, None], m, matrix)
                part = warp(part, matrix)
            else:
                op = self._ops[members[0]][1]
                if op.fn is not identity:
                    extra = (op.draw(generator, part),) if op.draw is not None else ()
                    part = op.fn(part, op.value(self.m, sign_dev[start:end]), *extra)
            parts.append(part)
            start = end
        return torch.empty_like(u).index_copy_(0, order_dev, torch.cat(parts))
