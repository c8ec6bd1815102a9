"""File-backed datasets (CIFAR-10/100, SVHN): tiny fixtures written in the real formats under tmp_path.

The pickles are dicts with bytes keys and NumPy uint8 arrays written with protocol 2 (as Python 3 writes
them, with ``_codecs.encode`` for bytes) and, once, byte-for-byte as Python 2's cPickle wrote the
official files; the ``.mat`` files come from :func:`scipy.io.savemat`.
"""

import hashlib
import json
import os
import pickle
import struct

import numpy as np
import pytest
import torch
from scipy.io import savemat

from swiftsampler.cli import main
from swiftsampler.config import DataConfig
from swiftsampler.data import DATASETS, create_dataset, prepare_data
from swiftsampler.data.file_datasets import CIFAR10_ASYMMETRIC_MAP, CIFAR_MD5, SVHN_MD5
from swiftsampler.data.files import RestrictedUnpickler, load_pickle
from swiftsampler.errors import ConfigError, DataError

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck"]
N_TRAIN, N_TEST = 20, 10  # per CIFAR-10 batch file


def _images(rng, n, low=(0, 40, 100), high=(120, 256, 256)):
    """uint8 (n, 3072) CIFAR rows whose three channels have different ranges."""
    planes = [rng.integers(lo, hi, (n, 1024), dtype=np.uint8) for lo, hi in zip(low, high)]
    return np.concatenate(planes, axis=1)


def _dump(path, obj, protocol=2):
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=protocol)


