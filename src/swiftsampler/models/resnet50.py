"""``resnet50``: the ImageNet-style ResNet-50 for images ``(C, H, W)``.

ResNet (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016), the 50-layer network of
its Table 1 built from bottleneck blocks (:class:`Bottleneck`): 1x1 conv to ``p`` channels, BN, ReLU;
3x3 conv (carrying the stride), BN, ReLU; 1x1 conv to ``4p`` channels (expansion 4), BN; plus the
shortcut, then ReLU. The shortcut is the identity, or a 1x1 convolution (with the stride) + BN where the
shape changes. The stride sits on the 3x3 convolution (the common "v1.5" placement; the paper's
original puts it on the first 1x1, with the same parameter count).

Architecture (``w`` = width, default 64)::

    Conv7x7(C, w, stride 2, pad 3)-BN-ReLU -> MaxPool 3x3 (stride 2, pad 1)
    -> stages of [3, 4, 6, 3] bottlenecks with p = w, 2w, 4w, 8w (outputs 4w .. 32w), strides 1, 2, 2, 2
    -> global average pool (features: 32w = 2048) -> Linear(32w, num_classes)

About 25.56M parameters at width 64 with 1000 classes. The network downsamples by 32, but every strided
layer keeps at least one pixel, so small inputs (32x32, 16x16, even 1x1) also work, with the later
stages on 1x1 maps.

:class:`ImageNetResNet` is generic over the block: with the CIFAR ResNet's
:class:`~.resnet.BasicBlock` (expansion 1) and ``blocks=(2, 2, 2, 2)`` it is the ImageNet ResNet-18.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS, Classifier, resolve_width
from .resnet import projection_shortcut, residual_stages

DEFAULT_WIDTH = 64


class Bottleneck(nn.Module):
    """1x1 (c_out/4) - 3x3 (stride) - 1x1 (c_out), each with BN, ReLU after the first two and the sum."""

    expansion = 4

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        mid = c_out // self.expansion
        self.conv1 = nn.Conv2d(c_in, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = projection_shortcut(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.shortcut(x))


class ImageNetResNet(Classifier):
    """ImageNet-style ResNet: 7x7 stride-2 stem + max-pool, four stages of ``block``, pool, head.

    Stage ``i`` has ``blocks[i]`` blocks with ``w * 2**i * block.expansion`` output channels (expansion
    1 when the block class has none, as for :class:`~.resnet.BasicBlock`); a block is built as
    ``block(c_in, c_out, stride)``.
    """

    def __init__(
        self,
        num_classes: int,
        input_shape: tuple[int, ...],
        width: int = DEFAULT_WIDTH,
        blocks: tuple[int, ...] = (3, 4, 6, 3),
        block: type[nn.Module] = Bottleneck,
    ) -> None:
        super().__init__(num_classes, input_shape)
        self.stem = nn.Sequential(
            nn.Conv2d(input_shape[0], width, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        self.stages, c_out = residual_stages(width, blocks, block)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        self.head = nn.Linear(c_out, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.stages(self.stem(x)))


@MODELS.register("resnet50", inputs="image", width=DEFAULT_WIDTH)
def resnet50(
    num_classes: int, input_shape: tuple[int, ...], *, width: int | None = None
) -> ImageNetResNet:
    """ResNet-50, ImageNet style (7x7 stride-2 stem, max-pool, bottlenecks), for images (C, H, W)."""
    return ImageNetResNet(num_classes, input_shape, resolve_width(width, DEFAULT_WIDTH))

