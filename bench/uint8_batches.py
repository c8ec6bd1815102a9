"""Batches of MNIST-sized images from memory: slicing float32 versus slicing uint8 and converting per batch.

    python bench/uint8_batches.py                         # 60,000 x 1 x 28 x 28, batches of 128, CPU
    python bench/uint8_batches.py --devices cpu,cuda --passes 5

The in-memory loader (:class:`~swiftsampler.data.loader.DeviceLoader`) keeps a split as one float32
tensor and a batch is ``x[idx]``. The alternative is to keep the raw uint8 pixels (4 times less memory)
and standardise each batch after slicing: ``x_u8[idx].float() * (1 / (255 std)) - mean / std``. Both
paths are timed over full passes of a shuffled plan (after one untimed warm-up pass), on random uint8
pixels of the Fashion-MNIST shape; they give the same float32 batches up to rounding (checked). The two
paths alternate for ``--repeats`` rounds and each reports its median rate, so that a burst of load on a
shared machine does not favour one of them. Writes
``bench/results/uint8_batches.json`` (atomically) and prints a markdown table; ``--doc`` puts it in
``docs/datasets.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from swiftsampler.data.loader import batch_slices
from swiftsampler.files import write_json
from swiftsampler.report import format_table, replace_marked_block

ROOT = Path(__file__).resolve().parents[1]
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST's training-pixel statistics on the [0, 1] scale


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def samples_per_second(batch: Callable[[Tensor], Tensor], plan: Tensor, size: int, passes: int,
                       device: torch.device) -> float:
    slices = batch_slices(plan.numel(), size)
    for sl in slices:  # warm-up
        batch(plan[sl])
    synchronize(device)
    start = time.perf_counter()
    for _ in range(passes):
        for sl in slices:
            batch(plan[sl])
    synchronize(device)
    return passes * plan.numel() / (time.perf_counter() - start)


def batch_paths(x_u8: Tensor, scale: float, shift: float) -> dict[str, Callable[[Tensor], Tensor]]:
    """The two ways to get a standardised float32 batch for indices ``idx``."""
    x_f32 = (x_u8.float() * scale - shift).contiguous()
    return {"float32 slice": lambda idx: x_f32[idx],
            "uint8 slice + convert": lambda idx: x_u8[idx].float().mul_(scale).sub_(shift)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=60000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--devices", default="cpu", help="comma-separated, e.g. cpu,cuda")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/uint8_batches.json")
    parser.add_argument("--doc", default=str(ROOT / "docs/datasets.md"),
                        help="document whose uint8-batches block gets the table ('' to skip)")
    args = parser.parse_args()
    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (args.images, 1, 28, 28), dtype=torch.uint8, generator=g)
    plan_cpu = torch.randperm(args.images, generator=g)
    scale, shift = 1.0 / (255.0 * STD), MEAN / STD
    records = []
    for name in args.devices.split(","):
        device = torch.device(name)
        paths = batch_paths(pixels.to(device), scale, shift)
        plan = plan_cpu.to(device)
        probe = plan[: args.batch]
        assert torch.allclose(*(fn(probe) for fn in paths.values()), atol=1e-5)
        runs: dict[str, list[float]] = {path: [] for path in paths}
        for _ in range(args.repeats):
            for path, fn in paths.items():
                runs[path].append(samples_per_second(fn, plan, args.batch, args.passes, device))
        rates = {path: statistics.median(values) for path, values in runs.items()}
        for path, rate in rates.items():
            records.append({"device": str(device), "path": path, "samples_per_s": rate,
                            "relative": rate / rates["float32 slice"]})
            print(f"{device} {path}: {rate:,.0f} samples/s", file=sys.stderr)
    write_json(args.out, {
        "images": args.images, "shape": [1, 28, 28], "batch": args.batch, "passes": args.passes,
        "repeats": args.repeats,
        "records": records,
        "environment": {"cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                        "torch": torch.__version__, "python": platform.python_version(),
                        "platform": platform.platform()},
    })
    table = format_table(["device", "batch path", "samples / s", "relative to float32"],
                         [[r["device"], r["path"], f"{r['samples_per_s']:,.0f}",
                           f"{r['relative']:.2f}"] for r in records])
    print(table)
    if args.doc:
        replace_marked_block(args.doc, "uint8-batches", table,
                             "python bench/uint8_batches.py " + " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
