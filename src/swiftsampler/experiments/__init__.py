"""Comparisons: a grid of runs, a results store (SQLite), parallel workers, reports and plots."""

from .grid import AXES, GridSpec, parse_axis, run_key
from .runner import run_comparison, train_one
from .store import ResultStore

__all__ = ["AXES", "GridSpec", "ResultStore", "parse_axis", "run_comparison", "run_key",
           "train_one"]
