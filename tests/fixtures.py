"""Tiny datasets in the real on-disk formats, learnable enough for end-to-end runs to reach a real score.

* :func:`write_image_folder`: ``root/{train,val}/<class>/*.png|jpg`` — each class has its own colour
  (plus per-image noise), so a small CNN separates them in a few epochs.
* :func:`write_faces`: ``root/train/<identity>/*.png`` and a generic ``root/pairs.txt`` over held-out
  images ``root/test/<identity>/*.png`` of *unseen* identities: an identity is a pair of colours
  (top / bottom half), so verification needs an embedding that generalises.
* :func:`write_wikitext`: ``root/wiki.{train,valid,test}.raw`` of a repetitive text (a few sentences
  in random order), so a byte-level GPT's perplexity drops far below the 256 of a uniform guess.
* :func:`write_idx` / :func:`write_idx_dataset`: IDX files (MNIST's format), plain or gzip-compressed;
  the dataset's classes are bright blobs at class-specific places on a noisy 28 x 28 background.
"""

from __future__ import annotations

import gzip
import random
import struct
from pathlib import Path

import numpy as np
from PIL import Image

PALETTE = [(220, 40, 40), (40, 200, 60), (50, 70, 230), (230, 210, 40), (200, 60, 210),
           (40, 210, 210), (240, 140, 30), (120, 120, 120)]


def _image(rng: np.random.Generator, top: tuple[int, int, int], bottom: tuple[int, int, int],
           size: int) -> Image.Image:
    pixels = np.empty((size, size, 3), dtype=np.float64)
    pixels[: size // 2] = top
    pixels[size // 2:] = bottom
    pixels += rng.normal(0, 25, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_image_folder(root: Path, classes: int = 3, train_per_class: int = 16,
                       val_per_class: int = 4, size: int = 12, seed: int = 0) -> Path:
    """A class is a colour; half the files are PNG, half JPEG."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", train_per_class), ("val", val_per_class)):
        for c in range(classes):
            folder = root / split / f"class_{c}"
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(count):
                ext = "png" if k % 2 == 0 else "jpg"
                _image(rng, PALETTE[c], PALETTE[c], size).save(folder / f"{k:03d}.{ext}")
    return root


def write_faces(root: Path, train_identities: int = 6, per_identity: int = 10,
                test_identities: int = 4, per_test_identity: int = 4, size: int = 12,
                seed: int = 0) -> Path:
    """Identities are (top, bottom) colour pairs; test identities are unseen combinations."""
    rng = np.random.default_rng(seed)
    combos = [(a, b) for a in range(len(PALETTE)) for b in range(len(PALETTE)) if a != b]
    order = rng.permutation(len(combos))
    train = [combos[i] for i in order[:train_identities]]
    test = [combos[i] for i in order[train_identities:train_identities + test_identities]]
    for split, identities, count in (("train", train, per_identity),
                                     ("test", test, per_test_identity)):
        for top, bottom in identities:
            folder = root / split / f"id_{top}{bottom}"
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(count):
                _image(rng, PALETTE[top], PALETTE[bottom], size).save(folder / f"{k:02d}.png")
    lines = []
    for i, (top, bottom) in enumerate(test):
        other_top, other_bottom = test[(i + 1) % len(test)]
        for k in range(per_test_identity - 1):
            lines.append(f"test/id_{top}{bottom}/{k:02d}.png test/id_{top}{bottom}/{k + 1:02d}.png 1")
            lines.append(f"test/id_{top}{bottom}/{k:02d}.png "
                         f"test/id_{other_top}{other_bottom}/{k:02d}.png 0")
    (root / "pairs.txt").write_text("\n".join(lines) + "\n")
    return root


SENTENCES = [
    " The tower is 324 metres tall , about the same height as an 81 @-@ storey building . \n",
    " = Valkyria Chronicles III = \n",
    " The game began development in 2010 , carrying over a large portion of the work . \n",
    " It was the first airship to cross the Atlantic ( 1919 ) . \n",
]


def write_wikitext(root: Path, train_lines: int = 300, test_lines: int = 40, seed: int = 0) -> Path:
    """WikiText-2-raw style files made of a few sentences in random order."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", train_lines), ("valid", test_lines), ("test", test_lines)):
        text = "".join(rng.choice(SENTENCES) for _ in range(n))
        (root / f"wiki.{name}.raw").write_text(text, encoding="utf-8")
    return root


IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")


#: One line of the tiny corpus of :func:`write_poem`.
POEM_LINE = "the quick brown fox jumps over the lazy dog.\n"


def write_poem(path: Path, repeats: int = 60) -> Path:
    """A tiny UTF-8 text file for the ``textfile`` dataset: :data:`POEM_LINE` ``repeats`` times."""
    path.write_text(POEM_LINE * repeats, encoding="utf-8")
    return path


def tiny_gpt_args(path: Path, width: int) -> list[str]:
    """CLI settings that train ``gpt-tiny`` on the corpus at ``path`` in seconds (16-character
    windows, AdamW, batches of 16)."""
    return ["--dataset", "textfile", "--data-dir", str(path), "--dataset-param", "seq_len=16",
            "--model", "gpt-tiny", "--width", str(width), "--optimizer", "adamw", "--lr", "0.01",
            "--batch-size", "16"]


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8) in the IDX format: ``00 00 08 ndim``, the dimensions as big-endian uint32,
    the bytes in row-major order."""
    assert array.dtype == np.uint8
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed if ``compress`` (default: if ``path`` ends
    with ``.gz``)."""
    data = idx_bytes(array)
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def idx_blobs(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """uint8 images (N, 28, 28): noise around 40 with a 6 x 6 square of about 220 at one of ten places
    (a 5 x 2 grid) given by the label."""
    images = rng.normal(40, 20, (len(labels), 28, 28))
    for i, label in enumerate(labels):
        top, left = 3 + 12 * (label // 5), 1 + 5 * (label % 5)
        images[i, top:top + 6, left:left + 6] += 180
    return np.clip(images, 0, 255).astype(np.uint8)


def write_idx_dataset(root: Path, train: int = 200, test: int = 50, classes: int = 10,
                      compress: tuple[bool, bool, bool, bool] = (True, True, False, False),
                      seed: int = 0) -> dict[str, np.ndarray]:
    """``root/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` (``compress`` per file, in the
    order of :data:`IDX_STEMS`), balanced labels in file order ``0, 1, ..., classes - 1, 0, ...``;
    returns the arrays written (``train_x``, ``train_y``, ``test_x``, ``test_y``)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", train), ("test", test)):
        labels = (np.arange(n) % classes).astype(np.uint8)
        arrays[f"{split}_x"], arrays[f"{split}_y"] = idx_blobs(rng, labels), labels
    for stem, key, gz in zip(IDX_STEMS, ("train_x", "train_y", "test_x", "test_y"), compress):
        write_idx(root / (stem + (".gz" if gz else "")), arrays[key])
    return arrays
