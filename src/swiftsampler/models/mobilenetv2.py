"""``mobilenetv2``: MobileNetV2 with CIFAR-friendly strides for images ``(C, H, W)``.

MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018). Its
unit is the inverted residual block (:class:`InvertedResidual`): a 1x1 expansion convolution to ``t``
times the input channels (left out when ``t = 1``), BN, ReLU6; a 3x3 depthwise convolution (carrying the
stride), BN, ReLU6; a linear 1x1 projection, BN, with no activation (the linear bottleneck); and a
residual connection when the stride is 1 and the channels are unchanged.

Architecture (``w`` = width, default 32), with the paper's table of (expansion ``t``, channels ``c``,
repeats ``n``, stride ``s``) and every channel count scaled by ``w / 32``::

    Conv3x3(C, w, stride 1)-BN-ReLU6
    -> (t=1, c=16, n=1, s=1) -> (6, 24, 2, 1*) -> (6, 32, 3, 1*) -> (6, 64, 4, 2)
    -> (6, 96, 3, 1) -> (6, 160, 3, 2) -> (6, 320, 1, 1)
    -> Conv1x1(., 1280)-BN-ReLU6 -> global average pool (features: 1280) -> Linear(1280, num_classes)

CIFAR variant: the stem has stride 1 instead of 2 and the first two stride-2 stages (``*``: 24 and 32
channels) have stride 1, so the network downsamples by 4 instead of 32 and a 32x32 image ends at 8x8
(ImageNet's 224x224 ends at 7x7). Only the first block of a stage has the stage's stride. The width
multiplier is ``w / 32`` (``w`` is the stem's channels); scaled counts are rounded to the nearest
integer (at least 1); as in the paper the last convolution keeps 1280 channels for multipliers below 1
and is scaled up above 1. About 2.24M parameters at width 32 with 10 classes. Every stride-2 convolution
keeps at least one pixel, so small inputs work.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS, Classifier, resolve_width

DEFAULT_WIDTH = 32
LAST_CHANNELS = 1280

# (expansion t, output channels c at width 32, repeats n, stride s of the first block); CIFAR strides.
CIFAR_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),  # stride 2 on ImageNet
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _conv_bn(
    c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, relu6: bool = True
) -> list[nn.Module]:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if relu6:
        layers.append(nn.ReLU6(inplace=True))
    return layers


class InvertedResidual(nn.Module):
    """1x1 expand (t > 1) -> 3x3 depthwise (stride) -> linear 1x1 project, residual when shapes match."""

    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = c_in * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += _conv_bn(c_in, hidden, 1)
        layers += _conv_bn(hidden, hidden, 3, stride, groups=hidden)
        layers += _conv_bn(hidden, c_out, 1, relu6=False)
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.use_residual else out


class MobileNetV2(Classifier):
    """Stem conv, inverted residual stages per ``settings``, 1x1 conv to 1280, pool, linear head."""

    def __init__(
        self,
        num_classes: int,
        input_shape: tuple[int, ...],
        width: int = DEFAULT_WIDTH,
        settings: tuple[tuple[int, int, int, int], ...] = CIFAR_SETTINGS,
        stem_stride: int = 1,
    ) -> None:
        super().__init__(num_classes, input_shape)

        def scaled(c: int) -> int:
            return max(1, round(c * width / DEFAULT_WIDTH))

        layers: list[nn.Module] = _conv_bn(input_shape[0], width, 3, stem_stride)
        c_in = width
        for t, c, n, s in settings:
            c_out = scaled(c)
            for i in range(n):
                layers.append(InvertedResidual(c_in, c_out, s if i == 0 else 1, t))
                c_in = c_out
        last = max(LAST_CHANNELS, scaled(LAST_CHANNELS))
        layers += _conv_bn(c_in, last, 1)
        self.features = nn.Sequential(*layers)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        self.head = nn.Linear(last, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x))


@MODELS.register("mobilenetv2", inputs="image", width=DEFAULT_WIDTH)
def mobilenetv2(
    num_classes: int, input_shape: tuple[int, ...], *, width: int | None = None
) -> MobileNetV2:
    """MobileNetV2 (inverted residuals), CIFAR strides (stem stride 1), for images (C, H, W)."""
    return MobileNetV2(num_classes, input_shape, resolve_width(width, DEFAULT_WIDTH))
