"""The sampler family: a few knot values -> a sampling probability for every training sample.

Formulation (the paper fixes only "about 10 parameters", a
Lipschitz-constrained function of transformed features [Q/S]; the layout below is our reconstruction [I]):

* Each feature ``k`` (already transformed to ``u_k`` in [0, 1]) gets a piecewise-linear function ``h_k``
  on ``S = n_knots - 1`` equal segments, given by its ``S + 1`` knot values
  ``theta_{k,0..S}`` at ``0, 1/S, ..., 1``::

      h_k(u) = theta_{k,j} + (theta_{k,j+1} - theta_{k,j}) (u S - j),    j = min(floor(u S), S - 1)

* The factors are combined by product (default: low probability where *either* feature says so, which
  matches the 2-D map of the paper's Fig. 1b) or by sum, and normalised over the dataset::

      w_i = prod_k h_k(u_{i,k})   (or sum_k),    p_i = w_i / sum_n w_n

* A floor, as a fraction of uniform, mixes in uniform sampling: ``p <- (1 - floor) p + floor / N``
  (ours; 0 by default, so samples can be discarded as in the paper's Fig. 1). All-zero weights fall back
  to uniform.
* The knots live in the box ``[low, high]`` (default [0, 1]); the box bounds the Lipschitz constant of
  every factor: ``Lip(h_k) = S max_j |theta_{k,j+1} - theta_{k,j}| <= S (high - low)``.

With 2 features and 5 knots (S = 4) the family has the paper's 10 parameters. Because of the
normalisation, ``theta`` and ``c theta`` give the same sampler (scale invariance).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ...errors import ConfigError
from .features import DEFAULT_FEATURES, FEATURES

__all__ = ["COMBINES", "SamplerFamily", "piecewise_linear"]

#: Ways of combining the per-feature functions.
COMBINES = ("product", "sum")


def piecewise_linear(u: Tensor, knots: Tensor | Sequence[float]) -> Tensor:
    """Evaluate the piecewise-linear function with values ``knots`` at ``0, 1/S, ..., 1``.

    Args:
        u: (N,) points in [0, 1] (values outside are clamped to it; NaN is an error).
        knots: (S + 1,) values, ``S >= 1``.

    Returns:
        (N,) float64: ``k_j + (k_{j+1} - k_j)(u S - j)`` with ``j = min(floor(u S), S - 1)``.
    """
    knots = torch.as_tensor(knots, dtype=torch.float64, device=u.device)
    if knots.dim() != 1 or knots.numel() < 2:
        raise ValueError(f"knots must be 1-D with at least 2 values, got shape {tuple(knots.shape)}")
    if u.isnan().any():
        raise ValueError("u contains NaN; transform the features first (unseen samples map to 0.5)")
    segments = knots.numel() - 1
    x = u.to(torch.float64).clamp(0.0, 1.0).mul_(segments)
    j = x.floor().clamp_(max=segments - 1)
    x -= j  # the position within segment j
    j = j.long()
    slopes = knots[1:] - knots[:-1]  # per segment: the same differences as per sample
    return slopes[j].mul_(x).add_(knots[j])


@dataclass(frozen=True)
class SamplerFamily:
    """A family of samplers: one piecewise-linear function of each transformed feature, combined.

    Attributes:
        features: names of the features (registered in :data:`~.features.FEATURES`), one function each.
        n_knots: knot values per feature (``S = n_knots - 1`` equal segments), at least 2.
        combine: ``"product"`` or ``"sum"`` of the per-feature functions.
        low, high: the box of every knot value, ``0 <= low < high``; it bounds the Lipschitz constant of
            each function by ``S (high - low)``.
        floor: probability floor as a fraction of uniform, ``p_i >= floor / N``, in [0, 1).

    Parameters ``theta`` are laid out feature-major: ``theta[k * n_knots + j]`` is knot ``j`` of feature
    ``k``, named ``f"{features[k]}_{j}"``.
    """

    features: tuple[str, ...] = DEFAULT_FEATURES
    n_knots: int = 5
    combine: str = "product"
    low: float = 0.0
    high: float = 1.0
    floor: float = 0.0

    def __post_init__(self) -> None:
        features = self.features
        if isinstance(features, str) or not isinstance(features, Sequence):
            raise ConfigError(f"features must be a list of feature names, got {features!r}")
        features = tuple(features)
        object.__setattr__(self, "features", features)
        if not features:
            raise ConfigError("features must name at least one feature")
        for name in features:
            if not isinstance(name, str):
                raise ConfigError(f"features must be names (strings), got {name!r}")
            FEATURES.get(name)  # ConfigError naming the known features
        if len(set(features)) != len(features):
            raise ConfigError(f"features must not repeat, got {list(features)}")
        if isinstance(self.n_knots, bool) or not isinstance(self.n_knots, int) or self.n_knots < 2:
            raise ConfigError(f"n_knots must be an integer >= 2, got {self.n_knots!r}")
        if self.combine not in COMBINES:
            raise ConfigError(f"combine must be one of {', '.join(COMBINES)}, got {self.combine!r}")
        for name in ("low", "high", "floor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.low < 0:
            raise ConfigError(f"low must be >= 0 (knot values are unnormalised probabilities), "
                              f"got {self.low}")
        if not self.high > self.low:
            raise ConfigError(f"high must be > low ({self.low}), got {self.high}")
        if not 0 <= self.floor < 1:
            raise ConfigError(f"floor must be in [0, 1), got {self.floor}")

    # ----------------------------------------------------------------------------------- shape
    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def n_segments(self) -> int:
        """S, the number of equal segments of [0, 1] per feature."""
        return self.n_knots - 1

    @property
    def n_params(self) -> int:
        return self.n_features * self.n_knots

    @property
    def param_names(self) -> list[str]:
        """``["loss_0", ..., "loss_4", "entropy_0", ...]``, in the order of ``theta``."""
        return [f"{f}_{j}" for f in self.features for j in range(self.n_knots)]

    def bounds(self) -> list[tuple[float, float]]:
        """The box ``(low, high)`` of every parameter, in the order of ``theta``."""
        return [(self.low, self.high)] * self.n_params

    def uniform_params(self) -> list[float]:
        """All knots at the box midpoint: every weight is equal, so the probabilities are uniform."""
        return [(self.low + self.high) / 2] * self.n_params

    # ----------------------------------------------------------------------------------- checks
    def check_params(self, theta: Tensor | Sequence[float]) -> None:
        """Raise :class:`ConfigError` unless ``theta`` has ``n_params`` finite values inside the box."""
        try:
            values = torch.as_tensor(theta, dtype=torch.float64).detach().cpu()
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"sampler parameters must be numbers ({exc})") from None
        if values.dim() != 1 or values.numel() != self.n_params:
            raise ConfigError(f"expected {self.n_params} sampler parameters "
                              f"({self.n_features} features x {self.n_knots} knots), "
                              + (f"got {values.numel()}" if values.dim() == 1
                                 else f"got shape {tuple(values.shape)}"))
        bad = ~torch.isfinite(values)
        if bad.any():
            i = int(bad.nonzero()[0])
            raise ConfigError(f"sampler parameter {self.param_names[i]} is not finite: {values[i].item()}")
        out = (values < self.low) | (values > self.high)
        if out.any():
            i = int(out.nonzero()[0])
            raise ConfigError(f"sampler parameter {self.param_names[i]} = {values[i].item()} is outside "
                              f"the box [{self.low}, {self.high}]")

    def knots(self, theta: Tensor | Sequence[float], device: torch.device | str | None = None) -> Tensor:
        """``theta`` checked and reshaped to (n_features, n_knots) float64."""
        self.check_params(theta)
        return torch.as_tensor(theta, dtype=torch.float64, device=device).reshape(self.n_features,
                                                                                  self.n_knots)

    # ----------------------------------------------------------------------------------- maps
    def weights(self, u: Tensor, theta: Tensor | Sequence[float]) -> Tensor:
        """Unnormalised weights ``w_i = prod_k h_k(u_{i,k})`` (or the sum): u (N, K) -> (N,) float64."""
        if u.dim() != 2 or u.shape[1] != self.n_features:
            raise ValueError(f"u must have shape (N, {self.n_features}), got {tuple(u.shape)}")
        knots = self.knots(theta, device=u.device)
        out = piecewise_linear(u[:, 0], knots[0])
        for k in range(1, self.n_features):
            h = piecewise_linear(u[:, k], knots[k])
            out = out * h if self.combine == "product" else out + h
        return out

    def probabilities(self, u: Tensor, theta: Tensor | Sequence[float]) -> Tensor:
        """Sampling probabilities (N,) float64 summing to 1.

        ``p = w / sum(w)`` (uniform if every weight is 0), then ``p <- (1 - floor) p + floor / N``.
        """
        w = self.weights(u, theta)
        n = w.numel()
        if n == 0:
            return w
        total = w.sum()
        uniform = torch.full_like(w, 1.0 / n)
        p = torch.where(total > 0, w / total.clamp_min(torch.finfo(torch.float64).tiny), uniform)
        if self.floor > 0:
            p = (1.0 - self.floor) * p + self.floor / n
        return p

    def lipschitz_bounds(self, theta: Tensor | Sequence[float]) -> list[float]:
        """``Lip(h_k) = S max_j |theta_{k,j+1} - theta_{k,j}|`` per feature ``k`` (exact)."""
        knots = self.knots(theta)
        return (self.n_segments * knots.diff(dim=1).abs().amax(dim=1)).tolist()

    def lipschitz_bound(self, theta: Tensor | Sequence[float]) -> float:
        """``S max_k max_j |theta_{k,j+1} - theta_{k,j}|``: the Lipschitz constant of every factor ``h_k``.

        It bounds each per-feature function, never more than ``S (high - low)``. For the product combine
        it applies per factor (the product's own constant in ``u`` also scales with the other factors'
        values); for the sum combine, ``w`` is Lipschitz with this constant in each coordinate.
        """
        return max(self.lipschitz_bounds(theta))

    # ----------------------------------------------------------------------------------- (de)serialise
    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "n_knots": self.n_knots, "combine": self.combine,
                "low": self.low, "high": self.high, "floor": self.floor}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SamplerFamily:
        """Inverse of :meth:`to_dict`; unknown keys or bad values raise :class:`ConfigError`."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"sampler family must be a mapping, got {type(data).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"sampler family has no field {unknown[0]!r}; its fields: {', '.join(known)}")
        return cls(**dict(data))