def make_cifar10(root, meta=True, seed=0):
    """DIR/cifar-10-batches-py with 5 x 20 training and 10 test images; returns (train, test) uint8."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    train = []
    for i in range(1, 6):
        data = _images(rng, N_TRAIN)
        train.append(data)
        _dump(folder / f"data_batch_{i}", {
            b"batch_label": f"training batch {i} of 5".encode(),
            b"labels": [(j + i) % 10 for j in range(N_TRAIN)],
            b"data": data, b"filenames": [f"img_{i}_{j}.png".encode() for j in range(N_TRAIN)],
        })
    test = _images(rng, N_TEST, low=(100, 0, 0), high=(256, 50, 256))  # other statistics than train
    _dump(folder / "test_batch", {b"batch_label": b"testing batch 1 of 1",
                                  b"labels": [j % 10 for j in range(N_TEST)], b"data": test})
    if meta:
        _dump(folder / "batches.meta", {b"label_names": [n.encode() for n in CIFAR10_NAMES],
                                        b"num_cases_per_batch": N_TRAIN, b"num_vis": 3072})
    return np.concatenate(train), test


def make_cifar100(root):
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for split, n in (("train", 200), ("test", 40)):
        fine = [j % 100 for j in range(n)]
        _dump(folder / split, {b"filenames": [b"x.png"] * n, b"batch_label": split.encode(),
                               b"fine_labels": fine, b"coarse_labels": [f // 5 for f in fine],
                               b"data": _images(rng, n)})
    _dump(folder / "meta", {b"fine_label_names": [f"fine{c}".encode() for c in range(100)],
                            b"coarse_label_names": [f"coarse{c}".encode() for c in range(20)]})


def make_svhn(root, n_train=40, n_test=20):
    """train/test_32x32.mat with labels 1..10 (10 is the digit 0); returns the arrays written."""
    rng = np.random.default_rng(2)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).astype(np.uint8).reshape(n, 1)
        savemat(root / f"{split}_32x32.mat", {"X": x, "y": y})
        out[split] = (x, y)
    return out


def _reference(train_u8, test_u8):
    """(x / 255 - mean) / std per channel with the training statistics, computed independently."""
    train = train_u8.reshape(-1, 3, 32, 32).astype(np.float64) / 255
    test = test_u8.reshape(-1, 3, 32, 32).astype(np.float64) / 255
    mean = train.mean(axis=(0, 2, 3), keepdims=True)
    std = train.std(axis=(0, 2, 3), keepdims=True)
    return (train - mean) / std, (test - mean) / std


def _one_line_error(capsys, args):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


# ---------------------------------------------------------------------------------------- CIFAR-10

def test_cifar10_shapes_labels_and_names(tmp_path):
    make_cifar10(tmp_path)
    ds = create_dataset("cifar10", data_dir=str(tmp_path))
    assert ds.train_x.shape == (5 * N_TRAIN, 3, 32, 32) and ds.test_x.shape == (N_TEST, 3, 32, 32)
    assert ds.train_x.dtype == torch.float32 and ds.train_y.dtype == torch.int64
    assert ds.train_x.is_contiguous() and ds.input_shape == (3, 32, 32)
    assert ds.num_classes == 10 and ds.name == "cifar10"
    assert set(ds.train_y.tolist()) == set(range(10)) and ds.test_y.tolist() == list(range(10))
    assert ds.train_y[:3].tolist() == [1, 2, 3]  # data_batch_1 first, labels in file order
    assert ds.class_names == tuple(CIFAR10_NAMES)


def test_cifar10_standardised_with_train_statistics(tmp_path):
    train_u8, test_u8 = make_cifar10(tmp_path)
    ds = create_dataset("cifar10", data_dir=tmp_path)
    train_ref, test_ref = _reference(train_u8, test_u8)
    assert np.allclose(ds.train_x.numpy(), train_ref, atol=1e-5)
    assert np.allclose(ds.test_x.numpy(), test_ref, atol=1e-5)
    per_channel = ds.train_x.double().transpose(0, 1).reshape(3, -1)
    assert torch.allclose(per_channel.mean(1), torch.zeros(3, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(per_channel.std(1, correction=0), torch.ones(3, dtype=torch.float64),
                          atol=1e-5)
    test_means = ds.test_x.double().mean(dim=(0, 2, 3))  # the test split was not centred on itself
    assert (test_means.abs() > 0.5).all(), test_means


def test_cifar10_without_meta_has_no_class_names(tmp_path):
    make_cifar10(tmp_path, meta=False)
    assert create_dataset("cifar10", data_dir=tmp_path).class_names is None


def test_registry_metadata():
    assert DATASETS.get("cifar10").meta == {"kind": "image", "asymmetric_map": CIFAR10_ASYMMETRIC_MAP}
    assert CIFAR10_ASYMMETRIC_MAP == {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}
    assert DATASETS.get("cifar100").meta == {"kind": "image", "asymmetric_map": None}
    assert DATASETS.get("svhn").meta == {"kind": "image", "asymmetric_map": {2: 7, 3: 8, 5: 6, 6: 5,
                                                                             7: 1}}


def _py2_pickle(obj):
    """Pickle ``obj`` the way Python 2's cPickle wrote the CIFAR files: protocol 2, byte strings as
    BINSTRING opcodes (no ``_codecs.encode``) and NumPy 1's ``numpy.core.multiarray`` module name."""

    class Py2Pickler(pickle._Pickler):
        dispatch = pickle._Pickler.dispatch.copy()

        def save_bytes(self, data):
            if len(data) < 256:
                self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
            else:
                self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
            self.memoize(data)

        dispatch[bytes] = save_bytes

    import io

    buffer = io.BytesIO()
    Py2Pickler(buffer, protocol=2).dump(obj)
    raw = buffer.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert b"_codecs" not in raw and b"numpy._core" not in raw
    return raw


