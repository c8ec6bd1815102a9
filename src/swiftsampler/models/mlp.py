"""``mlp``: a multi-layer perceptron on flattened inputs of any shape.

Architecture (``w`` = width, default 256)::

    flatten -> Linear(prod(input_shape), w) -> ReLU -> Linear(w, w) -> ReLU -> Linear(w, num_classes)

The standard fully connected baseline (two hidden layers of equal width); its features are the output
of the second hidden layer.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import MODELS, Classifier, resolve_width

DEFAULT_WIDTH = 256


class MLP(Classifier):
    """Flatten, two ReLU hidden layers of ``width`` units, linear head."""

    def __init__(self, num_classes: int, input_shape: tuple[int, ...], width: int = DEFAULT_WIDTH):
        super().__init__(num_classes, input_shape)
        self.features = nn.Sequential(
            nn.Flatten(1),
            nn.Linear(math.prod(input_shape), width),
            nn.ReLU(inplace=True),
            nn.Linear(width, width),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(width, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


@MODELS.register("mlp", inputs="any", width=DEFAULT_WIDTH)
def mlp(num_classes: int, input_shape: tuple[int, ...], *, width: int | None = None) -> MLP:
    """Multi-layer perceptron on flattened inputs of any shape: two ReLU hidden layers."""
    return MLP(num_classes, input_shape, resolve_width(width, DEFAULT_WIDTH))
