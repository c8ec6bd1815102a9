"""Per-sample features that a Swift Sampler maps to a sampling probability.

A feature extractor is a function ``(stats: SampleStats) -> Tensor (N,) float64`` that reads one column of
the per-sample statistics (:mod:`swiftsampler.stats`), with NaN for every sample not seen yet. The
extractors are registered in :data:`FEATURES`; :func:`feature_matrix` stacks several into ``(N, K)``.

Source of each feature ([Q]: stated in the paper, with the figure; [I]: our inference; see
docs/swift_sampler.md):

* ``loss``: the last training loss. The paper's first feature [Q: Fig. 1, "(Loss, E^r) space"].
* ``entropy``: the renormed entropy ``E^r``. The paper's second feature [Q: Fig. 1]; its exact definition
  (entropy of the renormalised non-label softmax, divided by ``log(C - 1)``) is our reading [I].
* ``p_true``, ``grad_norm``, ``margin``, ``loss_ema``: extra features of ours [I], for loss-only or
  alternative searches: the mean true-class probability over all visits, the gradient-norm proxy
  ``||softmax(z) - onehot(y)||_2``, the probability margin and the EMA of the loss.

The default pair is :data:`DEFAULT_FEATURES` = ``("loss", "entropy")``, the paper's (Loss, E^r).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ...registry import Registry
from ...stats import SampleStats

__all__ = ["DEFAULT_FEATURES", "FEATURES", "FeatureFn", "extract_feature", "feature_matrix"]

FeatureFn = Callable[[SampleStats], Tensor]

#: Registry of feature extractors ``(stats) -> (N,) float64`` (NaN where unseen).
FEATURES: Registry[Tensor] = Registry("feature")

#: The paper's feature pair: loss and renormed entropy E^r.
DEFAULT_FEATURES: tuple[str, ...] = ("loss", "entropy")


def _seen_only(stats: SampleStats, values: Tensor) -> Tensor:
    """``values`` as float64, NaN wherever the sample has not been seen."""
    values = values.to(torch.float64)
    return torch.where(stats.seen_mask, values, torch.full_like(values, float("nan")))


def _statistic(attribute: str, doc: str) -> FeatureFn:
    """The extractor of one column of :class:`SampleStats`."""

    def extract(stats: SampleStats) -> Tensor:
        return _seen_only(stats, getattr(stats, attribute))

    extract.__doc__ = doc
    return extract


#: name -> (SampleStats attribute, one-line description)
_STATISTIC_FEATURES = {
    "loss": ("loss", "The last training loss of each sample (paper feature)."),
    "entropy": ("entropy", "The last renormed entropy E^r (paper feature; definition: our reading)."),
    "p_true": ("p_mean", "Mean true-class probability over all visits (our addition)."),
    "grad_norm": ("grad_norm", "The last gradient-norm proxy ||softmax - onehot||_2 (our addition)."),
    "margin": ("margin", "The last probability margin p_y - max_{j != y} p_j (our addition)."),
    "loss_ema": ("loss_ema", "Exponential moving average of the loss (our addition)."),
}
for _name, (_attribute, _doc) in _STATISTIC_FEATURES.items():
    FEATURES.register(_name)(_statistic(_attribute, _doc))


def extract_feature(stats: SampleStats, name: str) -> Tensor:
    """The feature ``name`` of every sample, ``(N,)`` float64; an unknown name raises ConfigError."""
    return FEATURES.get(name).factory(stats)


def feature_matrix(stats: SampleStats, names: Sequence[str] = DEFAULT_FEATURES) -> Tensor:
    """Stack the features ``names`` column-wise: ``(N, K)`` float64 on the stats' device, NaN if unseen."""
    if isinstance(names, str) or len(names) == 0:
        raise ValueError(f"names must be a non-empty sequence of feature names, got {names!r}")
    return torch.stack([extract_feature(stats, n) for n in names], dim=1)
