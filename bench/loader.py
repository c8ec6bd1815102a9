"""Throughput of the image-folder streaming path: decoded images per second by number of workers.

    python bench/loader.py                                 # 1,200 JPEGs of 100 x 120, image_size 84
    python bench/loader.py --images 400 --workers 0,2 --image-size 64

Writes a mini-ImageNet-like folder of JPEGs into a temporary directory (random smooth images,
``--images`` of them in 10 classes, ``--source-size`` pixels), then times one full pass of
:class:`~swiftsampler.data.loader.StreamingLoader` over a shuffled plan (decode with Pillow, resize the
shorter side to ``image_size / 0.875``, centre crop, normalise, collate) for each worker count, after an
untimed warm-up pass that starts the persistent workers. The in-memory :class:`DeviceLoader` over the
same images, already decoded, is timed for comparison. Writes ``bench/results/loader.json``
(atomically) and prints a markdown table; ``--doc`` puts it in ``docs/datasets.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from swiftsampler.config import DataConfig
from swiftsampler.data import prepare_data
from swiftsampler.data.loader import DeviceLoader, StreamingLoader
from swiftsampler.files import write_json
from swiftsampler.report import format_table, replace_marked_block

ROOT = Path(__file__).resolve().parents[1]


def write_folder(root: Path, images: int, size: tuple[int, int], classes: int = 10) -> None:
    rng = np.random.default_rng(0)
    for split, count in (("train", images), ("val", classes)):
        for k in range(count):
            folder = root / split / f"n{k % classes:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            coarse = rng.integers(0, 256, (size[0] // 10, size[1] // 10, 3), dtype=np.uint8)
            Image.fromarray(coarse).resize((size[1], size[0]), Image.BILINEAR).save(
                folder / f"{k:06d}.jpg", quality=90)


def images_per_second(loader, plan: torch.Tensor, batch: int, passes: int) -> float:
    for _ in loader.batches(plan, batch):  # warm-up (starts persistent workers)
        pass
    start = time.perf_counter()
    for _ in range(passes):
        for _ in loader.batches(plan, batch):
            pass
    return passes * plan.numel() / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1200)
    parser.add_argument("--source-size", default="100,120", help="height,width of the JPEGs")
    parser.add_argument("--image-size", type=int, default=84)
    parser.add_argument("--workers", default="0,1,2")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/loader.json")
    parser.add_argument("--doc", default=str(ROOT / "docs/datasets.md"),
                        help="document whose loader-throughput block gets the table ('' to skip)")
    args = parser.parse_args()
    height, width = (int(v) for v in args.source_size.split(","))
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        write_folder(Path(tmp), args.images, (height, width))
        data = prepare_data(DataConfig(dataset="imagefolder", data_dir=tmp, val_ratio=0.0,
                                       dataset_params={"image_size": args.image_size}), 0)
        plan = torch.randperm(len(data.train_y), generator=torch.Generator().manual_seed(0))
        cpu = torch.device("cpu")
        for workers in (int(w) for w in args.workers.split(",")):
            loader = StreamingLoader(data.train_x, data.train_y, cpu, workers=workers,
                                     persistent=True)
            rate = images_per_second(loader, plan, args.batch, args.passes)
            records.append({"loader": "streaming", "workers": workers, "images_per_s": rate})
            print(f"streaming, {workers} workers: {rate:,.0f} images/s", file=sys.stderr)
        decoded = data.train_x.materialize()
        rate = images_per_second(DeviceLoader(decoded, data.train_y), plan, args.batch, args.passes)
        records.append({"loader": "device (decoded, in memory)", "workers": 0, "images_per_s": rate})
    write_json(args.out, {
        "images": args.images, "source_size": [height, width], "image_size": args.image_size,
        "batch": args.batch, "passes": args.passes, "records": records,
        "environment": {"cpus": os.cpu_count(), "torch": torch.__version__,
                        "python": platform.python_version(), "platform": platform.platform()},
    })
    table = format_table(["loader", "workers", "images / s"],
                         [[r["loader"], r["workers"], f"{r['images_per_s']:,.0f}"] for r in records])
    print(table)
    if args.doc:
        replace_marked_block(args.doc, "loader-throughput", table,
                             "python bench/loader.py " + " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
