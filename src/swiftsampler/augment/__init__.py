"""Batched data augmentations for budgeted training: ``--augment NAME[,NAME]``.

Registered: ``standard`` (crop+flip for images, shift+scale for signals), ``cutout``, ``mixup``,
``cutmix``, ``ricap``, ``randaugment``. Mixing ones return per-source shares; see :mod:`._base` for the
loss and credit rule.
"""

from ._base import (
    AUGMENTATIONS,
    Augmentation,
    AugmentContext,
    Compose,
    Mixed,
    create_augmentation,
    list_augmentations,
)
from ._mix import RICAP, CutMix, Mixup
from ._ops import Cutout, Standard

try:  # written alongside; registered when present
    from ._randaugment import RandAugment  # noqa: F401
except ImportError:  # pragma: no cover
    pass

__all__ = [
    "AUGMENTATIONS", "RICAP", "AugmentContext", "Augmentation", "Compose", "CutMix", "Cutout",
    "Mixed", "Mixup", "Standard", "create_augmentation", "list_augmentations",
]
