"""In-memory datasets and their registry.

Every dataset is a factory registered in :data:`DATASETS` that takes keyword-only arguments and
returns an :class:`ArrayDataset` (float32 inputs, int64 labels, a fixed train/test split). Registry
metadata:

* ``kind``: ``"signal"`` (1-D sequences, shape ``(channels, length)``), ``"image"`` (``(C, H, W)``)
  or ``"vector"`` (``(dim,)``); models and augmentations use it to decide what applies.
* ``asymmetric_map``: the class-flip map of asymmetric label noise (``None``: the cyclic map
  ``y -> (y + 1) mod C``).
"""

from __future__ import annotations

import logging
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError, DataError
from ..registry import Registry
from .cache import cache_root, load_arrays, save_arrays
from .lazy import LazyInputs
from .split import stratified_split

#: Asymmetric noise for handwritten digits, the MNIST convention of Patrini et al., "Making deep
#: neural networks robust to label noise: a loss correction approach" (CVPR 2017): 2->7, 3->8,
#: 5<->6, 7->1.
DIGITS_ASYMMETRIC_MAP: dict[int, int] = {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}

DIGIT_NAMES: tuple[str, ...] = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class ArrayDataset:
    """A labelled dataset: ``*_x`` inputs ``(N, *input_shape)``, ``*_y`` int64 labels.

    Inputs are a float32 tensor, an int64 tensor of token ids (``kind="tokens"``: ``*_y`` then holds
    the next-token targets, same shape as ``*_x``), or :class:`~swiftsampler.data.lazy.LazyInputs`
    decoded on demand (image folders). ``test_pairs`` (verification tasks) is ``(P, 3)`` int64 rows
    ``(i, j, same)``: test inputs ``i`` and ``j`` show the same identity iff ``same == 1``.
    ``token_unit`` (token datasets) says what one token is, ``"byte"`` or ``"char"`` (the tokenizer's
    :attr:`~swiftsampler.data.text.Tokenizer.unit`), so that losses can be reported per that unit.
    """

    train_x: Tensor | LazyInputs
    train_y: Tensor
    test_x: Tensor | LazyInputs
    test_y: Tensor
    num_classes: int
    name: str
    class_names: tuple[str, ...] | None = None
    test_pairs: Tensor | None = None
    token_unit: str | None = None

    def __post_init__(self) -> None:
        where = f"dataset {self.name!r}"
        if not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise DataError(f"{where}: num_classes must be a positive integer")
        for split in ("train", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            tokens = x.dtype == torch.int64
            if x.dtype not in (torch.float32, torch.int64) or y.dtype != torch.int64:
                raise DataError(f"{where}: {split} inputs must be float32 (or int64 tokens) and "
                                f"labels int64, got {x.dtype} and {y.dtype}")
            good_y = tuple(y.shape) == tuple(x.shape) if tokens else y.dim() == 1
            if not good_y or len(x.shape) < 2 or x.shape[0] != y.shape[0]:
                raise DataError(f"{where}: {split} inputs {tuple(x.shape)} and labels "
                                f"{tuple(y.shape)} do not match")
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise DataError(f"{where}: {split} labels must lie in [0, {self.num_classes})")
        if tuple(self.train_x.shape[1:]) != tuple(self.test_x.shape[1:]):
            raise DataError(f"{where}: train and test inputs have different shapes")
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            raise DataError(f"{where}: {len(self.class_names)} class names for "
                            f"{self.num_classes} classes")
        if self.test_pairs is not None:
            p = self.test_pairs
            if p.dtype != torch.int64 or p.dim() != 2 or p.shape[1] != 3 or (p.numel() and (
                    int(p[:, :2].min()) < 0 or int(p[:, :2].max()) >= self.test_x.shape[0]
                    or not bool(((p[:, 2] == 0) | (p[:, 2] == 1)).all()))):
                raise DataError(f"{where}: test_pairs must be int64 rows (i, j, same) with i, j "
                                f"test indices and same in {{0, 1}}")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, without the batch dimension."""
        return tuple(self.train_x.shape[1:])


DATASETS: Registry[ArrayDataset] = Registry("dataset", internal={
    "data_dir": "set by --data-dir", "num_samples": "set by --num-samples",
    "cache_dir": "set by $SWIFTSAMPLER_CACHE"})


def create_dataset(name: str, **kwargs: Any) -> ArrayDataset:
    """Build the registered dataset ``name``; a keyword argument of ``None`` means "default"."""
    return DATASETS.create(name, **{k: v for k, v in kwargs.items() if v is not None})


def list_datasets() -> list[str]:
    """Names of all registered datasets, sorted."""
    return DATASETS.names()


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` if it is an integer >= ``minimum`` (not a bool), else :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_ratio(name: str, value: Any) -> float:
    """``value`` as a float if it is a finite number strictly between 0 and 1, else :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and 0 < value < 1):
        raise ConfigError(f"{name} must be in (0, 1), got {value!r}")
    return float(value)


