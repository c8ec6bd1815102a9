"""Throughput of every registered augmentation: batched versus a per-sample loop, on CPU (and CUDA).

    python bench/augment.py                                  # 256-sample batches, CPU and CUDA if any
    python bench/augment.py --augmentations randaugment --devices cpu --repeats 3 --batch 64

For each augmentation, data kind (an image batch B x 3 x 32 x 32 and a signal batch B x 1 x 40; kinds an
augmentation does not support are skipped) and device, times the augmentation applied to the whole batch
and applied to each sample separately as a batch of 1, after a few warm-up calls, with
``time.perf_counter`` (CUDA: synchronised around each timed call). Writes one record per (augmentation,
kind, device) to ``bench/results/augment.json`` (atomically: a
temporary file, then ``os.replace``) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from swiftsampler.augment import AUGMENTATIONS, AugmentContext, list_augmentations
from swiftsampler.files import write_json
from swiftsampler.report import format_table, replace_marked_block

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {"image": (3, 32, 32), "signal": (1, 40)}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds(fn: Callable[[], None], device: torch.device, warmup: int, repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, kind: str, device: torch.device, batch: int, warmup: int, repeats: int) -> dict | None:
    """One record, or None when ``name`` does not support ``kind``."""
    data = torch.randn(batch, *SHAPES[kind], generator=torch.Generator().manual_seed(0))
    try:
        aug = AUGMENTATIONS.create(name, AugmentContext.from_inputs(kind, data))
    except ValueError:
        return None
    x = data.to(device)
    generator = torch.Generator().manual_seed(0)

    def batched() -> None:
        aug(x, generator)

    def per_sample() -> None:
        for i in range(batch):
            aug(x[i:i + 1], generator)

    t_batched = seconds(batched, device, warmup, repeats)
    t_loop = seconds(per_sample, device, warmup, repeats)
    return {
        "augmentation": name, "kind": kind, "device": str(device), "batch": batch,
        "shape": list(SHAPES[kind]),
        "batched_samples_per_s": batch / t_batched,
        "loop_samples_per_s": batch / t_loop,
        "speedup": t_loop / t_batched,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--augmentations", default=",".join(list_augmentations()),
                        help="comma-separated names (default: all registered)")
    parser.add_argument("--kinds", default="image,signal")
    parser.add_argument("--devices", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/augment.json")
    parser.add_argument("--doc", default=str(ROOT / "docs/augmentations.md"),
                        help="document whose augment-throughput block gets the table ('' to skip)")
    args = parser.parse_args()
    if args.batch < 1 or args.repeats < 1 or args.warmup < 0:
        parser.error("--batch and --repeats must be >= 1 and --warmup >= 0")

    records = []
    for device in map(torch.device, args.devices.split(",")):
        for name in args.augmentations.split(","):
            for kind in args.kinds.split(","):
                record = measure(name, kind, device, args.batch, args.warmup, args.repeats)
                if record is not None:
                    records.append(record)
                    print(f"{name:>12} {kind:>6} {device}: {record['batched_samples_per_s']:,.0f} samples/s "
                          f"(x{record['speedup']:.1f} over the per-sample loop)", flush=True)
    meta = {
        "torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "batch": args.batch, "warmup": args.warmup, "repeats": args.repeats,
        "timing": "median seconds per call; samples/s = batch / median",
    }
    write_json(args.out, {"meta": meta, "records": records})
    rows = [[r["augmentation"], r["kind"], r["device"], f"{r['batched_samples_per_s']:,.0f}",
             f"{r['loop_samples_per_s']:,.0f}", f"{r['speedup']:.1f}"] for r in records]
    text = format_table(["augmentation", "kind", "device", "batched samples/s",
                         "per-sample loop samples/s", "speed-up"], rows)
    print()
    print(text)
    print(f"\nwrote {args.out}")
    if args.doc:
        replace_marked_block(args.doc, "augment-throughput", text,
                             "python bench/augment.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
