"""The sampling core shared by the engine and the drop-in API: see :mod:`.core`."""

from .core import SamplingCore, weighted_objective
from .lookahead import lookahead_gradient
from .queue import SelectionQueue

__all__ = ["SamplingCore", "SelectionQueue", "lookahead_gradient", "weighted_objective"]
