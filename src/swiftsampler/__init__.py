"""swiftsampler: train deep networks under a compute budget, with the right data sampling."""

from typing import Any

__version__ = "0.1.0"


def load_results(path: Any) -> Any:
    """A pandas DataFrame of a comparison's store or of run folders: see :mod:`swiftsampler.results`."""
    from .results import load_results as load

    return load(path)
