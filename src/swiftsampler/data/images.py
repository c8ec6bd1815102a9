"""Image files decoded on demand with Pillow: :class:`ImageFiles` and :func:`list_image_folder`.

One image is decoded the way the standard ImageNet evaluation pipeline does it (torchvision's
``Resize(S)`` + ``CenterCrop(image_size)`` on a PIL image, then ``ToTensor`` and ``Normalize``), with
``S = round(image_size / crop_fraction)`` (224 / 0.875 = 256):

1. open the file with Pillow and ``convert("RGB")`` (greyscale, palette, RGBA, CMYK become RGB);
2. resize (bilinear, Pillow's antialiased filter) so that the shorter side is ``S`` and the longer
   side ``floor(S * long / short)``;
3. crop the central ``image_size x image_size`` square, its top-left corner at
   ``(round((W - image_size) / 2), round((H - image_size) / 2))`` of the resized ``W x H`` image;
4. convert to float32 ``(3, image_size, image_size)`` (CHW) in [0, 1], ``x = pixel / 255``;
5. normalise per channel, ``x <- (x - mean[c]) / std[c]`` (by default the ImageNet statistics).

Torchvision is not needed: only Pillow, NumPy and PyTorch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError, DataError
from .datasets import check_positive_int
from .files import describe_exception
from .lazy import LazyInputs

#: Per-channel (R, G, B) mean and standard deviation of the ImageNet training set on the [0, 1] scale.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

#: File name endings :func:`list_image_folder` accepts by default (compared case-insensitively).
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def check_image_size(value: Any, minimum: int = 1) -> int:
    """``value`` if it is an integer >= ``minimum`` (not a bool), else :class:`ConfigError`."""
    return check_positive_int("image_size", value, minimum)


def check_crop_fraction(value: Any) -> float:
    """``value`` as a float if it is a finite number in (0, 1], else :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and 0 < value <= 1):
        raise ConfigError(f"crop_fraction must be in (0, 1], got {value!r}")
    return float(value)


def _channel_stats(name: str, value: Any, positive: bool) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 3 or not all(math.isfinite(v) and (v > 0 or not positive) for v in values):
        what = "positive numbers" if positive else "numbers"
        raise ConfigError(f"{name} must be three finite {what} (R, G, B), got {value!r}")
    return values  # type: ignore[return-value]


