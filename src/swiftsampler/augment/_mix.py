"""Mixing augmentations: mixup, cutmix and RICAP, batched, with per-source shares."""

from __future__ import annotations

import torch
from scipy.special import betaincinv
from torch import Tensor

from ._base import AUGMENTATIONS, Augmentation, AugmentContext, Mixed, randint


def beta_sample(alpha: float, generator: torch.Generator, n: int = 1) -> list[float]:
    """``n`` draws from ``Beta(alpha, alpha)`` by inverting the CDF of a generator's uniforms (torch's
    Beta sampler cannot take a generator)."""
    u = torch.rand(n, generator=generator, dtype=torch.float64).numpy()
    return [float(v) for v in betaincinv(alpha, alpha, u)]


def _check_alpha(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or not 0 < value < 1e6:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return float(value)


def _perm(b: int, generator: torch.Generator, device: torch.device) -> Tensor:
    return torch.randperm(b, generator=generator).to(device, non_blocking=True)


@AUGMENTATIONS.register("mixup")
class Mixup(Augmentation):
    """mixup (Zhang et al., ICLR 2018): ``x_i <- lam x_i + (1 - lam) x_perm(i)`` with one
    ``lam ~ Beta(alpha, alpha)`` per batch; shares ``(lam, 1 - lam)``. ``alpha = 0.3`` is Arazo et
    al.'s setting (the usual CIFAR value is 1)."""

    def __init__(self, context: AugmentContext, *, alpha: float = 0.3) -> None:
        super().__init__(context)
        self.alpha = _check_alpha("alpha", alpha)

    def apply(self, x: Tensor, generator: torch.Generator) -> Mixed:
        b, device = x.shape[0], x.device
        (lam,) = beta_sample(self.alpha, generator)
        perm = _perm(b, generator, device)
        sources = torch.stack([torch.arange(b, device=device), perm], dim=1)
        weights = torch.tensor([lam, 1.0 - lam], device=device).expand(b, 2)
        return Mixed(lam * x + (1.0 - lam) * x[perm], sources, weights)


@AUGMENTATIONS.register("cutmix")
class CutMix(Augmentation):
    """CutMix (Yun et al., ICCV 2019): paste a box (images) or a segment (signals) of ``x_perm(i)``
    into ``x_i``; one ``lam ~ Beta(alpha, alpha)`` and one box per batch, the box covering ``1 - lam``
    of the area (clipped at the border); shares = the actual areas."""

    kinds = ("image", "signal")

    def __init__(self, context: AugmentContext, *, alpha: float = 1.0) -> None:
        super().__init__(context)
        self.alpha = _check_alpha("alpha", alpha)

    def apply(self, x: Tensor, generator: torch.Generator) -> Mixed:
        b, device = x.shape[0], x.device
        (lam,) = beta_sample(self.alpha, generator)
        spatial = x.shape[2:]
        side = (1.0 - lam) ** (1.0 / len(spatial))  # box side as a fraction of each axis
        inside = torch.ones((1,) * len(spatial), dtype=torch.bool, device=device)
        share = 1.0  # fraction of the area pasted from x_perm, computed on the host
        for axis, extent in enumerate(spatial):
            cut = int(round(extent * side))
            centre = int(torch.randint(0, extent, (1,), generator=generator))
            lo, hi = max(centre - cut // 2, 0), min(centre - cut // 2 + cut, extent)
            shape = [1] * len(spatial)
            shape[axis] = extent
            pos = torch.arange(extent, device=device).view(shape)
            inside = inside & (pos >= lo) & (pos < hi)
            share *= (hi - lo) / extent
        inside = inside.unsqueeze(0).unsqueeze(0)  # (1, 1, *spatial)
        perm = _perm(b, generator, device)
        sources = torch.stack([torch.arange(b, device=device), perm], dim=1)
        weights = torch.tensor([1.0 - share, share], device=device).expand(b, 2)
        return Mixed(torch.where(inside, x[perm], x), sources, weights)


@AUGMENTATIONS.register("ricap")
class RICAP(Augmentation):
    """RICAP (Takahashi et al., ACML 2018): random image cropping and patching.

    Images: one boundary per batch, ``w = round(W u)``, ``h = round(H v)`` with ``u, v ~ Beta(beta,
    beta)``; the four quadrants ``(h, w), (h, W - w), (H - h, w), (H - h, W - w)`` are filled with crops,
    at uniformly random positions, of four images drawn by four permutations of the batch. Signals:
    ``k`` segments whose boundaries are ``k - 1`` sorted ``Beta(beta, beta)`` positions, each filled
    from its own permutation at a random offset. Shares = the patch areas. ``beta = 0.3`` is the RICAP
    paper's and Arazo et al.'s setting.
    """

    kinds = ("image", "signal")

    def __init__(self, context: AugmentContext, *, beta: float = 0.3, k: int = 4) -> None:
        super().__init__(context)
        self.beta = _check_alpha("beta", beta)
        if not isinstance(k, int) or k < 2:
            raise ValueError(f"k must be an integer >= 2, got {k!r}")
        self.k = k

    def apply(self, x: Tensor, generator: torch.Generator) -> Mixed:
        if self.context.kind == "image":
            return self._image(x, generator)
        return self._signal(x, generator)

    def _image(self, x: Tensor, generator: torch.Generator) -> Mixed:
        b, c, h, w = x.shape
        device = x.device
        u, v = beta_sample(self.beta, generator, 2)
        cw, ch = int(round(w * u)), int(round(h * v))
        sizes = [(ch, cw), (ch, w - cw), (h - ch, cw), (h - ch, w - cw)]  # (rows, cols) per quadrant
        corners = [(0, 0), (0, cw), (ch, 0), (ch, cw)]
        perms = torch.stack([_perm(b, generator, device) for _ in range(4)])  # (4, B)
        offsets = torch.stack([torch.stack([randint(0, h - sh + 1, b, generator, device),
                                            randint(0, w - sw + 1, b, generator, device)])
                               for sh, sw in sizes])  # (4, 2, B): crop origin per quadrant
        rows = torch.arange(h, device=device)
        cols = torch.arange(w, device=device)
        quadrant = (rows >= ch).long().view(h, 1) * 2 + (cols >= cw).long().view(1, w)  # (H, W)
        corner = torch.tensor(corners, device=device)  # (4, 2)
        src_img = perms[quadrant].permute(2, 0, 1)  # (B, H, W)
        src_r = offsets[quadrant, 0].permute(2, 0, 1) + (rows.view(h, 1) - corner[quadrant, 0])
        src_c = offsets[quadrant, 1].permute(2, 0, 1) + (cols.view(1, w) - corner[quadrant, 1])
        out = x.permute(0, 2, 3, 1)[src_img, src_r, src_c].permute(0, 3, 1, 2).contiguous()
        areas = torch.tensor([sh * sw / (h * w) for sh, sw in sizes], device=device)
        return Mixed(out, perms.t().contiguous(), areas.expand(b, 4))

    def _signal(self, x: Tensor, generator: torch.Generator) -> Mixed:
        b, c, length = x.shape
        device = x.device
        cuts = sorted(int(round(length * p)) for p in beta_sample(self.beta, generator, self.k - 1))
        bounds = [0, *cuts, length]
        lengths = [hi - lo for lo, hi in zip(bounds[:-1], bounds[1:])]
        perms = torch.stack([_perm(b, generator, device) for _ in range(self.k)])  # (k, B)
        offsets = torch.stack([randint(0, length - n + 1, b, generator, device) for n in lengths])
        pos = torch.arange(length, device=device)
        segment = torch.bucketize(pos, torch.tensor(cuts, device=device), right=True)  # (L,)
        start = torch.tensor(bounds[:-1], device=device)
        src_img = perms[segment].t()  # (B, L)
        src_t = offsets[segment].t() + (pos - start[segment]).view(1, length)  # (B, L)
        out = x.permute(0, 2, 1)[src_img, src_t].permute(0, 2, 1).contiguous()
        shares = torch.tensor([n / length for n in lengths], device=device)
        return Mixed(out, perms.t().contiguous(), shares.expand(b, self.k))
