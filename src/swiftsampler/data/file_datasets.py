"""Datasets read from files the user already has (nothing is downloaded): CIFAR-10, CIFAR-100, SVHN, and
the MNIST-format (IDX) sets MNIST, Fashion-MNIST and KMNIST.

Each factory takes ``data_dir`` (the ``--data-dir`` flag); a missing directory or file raises
:class:`~swiftsampler.errors.DataError` with one line that names the expected layout. Pixels are scaled
to [0, 1] and standardised per channel with the mean and standard deviation of the *training* split
(computed on every load, nothing is stored). Importing this module registers the datasets in
:data:`~swiftsampler.data.datasets.DATASETS`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError, DataError
from .datasets import DATASETS, DIGIT_NAMES, DIGITS_ASYMMETRIC_MAP, ArrayDataset
from .files import (
    check_md5,
    data_root,
    layout_error,
    read_cifar_batch,
    read_idx,
    read_label_names,
    read_svhn_mat,
)

#: Asymmetric noise on CIFAR-10, the convention of Patrini et al. (CVPR 2017): truck->automobile,
#: bird->airplane, deer->horse, cat<->dog.
CIFAR10_ASYMMETRIC_MAP: dict[int, int] = {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}

#: Expected MD5 digests of the CIFAR files, file name -> hex digest (``data_batch_1`` ...
#: ``test_batch``, ``batches.meta`` of CIFAR-10; ``train``, ``test``, ``meta`` of CIFAR-100), used by
#: ``verify_md5=True`` when no ``md5`` mapping is given. Deliberately empty: the official digests
#: (published with the archives at https://www.cs.toronto.edu/~kriz/cifar.html) go here once they have
#: been checked against a trusted source; until then pass ``md5={...}`` yourself.
CIFAR_MD5: dict[str, str] = {}

#: The same for SVHN's ``train_32x32.mat`` and ``test_32x32.mat``; deliberately empty as well.
SVHN_MD5: dict[str, str] = {}

_CIFAR10_LAYOUT = ("DIR/cifar-10-batches-py/{data_batch_1..5,test_batch}",
                   "the python version of CIFAR-10")
_CIFAR100_LAYOUT = ("DIR/cifar-100-python/{train,test}", "the python version of CIFAR-100")
_SVHN_LAYOUT = ("DIR/{train_32x32.mat,test_32x32.mat}", "SVHN's cropped digits, format 2")


def _locate(dataset: str, layout: tuple[str, str], data_dir: str | os.PathLike[str] | None,
            subdir: str, files: tuple[str, ...]) -> Path:
    """The folder holding ``files``; a missing ``data_dir`` or file is a one-line :class:`DataError`."""
    pattern, what = layout
    root = data_root(dataset, data_dir, f"{pattern} ({what})")
    folder = root / subdir
    missing = [name for name in files if not (folder / name).is_file()]
    if missing:
        raise layout_error(dataset, pattern, root, f"missing: {', '.join(missing)}", what)
    return folder


def _verify(dataset: str, folder: Path, files: tuple[str, ...], optional: tuple[str, ...],
            verify_md5: bool, md5: Mapping[str, str] | None, known: Mapping[str, str]) -> None:
    """Check the MD5 digests of ``files`` (each needs one) and of the present ``optional`` files that
    have one; only if ``verify_md5`` is true or ``md5`` was given."""
    if not isinstance(verify_md5, bool):
        raise ConfigError(f"verify_md5 must be true or false, got {verify_md5!r}")
    if md5 is not None and not (isinstance(md5, Mapping) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in md5.items())):
        raise ConfigError(f"md5 must map file names to hex digests, got {md5!r}")
    if not verify_md5 and md5 is None:
        return
    table = known if md5 is None else md5
    lacking = [name for name in files if name not in table]
    if lacking:
        source = "the md5 mapping" if md5 is not None else "the built-in table (empty: pass md5={...})"
        raise ConfigError(f"{dataset}: cannot verify MD5 digests, {source} has none for "
                          f"{', '.join(lacking)}")
    for name in (*files, *optional):
        if name in table and (folder / name).is_file():
            check_md5(folder / name, table[name])


def _channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-channel mean and (population) standard deviation of uint8 images ``(N, C, H, W)``
    on the [0, 1] scale, from the histogram of each channel (no float copy of the data)."""
    values = np.arange(256, dtype=np.float64) / 255.0
    mean, std = np.empty(x.shape[1]), np.empty(x.shape[1])
    for c in range(x.shape[1]):
        counts = np.bincount(x[:, c].ravel(), minlength=256).astype(np.float64)
        total = counts.sum()
        mean[c] = counts @ values / total
        std[c] = np.sqrt(counts @ (values - mean[c]) ** 2 / total)
    return mean, np.where(std > 0, std, 1.0)  # a constant channel is only centred


