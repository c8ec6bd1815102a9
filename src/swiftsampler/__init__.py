"""swiftsampler: train deep networks under a compute budget with the right data sampling."""

__version__ = "0.1.0"
