"""Ordered SGD: back-propagate the top-q losses of each candidate batch."""

from __future__ import annotations

import torch
from torch import Tensor

from ._base import SAMPLERS, BatchScores, BatchSelector, Selection
from ._checks import check_range


@SAMPLERS.register("ordered-sgd")
class OrderedSGDSampler(BatchSelector):
    """Ordered SGD (Kawaguchi & Lu, AISTATS 2020): from a uniformly drawn candidate batch of ``s``
    samples keep the ``q = round(keep s)`` with the largest losses, unweighted.

    The candidate batch is ``s = B / keep`` so that each step back-propagates a full batch ``B``.
    By default ``keep`` is the budget fraction: a run forwards about ``N`` and back-propagates about
    ``b N`` samples per epoch, like selective backprop.

    Args:
        keep: the fraction ``q / s`` of each candidate batch that is back-propagated.
        budget: the run's budget fraction (set by the engine), the default of ``keep``.
    """

    def __init__(self, num_samples: int, *, keep: float | None = None, budget: float = 1.0) -> None:
        super().__init__(num_samples)
        self.keep = check_range("keep", budget if keep is None else keep, 0.0, 1.0, low_open=True)

    def candidate_batch_size(self, batch_size: int) -> int:
        return max(batch_size, round(batch_size / self.keep))

    def select(self, indices: Tensor, scores: BatchScores, generator: torch.Generator
               ) -> Selection:
        q = max(1, round(self.keep * indices.numel()))
        return Selection(torch.topk(scores.losses, q, sorted=False).indices)
