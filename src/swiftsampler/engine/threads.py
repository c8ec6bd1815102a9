"""The intra-op thread count of a run: part of its config, because it changes the run's numbers.

On the CPU, torch splits a large reduction, matrix product or convolution across its intra-op threads,
and the way it splits decides the order in which floating-point partial sums are added: the same run
with 1 and with 2 threads can differ in the last bits of its losses, and training amplifies that into
different accuracies (``cnn1d`` on 2,000 MNIST-1D samples, 2 epochs: 48.75% against 49.00% test
accuracy). So a run fixes its thread count from
``RunConfig.threads`` instead of inheriting whatever the launching process has (torch's default is
the number of cores; ``compare --jobs N`` workers used to get ``cores // N``).

Inter-op threads (``torch.set_num_interop_threads``) only run independent TorchScript branches
(``torch.jit.fork``) in parallel; eager-mode training never uses them, so they do not change a run's
numbers and are left alone (torch also allows setting them only once per process).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def intra_op_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads, then restore the caller's count.

    ``torch.set_num_threads`` is process-wide: while the block runs, any other thread of the process
    that calls into torch uses the same count.
    """
    before = torch.get_num_threads()
    if before != threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
