"""Samplers: which training samples to visit, and with which weights.

Use :func:`create_sampler` with a registered name (:func:`list_samplers`); write a new one as a small
subclass of :class:`Sampler` decorated with ``@SAMPLERS.register("name")``.
"""

from ._base import SAMPLERS, EpochInfo, EpochPlan, Sampler, Selection, create_sampler, list_samplers
from ._uniform import UniformSampler

__all__ = [
    "SAMPLERS", "EpochInfo", "EpochPlan", "Sampler", "Selection", "UniformSampler",
    "create_sampler", "list_samplers",
]
