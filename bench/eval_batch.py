"""How fast a validation pass runs at each evaluation batch size: the milliseconds per image of
``Trainer.evaluate("val")`` for ``cnn2d`` on Fashion-MNIST's validation split, as a ratio against
the training default's batch (1,024). It sets the search's ``trial_eval_batch`` default (128): a
search runs hundreds of validation passes, so their speed is part of its cost.

    python bench/eval_batch.py                          # 6,000 validation images, 5 rounds
    python bench/eval_batch.py --batches 64,128,256,512,1024 --threads 2

The batch sizes are timed in turns (one pass each per round, the order rotated), so a drift of
the machine's speed falls on all of them; the median of the rounds is reported. Writes
``bench/results/eval_batch.json``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

from swiftsampler.config import RunConfig
from swiftsampler.data import prepare_data
from swiftsampler.engine import Trainer
from swiftsampler.files import write_json

ROOT = Path(__file__).resolve().parents[1]
FASHION = "/usr/share/datasets/fashion-mnist"
BASELINE = 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", default="128,256,512,1024")
    parser.add_argument("--model", default="cnn2d")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/eval_batch.json")
    args = parser.parse_args()
    batches = sorted({int(b) for b in args.batches.split(",")} | {BASELINE})
    cfg = RunConfig().replace(dataset="fashion-mnist", data_dir=FASHION, model=args.model,
                              shots=2000, val_ratio=0.1, threads=args.threads)
    data = prepare_data(cfg.data, cfg.data_seed)
    trainers = {b: Trainer(cfg.replace(eval_batch_size=b), data=data) for b in batches}
    rows = int(data.val_y.shape[0])
    for trainer in trainers.values():  # one untimed pass each: allocations, caches
        trainer.evaluate("val")
    times: dict[int, list[float]] = {b: [] for b in batches}
    for round_ in range(args.rounds):
        order = batches[round_ % len(batches):] + batches[:round_ % len(batches)]
        for b in order:
            t0 = time.perf_counter()
            trainers[b].evaluate("val")
            times[b].append(time.perf_counter() - t0)
    base = statistics.median(times[BASELINE])
    table = [{"eval_batch_size": b, "ms_per_image": 1e3 * statistics.median(times[b]) / rows,
              "ratio_to_1024": statistics.median(times[b]) / base} for b in batches]
    for row in table:
        print(f"batch {row['eval_batch_size']:>5}: {row['ms_per_image']:.3f} ms/image, "
              f"{row['ratio_to_1024']:.2f} x batch {BASELINE}'s time", flush=True)
    write_json(args.out, {"model": args.model, "rows_scored": rows, "threads": args.threads,
                          "rounds": args.rounds, "platform": platform.platform(),
                          "torch": torch.__version__, "results": table})


if __name__ == "__main__":
    main()
