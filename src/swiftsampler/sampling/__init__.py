"""The sampling core shared by the engine and the drop-in API: see :mod:`.core`."""

from .core import SamplingCore, weighted_objective
from .queue import SelectionQueue

__all__ = ["SamplingCore", "SelectionQueue", "weighted_objective"]
