"""``wrn-28-10``: the Wide ResNet WRN-28-10 for images ``(C, H, W)`` (CIFAR variant).

Wide Residual Networks (Zagoruyko & Komodakis, BMVC 2016): a pre-activation ResNet that is shallow and
wide. WRN-``d``-``k`` has three groups of ``n = (d - 4) / 6`` pre-activation basic blocks
(BN-ReLU-conv3x3-BN-ReLU-[dropout]-conv3x3, :class:`~.preact_resnet.PreActBlock`) at ``16k``, ``32k``
and ``64k`` channels with strides 1, 2, 2, after a 3x3 stem convolution with 16 channels, followed by
BN-ReLU, global average pooling and a linear head. A 1x1 convolution on the pre-activated input is the
shortcut where the shape changes.

Here ``d = 28`` (four blocks a group), ``k = 10`` and dropout 0 (the paper also reports 0.3 between
the convolutions; :class:`WideResNet` takes it). ``width`` is the base width ``w`` (default 16, the
stem channels): the groups have ``w*k``, ``2*w*k``, ``4*w*k`` channels, so ``width=16`` gives
160/320/640 and features of size 640. About 36.48M parameters at width 16 with 10 classes. Every
stride-2 convolution keeps at least one pixel, so small inputs work.
"""

from __future__ import annotations

from .base import MODELS, resolve_width
from .preact_resnet import PreActResNet

DEFAULT_WIDTH = 16


class WideResNet(PreActResNet):
    """WRN-``depth``-``widen``: three groups of pre-activation blocks at ``w*widen * (1, 2, 4)``."""

    def __init__(
        self,
        num_classes: int,
        input_shape: tuple[int, ...],
        width: int = DEFAULT_WIDTH,
        depth: int = 28,
        widen: int = 10,
        dropout: float = 0.0,
    ) -> None:
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"Wide ResNet depth must be 6n + 4 with n >= 1, got {depth}")
        n = (depth - 4) // 6
        super().__init__(
            num_classes,
            input_shape,
            stem_channels=width,
            stage_channels=(width * widen, 2 * width * widen, 4 * width * widen),
            blocks=(n, n, n),
            dropout=dropout,
        )
        self.depth = depth
        self.widen = widen


@MODELS.register("wrn-28-10", inputs="image", width=DEFAULT_WIDTH)
def wrn_28_10(
    num_classes: int, input_shape: tuple[int, ...], *, width: int | None = None
) -> WideResNet:
    """Wide ResNet WRN-28-10 (pre-activation blocks, dropout 0), CIFAR variant, for images (C, H, W)."""
    return WideResNet(num_classes, input_shape, resolve_width(width, DEFAULT_WIDTH), 28, 10)
