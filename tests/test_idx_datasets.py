"""MNIST-format datasets (mnist, fashion-mnist, kmnist): tiny IDX files written by the tests, plain and
gzip-compressed, and the real Fashion-MNIST of the Debian package when it is installed."""

import dataclasses
import gzip
import json

import numpy as np
import pytest
import torch

from swiftsampler.cli import main
from swiftsampler.config import DataConfig
from swiftsampler.data import DATASETS, create_dataset, prepare_data
from swiftsampler.data.datasets import DIGITS_ASYMMETRIC_MAP
from swiftsampler.data.file_datasets import (
    FASHION_MNIST,
    FASHION_MNIST_ASYMMETRIC_MAP,
    FASHION_MNIST_DEBIAN_DIR,
    FASHION_MNIST_NAMES,
    KMNIST_NAMES,
    idx_dataset,
)
from swiftsampler.data.files import read_idx
from swiftsampler.errors import DataError

from .fixtures import IDX_STEMS, idx_bytes, write_idx, write_idx_dataset


def _reference(train_u8, test_u8):
    """(x / 255 - mean) / std with the training pixels' mean and population std, in float64."""
    train, test = train_u8.astype(np.float64) / 255, test_u8.astype(np.float64) / 255
    mean, std = train.mean(), train.std()
    return (train - mean) / std, (test - mean) / std


# ------------------------------------------------------------------------------------- the reader

@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_plain_and_gzip(tmp_path, suffix):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / f"images{suffix}", images)
    assert path.read_bytes()[:2] == (b"\x1f\x8b" if suffix else b"\x00\x00")
    out = read_idx(path, 3)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4) and np.array_equal(out, images)
    assert idx_bytes(images)[:16] == bytes.fromhex("00000803 00000002 00000003 00000004")
    labels = read_idx(write_idx(tmp_path / f"labels{suffix}", np.array([7, 0, 9], np.uint8)), 1)
    assert labels.tolist() == [7, 0, 9]


def test_read_idx_decides_gzip_by_content_not_name(tmp_path):
    labels = np.array([1, 2, 3], np.uint8)
    assert read_idx(write_idx(tmp_path / "named-plain", labels, compress=True), 1).tolist() == [1, 2, 3]


# ---------------------------------------------------------------------------------- the datasets

def test_registry_metadata():
    assert DATASETS.get("mnist").meta == {"kind": "image", "asymmetric_map": DIGITS_ASYMMETRIC_MAP}
    assert DATASETS.get("kmnist").meta == {"kind": "image", "asymmetric_map": None}  # none standard
    fashion = DATASETS.get("fashion-mnist").meta
    assert fashion == {"kind": "image", "asymmetric_map": FASHION_MNIST_ASYMMETRIC_MAP}
    names = FASHION_MNIST_NAMES
    flips = {(names[a], names[b]) for a, b in FASHION_MNIST_ASYMMETRIC_MAP.items()}
    assert flips == {("T-shirt/top", "Shirt"), ("Shirt", "T-shirt/top"), ("Pullover", "Coat"),
                     ("Coat", "Pullover"), ("Sandal", "Sneaker"), ("Sneaker", "Sandal")}


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "kmnist"])
def test_loads_shapes_labels_and_standardisation(tmp_path, name):
    arrays = write_idx_dataset(tmp_path)
    ds = create_dataset(name, data_dir=tmp_path)
    assert ds.name == name and ds.num_classes == 10 and ds.input_shape == (1, 28, 28)
    assert ds.train_x.shape == (200, 1, 28, 28) and ds.test_x.shape == (50, 1, 28, 28)
    assert ds.train_x.dtype == torch.float32 and ds.train_x.is_contiguous()
    assert ds.train_y.tolist() == arrays["train_y"].tolist()
    assert ds.test_y.tolist() == arrays["test_y"].tolist()
    train_ref, test_ref = _reference(arrays["train_x"], arrays["test_x"])
    assert np.allclose(ds.train_x.numpy()[:, 0], train_ref, atol=1e-5)
    assert np.allclose(ds.test_x.numpy()[:, 0], test_ref, atol=1e-5)
    names = {"mnist": tuple("0123456789"), "fashion-mnist": FASHION_MNIST_NAMES,
             "kmnist": KMNIST_NAMES}[name]
    assert ds.class_names == names