class ImageFiles(LazyInputs):
    """Image files decoded on demand to float32 ``(3, image_size, image_size)`` tensors.

    Decoding (see the module docstring): Pillow ``convert("RGB")``; bilinear resize of the shorter
    side to ``S = round(image_size / crop_fraction)``; central ``image_size`` square crop; ``x =
    pixel / 255`` as CHW float32; ``x <- (x - mean[c]) / std[c]``. ``crop_fraction=1`` resizes the
    shorter side straight to ``image_size`` (aligned face crops, for instance).

    A plain, picklable object (it is sent to ``DataLoader`` worker processes): ``paths`` is a tuple of
    ``str``, the other attributes are numbers and tuples. Subsetting (``inputs[idx]``) only selects
    paths; nothing is read until :meth:`load`.

    Args:
        paths: image file paths, in input order.
        image_size: side of the decoded square image (>= 1).
        crop_fraction: fraction of the resized shorter side kept by the center crop, in (0, 1].
        mean, std: per-channel (R, G, B) normalisation on the [0, 1] scale (``std > 0``).
    """

    def __init__(self, paths: Sequence[str | os.PathLike[str]], image_size: int,
                 crop_fraction: float = 0.875, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD) -> None:
        if isinstance(paths, (str, bytes, os.PathLike)):
            raise ConfigError("paths must be a sequence of file paths, not a single path")
        self.paths: tuple[str, ...] = tuple(os.fspath(p) for p in paths)
        self.image_size: int = check_image_size(image_size)
        self.crop_fraction: float = check_crop_fraction(crop_fraction)
        self.mean: tuple[float, float, float] = _channel_stats("mean", mean, positive=False)
        self.std: tuple[float, float, float] = _channel_stats("std", std, positive=True)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (3, self.image_size, self.image_size)

    @property
    def resize_to(self) -> int:
        """``S = round(image_size / crop_fraction)``, the shorter side after resizing."""
        return max(self.image_size, round(self.image_size / self.crop_fraction))

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return (f"ImageFiles({len(self)} images, image_size={self.image_size}, "
                f"crop_fraction={self.crop_fraction})")

    def _decode(self, path: str) -> Any:
        """The RGB PIL image of ``path``; any failure is a one-line :class:`DataError`."""
        from PIL import Image

        try:
            with Image.open(path) as image:
                return image.convert("RGB")  # convert() decodes the whole file
        except Exception as exc:  # Pillow raises OSError, ValueError, SyntaxError, ... on bad files
            raise DataError(f"cannot decode image {path}: {describe_exception(exc)}") from None

    def load(self, i: int) -> Tensor:
        """Decode image ``i`` (resize, center crop, scale to [0, 1], normalise; see the class)."""
        from PIL import Image

        path = self.paths[i]
        image = self._decode(path)
        short, size = self.resize_to, self.image_size
        w, h = image.size
        if w <= h:
            new_w, new_h = short, short * h // w
        else:
            new_w, new_h = short * w // h, short
        if (new_w, new_h) != (w, h):
            image = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
        left, top = round((new_w - size) / 2), round((new_h - size) / 2)
        image = image.crop((left, top, left + size, top + size))
        x = torch.from_numpy(np.asarray(image, dtype=np.float32) / np.float32(255.0))
        x = x.permute(2, 0, 1).contiguous()
        mean, std = self._stats()
        return x.sub_(mean.view(3, 1, 1)).div_(std.view(3, 1, 1))

    def _stats(self) -> tuple[Tensor, Tensor]:
        return (torch.tensor(self.mean, dtype=torch.float32),
                torch.tensor(self.std, dtype=torch.float32))

    def subset(self, index: Sequence[int]) -> ImageFiles:
        """A new :class:`ImageFiles` with the paths at ``index`` (same decoding settings)."""
        return ImageFiles([self.paths[int(i)] for i in index], self.image_size, self.crop_fraction,
                          self.mean, self.std)

    def value_range(self) -> tuple[Tensor, Tensor]:
        """Exact per-channel range ``((0 - mean) / std, (1 - mean) / std)``, float32, no decoding."""
        mean, std = self._stats()
        return (0.0 - mean) / std, (1.0 - mean) / std


def list_image_folder(root: str | os.PathLike[str], extensions: Sequence[str] = IMAGE_EXTENSIONS,
                      ) -> tuple[list[str], list[int], tuple[str, ...]]:
    """The images of a class-per-folder tree ``root/<class>/<file>``: ``(paths, labels, class_names)``.

    Class folders are the sub-directories of ``root``, sorted by name; class ``k`` is the ``k``-th.
    Images are the files directly in a class folder (not in its sub-folders) whose name ends with one
    of ``extensions`` (case-insensitively), sorted by name within each class. Names starting with
    ``.`` (hidden files and folders) are skipped. Raises :class:`DataError` if ``root`` is not a
    directory, has no class folder, or a class folder holds no image.
    """
    folder = Path(root).expanduser()
    endings = tuple(e.lower() for e in extensions)
    if not endings:
        raise ConfigError("extensions must name at least one file ending")
    if not folder.is_dir():
        raise DataError(f"{folder} is not a directory")
    try:
        return _scan(folder, endings)
    except OSError as exc:
        raise DataError(f"cannot list image folder {folder}: {describe_exception(exc)}") from None


def _scan(folder: Path, endings: tuple[str, ...]) -> tuple[list[str], list[int], tuple[str, ...]]:
    with os.scandir(folder) as entries:  # scandir: file types without one stat per file
        classes = sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())
    if not classes:
        raise DataError(f"{folder} has no class folder; expected {folder}/<class>/<image>")
    paths: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        with os.scandir(folder / name) as entries:
            files = sorted(e.name for e in entries if not e.name.startswith(".")
                           and e.name.lower().endswith(endings) and e.is_file())
        if not files:
            raise DataError(f"class folder {folder / name} holds no image ({', '.join(endings)})")
        paths.extend(str(folder / name / f) for f in files)
        labels.extend([label] * len(files))
    return paths, labels, tuple(classes)