def _standardise(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> Tensor:
    """``(x / 255 - mean) / std`` per channel, as a contiguous float32 tensor ``(N, C, H, W)``."""
    out = x.astype(np.float32, order="C")
    shape = (1, -1, 1, 1)
    out *= (1.0 / (255.0 * std)).astype(np.float32).reshape(shape)
    out -= (mean / std).astype(np.float32).reshape(shape)
    return torch.from_numpy(out)


def _image_dataset(name: str, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                   num_classes: int, class_names: tuple[str, ...] | None) -> ArrayDataset:
    (train_x, train_y), (test_x, test_y) = train, test
    if not len(train_x):
        raise DataError(f"{name}: the training split holds no images")
    mean, std = _channel_stats(train_x)
    return ArrayDataset(_standardise(train_x, mean, std), torch.from_numpy(train_y),
                        _standardise(test_x, mean, std), torch.from_numpy(test_y),
                        num_classes, name, class_names)


def _check_range(labels: np.ndarray, num_classes: int, path: Path, key: bytes) -> None:
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"{path}: {key!r} must lie in [0, {num_classes}), found values from "
                        f"{labels.min()} to {labels.max()}")


def _read_cifar_split(folder: Path, files: tuple[str, ...], key: bytes,
                      num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for name in files:
        x, labels = read_cifar_batch(folder / name, (key,))
        _check_range(labels[key], num_classes, folder / name, key)
        xs.append(x)
        ys.append(labels[key])
    return np.concatenate(xs), np.concatenate(ys)


@DATASETS.register("cifar10", kind="image", asymmetric_map=CIFAR10_ASYMMETRIC_MAP)
def cifar10(*, data_dir: str | os.PathLike[str] | None = None, verify_md5: bool = False,
            md5: dict[str, str] | None = None) -> ArrayDataset:
    """CIFAR-10 from --data-dir (python version): 50000 + 10000 images (3, 32, 32), 10 classes.

    Reads ``DIR/cifar-10-batches-py/data_batch_1`` ... ``data_batch_5`` (train) and ``test_batch``
    (test), pickled dicts with ``b"data"`` (uint8 ``(N, 3072)``) and ``b"labels"``, through a
    restricted unpickler (only plain containers and NumPy arrays can be built). Class names come from
    ``batches.meta`` when it is there. Pixels are scaled to [0, 1], then standardised per channel with
    the training split's mean and standard deviation. With ``verify_md5=True`` (or an ``md5`` mapping
    of file name -> digest, which replaces the built-in :data:`CIFAR_MD5`) each file's MD5 digest is
    checked first. Reference: A. Krizhevsky, "Learning Multiple Layers of Features from Tiny Images"
    (2009).
    """
    train_files = tuple(f"data_batch_{i}" for i in range(1, 6))
    files = (*train_files, "test_batch")
    folder = _locate("cifar10", _CIFAR10_LAYOUT, data_dir, "cifar-10-batches-py", files)
    _verify("cifar10", folder, files, ("batches.meta",), verify_md5, md5, CIFAR_MD5)
    train = _read_cifar_split(folder, train_files, b"labels", 10)
    test = _read_cifar_split(folder, ("test_batch",), b"labels", 10)
    meta = folder / "batches.meta"
    names = read_label_names(meta, b"label_names", 10) if meta.is_file() else None
    return _image_dataset("cifar10", train, test, 10, names)


@DATASETS.register("cifar100", kind="image", asymmetric_map=None)
def cifar100(*, data_dir: str | os.PathLike[str] | None = None, label_kind: str = "fine",
             verify_md5: bool = False, md5: dict[str, str] | None = None) -> ArrayDataset:
    """CIFAR-100 from --data-dir (python version): 50000 + 10000 images (3, 32, 32), 100 classes.

    Reads ``DIR/cifar-100-python/train`` and ``test`` (pickled dicts with ``b"data"``,
    ``b"fine_labels"`` and ``b"coarse_labels"``) like :func:`cifar10`; ``label_kind="fine"`` gives the
    100 classes, ``"coarse"`` the 20 superclasses. Class names come from ``meta`` when it is there.
    Asymmetric label noise uses the cyclic map ``y -> (y + 1) mod C``.
    """
    kinds = {"fine": 100, "coarse": 20}
    if label_kind not in kinds:
        raise ConfigError(f"label_kind must be 'fine' or 'coarse', got {label_kind!r}")
    num_classes, key = kinds[label_kind], f"{label_kind}_labels".encode()
    files = ("train", "test")
    folder = _locate("cifar100", _CIFAR100_LAYOUT, data_dir, "cifar-100-python", files)
    _verify("cifar100", folder, files, ("meta",), verify_md5, md5, CIFAR_MD5)
    train = _read_cifar_split(folder, ("train",), key, num_classes)
    test = _read_cifar_split(folder, ("test",), key, num_classes)
    meta = folder / "meta"
    names = (read_label_names(meta, f"{label_kind}_label_names".encode(), num_classes)
             if meta.is_file() else None)
    return _image_dataset("cifar100", train, test, num_classes, names)


@DATASETS.register("svhn", kind="image", asymmetric_map=DIGITS_ASYMMETRIC_MAP)
def svhn(*, data_dir: str | os.PathLike[str] | None = None, verify_md5: bool = False,
         md5: dict[str, str] | None = None) -> ArrayDataset:
    """SVHN cropped digits from --data-dir: 73257 + 26032 images (3, 32, 32), 10 classes.

    Reads ``DIR/train_32x32.mat`` and ``DIR/test_32x32.mat`` (format 2 of the Street View House
    Numbers; ``X`` uint8 ``(32, 32, 3, N)``, ``y`` ``(N, 1)`` with 10 for the digit 0, mapped to 0) with
    :func:`scipy.io.loadmat`; the ``extra`` split is not used. Standardised like :func:`cifar10`;
    ``verify_md5``/``md5`` as there (built-in table :data:`SVHN_MD5`). Reference: Y. Netzer et al.,
    "Reading Digits in Natural Images with Unsupervised Feature Learning" (NIPS workshop 2011).
    """
    files = ("train_32x32.mat", "test_32x32.mat")
    folder = _locate("svhn", _SVHN_LAYOUT, data_dir, "", files)
    _verify("svhn", folder, files, (), verify_md5, md5, SVHN_MD5)
    train = read_svhn_mat(folder / files[0])
    test = read_svhn_mat(folder / files[1])
    return _image_dataset("svhn", train, test, 10, DIGIT_NAMES)


# ------------------------------------------------------------------------- MNIST-format (IDX) files

#: Fashion-MNIST's classes, in label order (Xiao, Rasul & Vollgraf, arXiv:1708.07747, 2017).
FASHION_MNIST_NAMES: tuple[str, ...] = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                                        "Shirt", "Sneaker", "Bag", "Ankle boot")

