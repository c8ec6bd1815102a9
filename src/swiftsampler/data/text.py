"""Text for language modelling: byte/char tokenizers, next-token windows, WikiText-2 and any text file.

* :data:`TOKENIZERS`: ``byte`` (UTF-8 bytes, vocabulary 256, exact round trip) and ``char`` (the
  characters of the training text plus ``<unk>``); :func:`build_tokenizer` makes one from the training
  text;
* :func:`sequences`: cuts a token stream into non-overlapping ``(x, y)`` windows, ``y`` = ``x`` shifted
  by one token;
* ``wikitext2``: WikiText-2 (raw) read from ``--data-dir`` (nothing is downloaded), and ``textfile``:
  any UTF-8 text file (``--data-dir`` is the file), split into its first 90% for training and its
  last 10% for testing; both registered in :data:`~swiftsampler.data.datasets.DATASETS` with
  ``kind="tokens"`` and ``task="language-model"``.

Importing this module registers the datasets.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError, DataError
from ..registry import Registry
from .datasets import DATASETS, ArrayDataset, check_positive_int, check_ratio
from .files import data_root, layout_error


class Tokenizer(Protocol):
    """What a tokenizer provides: ``vocab_size`` ids ``0 .. vocab_size - 1``, ``encode``, ``decode``,
    and the ``unit`` one token stands for (``"byte"``, ``"char"``), used to name losses (nats/char)."""

    vocab_size: int
    unit: str

    def encode(self, text: str) -> Tensor:
        """Token ids of ``text``, a 1-D int64 tensor."""
        ...

    def decode(self, tokens: Tensor) -> str:
        """The text of a 1-D sequence of token ids."""
        ...


TOKENIZERS: Registry[Tokenizer] = Registry("tokenizer")

#: What a ``char`` tokenizer's ``<unk>`` id decodes to (U+FFFD REPLACEMENT CHARACTER).
UNK_CHAR = "\ufffd"


def _ids(tokens: Tensor | list[int], vocab_size: int) -> np.ndarray:
    """``tokens`` as a 1-D int64 NumPy array, every id checked to lie in ``[0, vocab_size)``."""
    ids = torch.as_tensor(tokens).detach().cpu().reshape(-1)
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise ConfigError(f"token ids must be integers, got dtype {ids.dtype}")
    out = ids.to(torch.int64).numpy()
    if out.size and (out.min() < 0 or out.max() >= vocab_size):
        raise ConfigError(f"token ids must lie in [0, {vocab_size}), found values from {out.min()} "
                          f"to {out.max()}")
    return out


def _code_points(text: str) -> np.ndarray:
    """Unicode code points of ``text`` as uint32 (lone surrogates pass through)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


class ByteTokenizer:
    """UTF-8 bytes as tokens: vocabulary 256, ``decode(encode(s)) == s`` for every string ``s``.

    ``decode`` of an arbitrary id sequence (model samples) replaces invalid UTF-8 with U+FFFD.
    """

    vocab_size = 256
    unit = "byte"

    def encode(self, text: str) -> Tensor:
        data = bytearray(text.encode("utf-8", "surrogatepass"))
        if not data:
            return torch.zeros(0, dtype=torch.int64)
        return torch.frombuffer(data, dtype=torch.uint8).to(torch.int64)

    def decode(self, tokens: Tensor) -> str:
        return _ids(tokens, 256).astype(np.uint8).tobytes().decode("utf-8", "replace")


class CharTokenizer:
    """Characters as tokens: id 0 is ``<unk>``, ids ``1 .. len(chars)`` the sorted ``chars``.

    Built from the training text, so a character that does not occur there encodes to ``<unk>`` (0),
    which decodes to U+FFFD.
    """

    unk_id = 0
    unit = "char"

    def __init__(self, chars: str) -> None:
        codes = np.unique(_code_points(chars))  # sorted by code point, like sorted(set(chars))
        self._codes = codes
        self.chars: tuple[str, ...] = tuple(chr(int(c)) for c in codes)
        self.vocab_size = len(codes) + 1
        self._table = np.array([UNK_CHAR, *self.chars], dtype=object)

    def encode(self, text: str) -> Tensor:
        codes = _code_points(text)
        if not len(self._codes):
            return torch.zeros(len(codes), dtype=torch.int64)
        pos = np.searchsorted(self._codes, codes)
        hit = self._codes[np.minimum(pos, len(self._codes) - 1)] == codes
        return torch.from_numpy(np.where(hit, pos + 1, self.unk_id).astype(np.int64))

    def decode(self, tokens: Tensor) -> str:
        return "".join(self._table[_ids(tokens, self.vocab_size)])


@TOKENIZERS.register("byte")
def byte_tokenizer(train_text: str) -> ByteTokenizer:
    """UTF-8 bytes, vocabulary 256, exact round trip (the training text is not needed)."""
    return ByteTokenizer()


@TOKENIZERS.register("char")
def char_tokenizer(train_text: str) -> CharTokenizer:
    """Characters of the training text (sorted) plus ``<unk>`` = id 0 for unseen ones."""
    return CharTokenizer(train_text)