# ---------------------------------------------------------------------------------------- MNIST-1D

#: Bump when the cached array layout or the generation recipe changes.
MNIST1D_CACHE_VERSION = 1
_MNIST1D_KEYS = ("x", "y", "x_test", "y_test")


def mnist1d_cache_path(num_samples: int, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where :func:`mnist1d` caches the data set of ``num_samples`` samples."""
    return cache_root(cache_dir) / f"mnist1d-v{MNIST1D_CACHE_VERSION}-n{num_samples}.npz"


def _generate_mnist1d(num_samples: int) -> dict[str, np.ndarray]:
    """Run the ``mnist1d`` generator with its default recipe (seed 42, 80/20 split), RNG-neutral.

    ``mnist1d`` seeds Python's and NumPy's *global* generators; their states are saved and restored
    so that loading data never changes a user's random streams.
    """
    from mnist1d.data import get_dataset_args, make_dataset  # lazy: imports matplotlib and scipy

    args = get_dataset_args()
    args.num_samples = num_samples
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return {key: np.asarray(data[key]) for key in _MNIST1D_KEYS}


def _valid_mnist1d(arrays: dict[str, np.ndarray] | None, num_samples: int) -> bool:
    if arrays is None:
        return False
    x, y, xt, yt = (arrays[k] for k in _MNIST1D_KEYS)
    total = 10 * (num_samples // 10)
    return (x.ndim == 2 and xt.ndim == 2 and x.shape[1] == xt.shape[1] and y.ndim == 1
            and yt.ndim == 1 and len(x) == len(y) and len(xt) == len(yt)
            and len(y) + len(yt) == total and x.dtype.kind == "f" and xt.dtype.kind == "f"
            and y.dtype.kind in "iu" and yt.dtype.kind in "iu")


@DATASETS.register("mnist1d", kind="signal", asymmetric_map=DIGITS_ASYMMETRIC_MAP)
def mnist1d(*, num_samples: int = 25000,
            cache_dir: str | os.PathLike[str] | None = None) -> ArrayDataset:
    """MNIST-1D (Greydanus 2020): procedurally generated 1-D digits, shape (1, 40), 10 classes.

    Generated by the ``mnist1d`` package with its canonical recipe (seed 42, first 80% train, last
    20% test; ``num_samples // 10`` samples per class, standardised to zero mean and unit variance
    over the whole set). Reference: S. Greydanus, "Scaling down deep learning", arXiv:2011.14439
    (2020). The arrays are cached as ``.npz`` under ``cache_dir`` (default ``$SWIFTSAMPLER_CACHE``
    or ``~/.cache/swiftsampler``); an unreadable cache file is regenerated.
    """
    check_positive_int("num_samples", num_samples, minimum=10)
    path = mnist1d_cache_path(num_samples, cache_dir)
    arrays = load_arrays(path, _MNIST1D_KEYS)
    if not _valid_mnist1d(arrays, num_samples):
        logging.getLogger("swiftsampler").info(
            "generating MNIST-1D (%d samples) once; later runs read it from %s", num_samples, path)
        arrays = _generate_mnist1d(num_samples)
        save_arrays(path, arrays)
    assert arrays is not None

    def tensors(x: np.ndarray, y: np.ndarray) -> tuple[Tensor, Tensor]:
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).unsqueeze(1)
        return xt, torch.from_numpy(np.asarray(y, dtype=np.int64))

    train_x, train_y = tensors(arrays["x"], arrays["y"])
    test_x, test_y = tensors(arrays["x_test"], arrays["y_test"])
    return ArrayDataset(train_x, train_y, test_x, test_y, 10, "mnist1d", DIGIT_NAMES)


# ------------------------------------------------------------------------------------------ digits

@DATASETS.register("digits", kind="image", asymmetric_map=DIGITS_ASYMMETRIC_MAP)
def digits(*, test_ratio: float = 0.2) -> ArrayDataset:
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes), shape (1, 8, 8).

    Pixels (0..16) are divided by 16, then standardised with the mean and standard deviation of all
    training pixels, ``x <- (x - mean) / std``. The test split is stratified, a fraction
    ``test_ratio`` of every class, drawn with a fixed seed (0) so that it never changes. Source:
    the UCI "Optical Recognition of Handwritten Digits" test set, as shipped in
    ``sklearn.datasets.load_digits``.
    """
    check_ratio("test_ratio", test_ratio)
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError(
            "dataset 'digits' needs scikit-learn: pip install 'swiftsampler[digits]'"
        ) from None
    bunch = load_digits()
    x = torch.from_numpy(np.asarray(bunch.data, dtype=np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = torch.from_numpy(np.asarray(bunch.target, dtype=np.int64))
    train_idx, test_idx = stratified_split(y, test_ratio, torch.Generator().manual_seed(0))
    train_x, test_x = x[train_idx], x[test_idx]
    mean, std = train_x.mean(), train_x.std()
    return ArrayDataset((train_x - mean) / std, y[train_idx], (test_x - mean) / std, y[test_idx],
                        10, "digits", DIGIT_NAMES)


# --------------------------------------------------------------------------------------- synthetic

@DATASETS.register("synthetic", kind="vector", asymmetric_map=None)
def synthetic(*, num_samples: int = 2000, num_classes: int = 4, dim: int = 16,
              separation: float = 3.0, seed: int = 0, test_ratio: float = 0.25) -> ArrayDataset:
    """Seeded Gaussian blobs, vectors of shape (dim,): a fast, tunable task for tests and examples.

    ``x = separation * u_y + e`` with ``u_c`` uniform on the unit sphere and ``e ~ N(0, I)``.
    Classes are balanced (``num_samples // num_classes`` each, the remainder spread over the first
    classes); the test split is a stratified fraction ``test_ratio``. Everything is drawn from one
    ``torch.Generator`` seeded with ``seed``, so equal arguments give identical tensors. Since the
    noise along the line between two means has unit variance, ``separation`` sets how hard the task
    is (``separation * sqrt(2)`` is the typical distance between two class means).
    """
    check_positive_int("num_classes", num_classes, minimum=2)
    check_positive_int("num_samples", num_samples, minimum=2 * num_classes)
    check_positive_int("dim", dim)
    check_positive_int("seed", seed, minimum=0)
    if isinstance(separation, bool) or not isinstance(separation, (int, float)) or not (
            math.isfinite(separation) and separation >= 0):
        raise ConfigError(f"separation must be a finite number >= 0, got {separation!r}")
    check_ratio("test_ratio", test_ratio)
    g = torch.Generator().manual_seed(seed)
    directions = torch.randn(num_classes, dim, generator=g)
    means = separation * directions / directions.norm(dim=1, keepdim=True).clamp_min(1e-12)
    y = (torch.arange(num_samples) % num_classes)[torch.randperm(num_samples, generator=g)]
    x = means[y] + torch.randn(num_samples, dim, generator=g)
    train_idx, test_idx = stratified_split(y, test_ratio, g)
    return ArrayDataset(x[train_idx], y[train_idx], x[test_idx], y[test_idx], num_classes,
                        "synthetic", tuple(f"class{c}" for c in range(num_classes)))
