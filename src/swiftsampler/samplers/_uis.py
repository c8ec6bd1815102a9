"""Unbiased importance sampling with the gradient-norm upper bound (Katharopoulos & Fleuret 2018)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..stats import grad_norm_proxy
from ._base import SAMPLERS, BatchScores, BatchSelector, EpochInfo, Selection
from ._checks import check_range
from ._draw import draw_with_replacement


def variance_reduction(scores: Tensor) -> Tensor:
    """``tau = 1 / sqrt(1 - sum_i (p_i - 1/B)^2 / sum_i p_i^2) = sqrt(B sum_i p_i^2)`` with
    ``p = g / sum(g)``: 1 for uniform scores, up to ``sqrt(B)`` when one sample has all the mass."""
    p = scores / scores.sum()
    return (scores.numel() * (p * p).sum()).sqrt()


@SAMPLERS.register("uis")
class UISSampler(BatchSelector):
    """Unbiased importance sampling (Katharopoulos & Fleuret, "Not All Samples Are Created Equal",
    ICML 2018).

    Each step presamples ``B_c = presample * B`` candidates uniformly, scores them with the upper bound
    ``g_i = ||softmax(z_i) - onehot(y_i)||`` of the per-sample gradient norm, draws ``B`` of them with
    replacement with ``p_i = g_i / sum(g)`` and weights each loss by ``1 / (B_c p_i)``, so that the
    weighted mean is an unbiased estimate of the candidates' mean loss. Importance sampling is switched
    on only while the EMA (``momentum``) of the estimated variance reduction ``tau`` exceeds
    ``tau_th = (B_c + 3B) / (3B)`` (2 for ``presample=3``).

    While it is off, nothing is presampled or scored: the epoch trains uniform batches of ``B`` and
    ``tau`` is estimated from those batches' own forward passes (:meth:`observe`), as the authors'
    code does, so the method pays for scoring passes only when they are used. The gate is read once
    per epoch, at its start (one host sync at an epoch boundary instead of one per step); within an
    importance-sampling epoch a ``tau`` that falls below the threshold makes the draws uniform.

    Args:
        presample: candidates per back-propagated sample (3 in the paper).
        tau_th: switch-on threshold; None uses ``(B_c + 3B) / (3B)``.
        momentum: EMA momentum of ``tau``.
    """

    def __init__(self, num_samples: int, *, presample: float = 3.0, tau_th: float | None = None,
                 momentum: float = 0.9) -> None:
        super().__init__(num_samples)
        self.presample = check_range("presample", presample, 1.0, 1e3)
        self.tau_th = None if tau_th is None else check_range("tau_th", tau_th, 0.0, 1e6)
        self.momentum = check_range("momentum", momentum, 0.0, 1.0, high_open=True)
        self._tau = torch.zeros((), dtype=torch.float64)
        self._threshold = (self.presample + 3.0) / 3.0 if self.tau_th is None else self.tau_th

    def candidate_batch_size(self, batch_size: int) -> int:
        return max(batch_size, round(self.presample * batch_size))

    def selects(self, info: EpochInfo) -> bool:
        return self.importance_on  # sync: once per epoch

    def _update_tau(self, scores: BatchScores) -> Tensor:
        """Fold the batch's variance-reduction estimate into the EMA; return its scores ``g``."""
        g = grad_norm_proxy(scores.logits, scores.targets).to(torch.float64) + 1e-12
        self._tau = self._tau.to(g.device)
        self._tau = self.momentum * self._tau + (1 - self.momentum) * variance_reduction(g)
        return g

    def observe(self, indices: Tensor, scores: BatchScores) -> None:
        self._update_tau(scores)

    def select(self, indices: Tensor, scores: BatchScores, generator: torch.Generator
               ) -> Selection:
        n_cand = indices.numel()
        k = max(1, round(n_cand / self.presample))
        g = self._update_tau(scores)
        if self.tau_th is None:
            self._threshold = (n_cand + 3 * k) / (3 * k)
        # Both branches on the device: no host sync to decide the gate within an epoch.
        p = torch.where(self._tau > self._threshold, g / g.sum(), torch.full_like(g, 1.0 / n_cand))
        keep = draw_with_replacement(p, k, generator, validate=False)
        return Selection(keep, (1.0 / (n_cand * p[keep])).float())

    @property
    def importance_on(self) -> bool:
        """Whether the last step sampled by importance (a host sync: for logging and tests)."""
        return bool(self._tau > self._threshold)

    def state_dict(self) -> dict[str, Any]:
        return {"tau": self._tau.cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._tau = state["tau"].clone()
