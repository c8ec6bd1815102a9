"""Image-folder datasets read lazily from --data-dir: ``imagefolder`` (classification) and ``faces``
(face verification).

Inputs are :class:`~swiftsampler.data.images.ImageFiles`: only the file paths are held in memory and
each image is decoded with Pillow when a batch needs it (resize, center crop, ImageNet normalisation;
see :mod:`.images`). A missing folder or file, or a malformed pairs list, raises a one-line
:class:`~swiftsampler.errors.DataError` naming the expected layout. Importing this module registers
both datasets in :data:`~swiftsampler.data.datasets.DATASETS`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import ConfigError, DataError
from .datasets import DATASETS, ArrayDataset
from .files import data_root, layout_error
from .images import ImageFiles, check_crop_fraction, check_image_size, list_image_folder

_IMAGEFOLDER_LAYOUT = "DIR/train/<class>/*.jpg and DIR/val/<class>/*.jpg"
_FACES_LAYOUT = ("DIR/train/<identity>/*.jpg and a pairs file DIR/{pairs} ('path_a path_b same' lines, "
                 "or LFW's pairs.txt with images DIR/test/<name>/<name>_<n:04d>.jpg)")

#: Minimum ``image_size`` of the registered datasets (smaller images break the image models).
MIN_IMAGE_SIZE = 8


def _folder(dataset: str, root: Path, name: str, layout: str) -> Path:
    """``root/name`` if it is a directory, else a one-line :class:`DataError` naming ``layout``."""
    folder = root / name
    if not folder.is_dir():
        raise layout_error(dataset, layout, root, f"missing folder {folder}")
    return folder


def _labels(labels: list[int]) -> torch.Tensor:
    return torch.tensor(labels, dtype=torch.int64)


@DATASETS.register("imagefolder", kind="image", asymmetric_map=None, task="classification")
def imagefolder(*, data_dir: str | os.PathLike[str] | None = None, image_size: int = 224,
                crop_fraction: float = 0.875) -> ArrayDataset:
    """ImageNet-style class folders from --data-dir (DIR/train, DIR/val), decoded lazily with Pillow.

    Layout: ``DIR/train/<class>/*.jpg`` and ``DIR/val/<class>/*.jpg`` (also ``.jpeg``, ``.png``,
    ``.bmp``, ``.webp``, any case; hidden files skipped), as ImageNet or mini-ImageNet are usually
    laid out. Classes are the sorted folder names of ``train``; ``val`` is the dataset's test split
    (the engine carves its own validation split from ``train``) and may hold a subset of the classes,
    but a ``val`` class that ``train`` lacks is an error. Every image is decoded on demand to
    ``(3, image_size, image_size)``: ``convert("RGB")``, bilinear resize of the shorter side to
    ``round(image_size / crop_fraction)`` (256 for 224 / 0.875), central square crop, ``x = pixel /
    255``, then ``(x - mean) / std`` per channel with the ImageNet statistics mean = (0.485, 0.456,
    0.406), std = (0.229, 0.224, 0.225). Asymmetric label noise uses the cyclic map.
    """
    check_image_size(image_size, MIN_IMAGE_SIZE)
    crop_fraction = check_crop_fraction(crop_fraction)
    root = data_root("imagefolder", data_dir, _IMAGEFOLDER_LAYOUT)
    train_dir = _folder("imagefolder", root, "train", _IMAGEFOLDER_LAYOUT)
    val_dir = _folder("imagefolder", root, "val", _IMAGEFOLDER_LAYOUT)
    train_paths, train_labels, class_names = list_image_folder(train_dir)
    val_paths, val_local, val_names = list_image_folder(val_dir)
    index = {name: k for k, name in enumerate(class_names)}
    unknown = [name for name in val_names if name not in index]
    if unknown:
        raise DataError(f"imagefolder: class folder {val_dir / unknown[0]} has no counterpart in "
                        f"{train_dir} ({len(unknown)} val class(es) not in train)")
    val_labels = [index[val_names[k]] for k in val_local]
    return ArrayDataset(ImageFiles(train_paths, image_size, crop_fraction), _labels(train_labels),
                        ImageFiles(val_paths, image_size, crop_fraction), _labels(val_labels),
                        len(class_names), "imagefolder", class_names)


# ------------------------------------------------------------------------------------------- faces

def _fields(line: str) -> list[str]:
    """A pairs line split on tabs if it has any (paths may then hold spaces), else on whitespace."""
    if "\t" in line:
        return [f.strip() for f in line.split("\t") if f.strip()]
    return line.split()


def _is_lfw(fields: list[str]) -> bool:
    """Whether the first pairs line is in LFW's format: a header of one or two integers,
    ``name n1 n2`` or ``name1 n1 name2 n2``."""
    if len(fields) in (1, 2):
        return all(f.isdigit() for f in fields)
    if len(fields) == 3:
        return fields[1].isdigit() and fields[2].isdigit()
    return len(fields) == 4


def _lfw_image(name: str, number: str) -> str:
    return f"test/{name}/{name}_{int(number):04d}.jpg"


def read_pairs(path: Path) -> list[tuple[str, str, int, int]]:
    """The pairs of a pairs file as ``(path_a, path_b, same, line_number)``, paths relative to the
    file's folder.

    Two formats, detected from the first line that is neither empty nor a ``#`` comment:

    * generic: every line is ``path_a path_b same`` (whitespace or tab separated; with tabs, paths may
      contain spaces), ``same`` 1 if both images show the same identity and 0 if not;
    * LFW ``pairs.txt``: an optional header line of one or two integers (e.g. ``10 300``: folds and
      pairs per fold; ignored), then ``name n1 n2`` (same person) or ``name1 n1 name2 n2`` (different
      people) meaning the images ``test/<name>/<name>_<n:04d>.jpg``.

    A malformed line is a one-line :class:`DataError` giving its number.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"faces: cannot read pairs file {path}: {exc}") from None
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)]
    lines = [(n, line) for n, line in lines if line and not line.startswith("#")]
    if not lines:
        return []
    lfw = _is_lfw(_fields(lines[0][1]))
    if lfw and len(_fields(lines[0][1])) in (1, 2):
        lines = lines[1:]  # the header
    expected = ("'name n1 n2' or 'name1 n1 name2 n2' (LFW pairs.txt)" if lfw
                else "'path_a path_b same' with same 0 or 1")
    pairs = []
    for number, line in lines:
        f = _fields(line)
        if lfw and len(f) == 3 and f[1].isdigit() and f[2].isdigit():
            pairs.append((_lfw_image(f[0], f[1]), _lfw_image(f[0], f[2]), 1, number))
        elif lfw and len(f) == 4 and f[1].isdigit() and f[3].isdigit():
            pairs.append((_lfw_image(f[0], f[1]), _lfw_image(f[2], f[3]), 0, number))
        elif not lfw and len(f) == 3 and f[2] in ("0", "1"):
            pairs.append((f[0], f[1], int(f[2]), number))
        else:
            shown = line if len(line) <= 80 else line[:77] + "..."
            raise DataError(f"faces: {path}, line {number}: malformed pair {shown!r}; expected "
                            f"{expected}")
    return pairs


@DATASETS.register("faces", kind="image", asymmetric_map=None, task="verification")
def faces(*, data_dir: str | os.PathLike[str] | None = None, image_size: int = 112,
          crop_fraction: float = 1.0, pairs: str = "pairs.txt") -> ArrayDataset:
    """Face verification from --data-dir: train on identity folders, verify on a pairs list (LFW).

    Layout: ``DIR/train/<identity>/*.jpg`` (ArcFace-style training on identities such as MS1M; the
    identities, sorted by folder name, are the classes; at least two) and a pairs file ``DIR/<pairs>``
    in one of two formats, detected automatically:

    * generic: lines ``path_a path_b same`` with paths relative to ``DIR`` and ``same`` 1 (same
      identity) or 0, separated by spaces or tabs;
    * LFW's ``pairs.txt``: an optional header ``folds pairs_per_fold``, then ``name n1 n2`` (same
      person) or ``name1 n1 name2 n2`` (different people), the images being
      ``DIR/test/<name>/<name>_<n:04d>.jpg`` (put LFW's ``lfw/`` folder at ``DIR/test``).

    Empty lines and ``#`` comments are skipped. Every image a pair names must lie under ``DIR`` once
    symlinks are resolved (``../``, an absolute path or a symlink leading out of it is refused with the
    line number). The distinct images of the pairs, in order of first
    appearance, are the test inputs; ``test_pairs`` holds ``(i, j, same)`` rows indexing them (test
    labels are all 0 and unused). Images are decoded like :func:`imagefolder`: ``convert("RGB")``,
    bilinear resize of the shorter side to ``round(image_size / crop_fraction)`` (by default straight
    to 112 for aligned 112x112 crops), central square crop, ``x = pixel / 255``, ``(x - mean) / std``
    with the ImageNet mean and std.
    """
    check_image_size(image_size, MIN_IMAGE_SIZE)
    crop_fraction = check_crop_fraction(crop_fraction)
    if not isinstance(pairs, str) or not pairs.strip():
        raise ConfigError(f"pairs must be the name of a file under --data-dir, got {pairs!r}")
    layout = _FACES_LAYOUT.format(pairs=pairs)
    root = data_root("faces", data_dir, layout)
    train_dir = _folder("faces", root, "train", layout)
    pairs_path = root / pairs
    if not pairs_path.is_file():
        raise layout_error("faces", layout, root, f"missing pairs file {pairs_path}")
    train_paths, train_labels, identities = list_image_folder(train_dir)
    if len(identities) < 2:
        raise DataError(f"faces: {train_dir} holds {len(identities)} identity folder; need at least 2")
    listed = read_pairs(pairs_path)
    if not listed:
        raise DataError(f"faces: pairs file {pairs_path} lists no pairs")
    inside = root.resolve()
    index: dict[str, int] = {}
    rows = []
    for a, b, same, number in listed:
        ends = []
        for rel in (a, b):
            image = (root / rel).resolve()  # what is checked is what is read
            key = str(image)
            if key not in index:
                if not image.is_relative_to(inside):
                    raise DataError(f"faces: {pairs_path}, line {number}: image {rel!r} is outside "
                                    f"--data-dir {root} (after resolving symlinks); pairs may only "
                                    f"name images under it")
                if not image.is_file():
                    raise DataError(f"faces: {pairs_path}, line {number}: image {root / rel} does "
                                    f"not exist")
                index[key] = len(index)
            ends.append(index[key])
        rows.append((ends[0], ends[1], same))
    test_x = ImageFiles(list(index), image_size, crop_fraction)
    return ArrayDataset(ImageFiles(train_paths, image_size, crop_fraction), _labels(train_labels),
                        test_x, torch.zeros(len(test_x), dtype=torch.int64), len(identities), "faces",
                        identities, torch.tensor(rows, dtype=torch.int64))