#: KMNIST's classes, the romanised hiragana of its ``kmnist_classmap.csv`` (Clanuwat et al.,
#: arXiv:1812.01718, 2018): お き す つ な は ま や れ を.
KMNIST_NAMES: tuple[str, ...] = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")

#: Asymmetric noise on Fashion-MNIST: the look-alike pairs T-shirt/top<->Shirt, Pullover<->Coat and
#: Sandal<->Sneaker, flipped both ways. There is no single standard map for Fashion-MNIST (papers use
#: different ones); these are the pairs classifiers confuse most, in the spirit of Patrini et al.'s
#: "similar classes" construction (CVPR 2017). docs/datasets.md says why.
FASHION_MNIST_ASYMMETRIC_MAP: dict[int, int] = {0: 6, 6: 0, 2: 4, 4: 2, 5: 7, 7: 5}

#: Where the Debian package ``dataset-fashion-mnist`` puts the files (``fashion-mnist`` reads them from
#: there when no --data-dir is given).
FASHION_MNIST_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

_IDX_LAYOUT = "DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]"
_IDX_STEMS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_IDX_IMAGE_SIZE = (28, 28)


@dataclass(frozen=True)
class IdxSource:
    """An MNIST-format dataset: its name, what its files are, its classes and where it may be found.

    Attributes:
        name: the registry name, used in messages.
        what: the files, for messages ("the IDX files of Fashion-MNIST").
        class_names: one name per label, ``len`` is the number of classes.
        default_dir: read when no --data-dir is given and it is a directory.
        install_hint: how to get the files, added to the message when they are missing.
    """

    name: str
    what: str
    class_names: tuple[str, ...]
    default_dir: Path | None = None
    install_hint: str | None = None


MNIST = IdxSource("mnist", "the IDX files of MNIST", DIGIT_NAMES)
FASHION_MNIST = IdxSource(
    "fashion-mnist", "the IDX files of Fashion-MNIST", FASHION_MNIST_NAMES, FASHION_MNIST_DEBIAN_DIR,
    f"or install them: apt install dataset-fashion-mnist (read from {FASHION_MNIST_DEBIAN_DIR} "
    f"without --data-dir)")
KMNIST = IdxSource("kmnist", "the IDX files of Kuzushiji-MNIST", KMNIST_NAMES)


