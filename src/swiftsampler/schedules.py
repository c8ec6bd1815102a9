"""Learning-rate schedules as pure functions of budget progress ``p`` in [0, 1].

Under a budget the schedule must span the *budgeted* run, not the reference one: a linear decay to zero
over the iterations actually taken is the budget-aware schedule of Li, Yumer & Ramanan ("Budgeted
Training", ICLR 2020), used by Arazo et al. (BMVC 2021). Every schedule here returns a multiplier of
the peak learning rate; ``progress`` is the fraction of the budget already spent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .registry import Registry

ScheduleFn = Callable[..., float]
SCHEDULES: Registry[float] = Registry("LR schedule")


@SCHEDULES.register("linear")
def linear(p: float, **_: object) -> float:
    """Linear decay to zero: ``1 - p`` (Li et al. 2020; Arazo et al. 2021)."""
    return 1.0 - p


@SCHEDULES.register("cosine")
def cosine(p: float, **_: object) -> float:
    """Cosine annealing to zero: ``(1 + cos(pi p)) / 2`` (Loshchilov & Hutter 2017)."""
    return 0.5 * (1.0 + math.cos(math.pi * p))


@SCHEDULES.register("step")
def step(p: float, *, milestones: Sequence[float] = (0.5, 0.75), gamma: float = 0.1,
         **_: object) -> float:
    """Step decay: ``gamma ** #{m in milestones : m <= p}`` (milestones as fractions of the budget)."""
    return gamma ** sum(1 for m in milestones if p >= m)


@SCHEDULES.register("onecycle")
def onecycle(p: float, *, peak_at: float = 0.3, start: float = 0.04, **_: object) -> float:
    """One-cycle (Smith & Topin 2018): linear ramp ``start -> 1`` until ``peak_at``, then linear to 0."""
    if p < peak_at:
        return start + (1.0 - start) * p / peak_at
    return (1.0 - p) / (1.0 - peak_at)


@dataclass(frozen=True)
class LRSchedule:
    """``lr(p) = peak * warm(p) * schedule(q)``: an optional linear warm-up over the first ``warmup``
    of progress, after which the named schedule runs over the rest, ``q = (p - warmup) / (1 - warmup)``."""

    peak: float
    name: str = "linear"
    warmup: float = 0.0
    milestones: tuple[float, ...] = (0.5, 0.75)
    gamma: float = 0.1

    def __post_init__(self) -> None:
        SCHEDULES.get(self.name)  # unknown names fail here, with the list of known ones

    def __call__(self, progress: float) -> float:
        p = min(max(progress, 0.0), 1.0)
        fn = SCHEDULES.get(self.name).factory
        if p < self.warmup:
            return self.peak * (p / self.warmup) * fn(0.0, milestones=self.milestones,
                                                      gamma=self.gamma)
        q = (p - self.warmup) / (1.0 - self.warmup)
        return self.peak * fn(q, milestones=self.milestones, gamma=self.gamma)
