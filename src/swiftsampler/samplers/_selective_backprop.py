"""Selective backprop: back-propagate each candidate with probability percentile(loss)^beta."""

from __future__ import annotations

from typing import Any

import torch
from scipy.optimize import brentq
from torch import Tensor

from ._base import SAMPLERS, BatchScores, BatchSelector, Selection
from ._checks import check_int, check_range


def expected_keep_rate(beta: float, floor: float) -> float:
    """``E[max(floor, U^beta)]`` for ``U ~ U(0, 1)``: the backward fraction when percentiles are
    uniform. ``= floor^(1 + 1/beta) + (1 - floor^((beta + 1) / beta)) / (beta + 1)``."""
    if beta == 0:
        return 1.0
    if floor <= 0:
        return 1.0 / (beta + 1.0)
    edge = floor ** (1.0 / beta)
    return floor * edge + (1.0 - edge ** (beta + 1.0)) / (beta + 1.0)


def beta_for_budget(budget: float, floor: float = 0.0) -> float:
    """The ``beta`` whose expected keep rate equals ``budget`` (``1/b - 1`` without a floor)."""
    if budget >= 1.0:
        return 0.0
    if budget <= floor:
        raise ValueError(f"budget {budget} cannot be met with floor {floor}: every sample is "
                         "kept with at least the floor probability")
    if floor <= 0:
        return 1.0 / budget - 1.0
    return brentq(lambda b: expected_keep_rate(b, floor) - budget, 1e-9, 1e6)


@SAMPLERS.register("selective-backprop")
class SelectiveBackpropSampler(BatchSelector):
    """Selective backprop (Jiang et al., "Accelerating Deep Learning by Focusing on the Biggest
    Losers", 2019).

    Every candidate is forwarded; its loss is ranked against the last ``history`` losses (the batch
    included): ``percentile = #{h in history : h < loss} / |history|``. It is back-propagated with
    probability ``max(floor, percentile^beta)``, unweighted; kept samples queue up into full batches.
    By default ``beta`` is chosen so that the expected back-propagated fraction equals the budget
    (``beta = 1/b - 1`` without a floor; Arazo et al.'s recommended matching), so a run forwards about
    ``N`` and back-propagates about ``b N`` samples per epoch.

    Args:
        beta: selectivity exponent; None chooses it from the budget.
        floor: minimum back-prop probability (``sampling_min`` of the original code).
        history: number of recent losses the percentile is taken over (1024 in the paper).
        budget: the run's budget fraction (set by the engine).
    """

    def __init__(self, num_samples: int, *, beta: float | None = None, floor: float = 0.0,
                 history: int = 1024, budget: float = 1.0) -> None:
        super().__init__(num_samples)
        self.floor = check_range("floor", floor, 0.0, 1.0, high_open=True)
        self.history = check_int("history", history, 1)
        self.beta = (beta_for_budget(check_range("budget", budget, 0, 1, low_open=True), self.floor)
                     if beta is None else check_range("beta", beta, 0, 1e6))
        self._losses: Tensor | None = None
        self._filled = 0
        self._pos = 0

    def _remember(self, losses: Tensor) -> Tensor:
        """Append ``losses`` to the ring buffer and return the valid part of the history."""
        if self._losses is None:
            self._losses = torch.zeros(self.history, device=losses.device)
        recent = losses.detach().float()[-self.history:]
        slots = (self._pos + torch.arange(recent.numel(), device=losses.device)) % self.history
        self._losses[slots] = recent
        self._pos = (self._pos + recent.numel()) % self.history
        self._filled = min(self.history, self._filled + recent.numel())
        return self._losses[: self._filled]

    def keep_probability(self, losses: Tensor) -> Tensor:
        """``max(floor, percentile^beta)`` for a candidate batch (updates the history). (B,)"""
        history = self._remember(losses)
        percentile = (history.unsqueeze(0) < losses.detach().float().unsqueeze(1)).float().mean(1)
        return percentile.pow(self.beta).clamp_(min=self.floor)

    def select(self, indices: Tensor, scores: BatchScores, generator: torch.Generator
               ) -> Selection:
        prob = self.keep_probability(scores.losses)
        draw = torch.rand(prob.shape, generator=generator, device=prob.device)
        return Selection((draw < prob).nonzero().squeeze(1))  # sync: variable-size selection

    def state_dict(self) -> dict[str, Any]:
        return {"losses": None if self._losses is None else self._losses.cpu(),
                "filled": self._filled, "pos": self._pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._losses, self._filled, self._pos = state["losses"], state["filled"], state["pos"]
