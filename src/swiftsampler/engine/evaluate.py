"""Evaluation of a model on a labelled tensor set, in eval mode (a convenience over :mod:`..tasks`)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..data.loader import DeviceLoader
from ..tasks import Task


def evaluate(model: nn.Module, inputs: Tensor, targets: Tensor, batch_size: int = 1024,
             task: Task | None = None) -> tuple[float, float]:
    """``(mean loss, accuracy)`` of ``model`` on ``inputs`` (N, ...) / ``targets`` under ``task``
    (default: classification, cross-entropy and accuracy).

    Returns ``(nan, nan)`` for an empty set. Ends with one host sync (a logging point).
    """
    loader = DeviceLoader(inputs, targets)
    everything = torch.arange(len(loader), device=inputs.device)
    scores = (task or Task()).evaluate(model, loader.batches(everything, batch_size))
    return scores.loss, scores.acc
