"""Datasets, stratified splits, label noise and run preparation (``swiftsampler.data``)."""

from __future__ import annotations

import random
import sys

import numpy as np
import pytest
import torch

from swiftsampler.config import DataConfig
from swiftsampler.data import (
    DATASETS,
    ArrayDataset,
    PreparedData,
    create_dataset,
    inject_label_noise,
    list_datasets,
    prepare_data,
    stratified_split,
)
from swiftsampler.data import datasets as datasets_module
from swiftsampler.data.datasets import DIGITS_ASYMMETRIC_MAP, mnist1d_cache_path
from swiftsampler.errors import ConfigError, DataError

MNIST1D_N = 600  # 480 train + 120 test: small enough to generate in well under a second


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def imbalanced_labels() -> torch.Tensor:
    sizes = [7, 50, 123, 300, 2]
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(sizes)])
    return labels[torch.randperm(len(labels), generator=gen(99))]


# ------------------------------------------------------------------------------------------ splits

def test_split_is_a_sorted_partition() -> None:
    labels = imbalanced_labels()
    train, val = stratified_split(labels, 0.2, gen(0))
    assert train.dtype == val.dtype == torch.int64
    assert torch.equal(train, train.sort().values) and torch.equal(val, val.sort().values)
    assert torch.equal(torch.cat([train, val]).sort().values, torch.arange(len(labels)))


def test_split_is_deterministic_in_the_generator() -> None:
    labels = imbalanced_labels()
    a_train, a_val = stratified_split(labels, 0.25, gen(5))
    b_train, b_val = stratified_split(labels, 0.25, gen(5))
    c_train, c_val = stratified_split(labels, 0.25, gen(6))
    assert torch.equal(a_train, b_train) and torch.equal(a_val, b_val)
    assert len(a_val) == len(c_val) and not torch.equal(a_val, c_val)


@pytest.mark.parametrize("ratio", [0.1, 0.2, 0.35])
def test_split_is_stratified(ratio: float) -> None:
    labels = imbalanced_labels()
    _, val = stratified_split(labels, ratio, gen(1))
    for c in range(5):
        n_c = int((labels == c).sum())
        v_c = int((labels[val] == c).sum())
        assert abs(v_c - ratio * n_c) <= 1, (c, n_c, v_c)
        assert v_c >= 1  # every class with >= 2 samples is represented


def test_split_zero_ratio_and_tiny_class() -> None:
    labels = torch.tensor([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2])
    train, val = stratified_split(labels, 0.0, gen(0))
    assert len(val) == 0 and torch.equal(train, torch.arange(len(labels)))
    _, val = stratified_split(labels, 0.05, gen(0))
    # round(0.05 * 2) == round(0.05 * 10) == 0, yet both classes get one; the singleton class none
    assert sorted(labels[val].tolist()) == [0, 1]


@pytest.mark.parametrize("ratio", [1.0, -0.1, float("nan")])
def test_split_rejects_bad_ratio(ratio: float) -> None:
    with pytest.raises(ConfigError, match="val_ratio"):
        stratified_split(torch.tensor([0, 1, 0, 1]), ratio, gen(0))


def test_split_rejects_float_labels() -> None:
    with pytest.raises(ConfigError, match="integer"):
        stratified_split(torch.tensor([0.0, 1.0]), 0.5, gen(0))


# ------------------------------------------------------------------------------------------- noise

def balanced(num_classes: int, per_class: int, seed: int = 0) -> torch.Tensor:
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    return labels[torch.randperm(len(labels), generator=gen(seed))]


def test_symmetric_noise_rate_is_exact_and_mask_marks_changes() -> None:
    clean = balanced(10, 100)
    before = clean.clone()
    noisy, mask = inject_label_noise(clean, 0.37, "symmetric", 10, gen(0))
    assert torch.equal(clean, before)  # input untouched
    assert noisy.dtype == torch.int64 and mask.dtype == torch.bool
    assert int(mask.sum()) == 370
    assert bool((noisy[mask] != clean[mask]).all())
    assert torch.equal(noisy[~mask], clean[~mask])
    assert int(noisy.min()) >= 0 and int(noisy.max()) < 10


