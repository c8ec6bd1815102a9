"""``preact-resnet18``: the CIFAR variant of the pre-activation ResNet-18 for images ``(C, H, W)``.

Pre-activation ResNet (He et al., "Identity Mappings in Deep Residual Networks", ECCV 2016): every
residual unit is ``x + F(x)`` with ``F`` = BN-ReLU-conv3x3-BN-ReLU-conv3x3, so the identity path carries
no activation. Where the shape changes, the shortcut is a 1x1 convolution (no BN) applied to the
pre-activated input ``ReLU(BN(x))``, and the first unit of the network shares that activation with its
shortcut. The last unit is followed by an extra BN-ReLU before pooling, as in the paper.

Architecture (``w`` = width, default 64), CIFAR variant: a 3x3 stride-1 stem convolution with ``w``
channels (no BN-ReLU after it, the first unit pre-activates; no max-pool); four stages of two
pre-activation blocks at w, 2w, 4w, 8w channels with strides 1, 2, 2, 2; BN-ReLU; global average pool
(features: 8w); Linear(8w, num_classes). About 11.17M parameters at width 64 with 10 classes. Every
stride-2 convolution keeps at least one pixel, so small inputs work.

:class:`PreActBlock` (with optional dropout between its convolutions) is also the block of the Wide
ResNet in :mod:`.wide_resnet`.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS, Classifier, resolve_width

DEFAULT_WIDTH = 64


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3(stride)-BN-ReLU-[dropout]-conv3x3 plus shortcut; no activation after the sum.

    The shortcut is the identity when the shape is unchanged, else a 1x1 convolution (stride
    ``stride``, no BN) of the pre-activated input.
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(x))
        # A projection shortcut sees the pre-activated input; the identity shortcut sees x itself.
        skip = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(self.dropout(self.relu(self.bn2(out))))
        return out + skip


def preact_stage(
    c_in: int, c_out: int, n_blocks: int, stride: int, dropout: float = 0.0
) -> nn.Sequential:
    """``n_blocks`` pre-activation blocks; the first maps ``c_in -> c_out`` with ``stride``."""
    blocks = [PreActBlock(c_in, c_out, stride, dropout)]
    blocks += [PreActBlock(c_out, c_out, 1, dropout) for _ in range(n_blocks - 1)]
    return nn.Sequential(*blocks)


class PreActResNet(Classifier):
    """Pre-activation ResNet: 3x3 stem conv, stages of :class:`PreActBlock`, BN-ReLU, pool, head.

    ``stage_channels[i]`` channels and ``blocks[i]`` blocks in stage ``i``; the first stage has stride 1
    and the others stride 2. ``stem_channels`` is the stem convolution's output (the first stage's
    input). The Wide ResNet is this class with three stages.
    """

    def __init__(
        self,
        num_classes: int,
        input_shape: tuple[int, ...],
        stem_channels: int,
        stage_channels: tuple[int, ...],
        blocks: tuple[int, ...],
        dropout: float = 0.0,
    ) -> None:
        super().__init__(num_classes, input_shape)
        if len(stage_channels) != len(blocks):
            raise ValueError("stage_channels and blocks need the same length")
        channels = input_shape[0]
        self.stem = nn.Conv2d(channels, stem_channels, 3, stride=1, padding=1, bias=False)
        stages: list[nn.Module] = []
        c_in = stem_channels
        for i, (c_out, n_blocks) in enumerate(zip(stage_channels, blocks, strict=True)):
            stages.append(preact_stage(c_in, c_out, n_blocks, 1 if i == 0 else 2, dropout))
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        # The extra activation after the last unit, then global average pooling.
        self.final = nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(inplace=True))
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        self.head = nn.Linear(c_in, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.final(self.stages(self.stem(x))))


@MODELS.register("preact-resnet18", inputs="image", width=DEFAULT_WIDTH)
def preact_resnet18(
    num_classes: int, input_shape: tuple[int, ...], *, width: int | None = None
) -> PreActResNet:
    """Pre-activation ResNet-18, CIFAR variant (3x3 stem, no max-pool), for images (C, H, W)."""
    w = resolve_width(width, DEFAULT_WIDTH)
    return PreActResNet(num_classes, input_shape, w, (w, 2 * w, 4 * w, 8 * w), (2, 2, 2, 2))
