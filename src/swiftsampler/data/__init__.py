"""Datasets, splits and label noise: everything between a dataset name and the tensors of one run.

* :mod:`.datasets`: :class:`ArrayDataset`, the :data:`DATASETS` registry (``mnist1d``, ``digits``,
  ``synthetic``), :func:`create_dataset`, :func:`list_datasets`;
* :mod:`.file_datasets`: datasets read from ``--data-dir`` (``cifar10``, ``cifar100``, ``svhn``,
  ``mnist``, ``fashion-mnist``, ``kmnist``), registered on import; :mod:`.files`: their file readers
  (restricted unpickler, ``.mat``, IDX, MD5); :mod:`.image_folders` (``imagefolder``, ``faces``) and
  :mod:`.text` (``wikitext2``, ``textfile``) register theirs too;
* :mod:`.split`: :func:`stratified_split`;
* :mod:`.noise`: :func:`inject_label_noise` (symmetric / asymmetric, with the corrupted-sample
  mask);
* :mod:`.prepare`: :class:`PreparedData` and :func:`prepare_data` (dataset + validation split +
  noise);
* :mod:`.cache`: the on-disk ``.npz`` cache of generated data.
"""

from __future__ import annotations

from . import (
    file_datasets,  # noqa: F401  (registers cifar10, cifar100, svhn, mnist, fashion-mnist, kmnist)
    image_folders,  # noqa: F401  (registers imagefolder, faces)
    text,  # noqa: F401  (registers wikitext2, textfile)
)
from .datasets import DATASETS, ArrayDataset, create_dataset, list_datasets
from .noise import inject_label_noise
from .prepare import PreparedData, prepare_data
from .split import stratified_split

__all__ = [
    "ArrayDataset",
    "DATASETS",
    "PreparedData",
    "create_dataset",
    "inject_label_noise",
    "list_datasets",
    "prepare_data",
    "stratified_split",
]