def _idx_files(source: IdxSource, data_dir: str | os.PathLike[str] | None) -> dict[str, tuple[Path, Path]]:
    """``{"train": (images, labels), "test": (...)}``: each file as it is, or with ``.gz`` added (the
    uncompressed one when both exist); a missing one is a one-line :class:`DataError`."""
    hint = f"; {source.install_hint}" if source.install_hint else ""
    if data_dir is None and source.default_dir is not None and source.default_dir.is_dir():
        data_dir = source.default_dir
    root = data_root(source.name, data_dir, f"{_IDX_LAYOUT} ({source.what}){hint}")
    located = {stem: next((p for p in (root / stem, root / f"{stem}.gz") if p.is_file()), None)
               for stems in _IDX_STEMS.values() for stem in stems}
    missing = [f"{stem}[.gz]" for stem, path in located.items() if path is None]
    if missing:
        raise layout_error(source.name, _IDX_LAYOUT, root, f"missing: {', '.join(missing)}{hint}",
                           source.what)
    return {split: (located[images], located[labels])  # type: ignore[misc]  # none is missing
            for split, (images, labels) in _IDX_STEMS.items()}


def read_idx_split(images_path: Path, labels_path: Path,
                   num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 ``(N, 1, 28, 28)`` and labels int64 ``(N,)`` of one split of an MNIST-format set.

    Checks the images are 28 x 28, that both files hold the same number of samples and that every label
    lies in ``[0, num_classes)``; the pixels are a read-only view of the file's bytes.
    """
    images = read_idx(images_path, 3)
    labels = read_idx(labels_path, 1)
    if images.shape[1:] != _IDX_IMAGE_SIZE:
        raise DataError(f"{images_path}: images must be 28 x 28, the header says "
                        f"{images.shape[1]} x {images.shape[2]}")
    if len(images) != len(labels):
        raise DataError(f"{images_path} holds {len(images):,} images but {labels_path} "
                        f"{len(labels):,} labels")
    if len(labels) and int(labels.max()) >= num_classes:
        raise DataError(f"{labels_path}: labels must lie in [0, {num_classes}), found values up to "
                        f"{int(labels.max())}")
    return images[:, None], labels.astype(np.int64)


def idx_dataset(source: IdxSource, data_dir: str | os.PathLike[str] | None) -> ArrayDataset:
    """The MNIST-format dataset ``source`` from ``data_dir`` (or its default folder), standardised like
    the other image datasets (per-channel mean and std of the training pixels on the [0, 1] scale)."""
    files = _idx_files(source, data_dir)
    num_classes = len(source.class_names)
    train = read_idx_split(*files["train"], num_classes)
    test = read_idx_split(*files["test"], num_classes)
    return _image_dataset(source.name, train, test, num_classes, source.class_names)


@DATASETS.register("mnist", kind="image", asymmetric_map=DIGITS_ASYMMETRIC_MAP)
def mnist(*, data_dir: str | os.PathLike[str] | None = None) -> ArrayDataset:
    """MNIST from --data-dir (IDX files): 60000 + 10000 handwritten digits (1, 28, 28), 10 classes.

    Reads ``DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte``, each plain or gzip-compressed (``.gz``),
    with :func:`~swiftsampler.data.files.read_idx`; pixels are scaled to [0, 1] and standardised with
    the training split's mean and standard deviation. Asymmetric label noise uses the digit map of
    Patrini et al. (2->7, 3->8, 5<->6, 7->1). Reference: Y. LeCun et al., "Gradient-based learning
    applied to document recognition", Proc. IEEE (1998).
    """
    return idx_dataset(MNIST, data_dir)


@DATASETS.register("fashion-mnist", kind="image", asymmetric_map=FASHION_MNIST_ASYMMETRIC_MAP)
def fashion_mnist(*, data_dir: str | os.PathLike[str] | None = None) -> ArrayDataset:
    """Fashion-MNIST (IDX files) from --data-dir or the Debian package: 60000 + 10000 images (1, 28, 28).

    Like :func:`mnist`; without ``data_dir`` the files of the Debian package ``dataset-fashion-mnist``
    are read from :data:`FASHION_MNIST_DEBIAN_DIR` when it exists. 10 classes of clothing
    (:data:`FASHION_MNIST_NAMES`); asymmetric label noise flips the look-alike pairs of
    :data:`FASHION_MNIST_ASYMMETRIC_MAP`. Reference: H. Xiao, K. Rasul and R. Vollgraf,
    "Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning Algorithms",
    arXiv:1708.07747 (2017).
    """
    return idx_dataset(FASHION_MNIST, data_dir)


@DATASETS.register("kmnist", kind="image", asymmetric_map=None)
def kmnist(*, data_dir: str | os.PathLike[str] | None = None) -> ArrayDataset:
    """Kuzushiji-MNIST from --data-dir (IDX files): 60000 + 10000 cursive hiragana (1, 28, 28).

    Like :func:`mnist`; the 10 classes are the hiragana of :data:`KMNIST_NAMES`. There is no standard
    asymmetric noise map for these characters, so asymmetric label noise uses the cyclic map. Reference:
    T. Clanuwat et al., "Deep Learning for Classical Japanese Literature", arXiv:1812.01718 (2018).
    """
    return idx_dataset(KMNIST, data_dir)
