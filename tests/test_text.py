"""Tests of swiftsampler.data.text: tokenizers, next-token windows and the wikitext2 dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from swiftsampler.data import DATASETS, create_dataset
from swiftsampler.data.text import (
    TOKENIZERS,
    UNK_CHAR,
    build_tokenizer,
    read_wikitext2,
    sequences,
    wikitext2,
)
from swiftsampler.errors import ConfigError, DataError

TRAIN = " = Valkyria Chronicles = \n\n Senjō no Valkyria is a game . \n" * 4
VALID = " = Tower = \n\n The tower is tall . \n" * 2
TEST = " = Café Society = \n\n A café in Zürich ! \n" * 3  # 'ü', '!', 'S', 'Z', 'f', 'é' unseen


def _write(folder: Path, train: str = TRAIN, valid: str = VALID, test: str = TEST) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("train", train), ("valid", valid), ("test", test)):
        (folder / f"wiki.{name}.raw").write_bytes(text.encode("utf-8"))
    return folder


# ------------------------------------------------------------------------------------- tokenizers

def test_tokenizer_registry():
    assert TOKENIZERS.names() == ["byte", "char"]
    with pytest.raises(ConfigError, match="unknown tokenizer 'bpe'"):
        build_tokenizer("bpe", "abc")


def test_byte_round_trip_is_exact_including_non_ascii():
    tok = build_tokenizer("byte", "")
    assert tok.vocab_size == 256
    text = "Café ☕ naïve — 東京\n\ttabs"
    ids = tok.encode(text)
    assert ids.dtype == torch.int64 and ids.dim() == 1
    assert ids.tolist() == list(text.encode("utf-8"))
    assert len(ids) > len(text)  # multi-byte characters
    assert tok.decode(ids) == text
    assert tok.encode("").shape == (0,) and tok.decode(torch.zeros(0, dtype=torch.int64)) == ""
    assert tok.decode(torch.tensor([0xC3])) == UNK_CHAR  # a truncated character decodes leniently
    with pytest.raises(ConfigError, match=r"\[0, 256\)"):
        tok.decode(torch.tensor([256]))


def test_char_vocabulary_and_unknown_characters():
    tok = build_tokenizer("char", "baca é")
    assert tok.chars == tuple(sorted(set("baca é"))) == (" ", "a", "b", "c", "é")
    assert tok.vocab_size == 6  # 5 characters + <unk>
    assert tok.encode("abcé ").tolist() == [2, 3, 4, 5, 1]
    assert tok.decode(tok.encode("cab é")) == "cab é"
    ids = tok.encode("aZb")  # 'Z' was not in the training text
    assert ids.tolist() == [2, 0, 3]
    assert tok.decode(ids) == "a\ufffdb"
    with pytest.raises(ConfigError):
        tok.decode(torch.tensor([6]))


# -------------------------------------------------------------------------------------- sequences

def test_sequences_windows_by_hand():
    x, y = sequences(torch.arange(11), 3)  # N = (11 - 1) // 3 = 3; token 10 is only a target
    assert x.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert y.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    x, y = sequences(torch.arange(10), 3)  # exactly 3 * 3 + 1 tokens: no remainder
    assert x.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert y.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    x, y = sequences(torch.arange(9), 3)  # one token short of the third window: it is dropped
    assert x.tolist() == [[0, 1, 2], [3, 4, 5]] and y.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert x.dtype == y.dtype == torch.int64
    assert x.untyped_storage().data_ptr() != y.untyped_storage().data_ptr()


def test_sequences_needs_one_full_window():
    assert sequences(torch.arange(4), 3)[0].shape == (1, 3)
    with pytest.raises(DataError, match="too few"):
        sequences(torch.arange(3), 3)
    with pytest.raises(ConfigError):
        sequences(torch.arange(10), 0)


# --------------------------------------------------------------------------------------- wikitext2

def test_registry_metadata():
    entry = DATASETS.get("wikitext2")
    assert entry.meta == {"kind": "tokens", "asymmetric_map": None, "task": "language-model"}
    assert entry.summary


@pytest.mark.parametrize("tokenizer", ["byte", "char"])
def test_dataset_shapes_and_shifted_targets(tmp_path, tokenizer):
    data = create_dataset("wikitext2", data_dir=_write(tmp_path), tokenizer=tokenizer, seq_len=8)
    tok = build_tokenizer(tokenizer, TRAIN)
    train_ids, test_ids = tok.encode(TRAIN), tok.encode(TEST)
    assert data.name == "wikitext2" and data.num_classes == tok.vocab_size
    assert data.input_shape == (8,)
    assert data.train_x.shape == data.train_y.shape == ((len(train_ids) - 1) // 8, 8)
    assert data.test_x.shape == data.test_y.shape == ((len(test_ids) - 1) // 8, 8)
    for x, y, ids in ((data.train_x, data.train_y, train_ids), (data.test_x, data.test_y, test_ids)):
        assert x.dtype == y.dtype == torch.int64
        n = x.numel()
        assert torch.equal(x.flatten(), ids[:n]) and torch.equal(y.flatten(), ids[1 : n + 1])
        assert torch.equal(x[:, 1:], y[:, :-1])  # y is x shifted by one
    if tokenizer == "byte":
        assert data.num_classes == 256
        assert tok.decode(data.test_x.flatten()) == TEST.encode()[: data.test_x.numel()].decode()
    else:
        assert data.num_classes == len(set(TRAIN)) + 1
        assert (data.test_x == 0).any()  # characters unseen in training are <unk>
        assert not (data.train_x == 0).any()


def test_defaults_are_byte_tokens_of_length_128(tmp_path):
    data = wikitext2(data_dir=_write(tmp_path, train=TRAIN * 3, test=TEST * 3))
    assert data.num_classes == 256 and data.input_shape == (128,)


def test_the_official_subfolder_is_found(tmp_path):
    _write(tmp_path / "wikitext-2-raw")
    data = wikitext2(data_dir=tmp_path, seq_len=4)
    assert data.train_x.shape[1] == 4
    assert read_wikitext2(tmp_path) == {"train": TRAIN, "valid": VALID, "test": TEST}


def test_missing_data_dir_or_file_names_the_layout(tmp_path):
    with pytest.raises(DataError, match=r"pass --data-dir DIR with DIR/wiki\.\{train,valid,test\}\.raw"):
        wikitext2()
    _write(tmp_path)
    (tmp_path / "wiki.valid.raw").unlink()
    with pytest.raises(DataError) as info:
        wikitext2(data_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert "wikitext-2-raw/wiki.{train,valid,test}.raw" in message and "missing: wiki.valid.raw" in message
    with pytest.raises(DataError, match="is not a directory"):
        wikitext2(data_dir=tmp_path / "nowhere")


def test_incomplete_subfolder_is_reported(tmp_path):
    _write(tmp_path / "wikitext-2-raw")
    (tmp_path / "wikitext-2-raw" / "wiki.test.raw").unlink()
    with pytest.raises(DataError, match=r"missing: wikitext-2-raw/wiki\.test\.raw"):
        wikitext2(data_dir=tmp_path)


@pytest.mark.parametrize("seq_len", [1, 0, -3, 2.5, True, "8"])
def test_bad_seq_len(tmp_path, seq_len):
    with pytest.raises(ConfigError, match="seq_len"):
        wikitext2(data_dir=_write(tmp_path), seq_len=seq_len)


@pytest.mark.parametrize("tokenizer", ["bpe", "Byte", 3, None])
def test_bad_tokenizer(tmp_path, tokenizer):
    with pytest.raises(ConfigError, match="tokenizer"):
        wikitext2(data_dir=_write(tmp_path), tokenizer=tokenizer)


def test_invalid_utf8_is_a_one_line_data_error(tmp_path):
    _write(tmp_path)
    (tmp_path / "wiki.test.raw").write_bytes(b"fine text \xff\xfe broken")
    with pytest.raises(DataError, match=r"wiki\.test\.raw: not valid UTF-8") as info:
        wikitext2(data_dir=tmp_path)
    assert "\n" not in str(info.value)


def test_too_short_split_names_the_file(tmp_path):
    with pytest.raises(DataError, match=r"wiki\.test\.raw.*too few"):
        wikitext2(data_dir=_write(tmp_path, test="short"), seq_len=64)