def test_the_uncompressed_file_wins_over_its_gz(tmp_path):
    arrays = write_idx_dataset(tmp_path, compress=(False, True, True, True))
    other = np.zeros_like(arrays["train_x"])
    write_idx(tmp_path / f"{IDX_STEMS[0]}.gz", other)  # a different .gz beside the plain file
    ds = create_dataset("mnist", data_dir=tmp_path)
    assert np.allclose(ds.train_x.numpy()[:, 0], _reference(arrays["train_x"], arrays["test_x"])[0],
                       atol=1e-5)


def test_prepare_data_carves_a_stratified_validation_split(tmp_path):
    write_idx_dataset(tmp_path)
    data = prepare_data(DataConfig(dataset="kmnist", data_dir=str(tmp_path), val_ratio=0.1), 0)
    assert data.kind == "image" and data.input_shape == (1, 28, 28) and data.token_unit is None
    assert len(data.train_y) == 180 and len(data.val_y) == 20 and len(data.test_y) == 50
    assert torch.bincount(data.val_y, minlength=10).tolist() == [2] * 10


# -------------------------------------------------------------------------------------- bad files

def _swap_magic(root):  # a labels file where the images should be
    path = root / f"{IDX_STEMS[2]}"
    path.write_bytes((root / f"{IDX_STEMS[3]}").read_bytes())
    return path


def _wrong_type(root):
    path = root / IDX_STEMS[3]
    raw = bytearray(path.read_bytes())
    raw[2] = 0x0B  # 16-bit integers
    path.write_bytes(bytes(raw))
    return path


def _truncated_plain(root):
    path = root / IDX_STEMS[2]
    path.write_bytes(path.read_bytes()[:-100])
    return path


def _truncated_header(root):
    path = root / IDX_STEMS[2]
    path.write_bytes(path.read_bytes()[:10])
    return path


def _trailing_bytes(root):
    path = root / IDX_STEMS[3]
    path.write_bytes(path.read_bytes() + b"\x00" * 7)
    return path


def _truncated_inside_gzip(root):  # the gzip stream is intact, its content is cut
    path = root / f"{IDX_STEMS[0]}.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-784], mtime=0))
    return path


def _cut_gzip(root):  # the gzip stream itself ends early
    path = root / f"{IDX_STEMS[0]}.gz"
    path.write_bytes(path.read_bytes()[:-500])
    return path


def _corrupt_gzip(root):  # bytes flipped in the middle of the compressed stream
    path = root / f"{IDX_STEMS[1]}.gz"
    raw = bytearray(path.read_bytes())
    for i in range(12, len(raw) - 8):
        raw[i] ^= 0x5A
    path.write_bytes(bytes(raw))
    return path


def _count_mismatch(root):
    path = root / IDX_STEMS[3]
    write_idx(path, np.zeros(49, np.uint8))
    return path


def _label_out_of_range(root):
    path = root / IDX_STEMS[3]
    write_idx(path, np.full(50, 10, np.uint8))
    return path


def _wrong_image_size(root):
    path = root / IDX_STEMS[2]
    write_idx(path, np.zeros((50, 32, 32), np.uint8))
    return path


@pytest.mark.parametrize("damage, words", [
    (_swap_magic, "is not an IDX file of 3-D uint8 data: its magic number is 0x00000801, expected "
                  "0x00000803"),
    (_wrong_type, "is not an IDX file of 1-D uint8 data: its magic number is 0x00000b01"),
    (_truncated_plain, "is truncated: the header announces 50 x 28 x 28 = 39,200 values, the file "
                       "holds 39,100"),
    (_truncated_header, "is truncated: 10 bytes, less than its 16-byte header"),
    (_trailing_bytes, "is longer than its header says (a wrong file?): the header announces 50 values, "
                     "the file holds 57"),
    (_truncated_inside_gzip, "is truncated: the header announces 200 x 28 x 28 = 156,800 values"),
    (_cut_gzip, "is a damaged gzip file (EOFError"),
    (_corrupt_gzip, "is a damaged gzip file ("),
    (_count_mismatch, "holds 50 images but"),
    (_label_out_of_range, "labels must lie in [0, 10), found values up to 10"),
    (_wrong_image_size, "images must be 28 x 28, the header says 32 x 32"),
])
def test_bad_files_are_one_line_errors_naming_the_file(tmp_path, damage, words):
    write_idx_dataset(tmp_path)
    path = damage(tmp_path)
    with pytest.raises(DataError) as info:
        create_dataset("mnist", data_dir=tmp_path)
    message = str(info.value)
    assert str(path) in message and words in message, message
    assert "\n" not in message


