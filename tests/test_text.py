"""Tests of swiftsampler.data.text: tokenizers, next-token windows, the wikitext2 and textfile datasets."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from swiftsampler.cli import main
from swiftsampler.config import DataConfig
from swiftsampler.data import DATASETS, create_dataset, prepare_data
from swiftsampler.data.text import (
    TOKENIZERS,
    UNK_CHAR,
    build_tokenizer,
    read_wikitext2,
    sequences,
    split_text,
    textfile,
    wikitext2,
)
from swiftsampler.errors import ConfigError, DataError
from swiftsampler.report import format_summary

from .fixtures import POEM_LINE, tiny_gpt_args, write_poem

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


# ---------------------------------------------------------------------------------------- textfile

def test_textfile_registry_metadata():
    entry = DATASETS.get("textfile")
    assert entry.meta == {"kind": "tokens", "asymmetric_map": None, "task": "language-model"}


def test_split_text_by_hand():
    text = "abcdefghij" * 4  # 40 characters
    assert split_text(text, 0.75) == (text[:30], text[30:])
    assert split_text(text, 0.9) == (text[:36], text[36:])  # int(0.9 * 40) = 36
    assert split_text("x" * 7, 0.5) == ("xxx", "xxxx")  # floor(3.5) = 3
    with pytest.raises(ConfigError, match=r"train_fraction must be in \(0, 1\)"):
        split_text(text, 1.0)


def test_textfile_windows_of_the_first_and_last_part_by_hand(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("abcdefghij" * 3 + "abcdeZZabc", encoding="utf-8")  # 40 chars, 'Z' only in test
    data = textfile(data_dir=path, seq_len=4, train_fraction=0.75)
    # train: the first 30 characters, vocabulary a..j = ids 1..10 (0 is <unk>)
    assert data.name == "textfile" and data.num_classes == 11 and data.token_unit == "char"
    ids = {c: i + 1 for i, c in enumerate("abcdefghij")}
    train_ids = [ids[c] for c in ("abcdefghij" * 3)]
    assert data.train_x.shape == ((30 - 1) // 4, 4)  # 7 windows
    assert data.train_x[0].tolist() == [1, 2, 3, 4] and data.train_y[0].tolist() == [2, 3, 4, 5]
    assert data.train_x.flatten().tolist() == train_ids[:28]
    assert data.train_y.flatten().tolist() == train_ids[1:29]
    # test: the last 10 characters "abcdeZZabc" -> 2 windows, 'Z' is <unk>
    assert data.test_x.tolist() == [[1, 2, 3, 4], [5, 0, 0, 1]]
    assert data.test_y.tolist() == [[2, 3, 4, 5], [0, 0, 1, 2]]


def test_textfile_defaults_char_tokens_90_10_and_byte_option(tmp_path):
    path = tmp_path / "t.txt"
    text = "Wer reitet so spät durch Nacht und Wind? " * 80  # 3280 characters, non-ASCII "ä"
    path.write_text(text, encoding="utf-8")
    data = textfile(data_dir=path)
    cut = int(0.9 * len(text))
    assert data.input_shape == (128,) and data.num_classes == len(set(text[:cut])) + 1
    assert data.train_x.shape[0] == (cut - 1) // 128 and data.test_x.shape[0] == (len(text) - cut - 1) // 128
    as_bytes = textfile(data_dir=path, tokenizer="byte", seq_len=16)
    assert as_bytes.num_classes == 256 and as_bytes.token_unit == "byte"
    assert as_bytes.train_x.shape[0] == (len(text[:cut].encode()) - 1) // 16
    assert build_tokenizer("byte", "").decode(as_bytes.test_x[0]) == text[cut:].encode()[:16].decode()


def test_textfile_validation_windows_come_from_the_training_windows(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("to be or not to be, that is the question. " * 40, encoding="utf-8")
    ds = textfile(data_dir=path, seq_len=32)
    data = prepare_data(DataConfig(dataset="textfile", data_dir=str(path), val_ratio=0.2,
                                   dataset_params={"seq_len": 32}), 0)
    assert data.task == "language-model" and data.token_unit == "char"
    assert len(data.train_y) + len(data.val_y) == ds.train_x.shape[0]
    assert len(data.val_y) == round(0.2 * ds.train_x.shape[0])
    assert torch.equal(data.test_x, ds.test_x)


def test_textfile_bad_input_is_one_line(tmp_path):
    with pytest.raises(DataError, match="textfile reads one file: pass --data-dir FILE"):
        textfile()
    (tmp_path / "a.txt").write_text("hello " * 100)
    with pytest.raises(DataError, match=r"is a directory; pass the text file itself \(e\.g\. "
                                        r"--data-dir .*a\.txt\)"):
        textfile(data_dir=tmp_path)
    with pytest.raises(DataError, match="no such file"):
        textfile(data_dir=tmp_path / "b.txt")
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.txt is empty"):
        textfile(data_dir=tmp_path / "empty.txt")
    (tmp_path / "bad.txt").write_bytes(b"fine text \xff\xfe broken" * 20)
    with pytest.raises(DataError, match=r"bad\.txt: not valid UTF-8 text \(byte 10"):
        textfile(data_dir=tmp_path / "bad.txt")
    (tmp_path / "short.txt").write_text("x" * 100)  # test part: 10 characters
    with pytest.raises(DataError, match=r"short\.txt: the test part \(10 of its 100 characters\): "
                                        r"10 tokens are too few for one sequence of length 16"):
        textfile(data_dir=tmp_path / "short.txt", seq_len=16)
    for bad in (0, 1, -0.5, 1.5, "0.9", True):
        with pytest.raises(ConfigError, match="train_fraction"):
            textfile(data_dir=tmp_path / "a.txt", train_fraction=bad)


def test_cli_textfile_gpt_learns_and_reports_nats_per_char(tmp_path, capsys):
    path = write_poem(tmp_path / "poem.txt")
    out = tmp_path / "run"
    assert main(["train", *tiny_gpt_args(path, width=32), "--epochs", "3", "--sampler", "p-sgd",
                 "--progress", "off", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "result.json").read_text())
    vocab = result["data"]["num_classes"]
    assert vocab == len(set(POEM_LINE)) + 1
    assert result["data"]["token_unit"] == "char" and result["task"] == "language-model"
    assert result["test_loss"] < math.log(vocab) - 1 and result["val_loss"] < math.log(vocab) - 1
    assert (f"  loss      test {result['test_loss']:.4f}, val {result['val_loss']:.4f} nats/char"
            in printed), printed
    assert result["test_ppl"] == pytest.approx(math.exp(result["test_loss"]), rel=1e-9)
    no_unit = {**result, "data": {**result["data"], "token_unit": None}}
    assert "nats/token (mean cross-entropy per token)" in format_summary(no_unit)


def test_cli_textfile_directory_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "corpus.txt").write_text("some text " * 50)
    assert main(["train", "--dataset", "textfile", "--data-dir", str(tmp_path), "--model", "gpt-tiny",
                 "--progress", "off", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("swiftsampler train: error: textfile: --data-dir ")
    assert "is a directory; pass the text file itself" in err and "corpus.txt" in err
    assert not (tmp_path / "run" / "result.json").exists()
