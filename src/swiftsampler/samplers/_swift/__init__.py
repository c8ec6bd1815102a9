"""Swift Sampler (Yao, Li, Xiao, NeurIPS 2024): a sampler given by ~10 parameters.

Per-sample features (:mod:`.features`) are mapped to [0, 1] by a transform fitted on the training set
(:mod:`.transforms`: cdf or the cumulative gradient-mass function cgf), then to a sampling probability by a
low-dimensional Lipschitz function family (:mod:`.family`: one piecewise-linear function per feature,
combined and normalised). A searched sampler is stored as a JSON sampler card (:mod:`.card`) and
used by :class:`SwiftSampler` (:mod:`.sampler`). The search that finds a card is an application
above the engine: :mod:`swiftsampler.search`.
"""

from .card import CARD_SCHEMA, SamplerCard, load_card, transformed_features
from .family import COMBINES, SamplerFamily, piecewise_linear
from .features import DEFAULT_FEATURES, FEATURES, extract_feature, feature_matrix
from .sampler import SwiftSampler
from .transforms import TRANSFORMS, apply_transform, cdf, cgf, none

__all__ = [
    "CARD_SCHEMA", "COMBINES", "DEFAULT_FEATURES", "FEATURES", "TRANSFORMS", "SamplerCard",
    "SamplerFamily", "SwiftSampler", "apply_transform", "cdf", "cgf", "extract_feature",
    "feature_matrix", "load_card", "none", "piecewise_linear", "transformed_features",
]
