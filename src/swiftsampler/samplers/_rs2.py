"""RS2: repeated random sampling without replacement across rounds."""

from __future__ import annotations

from typing import Any

import torch

from ..stats import SampleStats
from ._base import SAMPLERS, EpochInfo, EpochPlan, Sampler


@SAMPLERS.register("rs2")
class RS2Sampler(Sampler):
    """Each epoch takes the next ``round(b N)`` samples of a random permutation of the data; a new
    permutation starts when one is used up, so every sample is visited once per round before any is
    visited twice (Okanovic et al., "Repeated Random Sampling for Minimizing the Time-to-Accuracy of
    Learning", ICLR 2024, RS2 without replacement).

    When an epoch straddles two rounds it takes the rest of the old round and fills up from the new
    one, excluding the samples it already holds; those go to the end of the new round.
    """

    def __init__(self, num_samples: int) -> None:
        super().__init__(num_samples)
        self._perm: torch.Tensor | None = None
        self._pos = 0

    def plan_epoch(self, stats: SampleStats, generator: torch.Generator,
                   info: EpochInfo) -> EpochPlan:
        n, device = info.n_samples, generator.device
        if self._perm is None:
            self._perm, self._pos = torch.randperm(self.num_samples, generator=generator,
                                                   device=device), 0
        perm = self._perm.to(device)
        if self._pos + n <= self.num_samples:
            chosen = perm[self._pos:self._pos + n]
            self._pos += n
        else:
            rest = perm[self._pos:]
            fresh = torch.randperm(self.num_samples, generator=generator, device=device)
            held = torch.zeros(self.num_samples, dtype=torch.bool, device=device)
            held[rest] = True
            fresh = fresh[~held[fresh]]
            take = n - rest.numel()
            chosen = torch.cat([rest, fresh[:take]])
            self._perm, self._pos = torch.cat([fresh, rest]), take
        order = torch.randperm(n, generator=generator, device=device)
        return EpochPlan(chosen[order])

    def state_dict(self) -> dict[str, Any]:
        return {"perm": None if self._perm is None else self._perm.cpu(), "pos": self._pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._perm, self._pos = state["perm"], state["pos"]
