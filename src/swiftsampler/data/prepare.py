"""From a :class:`~swiftsampler.config.DataConfig` and a seed to the tensors of one run."""

from __future__ import annotations

import dataclasses
import inspect
import os
from dataclasses import dataclass

import torch
from torch import Tensor

from ..config import DataConfig
from ..errors import ConfigError
from ..seeding import make_generator
from .datasets import DATASETS, create_dataset
from .lazy import LazyInputs
from .noise import inject_label_noise
from .split import few_shot_subset, stratified_split


@dataclass(frozen=True)
class PreparedData:
    """The tensors of one run: a (possibly noisy) training part, a validation part, the test split.

    ``train_y`` are the labels trained on, ``train_clean_y`` the original ones, ``train_noisy`` the
    mask ``train_y != train_clean_y``; ``train_index`` gives each training row's index in the
    dataset's train split (the validation rows are the other indices). ``val_y`` is clean unless
    ``noisy_val`` was set. Inputs are tensors or, for file-streamed datasets,
    :class:`~swiftsampler.data.lazy.LazyInputs` (moved to no device: they are decoded per batch).
    ``task`` names the task (:data:`~swiftsampler.tasks.TASKS`); ``test_pairs`` holds the
    verification pairs of a ``verification`` task; ``token_unit`` what one token of a token dataset
    is (``"byte"``, ``"char"``; ``None`` for other data).
    """

    train_x: Tensor | LazyInputs
    train_y: Tensor
    train_clean_y: Tensor
    train_noisy: Tensor
    train_index: Tensor
    val_x: Tensor | LazyInputs
    val_y: Tensor
    test_x: Tensor | LazyInputs
    test_y: Tensor
    num_classes: int
    input_shape: tuple[int, ...]
    name: str
    kind: str
    task: str = "classification"
    test_pairs: Tensor | None = None
    token_unit: str | None = None

    def to(self, device: torch.device | str) -> PreparedData:
        """A copy with every tensor on ``device``."""
        moved = {
            f.name: getattr(self, f.name).to(device)
            for f in dataclasses.fields(self) if isinstance(getattr(self, f.name), Tensor)
        }
        return dataclasses.replace(self, **moved)

    @property
    def streamed(self) -> bool:
        """Whether the inputs are decoded from files per batch (not held in memory)."""
        return isinstance(self.train_x, LazyInputs)

    @property
    def noise_rate(self) -> float:
        """Fraction of training labels that differ from the clean ones."""
        n = self.train_noisy.numel()
        return float(self.train_noisy.sum().item()) / n if n else 0.0


def dataset_task(dataset: str) -> str:
    """The task (:data:`~swiftsampler.tasks.TASKS`) of the registered dataset ``dataset``."""
    return str(DATASETS.get(dataset).meta.get("task", "classification"))


def prepare_data(cfg: DataConfig, seed: int, *,
                 cache_dir: str | os.PathLike[str] | None = None) -> PreparedData:
    """Load ``cfg.dataset``, carve a stratified validation split, take ``shots``, inject label noise.

    Randomness comes from independent named streams of ``seed``
    (:func:`~swiftsampler.seeding.make_generator`): ``split`` draws the validation split
    (``cfg.val_ratio`` of every class of the train split; a plain random split for token sequences,
    which have no class), ``shots`` the few-shot subset of the training part (``cfg.shots`` per
    class, 0: all), ``train-noise`` the noise of the training part, ``val-noise`` the noise of the
    validation part (only if ``cfg.noisy_val``). With ``cfg.drop_noisy`` the corrupted training
    samples are removed (an oracle baseline). The test split is never changed. ``cfg.data_dir`` and
    ``cfg.dataset_params`` are passed to the dataset's factory.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    entry = DATASETS.get(cfg.dataset)
    task = dataset_task(cfg.dataset)
    DATASETS.check_user_params(cfg.dataset, cfg.dataset_params)
    kwargs: dict[str, object] = {"num_samples": cfg.num_samples, **cfg.dataset_params}
    accepted = inspect.signature(entry.factory).parameters
    if "cache_dir" in accepted:
        kwargs["cache_dir"] = cache_dir
    if "data_dir" in accepted:
        kwargs["data_dir"] = cfg.data_dir
    elif cfg.data_dir is not None:
        raise ConfigError(f"--data-dir: dataset {cfg.dataset!r} does not read files")
    ds = create_dataset(cfg.dataset, **kwargs)
    asymmetric_map = entry.meta.get("asymmetric_map")
    classed = ds.train_y.dim() == 1  # token sequences have per-position targets, no class
    if not classed and (cfg.noise > 0 or cfg.shots > 0 or cfg.drop_noisy):
        raise ConfigError(f"dataset {cfg.dataset!r} has no class labels: --noise, --drop-noisy and "
                          f"--shots do not apply")

    strata = ds.train_y if classed else torch.zeros(ds.train_y.shape[0], dtype=torch.int64)
    train_idx, val_idx = stratified_split(strata, cfg.val_ratio, make_generator(seed, "split"))
    if cfg.shots > 0:
        train_idx = train_idx[few_shot_subset(ds.train_y[train_idx], cfg.shots,
                                              make_generator(seed, "shots"))]
    clean_y = ds.train_y[train_idx]
    val_y = ds.train_y[val_idx]
    if cfg.noise > 0:
        train_y, train_noisy = inject_label_noise(
            clean_y, cfg.noise, cfg.noise_type, ds.num_classes,
            make_generator(seed, "train-noise"), asymmetric_map)
        if cfg.noisy_val:
            val_y, _ = inject_label_noise(
                val_y, cfg.noise, cfg.noise_type, ds.num_classes,
                make_generator(seed, "val-noise"), asymmetric_map)
    else:
        train_y, train_noisy = clean_y.clone(), torch.zeros(len(clean_y), dtype=torch.bool)
    if cfg.drop_noisy:  # the oracle "clean samples only" baseline
        keep = ~train_noisy
        train_idx, train_y, clean_y = train_idx[keep], train_y[keep], clean_y[keep]
        train_noisy = train_noisy[keep]

    return PreparedData(
        train_x=ds.train_x[train_idx], train_y=train_y, train_clean_y=clean_y,
        train_noisy=train_noisy, train_index=train_idx,
        val_x=ds.train_x[val_idx], val_y=val_y,
        test_x=ds.test_x, test_y=ds.test_y,
        num_classes=ds.num_classes, input_shape=ds.input_shape, name=ds.name,
        kind=str(entry.meta.get("kind", "vector")), task=task, test_pairs=ds.test_pairs,
        token_unit=ds.token_unit,
    )
