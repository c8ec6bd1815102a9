"""The intra-op thread count of a run: part of its config, because it changes the numbers.

PyTorch splits a CPU reduction (a matrix product, a convolution, a sum) into per-thread chunks, so the
same computation with 1 and with 2 threads rounds differently and a run's result depends on the thread
count. A run therefore fixes it from ``RunConfig.threads`` while it computes, whatever launched it
(``train``, ``compare --jobs N``, a search trial), and gives the caller's count back afterwards. The
setting is process-wide while the run computes (``torch.set_num_threads``). Inter-op threads only run
independent operations concurrently (TorchScript forks), which does not change any value, so they are
left alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def intra_op_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads, then restore the previous count."""
    before = torch.get_num_threads()
    if threads != before:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
