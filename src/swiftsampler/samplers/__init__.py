"""Samplers: which training samples to visit, and with which weights.

Use :func:`create_sampler` with a registered name (:func:`list_samplers`); write a new one as a small
subclass of :class:`Sampler` (or :class:`BatchSelector` for batch-then-sample methods) decorated with
``@SAMPLERS.register("name")``.
"""

from ._active_bias import CSGDSampler, PSGDSampler
from ._base import (
    SAMPLERS,
    BatchScores,
    BatchSelector,
    EpochInfo,
    EpochPlan,
    Sampler,
    Selection,
    create_sampler,
    list_samplers,
)
from ._draw import draw_with_replacement, draw_without_replacement
from ._infobatch import InfoBatchSampler
from ._noise import (
    L2RWSampler,
    MentorNetSampler,
    ReedHardSampler,
    ReedSoftSampler,
    SmallLossSampler,
)
from ._online_batch_selection import OnlineBatchSelectionSampler
from ._ordered_sgd import OrderedSGDSampler
from ._rs2 import RS2Sampler
from ._selective_backprop import SelectiveBackpropSampler
from ._swift import SamplerCard, SamplerFamily, SwiftSampler, load_card
from ._uis import UISSampler
from ._uniform import UniformSampler

__all__ = [
    "SAMPLERS", "BatchScores", "BatchSelector", "CSGDSampler", "EpochInfo", "EpochPlan",
    "InfoBatchSampler", "L2RWSampler", "MentorNetSampler", "OnlineBatchSelectionSampler",
    "OrderedSGDSampler", "PSGDSampler", "RS2Sampler", "ReedHardSampler", "ReedSoftSampler",
    "Sampler", "SamplerCard", "SamplerFamily", "Selection", "SelectiveBackpropSampler",
    "SmallLossSampler", "SwiftSampler", "UISSampler", "UniformSampler", "create_sampler",
    "draw_with_replacement", "draw_without_replacement", "list_samplers", "load_card",
]