def _check_tokenizer(name: object) -> None:
    """A :class:`ConfigError` naming the known tokenizers unless ``name`` is one of them."""
    if not isinstance(name, str):
        raise ConfigError(f"tokenizer must be a name ({', '.join(TOKENIZERS.names())}), got {name!r}")
    TOKENIZERS.get(name)


def build_tokenizer(name: str, train_text: str) -> Tokenizer:
    """The tokenizer ``name`` (``"byte"`` or ``"char"``) fitted to ``train_text``."""
    _check_tokenizer(name)
    return TOKENIZERS.create(name, train_text)


def sequences(tokens: Tensor, seq_len: int) -> tuple[Tensor, Tensor]:
    """Non-overlapping next-token windows of a 1-D token stream: ``(x, y)``, both ``(N, seq_len)``.

    Sample ``k`` is ``x = tokens[k*T : k*T + T]`` and ``y = tokens[k*T + 1 : k*T + T + 1]`` with
    ``T = seq_len`` and ``N = (len(tokens) - 1) // T``; a trailing remainder is dropped. ``x`` and ``y``
    are int64 and do not share memory with each other. Fewer than ``T + 1`` tokens is a
    :class:`DataError`.
    """
    check_positive_int("seq_len", seq_len)
    if not isinstance(tokens, Tensor) or tokens.dim() != 1:
        raise DataError(f"tokens must be a 1-D tensor, got {type(tokens).__name__} "
                        f"{tuple(getattr(tokens, 'shape', ()))}")
    tokens = tokens.to(torch.int64)
    n = (len(tokens) - 1) // seq_len
    if n < 1:
        raise DataError(f"{len(tokens)} tokens are too few for one sequence of length {seq_len} "
                        f"(need {seq_len + 1})")
    x = tokens[: n * seq_len].reshape(n, seq_len).clone()
    y = tokens[1 : n * seq_len + 1].reshape(n, seq_len).clone()
    return x, y


# ----------------------------------------------------------------------------------------- WikiText-2

WIKITEXT2_FILES = ("wiki.train.raw", "wiki.valid.raw", "wiki.test.raw")
WIKITEXT2_SUBDIR = "wikitext-2-raw"
_WIKITEXT2_LAYOUT = (
    "DIR/wiki.{train,valid,test}.raw or DIR/wikitext-2-raw/wiki.{train,valid,test}.raw",
    "WikiText-2 raw, the files of wikitext-2-raw-v1",
)


def _locate_wikitext2(data_dir: str | os.PathLike[str] | None) -> Path:
    """The folder holding the three ``wiki.*.raw`` files: ``DIR`` itself or ``DIR/wikitext-2-raw``."""
    pattern, what = _WIKITEXT2_LAYOUT
    root = data_root("wikitext2", data_dir, f"{pattern} ({what})")
    candidates = [root, root / WIKITEXT2_SUBDIR]
    for folder in candidates:
        if all((folder / name).is_file() for name in WIKITEXT2_FILES):
            return folder
    # Report the missing files of the folder that holds the most of them (the root on a tie).
    present = [sum((f / name).is_file() for name in WIKITEXT2_FILES) for f in candidates]
    folder = candidates[int(present[1] > present[0])]
    prefix = "" if folder == root else f"{WIKITEXT2_SUBDIR}/"
    missing = [prefix + name for name in WIKITEXT2_FILES if not (folder / name).is_file()]
    raise layout_error("wikitext2", pattern, root, f"missing: {', '.join(missing)}", what)