def test_symmetric_noise_spreads_uniformly_over_other_classes() -> None:
    C = 10
    clean = balanced(C, 2000)
    noisy, mask = inject_label_noise(clean, 0.5, "symmetric", C, gen(3))
    shift = (noisy[mask] - clean[mask]) % C
    counts = torch.bincount(shift, minlength=C).double()
    assert counts[0] == 0
    expected = mask.sum().double() / (C - 1)
    chi2 = float((((counts[1:] - expected) ** 2) / expected).sum())
    assert chi2 < 26.1  # 99.9% quantile of chi-square with 8 degrees of freedom
    pairs = torch.zeros(C, C)
    pairs.index_put_((clean[mask], noisy[mask]), torch.ones(int(mask.sum())), accumulate=True)
    off_diagonal = pairs[~torch.eye(C, dtype=torch.bool)]
    assert bool((off_diagonal > 0).all())  # every class flips into every other class
    # the selected samples are spread over all source classes too
    assert bool((torch.bincount(clean[mask], minlength=C) > 0.4 * 2000).all())


def test_noise_is_deterministic_in_the_generator() -> None:
    clean = balanced(5, 200)
    a = inject_label_noise(clean, 0.3, "symmetric", 5, gen(1))
    b = inject_label_noise(clean, 0.3, "symmetric", 5, gen(1))
    c = inject_label_noise(clean, 0.3, "symmetric", 5, gen(2))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_asymmetric_noise_follows_the_map_exactly() -> None:
    clean = balanced(10, 101)
    noisy, mask = inject_label_noise(clean, 0.3, "asymmetric", 10, gen(0), DIGITS_ASYMMETRIC_MAP)
    assert torch.equal(mask, noisy != clean)
    for c in range(10):
        members = clean == c
        if c in DIGITS_ASYMMETRIC_MAP:
            assert int(mask[members].sum()) == round(0.3 * 101)
            assert bool((noisy[members & mask] == DIGITS_ASYMMETRIC_MAP[c]).all())
        else:
            assert not bool(mask[members].any())


def test_asymmetric_noise_defaults_to_the_cyclic_map_and_skips_fixed_points() -> None:
    clean = torch.cat([balanced(4, 50), torch.full((3,), 3)])
    noisy, mask = inject_label_noise(clean, 0.5, "asymmetric", 4, gen(0))
    for c in range(4):
        members = clean == c
        assert int(mask[members].sum()) == round(0.5 * int(members.sum()))
        assert bool((noisy[members & mask] == (c + 1) % 4).all())
    noisy, mask = inject_label_noise(clean, 0.5, "asymmetric", 4, gen(0), {0: 0, 1: 2})
    assert bool((clean[mask] == 1).all()) and int(mask.sum()) == 25


def test_zero_noise_changes_nothing() -> None:
    clean = balanced(3, 10)
    noisy, mask = inject_label_noise(clean, 0.0, "symmetric", 3, gen(0))
    assert torch.equal(noisy, clean) and not bool(mask.any())


@pytest.mark.parametrize("rate", [1.0, -0.01, float("nan"), 1.5])
def test_noise_rejects_bad_rate(rate: float) -> None:
    with pytest.raises(ConfigError, match="rate"):
        inject_label_noise(balanced(3, 10), rate, "symmetric", 3, gen(0))


def test_noise_rejects_bad_kind_and_labels() -> None:
    with pytest.raises(ConfigError, match="noise type"):
        inject_label_noise(balanced(3, 10), 0.2, "pairflip", 3, gen(0))
    with pytest.raises(ConfigError, match=r"\[0, 3\)"):
        inject_label_noise(torch.tensor([0, 1, 3]), 0.2, "symmetric", 3, gen(0))
    with pytest.raises(ConfigError, match="outside"):
        inject_label_noise(balanced(3, 10), 0.2, "asymmetric", 3, gen(0), {0: 5})


# -------------------------------------------------------------------------- registry, ArrayDataset