def test_python2_written_batches_load(tmp_path):
    train_u8, test_u8 = make_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
        raw = _py2_pickle(load_pickle(folder / name))
        assert (b"cnumpy.core.multiarray\n_reconstruct\n" in raw) == (name != "batches.meta")
        (folder / name).write_bytes(raw)
    ds = create_dataset("cifar10", data_dir=tmp_path)
    assert np.allclose(ds.test_x.numpy(), _reference(train_u8, test_u8)[1], atol=1e-5)
    assert ds.class_names == tuple(CIFAR10_NAMES)


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4])
def test_restricted_unpickler_reads_plain_data(tmp_path, protocol):
    obj = {b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), b"labels": [1, 2], "name": "x",
           b"nested": (1.5, None, True, [b"a", "b"])}
    path = tmp_path / "p"
    _dump(path, obj, protocol)
    back = load_pickle(path)
    assert back[b"labels"] == [1, 2] and back["name"] == "x" and back[b"nested"] == obj[b"nested"]
    assert back[b"data"].dtype == np.uint8 and back[b"data"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert issubclass(RestrictedUnpickler, pickle.Unpickler)


# ----------------------------------------------------------------------------------- bad CIFAR files

class _Evil:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_malicious_pickle_is_refused_and_never_run(tmp_path, capfd):
    make_cifar10(tmp_path)
    marker = tmp_path / "pwned"
    path = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    _dump(path, {b"data": np.zeros((N_TRAIN, 3072), np.uint8),
                 b"labels": _Evil(f"echo pwned; touch {marker}")})
    with pytest.raises(DataError, match="refusing to load") as info:
        create_dataset("cifar10", data_dir=tmp_path)
    message = str(info.value)
    assert str(path) in message and f"it tries to build {os.system.__module__}.system" in message
    assert "\n" not in message
    assert not marker.exists() and "pwned" not in capfd.readouterr().out


@pytest.mark.parametrize("raw, what", [
    (b"cbuiltins\neval\n(S'1+1'\ntR.", "builtins.eval"),
    (b"cnumpy\nload\n(S'x'\ntR.", "numpy.load"),
    (b"\x80\x02c__builtin__\nexec\nq\x00.", "__builtin__.exec"),
    (b"c_codecs\nencode\n(X\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13tR.", "_codecs.encode with"),
])
def test_other_globals_are_refused(tmp_path, raw, what):
    path = tmp_path / "bad"
    path.write_bytes(raw)
    with pytest.raises(DataError, match="refusing to load") as info:
        load_pickle(path)
    assert f"it tries to build {what}" in str(info.value)


def test_truncated_batch(tmp_path, capsys):
    make_cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    path.write_bytes(path.read_bytes()[: 5000])
    with pytest.raises(DataError, match="data_batch_2 is truncated or corrupt"):
        create_dataset("cifar10", data_dir=tmp_path)
    path.write_bytes(b"")
    with pytest.raises(DataError, match="is truncated or corrupt"):
        create_dataset("cifar10", data_dir=tmp_path)
    path.write_bytes(b"this is not a pickle at all")
    with pytest.raises(DataError, match="is truncated or corrupt"):
        create_dataset("cifar10", data_dir=tmp_path)


@pytest.mark.parametrize("entry, words", [
    ({b"data": np.zeros((N_TRAIN, 3071), np.uint8)}, "uint8 array of shape (N, 3072), got a uint8 "
                                                      "array of shape (20, 3071)"),
    ({b"data": np.zeros((N_TRAIN, 3072), np.float32)}, "got a float32 array of shape (20, 3072)"),
    ({b"data": np.zeros((N_TRAIN, 32, 32, 3), np.uint8)}, "shape (20, 32, 32, 3)"),
    ({b"data": [[0] * 3072] * N_TRAIN}, "got a list"),
    ({b"labels": list(range(N_TRAIN - 1))}, "20 images (b'data' of shape (20, 3072)) but 19 b'labels'"),
    ({b"labels": [12] * N_TRAIN}, "b'labels' must lie in [0, 10), found values from 12 to 12"),
    ({b"labels": ["cat"] * N_TRAIN}, "b'labels' must be a list of integers"),
])
def test_wrong_arrays_name_the_file_and_shapes(tmp_path, entry, words):
    make_cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_4"
    _dump(path, {b"data": np.zeros((N_TRAIN, 3072), np.uint8),
                 b"labels": [0] * N_TRAIN, **entry})
    with pytest.raises(DataError) as info:
        create_dataset("cifar10", data_dir=tmp_path)
    assert str(path) in str(info.value) and words in str(info.value), info.value


def test_not_a_dict_or_missing_key(tmp_path):
    make_cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    _dump(path, [1, 2, 3])
    with pytest.raises(DataError, match="it holds a list, not a dict"):
        create_dataset("cifar10", data_dir=tmp_path)
    _dump(path, {b"data": np.zeros((N_TEST, 3072), np.uint8)})
    with pytest.raises(DataError, match="no b'labels' entry"):
        create_dataset("cifar10", data_dir=tmp_path)


def test_missing_data_dir_and_missing_files(tmp_path):
    with pytest.raises(DataError) as info:
        create_dataset("cifar10")
    assert str(info.value) == ("cifar10 reads files: pass --data-dir DIR with "
                               "DIR/cifar-10-batches-py/{data_batch_1..5,test_batch} "
                               "(the python version of CIFAR-10)")
    make_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(DataError) as info:
        create_dataset("cifar10", data_dir=tmp_path)
    assert str(info.value) == (f"cifar10: expected DIR/cifar-10-batches-py/{{data_batch_1..5,"
                               f"test_batch}} under --data-dir {tmp_path} (the python version of "
                               f"CIFAR-10); missing: test_batch")
    with pytest.raises(DataError, match="cifar100: expected DIR/cifar-100-python/{train,test}"):
        create_dataset("cifar100", data_dir=tmp_path)


# --------------------------------------------------------------------------------------------- MD5

def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_md5_verification(tmp_path):
    make_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    assert CIFAR_MD5 == {} and SVHN_MD5 == {}  # the official digests are not guessed
    digests = {p.name: _md5(p) for p in folder.iterdir()}
    create_dataset("cifar10", data_dir=tmp_path, verify_md5=True, md5=digests)
    with pytest.raises(DataError, match="data_batch_5: MD5 digest .* differs"):
        create_dataset("cifar10", data_dir=tmp_path, md5={**digests, "data_batch_5": "0" * 32})
    with pytest.raises(DataError, match="batches.meta: MD5"):
        create_dataset("cifar10", data_dir=tmp_path, md5={**digests, "batches.meta": "0" * 32})
    with pytest.raises(ConfigError, match="built-in table .* has none for data_batch_1"):
        create_dataset("cifar10", data_dir=tmp_path, verify_md5=True)
    without_meta = {k: v for k, v in digests.items() if k != "batches.meta"}
    create_dataset("cifar10", data_dir=tmp_path, verify_md5=True, md5=without_meta)


# --------------------------------------------------------------------------------------- CIFAR-100

def test_cifar100_fine_and_coarse(tmp_path):
    make_cifar100(tmp_path)
    fine = create_dataset("cifar100", data_dir=tmp_path)
    coarse = create_dataset("cifar100", data_dir=tmp_path, label_kind="coarse")
    assert fine.num_classes == 100 and coarse.num_classes == 20
    assert fine.train_x.shape == (200, 3, 32, 32) and fine.test_x.shape == (40, 3, 32, 32)
    assert torch.equal(fine.train_x, coarse.train_x)
    assert torch.equal(coarse.train_y, fine.train_y // 5) and torch.equal(coarse.test_y, fine.test_y // 5)
    assert int(fine.train_y.max()) == 99 and int(coarse.train_y.max()) == 19
    assert fine.class_names[7] == "fine7" and coarse.class_names[3] == "coarse3"
    with pytest.raises(ConfigError, match="label_kind must be 'fine' or 'coarse'"):
        create_dataset("cifar100", data_dir=tmp_path, label_kind="medium")


# -------------------------------------------------------------------------------------------- SVHN

def test_svhn_layout_labels_and_standardisation(tmp_path):
    arrays = make_svhn(tmp_path)
    ds = create_dataset("svhn", data_dir=tmp_path)
    (x, y), (xt, yt) = arrays["train"], arrays["test"]
    assert ds.train_x.shape == (40, 3, 32, 32) and ds.test_x.shape == (20, 3, 32, 32)
    assert ds.train_y.dtype == torch.int64 and ds.num_classes == 10
    assert ds.train_y.tolist() == [int(v) % 10 for v in y[:, 0]]
    assert ds.test_y.tolist() == [int(v) % 10 for v in yt[:, 0]] and 0 in ds.test_y.tolist()
    as_cifar = lambda a: a.transpose(3, 2, 0, 1).reshape(a.shape[3], -1)  # (N, 3072), channel planes
    train_ref, test_ref = _reference(as_cifar(x), as_cifar(xt))
    assert np.allclose(ds.train_x.numpy(), train_ref, atol=1e-5)
    assert np.allclose(ds.test_x.numpy(), test_ref, atol=1e-5)
    assert ds.class_names == tuple(str(d) for d in range(10))


@pytest.mark.parametrize("content, words", [
    ({"X": np.zeros((32, 32, 3, 4), np.uint8)}, "has no variable 'y' (it holds: 'X')"),
    ({"X": np.zeros((3, 32, 32, 4), np.uint8), "y": np.ones((4, 1))},
     "'X' must be a uint8 array of shape (32, 32, 3, N), got a uint8 array of shape (3, 32, 32, 4)"),
    ({"X": np.zeros((32, 32, 3, 4), np.uint8), "y": np.ones((5, 1))}, "'y' must hold one label per"),
    ({"X": np.zeros((32, 32, 3, 4), np.uint8), "y": np.zeros((4, 1))},
     "'y' must hold the labels 1..10"),
    (None, "cannot read"),
])
def test_svhn_bad_files(tmp_path, content, words):
    make_svhn(tmp_path)
    path = tmp_path / "test_32x32.mat"
    if content is None:
        path.write_bytes(b"MATLAB garbage" * 20)
    else:
        savemat(path, content)
    with pytest.raises(DataError) as info:
        create_dataset("svhn", data_dir=tmp_path)
    assert str(path) in str(info.value) and words in str(info.value), info.value
    assert "\n" not in str(info.value)


def test_prepare_data_passes_data_dir(tmp_path):
    make_svhn(tmp_path)
    data = prepare_data(DataConfig(dataset="svhn", data_dir=str(tmp_path), val_ratio=0.25), 0)
    assert data.kind == "image" and data.input_shape == (3, 32, 32)
    assert len(data.train_y) + len(data.val_y) == 40 and len(data.test_y) == 20
    with pytest.raises(DataError, match="svhn reads files: pass --data-dir"):
        prepare_data(DataConfig(dataset="svhn"), 0)


# --------------------------------------------------------------------------------------------- CLI

def _train(dataset, data_dir, out, sampler):
    return ["train", "--dataset", dataset, "--data-dir", str(data_dir), "--model", "cnn2d",
            "--width", "8", "--epochs", "1", "--batch-size", "8", "--sampler", sampler,
            "--augment", "standard", "--progress", "off", "--out", str(out)]


@pytest.mark.parametrize("dataset, make, sampler", [
    ("cifar10", make_cifar10, "p-sgd"),
    ("svhn", make_svhn, "selective-backprop"),
])
def test_cli_trains_end_to_end(tmp_path, capsys, dataset, make, sampler):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    make(data_dir)
    out = tmp_path / "run"
    assert main(_train(dataset, data_dir, out, sampler)) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["data"]["dataset"] == dataset and result["data"]["input_shape"] == [3, 32, 32]
    assert result["config"]["data"]["data_dir"] == str(data_dir)
    assert 0 <= result["test_acc"] <= 1 and result["cost"]["backward_samples"] > 0


def _corrupt_batch(folder):
    path = folder / "cifar-10-batches-py" / "data_batch_1"
    path.write_bytes(path.read_bytes()[:100])


def _evil_batch(folder):
    _dump(folder / "cifar-10-batches-py" / "data_batch_1", _Evil(f"touch {folder / 'pwned'}"))


def _wrong_shape(folder):
    _dump(folder / "cifar-10-batches-py" / "data_batch_1",
          {b"data": np.zeros((3, 3072 * 2), np.uint8), b"labels": [0, 1, 2]})


def _missing_split(folder):
    (folder / "cifar-10-batches-py" / "test_batch").unlink()


@pytest.mark.parametrize("damage, words", [
    (_corrupt_batch, "data_batch_1 is truncated or corrupt"),
    (_evil_batch, "refusing to load"),
    (_wrong_shape, "got a uint8 array of shape (3, 6144)"),
    (_missing_split, "missing: test_batch"),
])
def test_cli_bad_data_one_line_exit_2(tmp_path, capsys, damage, words):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    make_cifar10(data_dir)
    damage(data_dir)
    out = tmp_path / "run"
    err = _one_line_error(capsys, _train("cifar10", data_dir, out, "p-sgd"))
    assert err.startswith("swiftsampler train: error: ") and words in err, err
    assert not (out / "result.json").exists() and not (data_dir / "pwned").exists()


def test_cli_missing_data_dir(tmp_path, capsys):
    args = _train("cifar10", "x", tmp_path / "run", "p-sgd")
    del args[3:5]  # no --data-dir
    err = _one_line_error(capsys, args)
    assert "cifar10 reads files: pass --data-dir DIR with DIR/cifar-10-batches-py/" in err
    assert not (tmp_path / "run" / "result.json").exists()
