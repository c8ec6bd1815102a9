"""Readers of the file formats of file-backed datasets; every failure is a one-line :class:`DataError`.

* Pickles (the python version of CIFAR-10/100) go through :class:`RestrictedUnpickler`, which builds
  only plain containers (dicts, lists, tuples, bytes, str, numbers) and NumPy arrays. A file that names
  any other global (a function, a class) is refused when that name is read, before anything is called.
* MATLAB ``.mat`` files (SVHN's cropped digits) are read with :func:`scipy.io.loadmat`.
* IDX files (MNIST, Fashion-MNIST, KMNIST), plain or gzip-compressed, are parsed by :func:`read_idx`
  with :func:`numpy.frombuffer` after their header has been checked.
* :func:`check_md5` compares a file's MD5 digest with an expected one.

:func:`read_cifar_batch`, :func:`read_label_names` and :func:`read_svhn_mat` check the layout of what
they read (array shapes, dtypes, label counts) and name the file and the shapes when it is wrong.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import pickle
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def describe_exception(exc: BaseException) -> str:
    """``Type: message`` on one line (the message's whitespace collapsed)."""
    text = _one_line(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def data_root(dataset: str, data_dir: str | os.PathLike[str] | None, layout: str) -> Path:
    """``--data-dir`` as a path; a missing one is a one-line :class:`DataError` naming ``layout``."""
    if data_dir is None:
        raise DataError(f"{dataset} reads files: pass --data-dir DIR with {layout}")
    return Path(data_dir).expanduser()


def layout_error(dataset: str, layout: str, root: Path, missing: str,
                 what: str | None = None) -> DataError:
    """The one-line error for a ``--data-dir`` that lacks part of ``layout`` (``missing`` says
    which part; ``what`` names the format), with a hint when ``root`` is not a directory."""
    named = f" ({what})" if what else ""
    where = "" if root.is_dir() else f"; {root} is not a directory"
    return DataError(f"{dataset}: expected {layout} under --data-dir {root}{named}; "
                     f"{missing}{where}")


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


# ------------------------------------------------------------------------------------------ pickles

class _Refused(Exception):
    """A pickle asked for a global outside the allow-list (the message names it)."""


def _latin1_bytes(text: object, encoding: object) -> bytes:
    """Stands in for ``_codecs.encode``: Python 3 pickles ``bytes`` with protocol <= 2 as
    ``_codecs.encode(str, "latin1")``. Only that exact use is allowed."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused(f"_codecs.encode with arguments of types {type(text).__name__} and "
                       f"{type(encoding).__name__} (only str, 'latin1' is allowed)")
    return text.encode("latin1")


def _numpy_reconstruct() -> Any:
    try:  # NumPy >= 2 (NumPy 1.26 also has the alias)
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # pragma: no cover - older NumPy
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain containers and NumPy arrays.

    The only globals it resolves are the ones a pickled ``ndarray`` needs
    (``numpy.core.multiarray._reconstruct`` and its NumPy 2 name ``numpy._core.multiarray._reconstruct``,
    ``numpy.ndarray``, ``numpy.dtype``) and ``_codecs.encode`` restricted to ``(str, "latin1")``, the
    form in which Python 3 writes ``bytes`` at protocol 2. Any other global raises (and is reported by
    :func:`load_pickle` as "refusing to load"); nothing is imported and nothing is called for it.
    """

    def find_class(self, module: str, name: str) -> Any:
        allowed = {
            ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
            ("numpy", "ndarray"): lambda: np.ndarray,
            ("numpy", "dtype"): lambda: np.dtype,
            ("_codecs", "encode"): lambda: _latin1_bytes,
        }
        resolve = allowed.get((module, name))
        if resolve is None:
            raise _Refused(f"{module}.{name}")
        return resolve()


def load_pickle(path: str | os.PathLike[str]) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler` and ``encoding="bytes"``.

    Raises :class:`DataError` if the file cannot be opened, asks for a global outside the allow-list
    ("refusing to load ...: it tries to build module.name") or is not a complete pickle ("... is
    truncated or corrupt").
    """
    path = Path(path)
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {_one_line(exc.strerror or exc)}") from None
    with handle:
        try:
            return RestrictedUnpickler(handle, encoding="bytes").load()
        except _Refused as exc:
            raise DataError(f"refusing to load {path}: it tries to build {exc}") from None
        except Exception as exc:  # any other failure of a restricted load means a damaged file
            raise DataError(f"{path} is truncated or corrupt "
                            f"({describe_exception(exc)})") from None


# ---------------------------------------------------------------------------------------------- MD5

def file_md5(path: str | os.PathLike[str]) -> str:
    """The hexadecimal MD5 digest of a file's bytes."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {_one_line(exc.strerror or exc)}") from None
    return digest.hexdigest()


def check_md5(path: str | os.PathLike[str], expected: str) -> None:
    """Raise :class:`DataError` naming ``path`` unless its MD5 digest is ``expected``."""
    actual = file_md5(path)
    if actual != expected.strip().lower():
        raise DataError(f"{path}: MD5 digest {actual} differs from the expected {expected} "
                        f"(a damaged or different file)")


# -------------------------------------------------------------------------------------------- CIFAR

def _entry(obj: dict[Any, Any], key: bytes, path: Path) -> Any:
    """``obj[key]``; a pickle written with ``str`` keys is accepted too."""
    for candidate in (key, key.decode()):
        if candidate in obj:
            return obj[candidate]
    keys = ", ".join(repr(k) for k in list(obj)[:8])
    raise DataError(f"{path} is not in the expected format: no {key!r} entry (it has: {keys or 'none'})")


def _as_dict(obj: Any, path: Path) -> dict[Any, Any]:
    if not isinstance(obj, dict):
        raise DataError(f"{path} is not in the expected format: it holds {_describe(obj)}, not a dict")
    return obj


def read_cifar_batch(path: str | os.PathLike[str],
                     label_keys: Sequence[bytes]) -> tuple[np.ndarray, dict[bytes, np.ndarray]]:
    """One file of the python version of CIFAR: images uint8 ``(N, 3, 32, 32)``, labels int64 ``(N,)``.

    The file is a pickled dict whose ``b"data"`` is a uint8 array ``(N, 3072)`` (per row: the 1024 red,
    then green, then blue pixels, each plane row-major) and whose ``label_keys`` (``b"labels"`` for
    CIFAR-10, ``b"fine_labels"``/``b"coarse_labels"`` for CIFAR-100) are lists of ``N`` integers.
    """
    path = Path(path)
    obj = _as_dict(load_pickle(path), path)
    data = _entry(obj, b"data", path)
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3072):
        raise DataError(f"{path}: b'data' must be a uint8 array of shape (N, 3072), got {_describe(data)}")
    labels: dict[bytes, np.ndarray] = {}
    for key in label_keys:
        raw = _entry(obj, key, path)
        try:
            y = np.asarray(raw)
        except Exception:  # ragged lists and the like
            y = np.asarray(None)
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise DataError(f"{path}: {key!r} must be a list of integers, got {_describe(raw)}")
        if len(y) != len(data):
            raise DataError(f"{path}: {len(data)} images (b'data' of shape {tuple(data.shape)}) but "
                            f"{len(y)} {key!r}")
        labels[key] = y.astype(np.int64)
    return data.reshape(-1, 3, 32, 32), labels


def read_label_names(path: str | os.PathLike[str], key: bytes, count: int) -> tuple[str, ...]:
    """The ``count`` class names stored under ``key`` in a pickled CIFAR meta file."""
    path = Path(path)
    raw = _entry(_as_dict(load_pickle(path), path), key, path)
    if not (isinstance(raw, (list, tuple)) and len(raw) == count
            and all(isinstance(n, (bytes, str)) for n in raw)):
        got = f"{len(raw)} entries" if isinstance(raw, (list, tuple)) else _describe(raw)
        raise DataError(f"{path}: {key!r} must list {count} class names, got {got}")
    return tuple(n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in raw)


# --------------------------------------------------------------------------------------------- SVHN

def load_mat(path: str | os.PathLike[str], names: Sequence[str]) -> dict[str, np.ndarray]:
    """The variables ``names`` of a MATLAB (v4/v5/v7, not v7.3) ``.mat`` file."""
    from scipy.io import loadmat, whosmat  # lazy: scipy.io is only needed here

    path = Path(path)
    try:
        data = loadmat(path, variable_names=list(names))
    except Exception as exc:
        raise DataError(f"cannot read {path} as a MATLAB .mat file "
                        f"({describe_exception(exc)})") from None
    missing = [n for n in names if n not in data]
    if missing:
        try:
            found = ", ".join(repr(v[0]) for v in whosmat(path)) or "none"
        except Exception:
            found = "unknown"
        raise DataError(f"{path} has no variable {missing[0]!r} (it holds: {found})")
    return {n: data[n] for n in names}


def read_svhn_mat(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """One split of SVHN's cropped digits (``*_32x32.mat``): images uint8 ``(N, 3, 32, 32)`` (a view)
    and labels int64 ``(N,)`` in 0..9.

    The file holds ``X``, uint8 ``(32, 32, 3, N)`` (height, width, RGB, sample), and ``y``, ``(N, 1)``
    with the labels 1..10, where 10 stands for the digit 0; it is mapped to 0.
    """
    path = Path(path)
    arrays = load_mat(path, ("X", "y"))
    x, y = arrays["X"], arrays["y"]
    if not (x.dtype == np.uint8 and x.ndim == 4 and x.shape[:3] == (32, 32, 3)):
        raise DataError(f"{path}: 'X' must be a uint8 array of shape (32, 32, 3, N), got {_describe(x)}")
    n = x.shape[3]
    if y.shape not in ((n, 1), (n,)) or y.dtype.kind not in "iuf":
        raise DataError(f"{path}: 'y' must hold one label per image, shape ({n}, 1) for 'X' of shape "
                        f"{tuple(x.shape)}, got {_describe(y)}")
    labels = y.reshape(-1)
    if len(labels) and (not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels))
                        or labels.min() < 1 or labels.max() > 10):
        raise DataError(f"{path}: 'y' must hold the labels 1..10 (10 is the digit 0), found values "
                        f"from {labels.min()} to {labels.max()}")
    labels = labels.astype(np.int64) % 10
    return x.transpose(3, 2, 0, 1), labels


# ---------------------------------------------------------------------------------------------- IDX

#: The type byte of an IDX file holding unsigned bytes (the only type the MNIST-format datasets use).
IDX_UINT8 = 0x08

_GZIP_MAGIC = b"\x1f\x8b"


def _read_maybe_gzip(path: Path) -> bytes:
    """The bytes of ``path``, decompressed if they start with the gzip magic number ``1f 8b``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {_one_line(exc.strerror or exc)}") from None
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:  # bad header, truncated stream, bad CRC or data
        raise DataError(f"{path} is a damaged gzip file ({describe_exception(exc)})") from None


def read_idx(path: str | os.PathLike[str], ndim: int) -> np.ndarray:
    """The uint8 array of an IDX file of ``ndim`` dimensions (gzip-compressed or not), read-only.

    The IDX format (LeCun et al., the MNIST files): a magic number of four bytes, ``00 00``, the type
    (``0x08``: unsigned byte) and the number of dimensions (images ``0x00000803``, labels
    ``0x00000801``), then each dimension as a big-endian 32-bit integer, then the values in row-major
    order. A wrong magic number, a header cut short, or a payload whose size differs from the product
    of the dimensions (a truncated or a wrong file) is a one-line :class:`DataError` naming the file.
    """
    path = Path(path)
    raw = _read_maybe_gzip(path)
    expected_magic = (IDX_UINT8 << 8) | ndim
    magic = int.from_bytes(raw[:4], "big")
    if len(raw) < 4 or magic != expected_magic:
        found = f"0x{magic:08x}" if len(raw) >= 4 else f"{len(raw)} bytes"
        raise DataError(f"{path} is not an IDX file of {ndim}-D uint8 data: its magic number is "
                        f"{found}, expected 0x{expected_magic:08x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated: {len(raw)} bytes, less than its {header}-byte header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    size, payload = math.prod(dims), len(raw) - header
    if payload != size:
        shape = f"{' x '.join(str(d) for d in dims)} = " if ndim > 1 else ""
        why = "truncated" if payload < size else "longer than its header says (a wrong file?)"
        raise DataError(f"{path} is {why}: the header announces {shape}{size:,} values, the file "
                        f"holds {payload:,}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
