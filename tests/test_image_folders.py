"""Lazy image folders (``imagefolder``, ``faces``): tiny real PNG/JPEG files written with Pillow.

Solid colours and half/half images make the decoded values checkable by hand: a solid colour survives
any bilinear resize unchanged, and with ``crop_fraction=0.5`` an image whose shorter side is
``2 * image_size`` is not resized at all, so the center crop can be read off the original pixels.
"""

import pickle
import re

import numpy as np
import pytest
import torch
from PIL import Image

from swiftsampler.data import DATASETS, create_dataset
from swiftsampler.data.image_folders import faces, imagefolder
from swiftsampler.data.images import IMAGENET_MEAN, IMAGENET_STD, ImageFiles, list_image_folder
from swiftsampler.errors import ConfigError, DataError

RED, BLUE = (255, 0, 0), (0, 0, 255)
MEAN = np.array(IMAGENET_MEAN, dtype=np.float32)
STD = np.array(IMAGENET_STD, dtype=np.float32)


def normalised(rgb):
    """The expected decoded value of a pixel ``rgb`` (0..255) per channel, float32 ``(3,)``."""
    x = np.asarray(rgb, dtype=np.float32) / np.float32(255)
    return torch.from_numpy((x - MEAN) / STD)


def save(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def solid(path, rgb, size=(20, 24)):
    return save(path, Image.new("RGB", size, rgb))


def halves(path, first, second, size, vertical=True):
    """``size`` = (w, h); left/right halves (``vertical``) or top/bottom halves of two colours."""
    image = Image.new("RGB", size, first)
    w, h = size
    image.paste(Image.new("RGB", (w // 2, h) if vertical else (w, h // 2), second),
                (w // 2, 0) if vertical else (0, h // 2))
    return save(path, image)


def colour(label, k):
    return (40 * label + 10, 20 * k, 200 - 30 * label)


def make_tree(root, classes=("bird", "cat", "dog"), per_class=4):
    """``root/<class>/img<k>.png|jpg`` (even k PNG, odd k JPEG), 20x24 solid colours."""
    for label, name in enumerate(classes):
        for k in range(per_class):
            solid(root / name / f"img{k}.{'png' if k % 2 == 0 else 'jpg'}", colour(label, k))


@pytest.fixture
def image_dir(tmp_path):
    make_tree(tmp_path / "train")
    make_tree(tmp_path / "val", classes=("cat", "dog"), per_class=2)
    return tmp_path


# ------------------------------------------------------------------------------------- decoding

def test_solid_png_decodes_to_exact_normalised_value(tmp_path):
    path = solid(tmp_path / "a.png", (10, 128, 250))
    x = ImageFiles([path], image_size=8).load(0)
    assert x.shape == (3, 8, 8) and x.dtype == torch.float32
    expected = normalised((10, 128, 250)).view(3, 1, 1).expand(3, 8, 8)
    torch.testing.assert_close(x, expected, rtol=0, atol=1e-6)
    # by hand, channel R: (10 / 255 - 0.485) / 0.229
    assert x[0, 0, 0].item() == pytest.approx((10 / 255 - 0.485) / 0.229, abs=1e-6)


def test_jpeg_and_non_rgb_modes_are_converted(tmp_path):
    jpg = solid(tmp_path / "a.jpg", (200, 100, 50))
    grey = save(tmp_path / "g.png", Image.new("L", (12, 12), 100))
    rgba = save(tmp_path / "t.png", Image.new("RGBA", (12, 12), (30, 60, 90, 7)))
    x = ImageFiles([jpg, grey, rgba], image_size=8, crop_fraction=1.0).materialize()
    assert x.shape == (3, 3, 8, 8)
    # JPEG is lossy: within 3 grey levels of the original colour
    assert (x[0] - normalised((200, 100, 50)).view(3, 1, 1)).abs().max() < 3 / 255 / 0.224
    torch.testing.assert_close(x[1], normalised((100, 100, 100)).view(3, 1, 1).expand(3, 8, 8))
    torch.testing.assert_close(x[2], normalised((30, 60, 90)).view(3, 1, 1).expand(3, 8, 8))


@pytest.mark.parametrize("vertical", [True, False])
def test_center_crop_without_resize(tmp_path, vertical):
    # 32x16 (or 16x32), crop_fraction 0.5, image_size 8: S = 16 = shorter side, no resize; the crop
    # starts at 12 along the long side, so it keeps original pixels 12..19: 4 red, then 4 blue.
    size = (32, 16) if vertical else (16, 32)
    path = halves(tmp_path / "h.png", RED, BLUE, size, vertical)
    x = ImageFiles([path], image_size=8, crop_fraction=0.5).load(0)
    red, blue = normalised(RED).view(3, 1, 1), normalised(BLUE).view(3, 1, 1)
    first, second = (x[:, :, :4], x[:, :, 4:]) if vertical else (x[:, :4, :], x[:, 4:, :])
    torch.testing.assert_close(first, red.expand_as(first), rtol=0, atol=1e-6)
    torch.testing.assert_close(second, blue.expand_as(second), rtol=0, atol=1e-6)


@pytest.mark.parametrize("width, left", [(17, 4), (18, 5), (19, 6)])
def test_crop_offset_rounds_like_torchvision(tmp_path, width, left):
    # width x 8 with column c coloured (10 c, 0, 0), image_size 8, crop 1.0: no resize; the crop starts
    # at round((width - 8) / 2) (Python's round: 4.5 -> 4, 5.5 -> 6).
    image = Image.fromarray(np.stack([np.tile(np.arange(width, dtype=np.uint8) * 10, (8, 1)),
                                      np.zeros((8, width), np.uint8), np.zeros((8, width), np.uint8)],
                                     axis=-1))
    x = ImageFiles([save(tmp_path / "cols.png", image)], image_size=8, crop_fraction=1.0).load(0)
    expected = torch.stack([normalised((10 * c, 0, 0)) for c in range(left, left + 8)], dim=1)
    torch.testing.assert_close(x[:, 0, :], expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(x[:, 7, :], expected, rtol=0, atol=1e-6)


def test_resize_then_center_crop(tmp_path):
    # 40x20 red|blue, image_size 10, crop 1.0: resized to 20x10 (red columns 0..9), crop columns
    # 5..14 -> 0..3 pure red, 4..5 blended by the bilinear filter, 6..9 pure blue.
    path = halves(tmp_path / "h.png", RED, BLUE, (40, 20))
    x = ImageFiles([path], image_size=10, crop_fraction=1.0).load(0)
    assert x.shape == (3, 10, 10)
    red, blue = normalised(RED).view(3, 1, 1), normalised(BLUE).view(3, 1, 1)
    torch.testing.assert_close(x[:, :, :4], red.expand(3, 10, 4), rtol=0, atol=1e-6)
    torch.testing.assert_close(x[:, :, 6:], blue.expand(3, 10, 4), rtol=0, atol=1e-6)
    mid = x[0, :, 4:6]  # red channel strictly between the two pure values
    assert bool(((mid > blue[0]) & (mid < red[0])).all())


def test_crop_fraction_keeps_the_center(tmp_path):
    # 32x32 blue with red pixels 4..27: crop 0.5 of image_size 8 resizes by 1/2 to 16 (red 2..13,
    # the filter reaching one output pixel) and keeps the central 8x8 (4..11): pure red.
    image = Image.new("RGB", (32, 32), BLUE)
    image.paste(Image.new("RGB", (24, 24), RED), (4, 4))
    path = save(tmp_path / "c.png", image)
    x = ImageFiles([path], image_size=8, crop_fraction=0.5).load(0)
    torch.testing.assert_close(x, normalised(RED).view(3, 1, 1).expand(3, 8, 8), rtol=0, atol=1e-6)
    # without cropping (resized to 8x8) the blue border dominates the corners, the center is red
    y = ImageFiles([path], image_size=8, crop_fraction=1.0).load(0)
    half = normalised((128, 128, 128))
    for corner in (y[:, 0, 0], y[:, 7, 7], y[:, 0, 7]):
        assert corner[0] < half[0] and corner[2] > half[2]
    torch.testing.assert_close(y[:, 3:5, 3:5], normalised(RED).view(3, 1, 1).expand(3, 2, 2))


def test_value_range_is_exact_and_bounds_black_and_white(tmp_path):
    black = solid(tmp_path / "k.png", (0, 0, 0))
    white = solid(tmp_path / "w.png", (255, 255, 255))
    files = ImageFiles([black, white], image_size=8)
    low, high = files.value_range()
    assert low.dtype == torch.float32 and low.shape == (3,)
    torch.testing.assert_close(low, torch.tensor([(0 - m) / s for m, s in zip(IMAGENET_MEAN,
                                                                               IMAGENET_STD)]))
    torch.testing.assert_close(high, torch.tensor([(1 - m) / s for m, s in zip(IMAGENET_MEAN,
                                                                                IMAGENET_STD)]))
    x = files.materialize()
    assert torch.equal(x[0], low.view(3, 1, 1).expand(3, 8, 8))
    assert torch.equal(x[1], high.view(3, 1, 1).expand(3, 8, 8))


def test_custom_mean_std(tmp_path):
    path = solid(tmp_path / "a.png", (51, 102, 153))
    x = ImageFiles([path], image_size=8, mean=(0.5, 0.5, 0.5), std=(0.5, 0.25, 1.0)).load(0)
    torch.testing.assert_close(x[:, 0, 0], torch.tensor([(0.2 - 0.5) / 0.5, (0.4 - 0.5) / 0.25, 0.1]))


def test_corrupt_and_missing_files_raise_data_error_naming_the_file(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes())
    files = ImageFiles([bad, tmp_path / "gone.png"], image_size=8)  # nothing is read yet
    with pytest.raises(DataError, match=r"^cannot decode image .*bad\.jpg: ") as info:
        files.load(0)
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match=r"cannot decode image .*gone\.png"):
        files.load(1)
    truncated = tmp_path / "cut.png"
    solid(tmp_path / "whole.png", (1, 2, 3), size=(64, 64))
    truncated.write_bytes((tmp_path / "whole.png").read_bytes()[:60])
    with pytest.raises(DataError, match=r"cut\.png"):
        ImageFiles([truncated], image_size=8).load(0)


def test_image_files_validates_settings(tmp_path):
    for bad in (0, True, 8.0):
        with pytest.raises(ConfigError, match="image_size"):
            ImageFiles([], image_size=bad)
    for bad in (0, 1.5, float("nan"), -0.5):
        with pytest.raises(ConfigError, match="crop_fraction"):
            ImageFiles([], image_size=8, crop_fraction=bad)
    with pytest.raises(ConfigError, match="std"):
        ImageFiles([], image_size=8, std=(1.0, 0.0, 1.0))
    with pytest.raises(ConfigError, match="mean"):
        ImageFiles([], image_size=8, mean=(0.5, 0.5))
    with pytest.raises(ConfigError, match="single path"):
        ImageFiles(str(tmp_path / "a.png"), image_size=8)


def test_subset_getitem_pickle_and_materialize(tmp_path):
    paths = [solid(tmp_path / f"{k}.png", (10 * k, 0, 0), size=(10, 12)) for k in range(5)]
    files = ImageFiles(paths, image_size=8, crop_fraction=0.5)
    assert len(files) == 5 and files.shape == (5, 3, 8, 8) and files.input_shape == (3, 8, 8)
    sub = files[torch.tensor([3, 0, 3])]
    assert isinstance(sub, ImageFiles) and len(sub) == 3
    assert sub.paths == (str(paths[3]), str(paths[0]), str(paths[3]))
    assert (sub.image_size, sub.crop_fraction, sub.mean, sub.std) == (
        files.image_size, files.crop_fraction, files.mean, files.std)
    assert torch.equal(sub.load(0), files.load(3))
    assert torch.equal(files[[4]].load(0), files.load(4))
    again = pickle.loads(pickle.dumps(sub))
    assert type(again) is ImageFiles and again.paths == sub.paths
    assert torch.equal(again.materialize(), sub.materialize())
    m = files.materialize()
    assert m.shape == (5, 3, 8, 8) and m.dtype == torch.float32
    torch.testing.assert_close(m[:, 0, 0, 0], torch.stack([normalised((10 * k, 0, 0))[0]
                                                           for k in range(5)]))
    assert files[torch.tensor([], dtype=torch.int64)].materialize().shape == (0, 3, 8, 8)


# ---------------------------------------------------------------------------------- list folder

def test_list_image_folder_sorts_and_filters(tmp_path):
    for name in ("dog", "bird", "cat"):
        solid(tmp_path / name / "b.png", (0, 0, 0))
        solid(tmp_path / name / "A.JPEG", (0, 0, 0))
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    solid(tmp_path / "cat" / ".hidden.png", (0, 0, 0))
    solid(tmp_path / ".cache" / "x.png", (0, 0, 0))
    (tmp_path / "README.md").write_text("top-level files are not classes")
    (tmp_path / "cat" / "sub.png").mkdir()  # a folder named like an image is skipped
    paths, labels, names = list_image_folder(tmp_path)
    assert names == ("bird", "cat", "dog")
    assert labels == [0, 0, 1, 1, 2, 2]
    assert [p.split("/")[-2:] for p in paths] == [
        ["bird", "A.JPEG"], ["bird", "b.png"], ["cat", "A.JPEG"], ["cat", "b.png"],
        ["dog", "A.JPEG"], ["dog", "b.png"]]
    only_png, _, _ = list_image_folder(tmp_path, extensions=(".PNG",))
    assert [p.split("/")[-1] for p in only_png] == ["b.png"] * 3


def test_list_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match="not a directory"):
        list_image_folder(tmp_path / "nope")
    (tmp_path / "loose.png").write_bytes(b"")
    with pytest.raises(DataError, match="no class folder"):
        list_image_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"class folder .*empty holds no image"):
        list_image_folder(tmp_path)


# ---------------------------------------------------------------------------------- imagefolder

def test_imagefolder_dataset(image_dir):
    ds = create_dataset("imagefolder", data_dir=str(image_dir), image_size=8)
    meta = DATASETS.get("imagefolder").meta
    assert meta["kind"] == "image" and meta["task"] == "classification" and meta["asymmetric_map"] is None
    assert ds.name == "imagefolder" and ds.num_classes == 3 and ds.class_names == ("bird", "cat", "dog")
    assert isinstance(ds.train_x, ImageFiles) and isinstance(ds.test_x, ImageFiles)
    assert ds.input_shape == (3, 8, 8) and ds.train_x.shape == (12, 3, 8, 8)
    assert ds.train_y.dtype == torch.int64 and ds.train_y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    # val holds only cat and dog: labels are the *train* indices 1 and 2
    assert ds.test_y.tolist() == [1, 1, 2, 2]
    assert ds.test_x.paths[0].endswith("val/cat/img0.png")
    assert ds.test_pairs is None
    x = ds.train_x.materialize()
    assert x.shape == (12, 3, 8, 8)
    torch.testing.assert_close(x[4, :, 0, 0], normalised(colour(1, 0)), rtol=0, atol=1e-6)  # PNG
    assert (x[5, :, 0, 0] - normalised(colour(1, 1))).abs().max() < 3 / 255 / 0.224  # JPEG
    sub = ds.train_x[torch.tensor([11, 4])]
    assert sub.paths == (ds.train_x.paths[11], ds.train_x.paths[4])


def test_imagefolder_options_and_defaults(image_dir):
    ds = imagefolder(data_dir=image_dir)
    assert ds.train_x.image_size == 224 and ds.train_x.crop_fraction == 0.875
    assert ds.train_x.resize_to == 256
    ds = imagefolder(data_dir=image_dir, image_size=16, crop_fraction=1)
    assert ds.test_x.load(0).shape == (3, 16, 16) and ds.test_x.crop_fraction == 1.0


def test_imagefolder_rejects_bad_settings(image_dir):
    for bad in (4, 7, 8.5, True):
        with pytest.raises(ConfigError, match=r"image_size must be an integer >= 8"):
            imagefolder(data_dir=image_dir, image_size=bad)
    for bad in (0.0, 1.01, float("inf")):
        with pytest.raises(ConfigError, match="crop_fraction"):
            imagefolder(data_dir=image_dir, crop_fraction=bad)


def test_imagefolder_val_class_not_in_train(image_dir):
    solid(image_dir / "val" / "zebra" / "z.png", (0, 0, 0))
    with pytest.raises(DataError, match=r"val/zebra has no counterpart in .*train") as info:
        imagefolder(data_dir=image_dir, image_size=8)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("missing", ["train", "val"])
def test_imagefolder_missing_split_names_the_layout(tmp_path, missing):
    make_tree(tmp_path / ({"train", "val"} - {missing}).pop(), per_class=1)
    layout = re.escape("DIR/train/<class>/*.jpg and DIR/val/<class>/*.jpg")
    with pytest.raises(DataError, match=layout + r".*missing folder .*" + missing) as info:
        imagefolder(data_dir=tmp_path, image_size=8)
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match=r"pass --data-dir DIR with " + layout):
        imagefolder(image_size=8)
    with pytest.raises(DataError, match="is not a directory"):
        imagefolder(data_dir=tmp_path / "nowhere", image_size=8)


def test_imagefolder_corrupt_file_fails_only_when_loaded(image_dir):
    (image_dir / "train" / "cat" / "zz.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    ds = imagefolder(data_dir=image_dir, image_size=8)
    assert ds.train_x.paths[8].endswith("cat/zz.jpg") and ds.train_y[8] == 1
    ds.train_x.load(7)
    with pytest.raises(DataError, match=r"cannot decode image .*train/cat/zz\.jpg"):
        ds.train_x.load(8)


# ---------------------------------------------------------------------------------------- faces

@pytest.fixture
def face_dir(tmp_path):
    for who in ("ann", "bob", "cid"):
        for k in range(2):
            solid(tmp_path / "train" / who / f"{k}.png", (k, 0, 0), size=(12, 12))
    return tmp_path


def test_faces_generic_pairs(face_dir):
    for name in ("x/a.png", "x/b.png", "y/c.png"):
        solid(face_dir / name, (0, 255, 0), size=(12, 12))
    (face_dir / "pairs.txt").write_text(
        "# path_a path_b same\n\nx/a.png x/b.png 1\ny/c.png\tx/a.png\t0\n  x/./b.png   y/c.png 0  \n"
        "x/a.png x/a.png 1\n")
    ds = create_dataset("faces", data_dir=str(face_dir), image_size=8)
    meta = DATASETS.get("faces").meta
    assert meta["task"] == "verification" and meta["kind"] == "image"
    assert ds.name == "faces" and ds.num_classes == 3 and ds.class_names == ("ann", "bob", "cid")
    assert ds.train_y.tolist() == [0, 0, 1, 1, 2, 2]
    assert [p.split("/")[-2:] for p in ds.test_x.paths] == [["x", "a.png"], ["x", "b.png"],
                                                            ["y", "c.png"]]
    assert ds.test_y.dtype == torch.int64 and ds.test_y.tolist() == [0, 0, 0]
    assert ds.test_pairs.dtype == torch.int64
    assert ds.test_pairs.tolist() == [[0, 1, 1], [2, 0, 0], [1, 2, 0], [0, 0, 1]]
    assert ds.train_x.crop_fraction == 1.0 and ds.input_shape == (3, 8, 8)
    torch.testing.assert_close(ds.test_x.load(2)[:, 3, 3], normalised((0, 255, 0)))


@pytest.mark.parametrize("header", ["1\t2\n", "2\n", ""])
def test_faces_lfw_pairs(face_dir, header):
    for name, n in (("Alice_Smith", 1), ("Alice_Smith", 2), ("Bob", 1), ("Bob", 12)):
        solid(face_dir / "test" / name / f"{name}_{n:04d}.jpg", (0, 0, 0), size=(12, 12))
    (face_dir / "lfw.txt").write_text(header + "Alice_Smith\t1\t2\nBob 12 1\n"
                                      "Alice_Smith\t2\tBob\t12\nBob\t1\tAlice_Smith\t1\n")
    ds = faces(data_dir=face_dir, image_size=8, pairs="lfw.txt")
    assert [p.split("/")[-3:] for p in ds.test_x.paths] == [
        ["test", "Alice_Smith", "Alice_Smith_0001.jpg"], ["test", "Alice_Smith", "Alice_Smith_0002.jpg"],
        ["test", "Bob", "Bob_0012.jpg"], ["test", "Bob", "Bob_0001.jpg"]]
    assert ds.test_pairs.tolist() == [[0, 1, 1], [2, 3, 1], [1, 2, 0], [3, 0, 0]]


def test_faces_malformed_lines_give_the_line_number(face_dir):
    solid(face_dir / "a.png", (0, 0, 0))
    pairs = face_dir / "pairs.txt"
    pairs.write_text("# comment\na.png a.png 1\n\na.png a.png 2\n")
    with pytest.raises(DataError, match=r"pairs\.txt, line 4: malformed pair 'a.png a.png 2'; "
                                        r"expected 'path_a path_b same'") as info:
        faces(data_dir=face_dir, image_size=8)
    assert "\n" not in str(info.value)
    pairs.write_text("a.png a.png 0\na.png a.png\n")
    with pytest.raises(DataError, match=r"line 2: malformed"):
        faces(data_dir=face_dir, image_size=8)
    pairs.write_text("10\t300\nAnn 1 2\nAnn 1 Bob x\n")  # LFW format
    with pytest.raises(DataError, match=r"line 3: malformed pair .*LFW"):
        faces(data_dir=face_dir, image_size=8)
    pairs.write_text("Ann 1 2\n3 4\n")  # a header is only allowed first
    with pytest.raises(DataError, match=r"line 2: malformed"):
        faces(data_dir=face_dir, image_size=8)


def test_faces_missing_image_empty_pairs_and_layout(face_dir):
    solid(face_dir / "a.png", (0, 0, 0))
    pairs = face_dir / "pairs.txt"
    pairs.write_text("a.png a.png 1\na.png b.png 0\n")
    with pytest.raises(DataError, match=r"line 2: image .*b\.png does not exist"):
        faces(data_dir=face_dir, image_size=8)
    pairs.write_text("Ann 1 2\n")
    with pytest.raises(DataError, match=re.escape("test/Ann/Ann_0001.jpg") + " does not exist"):
        faces(data_dir=face_dir, image_size=8)
    pairs.write_text("# nothing\n\n")
    with pytest.raises(DataError, match="lists no pairs"):
        faces(data_dir=face_dir, image_size=8)
    pairs.write_text("6000\n")
    with pytest.raises(DataError, match="lists no pairs"):
        faces(data_dir=face_dir, image_size=8)
    with pytest.raises(DataError, match=r"missing pairs file .*other\.txt"):
        faces(data_dir=face_dir, image_size=8, pairs="other.txt")
    with pytest.raises(DataError, match=re.escape("DIR/train/<identity>/*.jpg")):
        faces(image_size=8)
    with pytest.raises(ConfigError, match="pairs"):
        faces(data_dir=face_dir, pairs="")


@pytest.mark.parametrize("pairs, offending", [
    ("a.png a.png 1\na.png ../outside/secret.png 0\n", "'../outside/secret.png'"),
    ("a.png a.png 1\n{outside}/secret.png a.png 0\n", "'{outside}/secret.png'"),
    ("a.png a.png 1\na.png link/secret.png 1\n", "'link/secret.png'"),  # a symlink leading out
    ("a.png a.png 1\nx/../../outside/secret.png a.png 0\n", "'x/../../outside/secret.png'"),
    ("Ann 1 1\n../../outside 1 2\n", "'test/../../outside/../../outside_0001.jpg'"),  # LFW names
])
def test_faces_refuses_pairs_that_leave_the_data_dir(tmp_path, pairs, offending):
    root, outside = tmp_path / "data", tmp_path / "outside"
    for who in ("ann", "bob"):
        solid(root / "train" / who / "0.png", (0, 0, 0), size=(12, 12))
    solid(root / "a.png", (0, 0, 0))
    solid(root / "test" / "Ann" / "Ann_0001.jpg", (0, 0, 0))
    solid(outside / "secret.png", (0, 0, 0))
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "pairs.txt").write_text(pairs.format(outside=outside))
    with pytest.raises(DataError, match=r"pairs\.txt, line 2: image '.*' is outside --data-dir") as info:
        faces(data_dir=root, image_size=8)
    assert offending.format(outside=outside) in str(info.value) and "\n" not in str(info.value)


def test_faces_accepts_symlinks_that_stay_inside(tmp_path):
    root = tmp_path / "data"
    for who in ("ann", "bob"):
        solid(root / "train" / who / "0.png", (0, 0, 0), size=(12, 12))
    solid(root / "images" / "a.png", (0, 0, 0))
    (root / "alias").symlink_to(root / "images", target_is_directory=True)
    (root / "pairs.txt").write_text("images/a.png alias/a.png 1\n")
    ds = faces(data_dir=root, image_size=8)
    assert len(ds.test_x) == 1 and ds.test_pairs.tolist() == [[0, 0, 1]]  # one file, two names


def test_faces_needs_two_identities_and_a_train_folder(tmp_path):
    (tmp_path / "pairs.txt").write_text("a.png a.png 1\n")
    with pytest.raises(DataError, match=r"missing folder .*train"):
        faces(data_dir=tmp_path, image_size=8)
    solid(tmp_path / "train" / "solo" / "0.png", (0, 0, 0))
    with pytest.raises(DataError, match="need at least 2"):
        faces(data_dir=tmp_path, image_size=8)
