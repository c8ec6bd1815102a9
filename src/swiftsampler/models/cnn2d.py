"""``cnn2d``: a small VGG-style 2-D CNN for images ``(C, H, W)`` (e.g. 8x8 sklearn digits, 32x32 CIFAR).

Architecture (``w`` = width, default 32), every convolution 3x3 with padding 1, BatchNorm and ReLU::

    [Conv(C, w) -> Conv(w, w) -> MaxPool 2]
    -> [Conv(w, 2w) -> Conv(2w, 2w) -> MaxPool 2]
    -> global average pool (features: 2w) -> Linear(2w, num_classes)

Two VGG blocks (Simonyan & Zisserman, ICLR 2015) scaled down for small images; the two max-pools need
inputs of at least 4x4 pixels.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS, Classifier, resolve_width

DEFAULT_WIDTH = 32


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class CNN2d(Classifier):
    """Two [conv-BN-ReLU x2, max-pool] blocks at widths w and 2w, global average pool, linear head."""

    def __init__(self, num_classes: int, input_shape: tuple[int, ...], width: int = DEFAULT_WIDTH):
        super().__init__(num_classes, input_shape)
        channels = input_shape[0]
        self.features = nn.Sequential(
            _block(channels, width),
            _block(width, 2 * width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(1),
        )
        self.head = nn.Linear(2 * width, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


@MODELS.register("cnn2d", inputs="image", width=DEFAULT_WIDTH, min_size=4)
def cnn2d(num_classes: int, input_shape: tuple[int, ...], *, width: int | None = None) -> CNN2d:
    """Small VGG-style 2-D CNN for images (C, H, W): two conv blocks, global average pool."""
    return CNN2d(num_classes, input_shape, resolve_width(width, DEFAULT_WIDTH))
