"""Named random streams derived from one seed, as ``torch.Generator`` s (never the global RNG).

Each consumer gets its own stream (``plan``, ``select``, ``augment``, ``model``, ...), so adding a
random draw in one place does not shift the numbers drawn in another.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch


def derive_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for ``stream``, derived from ``seed`` with NumPy's ``SeedSequence``."""
    entropy = [int(seed), zlib.crc32(stream.encode())]
    return int(np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32).view(np.uint64)[0]
               >> np.uint64(1))


def make_generator(seed: int, stream: str, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded for ``stream``."""
    return torch.Generator(device=device).manual_seed(derive_seed(seed, stream))