def read_text(path: Path) -> str:
    """The UTF-8 text of ``path``, bytes as they are (no newline translation); errors are one line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 text (byte {exc.start}: {exc.reason})") from None


def read_wikitext2(data_dir: str | os.PathLike[str] | None) -> dict[str, str]:
    """The three WikiText-2 splits from ``data_dir``: ``{"train": ..., "valid": ..., "test": ...}``.

    Useful to rebuild the tokenizer of a :func:`wikitext2` dataset, e.g. to decode samples:
    ``build_tokenizer("char", read_wikitext2(d)["train"])``.
    """
    folder = _locate_wikitext2(data_dir)
    return {name.split(".")[1]: read_text(folder / name) for name in WIKITEXT2_FILES}


@DATASETS.register("wikitext2", kind="tokens", asymmetric_map=None, task="language-model")
def wikitext2(*, data_dir: str | os.PathLike[str] | None = None, tokenizer: str = "byte",
              seq_len: int = 128) -> ArrayDataset:
    """WikiText-2 (raw) from --data-dir: next-token sequences of seq_len byte or char tokens.

    Reads ``DIR/wiki.{train,valid,test}.raw`` (the files of ``wikitext-2-raw-v1``), or the same files
    under ``DIR/wikitext-2-raw/``, the folder the official zip extracts to, as UTF-8 (newlines kept as
    they are). The text is tokenized with ``tokenizer``: ``"byte"`` (UTF-8 bytes, 256 ids) or
    ``"char"`` (characters of the training text plus ``<unk>`` = 0, see :class:`CharTokenizer`) and cut
    by :func:`sequences` into non-overlapping windows: inputs ``x`` and next-token targets ``y``
    (``x`` shifted by one), int64 ``(N, seq_len)``. ``num_classes`` is the vocabulary size.

    Train sequences come from ``wiki.train.raw`` and test sequences from ``wiki.test.raw``.
    ``wiki.valid.raw`` must be present but is not used: like for every other dataset, the engine
    carves its validation sequences out of the training sequences. Reference: S. Merity et al.,
    "Pointer Sentinel Mixture Models", arXiv:1609.07843 (2016).
    """
    check_positive_int("seq_len", seq_len, minimum=2)
    _check_tokenizer(tokenizer)
    folder = _locate_wikitext2(data_dir)
    train_text = read_text(folder / "wiki.train.raw")
    read_text(folder / "wiki.valid.raw")  # present and readable, though not used
    test_text = read_text(folder / "wiki.test.raw")
    tok = build_tokenizer(tokenizer, train_text)
    splits = []
    for name, text in (("wiki.train.raw", train_text), ("wiki.test.raw", test_text)):
        try:
            splits.append(sequences(tok.encode(text), seq_len))
        except DataError as exc:
            raise DataError(f"wikitext2: {folder / name}: {exc}") from None
    (train_x, train_y), (test_x, test_y) = splits
    return ArrayDataset(train_x, train_y, test_x, test_y, tok.vocab_size, "wikitext2",
                        token_unit=tok.unit)


# ------------------------------------------------------------------------------------ any text file

def _text_file(data_dir: str | os.PathLike[str] | None) -> Path:
    """``--data-dir`` as the path of an existing file; a directory or a missing path is one line."""
    if data_dir is None:
        raise DataError("textfile reads one file: pass --data-dir FILE, the path of a UTF-8 text file "
                        "(e.g. --data-dir tinyshakespeare.txt)")
    path = Path(data_dir).expanduser()
    if path.is_dir():
        texts = sorted(p.name for p in path.glob("*.txt"))
        example = f" (e.g. --data-dir {path / texts[0]})" if texts else ""
        raise DataError(f"textfile: --data-dir {path} is a directory; pass the text file itself"
                        f"{example}")
    if not path.is_file():
        raise DataError(f"textfile: --data-dir {path}: no such file; pass the path of a UTF-8 text file")
    return path


def split_text(text: str, train_fraction: float) -> tuple[str, str]:
    """The first ``floor(train_fraction * len(text))`` characters and the rest (nanoGPT's
    ``shakespeare_char`` split: ``data[:int(n * 0.9)]``, ``data[int(n * 0.9):]``)."""
    cut = int(check_ratio("train_fraction", train_fraction) * len(text))
    return text[:cut], text[cut:]


@DATASETS.register("textfile", kind="tokens", asymmetric_map=None, task="language-model")
def textfile(*, data_dir: str | os.PathLike[str] | None = None, tokenizer: str = "char",
             seq_len: int = 128, train_fraction: float = 0.9) -> ArrayDataset:
    """Any UTF-8 text file as a language-modelling corpus: first 90% train, last 10% test.

    ``data_dir`` (``--data-dir``) is the path of the file itself, read as UTF-8 with its newlines as
    they are. Its first ``floor(train_fraction * n)`` characters are the training text and the rest
    the test text (:func:`split_text`; nanoGPT's ``shakespeare_char`` split with ``train_fraction=0.9``,
    where the last 10% is its validation set). The tokenizer is fitted to the training text:
    ``"char"`` (default; its characters plus ``<unk>`` = 0, so a character seen only in the test text
    is ``<unk>``) or ``"byte"`` (UTF-8 bytes, 256 ids). Each part is cut by :func:`sequences` into
    non-overlapping windows of ``seq_len`` tokens, inputs ``x`` and next-token targets ``y``. The
    engine carves its validation windows from the training windows (``--val-ratio``), as for every
    dataset. An empty file, invalid UTF-8, a directory, or a part too short for one window is a
    one-line :class:`DataError`.
    """
    check_positive_int("seq_len", seq_len, minimum=2)
    _check_tokenizer(tokenizer)
    check_ratio("train_fraction", train_fraction)
    path = _text_file(data_dir)
    text = read_text(path)
    if not text:
        raise DataError(f"textfile: {path} is empty")
    parts = dict(zip(("train", "test"), split_text(text, train_fraction)))
    tok = build_tokenizer(tokenizer, parts["train"])
    splits = []
    for part, part_text in parts.items():
        try:
            splits.append(sequences(tok.encode(part_text), seq_len))
        except DataError as exc:
            raise DataError(f"textfile: {path}: the {part} part ({len(part_text):,} of its "
                            f"{len(text):,} characters): {exc}") from None
    (train_x, train_y), (test_x, test_y) = splits
    return ArrayDataset(train_x, train_y, test_x, test_y, tok.vocab_size, "textfile",
                        token_unit=tok.unit)
