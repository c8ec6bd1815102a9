"""The Swift Sampler search (Yao, Li & Xiao, NeurIPS 2024): Bayesian optimisation of a sampler
family's ~10 parameters, each candidate scored by a short fine-tune from a shared initialisation.

An application above the engine: :mod:`.study` holds the Optuna side (storages, heartbeats, many
workers on one study), :mod:`.sampler_search` the search over any objective (:func:`search_sampler`:
a function that fine-tunes a user's model with a candidate sampler and returns its validation
score), :mod:`.runner` the search of ``swiftsampler search``, whose objective is the library's own
training engine, and :mod:`.report` its summary and plots. The sampler maths (features, transforms,
family, card) is part of the samplers: :mod:`swiftsampler.samplers._swift`.
"""

from .config import SEARCH_ALGOS, SearchConfig
from .runner import SwiftSearch
from .sampler_search import Objective, SearchResult, save_search, search_sampler

__all__ = ["SEARCH_ALGOS", "Objective", "SearchConfig", "SearchResult", "SwiftSearch", "save_search",
           "search_sampler"]
