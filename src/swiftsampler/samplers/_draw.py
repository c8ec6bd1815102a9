"""Weighted draws that are exact for any N, seeded, and identical on every process.

``torch.multinomial`` caps the number of categories at 2^24 and accumulates in float32, so on large
datasets it errors out or collapses nearby cumulative boundaries (pytorch#2576, #43115). These draws
use float64 throughout:

* with replacement: inverse-CDF sampling, ``searchsorted(cumsum(w), u * sum(w))`` with ``u ~ U[0, 1)``;
  an index with zero weight owns an empty interval and is never drawn;
* without replacement: exponential keys (Efraimidis & Spirakis 2006): ``k_i = E_i / w_i`` with
  ``E_i ~ Exp(1)``, keep the ``n`` smallest. This has the distribution of drawing one at a time with
  probability proportional to the remaining weights (NumPy's ``choice(replace=False, p=w)``, used by
  Arazo et al.). Zero-weight indices come last, in random order, and only when ``n`` exceeds the
  number of positive weights.

Every random number comes from the ``generator`` argument, so the same seed and the same weights give
the same indices on every process and rank.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._sort import packed_argsort, packs

__all__ = ["draw_with_replacement", "draw_without_replacement", "normalized"]


def _check(weights: Tensor) -> Tensor:
    if weights.dim() != 1 or weights.numel() == 0:
        raise ValueError(f"weights must be a non-empty 1-D tensor, got shape {tuple(weights.shape)}")
    w = weights.to(torch.float64)
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):  # sync: epoch-level checks
        raise ValueError("weights must be finite and non-negative")
    return w


def normalized(weights: Tensor) -> Tensor:
    """``w / sum(w)`` in float64."""
    w = weights.to(torch.float64)
    return w / w.sum()


def draw_with_replacement(weights: Tensor, n: int, generator: torch.Generator, *,
                          validate: bool = True) -> Tensor:
    """``n`` indices drawn i.i.d. with ``P(i) = w_i / sum(w)``. weights (N,) -> (n,) int64.

    ``validate=False`` skips the checks (and their host sync) for use inside a training step.
    """
    w = _check(weights) if validate else weights.to(torch.float64)
    cdf = w.cumsum(0)
    total = cdf[-1]
    if validate and not bool(total > 0):
        raise ValueError("weights must not all be zero")
    u = torch.rand(n, generator=generator, dtype=torch.float64, device=w.device)
    # The same indices as searchsorted(cdf, u * total), found for the draws in ascending order
    # (neighbouring queries touch neighbouring memory: several times faster for large N on a CPU).
    order = _ascending_order(u)
    idx = torch.empty(n, dtype=torch.long, device=w.device)
    idx[order] = torch.searchsorted(cdf, u[order] * total, right=True)
    return idx.clamp_(max=w.numel() - 1)


def _ascending_order(u: Tensor) -> Tensor:
    """An order that sorts ``u`` (n,) in [0, 1) ascending, up to draws that agree in their first 31
    bits (any order gives the same indices: it only sets the memory access pattern). On a CPU the
    31-bit prefixes are sorted as integers (:func:`._sort.packed_argsort`), else ``torch.sort``."""
    if not packs(u):
        return torch.sort(u).indices
    return packed_argsort((u * (1 << 31)).to(torch.int32))[1]


def draw_without_replacement(weights: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """``n`` distinct indices, drawn sequentially proportional to ``w`` (exponential keys).

    The result is in draw order (heavier indices tend to come first). weights (N,) -> (n,) int64.
    """
    w = _check(weights)
    size = w.numel()
    if not 0 <= n <= size:
        raise ValueError(f"cannot draw {n} distinct indices out of {size}")
    e = torch.empty(size, dtype=torch.float64, device=w.device).exponential_(generator=generator)
    keys = torch.where(w > 0, e / w, torch.inf)
    n_positive = int((w > 0).sum())  # sync: epoch-level
    head = min(n, n_positive)
    order = torch.topk(keys, head, largest=False, sorted=True).indices
    if n > head:  # zero-weight indices, uniformly at random, after all positive ones
        zeros = (w == 0).nonzero().squeeze(1)
        perm = torch.randperm(zeros.numel(), generator=generator, device=w.device)
        order = torch.cat([order, zeros[perm[: n - head]]])
    return order