def test_registry_lists_datasets_with_metadata() -> None:
    assert {"mnist1d", "digits", "synthetic"} <= set(list_datasets())
    assert DATASETS.get("mnist1d").meta == {"kind": "signal",
                                            "asymmetric_map": DIGITS_ASYMMETRIC_MAP}
    assert DATASETS.get("digits").meta["kind"] == "image"
    assert DATASETS.get("synthetic").meta == {"kind": "vector", "asymmetric_map": None}
    assert DIGITS_ASYMMETRIC_MAP == {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}


def test_create_dataset_drops_none_and_checks_names() -> None:
    default = create_dataset("synthetic", num_samples=None, dim=None)
    assert len(default.train_y) + len(default.test_y) == 2000 and default.input_shape == (16,)
    with pytest.raises(ConfigError, match="num_sampels"):
        create_dataset("synthetic", num_sampels=10)
    with pytest.raises(ConfigError, match="did you mean 'mnist1d'"):
        create_dataset("mnist1", num_samples=10)


def test_array_dataset_validates_shapes_and_dtypes() -> None:
    x, y = torch.zeros(4, 2, 3), torch.tensor([0, 1, 0, 1])
    ds = ArrayDataset(x, y, x[:2], y[:2], 2, "toy")
    assert ds.input_shape == (2, 3)
    with pytest.raises(DataError, match="do not match"):
        ArrayDataset(x, y[:3], x[:2], y[:2], 2, "toy")
    with pytest.raises(DataError, match="float32"):
        ArrayDataset(x.double(), y, x[:2], y[:2], 2, "toy")
    with pytest.raises(DataError, match="labels must lie"):
        ArrayDataset(x, y + 1, x[:2], y[:2], 2, "toy")


# ----------------------------------------------------------------------------------------- mnist1d

