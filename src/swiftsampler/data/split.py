"""Seeded, stratified index splits (train / validation carved from a training set)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import ConfigError


def _check_labels(labels: Tensor) -> None:
    if not isinstance(labels, Tensor) or labels.dim() != 1:
        raise ConfigError("labels must be a 1-D tensor")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ConfigError(f"labels must be an integer tensor, got {labels.dtype}")


def val_count(n: int, ratio: float) -> int:
    """How many of ``n`` samples of one class go to the held-out part.

    ``round(ratio * n)`` (Python rounding, half to even), raised to 1 when ``ratio > 0`` and
    ``n >= 2`` so that every class with at least two samples is represented in the held-out part.
    """
    k = round(ratio * n)
    if ratio > 0 and n >= 2:
        k = max(k, 1)
    return min(k, n)


def stratified_split(labels: Tensor, val_ratio: float,
                     generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Split ``range(len(labels))`` into ``(train_idx, val_idx)``, stratified by label.

    For every class ``c`` (in increasing order) with ``n_c`` samples, a uniformly random subset of
    ``val_count(n_c, val_ratio)`` of its indices (one ``torch.randperm`` of size ``n_c`` drawn from
    ``generator``) goes to validation and the rest to training. Both outputs are sorted ``int64``
    tensors on ``labels.device`` and together partition the indices. The result depends only on
    ``labels``, ``val_ratio`` and the generator's state, which it advances.
    """
    _check_labels(labels)
    if not (isinstance(val_ratio, (int, float)) and math.isfinite(val_ratio)
            and 0 <= val_ratio < 1):
        raise ConfigError(f"val_ratio must be in [0, 1), got {val_ratio!r}")
    cpu = labels.detach().to("cpu", torch.int64)
    val_parts: list[Tensor] = []
    if val_ratio > 0:
        for c in torch.unique(cpu).tolist():
            members = torch.nonzero(cpu == c, as_tuple=True)[0]
            k = val_count(len(members), val_ratio)
            perm = torch.randperm(len(members), generator=generator)
            val_parts.append(members[perm[:k]])
    is_val = torch.zeros(len(cpu), dtype=torch.bool)
    if val_parts:
        is_val[torch.cat(val_parts)] = True
    train_idx = torch.nonzero(~is_val, as_tuple=True)[0]
    val_idx = torch.nonzero(is_val, as_tuple=True)[0]
    return train_idx.to(labels.device), val_idx.to(labels.device)


def few_shot_subset(labels: Tensor, shots: int, generator: torch.Generator) -> Tensor:
    """Positions of at most ``shots`` samples per class (the few-shot training sets of Yao et al.).

    For every class ``c`` (in increasing order) with ``n_c`` samples, the first ``min(shots, n_c)`` of
    one ``torch.randperm(n_c)`` drawn from ``generator``. Returns sorted ``int64`` positions into
    ``labels``. A class with fewer than ``shots`` samples keeps all of them.
    """
    _check_labels(labels)
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
        raise ConfigError(f"shots must be a positive integer, got {shots!r}")
    cpu = labels.detach().to("cpu", torch.int64)
    parts = []
    for c in torch.unique(cpu).tolist():
        members = torch.nonzero(cpu == c, as_tuple=True)[0]
        parts.append(members[torch.randperm(len(members), generator=generator)[:shots]])
    return torch.cat(parts).sort().values.to(labels.device)
