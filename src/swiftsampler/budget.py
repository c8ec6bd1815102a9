"""The budget: what 100% is, what each step costs, and how far along a run is.

A run with budget ``b`` of a reference schedule of ``E`` epochs over ``N`` training samples visits
``n = round(b N)`` samples per epoch and may spend ``E n`` backward-sample units in all, so it takes
``b`` times the iterations of full training (Arazo et al., BMVC 2021: the epoch count is kept, each epoch
is a fresh subset of ``b N`` samples). Methods that forward samples they do not back-propagate are
charged for those passes too: with ``unit="compute"`` a forward pass of one sample costs 1 and its
backward pass 2 (so an ordinary training sample costs 3), and the budget is ``3 E n`` such units.
Progress ``= spent / total`` drives the learning-rate schedule.

A wall-clock budget (``time_budget_s``, the ``--time-budget`` flag) replaces the sample budget: progress
is then ``elapsed / time_budget_s``, where ``elapsed`` counts the seconds spent in the training loop
(steps and scoring passes; not the per-epoch validation, checkpoints or the final test), and the run
ends when it reaches 1. The fraction ``b`` still sets the samples planned per epoch. Such a run depends
on the machine's speed, so it is not reproducible from its seed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

BUDGET_UNITS = ("backward", "compute")
_FORWARD_COST = {"backward": 0, "compute": 1}
_BACKWARD_COST = {"backward": 1, "compute": 2}


@dataclass(frozen=True)
class Budget:
    """A fraction of the reference schedule, resolved to sample counts for one dataset."""

    fraction: float
    epochs: int
    num_train: int
    unit: str = "backward"

    time_budget_s: float | None = None

    def __post_init__(self) -> None:
        if self.time_budget_s is not None and not (
                math.isfinite(self.time_budget_s) and self.time_budget_s > 0):
            raise ValueError(f"time budget must be a positive number of seconds, "
                             f"got {self.time_budget_s}")
        if not 0 < self.fraction <= 1:
            raise ValueError(f"budget fraction must be in (0, 1], got {self.fraction}")
        if self.unit not in BUDGET_UNITS:
            raise ValueError(f"budget unit must be one of {BUDGET_UNITS}, got {self.unit!r}")

    @property
    def samples_per_epoch(self) -> int:
        """``round(b N)``, at least 1: the samples a sample-then-batch sampler plans per epoch."""
        return max(1, round(self.fraction * self.num_train))

    @property
    def total_units(self) -> int:
        """Units the run may spend: ``E n`` backward samples, or ``3 E n`` compute units."""
        per_sample = _FORWARD_COST[self.unit] + _BACKWARD_COST[self.unit]
        return self.epochs * self.samples_per_epoch * per_sample

    def units(self, forward: int, backward: int) -> int:
        """Cost of ``forward`` forward passes and ``backward`` backward passes in this budget's unit."""
        return forward * _FORWARD_COST[self.unit] + backward * _BACKWARD_COST[self.unit]


@dataclass
class CostMeter:
    """Counts what a run has spent; all counts are host integers (no device sync needed).

    With a time budget, the training loop brackets its work with :meth:`start_clock` /
    :meth:`stop_clock`; ``elapsed_s`` is the total time between them.
    """

    budget: Budget
    iterations: int = 0
    forward_samples: int = 0
    backward_samples: int = 0
    _spent: int = field(default=0, repr=False)
    _elapsed: float = field(default=0.0, repr=False)
    _clock_start: float | None = field(default=None, repr=False)

    def charge(self, *, forward: int, backward: int, steps: int = 1) -> None:
        """Record ``forward`` forwarded and ``backward`` back-propagated samples in ``steps`` steps."""
        self.iterations += steps
        self.forward_samples += forward
        self.backward_samples += backward
        self._spent += self.budget.units(forward, backward)

    def start_clock(self) -> None:
        if self._clock_start is None:
            self._clock_start = time.perf_counter()

    def stop_clock(self) -> None:
        if self._clock_start is not None:
            self._elapsed += time.perf_counter() - self._clock_start
            self._clock_start = None

    @property
    def elapsed_s(self) -> float:
        """Seconds spent in the training loop so far (the clock is read, no device sync)."""
        running = 0.0 if self._clock_start is None else time.perf_counter() - self._clock_start
        return self._elapsed + running

    @property
    def spent(self) -> int:
        return self._spent

    @property
    def position(self) -> float:
        """How much of the budget is spent, in its own unit: budget units, or seconds."""
        return self.elapsed_s if self.budget.time_budget_s is not None else self._spent

    @property
    def total(self) -> float:
        """The whole budget in the unit of :attr:`position`."""
        time_budget = self.budget.time_budget_s
        return time_budget if time_budget is not None else self.budget.total_units

    @property
    def progress(self) -> float:
        """Fraction of the budget spent, in [0, 1]."""
        return min(1.0, self.position / self.total)

    @property
    def exhausted(self) -> bool:
        return self.position >= self.total

    def summary(self) -> dict[str, int | str | float]:
        """The counts; with a time budget also ``time_budget_s`` and ``training_loop_s`` (kept out
        otherwise, so that the cost of a sample-budgeted run is reproducible from its seed)."""
        counts: dict[str, int | str | float] = {
            "iterations": self.iterations,
            "forward_samples": self.forward_samples,
            "backward_samples": self.backward_samples,
            "budget_unit": self.budget.unit,
            "budget_units_spent": self._spent,
            "budget_units_total": self.budget.total_units,
        }
        if self.budget.time_budget_s is not None:
            counts.update(time_budget_s=self.budget.time_budget_s, training_loop_s=self.elapsed_s)
        return counts

    def state_dict(self) -> dict[str, int | float]:
        return {"iterations": self.iterations, "forward_samples": self.forward_samples,
                "backward_samples": self.backward_samples, "spent": self._spent,
                "elapsed_s": self.elapsed_s}

    def load_state_dict(self, state: dict[str, int | float]) -> None:
        self.iterations = int(state["iterations"])
        self.forward_samples = int(state["forward_samples"])
        self.backward_samples = int(state["backward_samples"])
        self._spent = int(state["spent"])
        self._elapsed = float(state.get("elapsed_s", 0.0))
        self._clock_start = None