@pytest.fixture(scope="module")
def mnist1d_dir(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("mnist1d_cache")


@pytest.fixture(scope="module")
def mnist1d_small(mnist1d_dir) -> ArrayDataset:
    return create_dataset("mnist1d", num_samples=MNIST1D_N, cache_dir=mnist1d_dir)


def assert_same_dataset(a: ArrayDataset, b: ArrayDataset) -> None:
    for field in ("train_x", "train_y", "test_x", "test_y"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field


def test_mnist1d_shapes_dtypes_and_classes(mnist1d_small: ArrayDataset) -> None:
    ds = mnist1d_small
    assert ds.name == "mnist1d" and ds.num_classes == 10 and ds.input_shape == (1, 40)
    assert ds.train_x.shape == (480, 1, 40) and ds.test_x.shape == (120, 1, 40)
    assert ds.train_x.dtype == torch.float32 and ds.train_y.dtype == torch.int64
    # the generator makes num_samples // 10 samples of every class
    counts = torch.bincount(torch.cat([ds.train_y, ds.test_y]), minlength=10)
    assert torch.equal(counts, torch.full((10,), MNIST1D_N // 10))
    assert ds.class_names == tuple("0123456789")
    all_x = torch.cat([ds.train_x, ds.test_x])
    assert abs(float(all_x.mean())) < 1e-3 and abs(float(all_x.std()) - 1) < 1e-2


def test_mnist1d_cache_is_written_and_reused(tmp_path, monkeypatch) -> None:
    first = create_dataset("mnist1d", num_samples=MNIST1D_N, cache_dir=tmp_path)
    path = mnist1d_cache_path(MNIST1D_N, tmp_path)
    assert path.parent == tmp_path and path.suffix == ".npz" and path.is_file()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
    with np.load(path, allow_pickle=False) as npz:  # plain arrays, loadable without pickle
        assert set(npz.files) == {"x", "y", "x_test", "y_test"}

    def must_not_run(num_samples: int):
        raise AssertionError("regenerated although the cache is valid")

    monkeypatch.setattr(datasets_module, "_generate_mnist1d", must_not_run)
    again = create_dataset("mnist1d", num_samples=MNIST1D_N, cache_dir=tmp_path)
    assert_same_dataset(first, again)


def test_mnist1d_cache_is_keyed_by_size_and_honours_the_env_var(tmp_path, monkeypatch) -> None:
    assert mnist1d_cache_path(600, tmp_path) != mnist1d_cache_path(700, tmp_path)
    monkeypatch.setenv("SWIFTSAMPLER_CACHE", str(tmp_path / "env"))
    assert mnist1d_cache_path(600) == tmp_path / "env" / mnist1d_cache_path(600, tmp_path).name


def _write_garbage(path) -> None:
    path.write_bytes(b"not a zip file at all")


def _write_empty(path) -> None:
    path.write_bytes(b"")


def _write_wrong_arrays(path) -> None:
    np.savez(path, x=np.zeros((3, 40)), y=np.zeros(3, dtype=np.int64))  # keys missing


def _write_wrong_sizes(path) -> None:
    np.savez(path, x=np.zeros((3, 40)), y=np.zeros(3, dtype=np.int64),
             x_test=np.zeros((1, 40)), y_test=np.zeros(1, dtype=np.int64))


@pytest.mark.parametrize("corrupt", [_write_garbage, _write_empty, _write_wrong_arrays,
                                     _write_wrong_sizes])
def test_mnist1d_corrupt_cache_is_regenerated(corrupt, tmp_path, monkeypatch,
                                              mnist1d_small: ArrayDataset) -> None:
    path = mnist1d_cache_path(MNIST1D_N, tmp_path)
    corrupt(path)
    calls = []
    real = datasets_module._generate_mnist1d

    def counting(num_samples: int):
        calls.append(num_samples)
        return real(num_samples)

    monkeypatch.setattr(datasets_module, "_generate_mnist1d", counting)
    ds = create_dataset("mnist1d", num_samples=MNIST1D_N, cache_dir=tmp_path)
    assert calls == [MNIST1D_N]
    assert_same_dataset(ds, mnist1d_small)  # generation is deterministic (mnist1d seed 42)
    with np.load(path, allow_pickle=False) as npz:  # the bad file was replaced by a good one
        assert npz["x"].shape == (480, 40)


def test_mnist1d_generation_leaves_global_rngs_alone(tmp_path) -> None:
    random.seed(1234)
    np.random.seed(4321)
    py_state, np_state = random.getstate(), np.random.get_state()
    torch_state = torch.get_rng_state()
    create_dataset("mnist1d", num_samples=50, cache_dir=tmp_path)
    assert mnist1d_cache_path(50, tmp_path).is_file()  # it really generated
    assert random.getstate() == py_state
    after = np.random.get_state()
    assert after[0] == np_state[0] and after[2:] == np_state[2:]
    assert np.array_equal(after[1], np_state[1])
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_mnist1d_unwritable_cache_only_warns(tmp_path, mnist1d_small: ArrayDataset) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.warns(RuntimeWarning, match="could not write dataset cache"):
        ds = create_dataset("mnist1d", num_samples=MNIST1D_N, cache_dir=blocker / "cache")
    assert_same_dataset(ds, mnist1d_small)


def test_mnist1d_rejects_too_few_samples(tmp_path) -> None:
    with pytest.raises(ConfigError, match="num_samples"):
        create_dataset("mnist1d", num_samples=5, cache_dir=tmp_path)


# ------------------------------------------------------------------------------- synthetic, digits

def test_synthetic_is_deterministic_and_balanced() -> None:
    a = create_dataset("synthetic", num_samples=400, num_classes=4, dim=8, seed=3)
    b = create_dataset("synthetic", num_samples=400, num_classes=4, dim=8, seed=3)
    c = create_dataset("synthetic", num_samples=400, num_classes=4, dim=8, seed=4)
    assert_same_dataset(a, b)
    assert not torch.equal(a.train_x, c.train_x)
    assert a.input_shape == (8,) and a.train_x.dtype == torch.float32
    assert torch.equal(torch.bincount(a.train_y), torch.full((4,), 75))  # 100 per class, 25% test
    assert torch.equal(torch.bincount(a.test_y), torch.full((4,), 25))


def _nearest_mean_accuracy(ds: ArrayDataset) -> float:
    means = torch.stack([ds.train_x[ds.train_y == c].mean(0) for c in range(ds.num_classes)])
    pred = torch.cdist(ds.test_x, means).argmin(1)
    return float((pred == ds.test_y).float().mean())


def test_synthetic_separation_controls_difficulty() -> None:
    easy = create_dataset("synthetic", num_classes=4, separation=8.0)
    hard = create_dataset("synthetic", num_classes=4, separation=0.0)
    assert _nearest_mean_accuracy(easy) > 0.99
    assert _nearest_mean_accuracy(hard) < 0.4  # chance is 0.25


@pytest.mark.parametrize("name,value", [("num_samples", 0), ("num_classes", 1), ("dim", 0),
                                        ("separation", -1.0), ("seed", -1), ("test_ratio", 1.0),
                                        ("num_samples", 2.5)])
def test_synthetic_validates_arguments(name: str, value) -> None:
    with pytest.raises(ConfigError, match=name):
        create_dataset("synthetic", **{name: value})


def test_digits_is_standardised_and_stratified() -> None:
    pytest.importorskip("sklearn")
    ds = create_dataset("digits")
    assert ds.input_shape == (1, 8, 8) and ds.num_classes == 10
    assert len(ds.train_y) + len(ds.test_y) == 1797
    assert abs(float(ds.train_x.mean())) < 1e-4 and abs(float(ds.train_x.std()) - 1) < 1e-4
    all_y = torch.cat([ds.train_y, ds.test_y])
    for c in range(10):
        n_c = int((all_y == c).sum())
        assert abs(int((ds.test_y == c).sum()) - 0.2 * n_c) <= 1
    assert_same_dataset(ds, create_dataset("digits"))  # fixed split


def test_digits_without_sklearn_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # makes the import fail
    with pytest.raises(DataError, match=r"pip install 'swiftsampler\[digits\]'"):
        create_dataset("digits")


# ------------------------------------------------------------------------------------ prepare_data

def synthetic_cfg(**changes) -> DataConfig:
    base = dict(dataset="synthetic", val_ratio=0.1, noise=0.2, noise_type="symmetric")
    return DataConfig(**{**base, **changes})


def test_prepare_data_splits_train_into_disjoint_train_and_val() -> None:
    ds = create_dataset("synthetic")
    p = prepare_data(synthetic_cfg(), seed=3)
    assert isinstance(p, PreparedData)
    assert (p.name, p.kind, p.num_classes, p.input_shape) == ("synthetic", "vector", 4, (16,))
    idx = p.train_index
    assert idx.dtype == torch.int64 and torch.equal(idx, idx.unique())  # sorted, no repeats
    val_idx = torch.ones(len(ds.train_y), dtype=torch.bool)
    val_idx[idx] = False
    val_idx = val_idx.nonzero(as_tuple=True)[0]
    assert len(idx) + len(p.val_y) == len(ds.train_y) == 1500
    assert len(p.val_y) == 4 * round(0.1 * 375)
    assert torch.equal(p.train_x, ds.train_x[idx])
    assert torch.equal(p.train_clean_y, ds.train_y[idx])
    assert torch.equal(p.val_x, ds.train_x[val_idx])
    assert torch.equal(p.val_y, ds.train_y[val_idx])  # the validation labels stay clean
    assert torch.equal(p.test_x, ds.test_x) and torch.equal(p.test_y, ds.test_y)


def test_prepare_data_noise_goes_to_train_only() -> None:
    p = prepare_data(synthetic_cfg(noise=0.3), seed=0)
    n = len(p.train_y)
    assert torch.equal(p.train_noisy, p.train_y != p.train_clean_y)
    assert int(p.train_noisy.sum()) == round(0.3 * n)
    assert abs(p.noise_rate - 0.3) <= 1 / n
    clean = prepare_data(synthetic_cfg(noise=0.0), seed=0)
    assert not bool(clean.train_noisy.any()) and clean.noise_rate == 0.0
    assert torch.equal(clean.train_y, clean.train_clean_y)
    # the noise stream is separate from the split stream: the split does not depend on the noise
    assert torch.equal(clean.train_index, p.train_index)
    assert torch.equal(clean.val_y, p.val_y)


def test_prepare_data_noisy_val_corrupts_validation_too() -> None:
    clean_val = prepare_data(synthetic_cfg(noise=0.4, val_ratio=0.2), seed=1)
    noisy_val = prepare_data(synthetic_cfg(noise=0.4, val_ratio=0.2, noisy_val=True), seed=1)
    assert torch.equal(clean_val.train_y, noisy_val.train_y)  # train noise unaffected
    changed = int((noisy_val.val_y != clean_val.val_y).sum())
    assert changed == round(0.4 * len(clean_val.val_y))


def test_prepare_data_is_seeded_and_leaves_global_rng_alone() -> None:
    state = torch.get_rng_state()
    a = prepare_data(synthetic_cfg(), seed=7)
    b = prepare_data(synthetic_cfg(), seed=7)
    c = prepare_data(synthetic_cfg(), seed=8)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.train_index, b.train_index) and torch.equal(a.train_y, b.train_y)
    assert not torch.equal(a.train_index, c.train_index)
    assert not torch.equal(a.train_noisy, c.train_noisy)


def test_prepare_data_without_validation_has_empty_val_tensors() -> None:
    p = prepare_data(synthetic_cfg(val_ratio=0.0), seed=0)
    assert p.val_x.shape == (0, 16) and p.val_y.shape == (0,) and p.val_y.dtype == torch.int64
    assert torch.equal(p.train_index, torch.arange(1500))


def test_prepare_data_asymmetric_uses_the_dataset_map(mnist1d_dir, mnist1d_small) -> None:
    cfg = DataConfig(dataset="mnist1d", num_samples=MNIST1D_N, noise=0.4, noise_type="asymmetric")
    p = prepare_data(cfg, seed=0, cache_dir=mnist1d_dir)
    assert p.kind == "signal" and p.input_shape == (1, 40)
    assert len(p.train_y) + len(p.val_y) == len(mnist1d_small.train_y)
    flipped_from = set(p.train_clean_y[p.train_noisy].tolist())
    assert flipped_from == set(DIGITS_ASYMMETRIC_MAP)
    for src, dst in DIGITS_ASYMMETRIC_MAP.items():
        sel = p.train_noisy & (p.train_clean_y == src)
        assert bool((p.train_y[sel] == dst).all())
        assert int(sel.sum()) == round(0.4 * int((p.train_clean_y == src).sum()))


def test_prepare_data_passes_only_accepted_arguments() -> None:
    with pytest.raises(ConfigError, match="num_samples"):
        prepare_data(DataConfig(dataset="digits", num_samples=100), seed=0)
    p = prepare_data(synthetic_cfg(num_samples=200), seed=0)
    assert len(p.train_y) + len(p.val_y) + len(p.test_y) == 200


def test_prepared_data_to_moves_every_tensor() -> None:
    p = prepare_data(synthetic_cfg(), seed=0)
    moved = p.to("meta")
    for name, value in vars(moved).items():
        if isinstance(value, torch.Tensor):
            assert value.device.type == "meta", name
            assert getattr(p, name).device.type == "cpu"  # the original is not changed
    assert (moved.num_classes, moved.input_shape, moved.kind) == (p.num_classes, p.input_shape,
                                                                   p.kind)


def test_drop_noisy_keeps_exactly_the_clean_training_samples(tmp_path):
    noisy = prepare_data(DataConfig(dataset="synthetic", noise=0.3), 0, cache_dir=tmp_path)
    clean = prepare_data(DataConfig(dataset="synthetic", noise=0.3, drop_noisy=True), 0,
                         cache_dir=tmp_path)
    kept = noisy.train_index[~noisy.train_noisy]
    assert torch.equal(clean.train_index, kept)
    assert torch.equal(clean.train_y, clean.train_clean_y) and not bool(clean.train_noisy.any())
    assert torch.equal(clean.val_y, noisy.val_y)
