"""Evaluation: mean cross-entropy and accuracy over a labelled tensor set, in eval mode."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@torch.no_grad()
def evaluate(model: nn.Module, inputs: Tensor, targets: Tensor, batch_size: int = 1024
             ) -> tuple[float, float]:
    """``(mean loss, accuracy)`` of ``model`` on ``inputs`` (N, ...) / ``targets`` (N,).

    Returns ``(nan, nan)`` for an empty set. Ends with one host sync (a logging point).
    """
    n = inputs.shape[0]
    if n == 0:
        return float("nan"), float("nan")
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=inputs.device)
    correct = torch.zeros((), device=inputs.device, dtype=torch.long)
    for start in range(0, n, batch_size):
        x, y = inputs[start:start + batch_size], targets[start:start + batch_size]
        logits = model(x)
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
        correct += (logits.argmax(dim=1) == y).sum()
    model.train(was_training)
    return loss_sum.item() / n, correct.item() / n  # sync: once per evaluation
