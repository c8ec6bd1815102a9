"""``cnn1d``: a small 1-D convolutional network for 1-D signals such as MNIST-1D (inputs ``(C, L)``).

Architecture (``w`` = width, default 32), every convolution followed by BatchNorm and ReLU::

    Conv1d(C, w, 5, pad 2) -> Conv1d(w, w, 3, stride 2, pad 1)
    -> Conv1d(w, 2w, 3, stride 2, pad 1) -> Conv1d(2w, 2w, 3, pad 1)
    -> flatten (features: 2w * L') -> Linear(2w * L', num_classes)

where ``L'`` is the length after the two stride-2 convolutions (10 for MNIST-1D's length 40). The layer
plan is swiftsampler's own: a compact VGG-style stack sized for MNIST-1D (Greydanus, "Scaling down deep
learning", 2020) and fast on a CPU.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS, Classifier, resolve_width

DEFAULT_WIDTH = 32


def _conv_bn_relu(c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> list[nn.Module]:
    return [
        nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
        nn.BatchNorm1d(c_out),
        nn.ReLU(inplace=True),
    ]


def conv_out_length(length: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a 1-D convolution (dilation 1)."""
    return (length + 2 * padding - kernel) // stride + 1


class CNN1d(Classifier):
    """Four Conv1d-BN-ReLU layers (two of them stride 2), flatten, linear head."""

    def __init__(self, num_classes: int, input_shape: tuple[int, ...], width: int = DEFAULT_WIDTH):
        super().__init__(num_classes, input_shape)
        channels, length = input_shape
        w = width
        # (c_in, c_out, kernel, stride, padding) of each layer
        plan = [(channels, w, 5, 1, 2), (w, w, 3, 2, 1), (w, 2 * w, 3, 2, 1), (2 * w, 2 * w, 3, 1, 1)]
        layers: list[nn.Module] = []
        for c_in, c_out, kernel, stride, padding in plan:
            layers += _conv_bn_relu(c_in, c_out, kernel, stride, padding)
            length = conv_out_length(length, kernel, stride, padding)
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(2 * w * length, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).flatten(1)


@MODELS.register("cnn1d", inputs="signal", width=DEFAULT_WIDTH)
def cnn1d(num_classes: int, input_shape: tuple[int, ...], *, width: int | None = None) -> CNN1d:
    """Small 1-D CNN for signals (C, L) such as MNIST-1D: 4 conv-BN-ReLU layers, linear head."""
    return CNN1d(num_classes, input_shape, resolve_width(width, DEFAULT_WIDTH))