def test_missing_files_name_the_layout(tmp_path):
    write_idx_dataset(tmp_path)
    (tmp_path / f"{IDX_STEMS[1]}.gz").unlink()
    (tmp_path / IDX_STEMS[3]).unlink()
    with pytest.raises(DataError) as info:
        create_dataset("kmnist", data_dir=tmp_path)
    assert str(info.value) == (
        f"kmnist: expected DIR/{{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte[.gz] under --data-dir "
        f"{tmp_path} (the IDX files of Kuzushiji-MNIST); missing: train-labels-idx1-ubyte[.gz], "
        f"t10k-labels-idx1-ubyte[.gz]")
    with pytest.raises(DataError, match=r"mnist reads files: pass --data-dir DIR with "
                                        r"DIR/\{train,t10k\}-\{images-idx3,labels-idx1\}-ubyte\[\.gz\]"):
        create_dataset("mnist")
    with pytest.raises(DataError, match="is not a directory"):
        create_dataset("mnist", data_dir=tmp_path / "nowhere")


def test_fashion_mnist_default_folder_and_the_apt_hint(tmp_path):
    absent = dataclasses.replace(FASHION_MNIST, default_dir=tmp_path / "absent")
    with pytest.raises(DataError) as info:
        idx_dataset(absent, None)
    message = str(info.value)
    assert message.startswith("fashion-mnist reads files: pass --data-dir DIR with DIR/{train,t10k}")
    assert "apt install dataset-fashion-mnist" in message and "\n" not in message
    with pytest.raises(DataError, match="missing: .*; or install them: apt install dataset-fashion-mnist"):
        idx_dataset(absent, tmp_path)  # an empty --data-dir gets the hint too
    installed = dataclasses.replace(FASHION_MNIST, default_dir=tmp_path / "usr-share")
    arrays = write_idx_dataset(tmp_path / "usr-share")
    ds = idx_dataset(installed, None)  # no --data-dir: the default folder is read
    assert ds.train_y.tolist() == arrays["train_y"].tolist()


# ------------------------------------------------------------------------------------------- CLI

def _one_line_error(capsys, args):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_cli_trains_cnn2d_on_idx_files_to_a_real_accuracy(tmp_path, capsys):
    write_idx_dataset(tmp_path / "data", train=300, test=100, compress=(True, False, True, False))
    out = tmp_path / "run"
    assert main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "data"), "--model",
                 "cnn2d", "--width", "8", "--epochs", "6", "--batch-size", "16", "--sampler", "p-sgd",
                 "--progress", "off", "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["data"]["dataset"] == "mnist" and result["data"]["input_shape"] == [1, 28, 28]
    assert result["data"]["num_train"] == 270 and result["data"]["num_test"] == 100
    assert result["test_acc"] >= 0.9, result["test_acc"]  # chance is 0.1


def test_cli_bad_idx_file_is_one_line_exit_2(tmp_path, capsys):
    write_idx_dataset(tmp_path / "data")
    _truncated_plain(tmp_path / "data")
    out = tmp_path / "run"
    err = _one_line_error(capsys, ["train", "--dataset", "fashion-mnist", "--data-dir",
                                   str(tmp_path / "data"), "--model", "cnn2d", "--progress", "off",
                                   "--out", str(out)])
    assert err.startswith("swiftsampler train: error: ") and "t10k-images-idx3-ubyte is truncated" in err
    assert not (out / "result.json").exists()


# ------------------------------------------------------------------------- the real Fashion-MNIST

@pytest.mark.skipif(not FASHION_MNIST_DEBIAN_DIR.is_dir(),
                    reason=f"Fashion-MNIST is not installed at {FASHION_MNIST_DEBIAN_DIR} "
                           f"(apt install dataset-fashion-mnist)")
def test_the_debian_fashion_mnist():
    ds = create_dataset("fashion-mnist")  # no data_dir: the Debian package's folder
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.test_x.shape == (10000, 1, 28, 28)
    assert torch.bincount(ds.train_y, minlength=10).tolist() == [6000] * 10
    assert torch.bincount(ds.test_y, minlength=10).tolist() == [1000] * 10
    assert abs(float(ds.train_x.mean())) < 1e-4 and abs(float(ds.train_x.std()) - 1) < 1e-4
