"""Will a model fit? A cheap check before its parameters are allocated.

The model is first built on PyTorch's ``meta`` device (shapes only, no memory, no random numbers
drawn), its parameter bytes are counted, and training needs at least three times that (parameters,
gradients and one optimiser buffer: SGD's momentum; AdamW keeps two). When even that lower bound is
more than the device has available, the run stops with one line naming ``--width`` instead of an
allocator traceback (or the kernel's out-of-memory killer) later.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..errors import ConfigError

#: Copies of the parameters training needs at least: weights, gradients, one optimiser buffer.
TRAINING_COPIES = 3


def available_bytes(device: torch.device) -> int | None:
    """Free memory of ``device`` in bytes (CPU: ``MemAvailable`` of ``/proc/meminfo``), or None
    when it cannot be told."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def parameter_bytes(build: Callable[[], nn.Module]) -> int | None:
    """Bytes of the parameters ``build()`` makes, counted on the meta device (None: not countable)."""
    try:
        with torch.device("meta"):
            model = build()
    except Exception:  # a model that cannot be built on meta is checked by its real build
        return None
    return sum(p.numel() * p.element_size() for p in model.parameters())


def build_if_it_fits(build: Callable[[], nn.Module], device: torch.device, what: str) -> nn.Module:
    """``build()`` moved to ``device``, after checking that training it can fit in memory.

    Raises:
        ConfigError: the model cannot fit (or its allocation failed), naming ``what``.
    """
    need, free = parameter_bytes(build), available_bytes(device)
    if need is not None and free is not None and TRAINING_COPIES * need > free:
        raise ConfigError(
            f"{what}: the model has {need / 4:.3g} float32 parameters and training needs at least "
            f"{TRAINING_COPIES * need / 2**30:,.1f} GiB; {device} has {free / 2**30:,.1f} GiB free")
    try:
        return build().to(device)
    except (RuntimeError, MemoryError) as exc:
        if not isinstance(exc, MemoryError) and "alloc" not in str(exc).lower():
            raise
        raise ConfigError(f"{what}: the model does not fit in memory on {device}") from None
