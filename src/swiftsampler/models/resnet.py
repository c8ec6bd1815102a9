"""``resnet18``: the CIFAR variant of ResNet-18 for images ``(C, H, W)``.

ResNet (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016) with BasicBlocks, in the
form commonly used for 32x32 images (and by Arazo et al., "How Important is Importance Sampling for Deep
Budgeted Training?", BMVC 2021): a 3x3 stride-1 stem convolution with ``w`` channels (default 64), BN,
ReLU and no max-pool; four stages of two BasicBlocks at w, 2w, 4w, 8w channels with strides 1, 2, 2, 2;
a 1x1 convolution + BN projection shortcut where the shape changes; global average pool (features: 8w);
Linear(8w, num_classes). About 11.17M parameters at width 64 with 10 classes. Every stride-2 convolution
keeps at least one pixel, so inputs as small as 8x8 (or smaller) work.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS, Classifier, resolve_width

DEFAULT_WIDTH = 64


def projection_shortcut(c_in: int, c_out: int, stride: int) -> nn.Module:
    """Identity when the shape is kept, else a strided 1x1 conv + BN (He et al. 2016, option B)."""
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))


class BasicBlock(nn.Module):
    """conv3x3(stride)-BN-ReLU-conv3x3-BN plus shortcut, then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = projection_shortcut(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet(Classifier):
    """CIFAR-style ResNet with BasicBlocks: stem, four stages, global average pool, linear head."""

    def __init__(
        self,
        num_classes: int,
        input_shape: tuple[int, ...],
        width: int = DEFAULT_WIDTH,
        blocks: tuple[int, ...] = (2, 2, 2, 2),
    ) -> None:
        super().__init__(num_classes, input_shape)
        channels = input_shape[0]
        self.stem = nn.Sequential(
            nn.Conv2d(channels, width, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        self.stages, c_out = residual_stages(width, blocks, BasicBlock)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        self.head = nn.Linear(c_out, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.stages(self.stem(x)))


def residual_stages(width: int, blocks: tuple[int, ...], block: type[nn.Module]
                    ) -> tuple[nn.Sequential, int]:
    """The four stages of a ResNet: stage ``i`` has ``blocks[i]`` blocks with
    ``width * 2**i * block.expansion`` output channels (expansion 1 when the block has none), stride 2
    at the start of every stage but the first; a block is built as ``block(c_in, c_out, stride)``.
    Returns the stages and their output channels."""
    expansion = getattr(block, "expansion", 1)
    stages: list[nn.Module] = []
    c_in = width
    for i, n_blocks in enumerate(blocks):
        c_out = width * 2**i * expansion
        layers = [block(c_in, c_out, 1 if i == 0 else 2)]
        layers += [block(c_out, c_out, 1) for _ in range(n_blocks - 1)]
        stages.append(nn.Sequential(*layers))
        c_in = c_out
    return nn.Sequential(*stages), c_in


@MODELS.register("resnet18", inputs="image", width=DEFAULT_WIDTH)
def resnet18(num_classes: int, input_shape: tuple[int, ...], *, width: int | None = None) -> ResNet:
    """ResNet-18, CIFAR variant (3x3 stride-1 stem, no max-pool), for images (C, H, W)."""
    return ResNet(num_classes, input_shape, resolve_width(width, DEFAULT_WIDTH), (2, 2, 2, 2))
