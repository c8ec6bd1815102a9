"""Transforms from a raw feature column to ``u`` in [0, 1], refitted on the training set each refresh.

The sampler function (:mod:`.family`) lives on [0, 1]; a transform puts each raw feature there. Because
the cdf and cgf transforms are rank- or mass-based, the same sampler parameters apply to any model and
any loss scale, which is what lets a searched sampler transfer between networks (the paper reports
transfer among networks [Q: abstract]). Each transform has the common signature ``(values, mass=None) -> u``:

* :func:`cdf`: the empirical CDF with mid-ranks for ties [paper names it, Q: Fig. 3 "SS(cdf)"; the
  mid-rank tie rule is ours, I]::

      u_i = (#{j: v_j < v_i} + 0.5 #{j: v_j == v_i}) / N_seen

  Continuous data gives u_i = (rank_i - 0.5) / N, i.e. about Uniform(0, 1); tied values share one u.
* :func:`cgf`: the cumulative gradient(-mass) function [paper names it, Q: Fig. 3 "SS(cgf)" and says it
  "balances gradient norms across regions", S; the formula is our reconstruction, I]::

      u_i = (sum_{j: v_j < v_i} g_j + 0.5 sum_{j: v_j == v_i} g_j) / sum_j g_j,   g = mass >= 0

  Equal-width intervals of u then carry equal gradient mass, so moving any knot of the sampler moves the
  expected update by a comparable amount (a smoother objective for the search). With ``g`` constant it
  equals :func:`cdf`; with all-zero mass it falls back to :func:`cdf`.
* :func:`none`: the raw value clamped to [0, 1] (for features already in [0, 1] such as E^r or p_true).

Sums run over seen samples only (non-NaN values). An unseen sample (NaN) gets ``u = 0.5``, the middle of
the range, so it receives a middling probability rather than an extreme one [I]. NaN mass counts as 0.
Everything is O(N log N) (one sort plus binary searches) and stays on the input's device.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ...registry import Registry
from .._ranks import mid_cumulative

__all__ = ["TRANSFORMS", "TransformFn", "apply_transform", "cdf", "cgf", "none"]

TransformFn = Callable[..., Tensor]

#: Registry of transforms ``(values, mass=None) -> u`` in [0, 1].
TRANSFORMS: Registry[Tensor] = Registry("transform")

#: u given to unseen (NaN) samples: the middle of [0, 1].
UNSEEN_U = 0.5


def _check_values(values: Tensor) -> Tensor:
    if values.dim() != 1:
        raise ValueError(f"values must be 1-D, got shape {tuple(values.shape)}")
    return values.to(torch.float64)


def _cumulative(values: Tensor, mass: Tensor | None) -> Tensor:
    """Mid-point cumulative mass of each value among the seen values, divided by the total mass.

    ``(sum_{v_j < v_i} m_j + 0.5 sum_{v_j == v_i} m_j) / sum_j m_j`` over non-NaN ``v_j``; NaN -> 0.5.
    The caller guarantees the total seen mass is positive; ``mass=None`` is a mass of 1 each. One
    sort (:mod:`.._ranks`).
    """
    seen = ~values.isnan()
    if bool(seen.all()):  # the common case after the first epoch: no masked copies
        return mid_cumulative(values, mass)
    u = torch.full_like(values, UNSEEN_U)
    u[seen] = mid_cumulative(values[seen], None if mass is None else mass[seen])
    return u


@TRANSFORMS.register("cdf")
def cdf(values: Tensor, mass: Tensor | None = None) -> Tensor:
    """Empirical CDF with mid-ranks for ties, over the seen values; NaN -> 0.5. ``mass`` is ignored."""
    values = _check_values(values)
    if not (~values.isnan()).any():
        return torch.full_like(values, UNSEEN_U)
    return _cumulative(values, None)


@TRANSFORMS.register("cgf")
def cgf(values: Tensor, mass: Tensor | None = None) -> Tensor:
    """Cumulative gradient-mass function (mid-point for ties); NaN -> 0.5; all-zero mass -> :func:`cdf`.

    ``mass`` (N,) must be non-negative (NaN counts as 0), e.g. the gradient-norm proxy.
    """
    values = _check_values(values)
    if mass is None:
        raise ValueError("the cgf transform needs a mass (for example the per-sample gradient norm)")
    if mass.shape != values.shape:
        raise ValueError(f"mass shape {tuple(mass.shape)} differs from values shape {tuple(values.shape)}")
    mass = torch.nan_to_num(mass.to(torch.float64), nan=0.0)
    if (mass < 0).any() or mass.isinf().any():
        raise ValueError("the cgf mass must be finite and non-negative")
    seen = ~values.isnan()
    if not (mass[seen] > 0).any():
        return cdf(values)
    return _cumulative(values, mass)


@TRANSFORMS.register("none")
def none(values: Tensor, mass: Tensor | None = None) -> Tensor:
    """The raw value clamped to [0, 1]; NaN -> 0.5. ``mass`` is ignored."""
    values = _check_values(values)
    return torch.where(values.isnan(), torch.full_like(values, UNSEEN_U), values.clamp(0.0, 1.0))


def apply_transform(raw: Tensor, name: str, mass: Tensor | None = None) -> Tensor:
    """Apply the transform ``name`` to each column of ``raw`` (N, K): returns u (N, K) float64 in [0, 1].

    Each column is fitted on its own; ``mass`` (N,) is shared by all columns. An unknown name raises
    :class:`~swiftsampler.errors.ConfigError`.
    """
    if raw.dim() != 2:
        raise ValueError(f"raw features must be 2-D (N, K), got shape {tuple(raw.shape)}")
    fn = TRANSFORMS.get(name).factory
    return torch.stack([fn(raw[:, k], mass) for k in range(raw.shape[1])], dim=1)
