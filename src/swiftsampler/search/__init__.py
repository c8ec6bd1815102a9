"""The Swift Sampler search (Yao, Li & Xiao, NeurIPS 2024): Bayesian optimisation of a sampler
family's ~10 parameters, each candidate scored by a short fine-tune from a shared initialisation.

An application above the engine: :mod:`.study` holds the Optuna side (storages, heartbeats, many
workers on one study), :mod:`.runner` the search of ``swiftsampler search`` over the library's own
training engine, :mod:`.report` its summary and plots. The sampler maths (features, transforms,
family, card) is part of the samplers: :mod:`swiftsampler.samplers._swift`.
"""

from .runner import SEARCH_ALGOS, SearchConfig, SwiftSearch

__all__ = ["SEARCH_ALGOS", "SearchConfig", "SwiftSearch"]
