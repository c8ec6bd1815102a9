"""What data-parallel training costs on this machine: the statistics all-gather a step, and a
whole run with 1 and 2 processes.

    python bench/ddp.py                 # a few minutes on 2 CPU cores; writes bench/results/ddp.json

1. Under ``torchrun --nproc_per_node 2`` (gloo), the median time of one
   :func:`~swiftsampler.distributed.all_gather_rows` of a step's rows (7 float64 numbers a sample,
   ``B / 2`` samples a rank), of folding the gathered rows into :class:`SampleStats`, and of DDP's
   gradient all-reduce of the model's parameters (one ``all_reduce`` of that many floats), for
   batches of 128 and 512 over N = 18,000 samples.
2. ``swiftsampler train`` on MNIST-1D (mlp, p-sgd, budget 0.3 of 10 epochs) with ``--nproc 1`` and
   ``--nproc 2``: training seconds (``train_s`` of result.json) and test accuracy.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "ddp.json"
TRAIN = ("--dataset", "mnist1d", "--model", "mlp", "--sampler", "p-sgd", "--budget", "0.3",
         "--epochs", "10", "--seed", "0", "--progress", "off")


def _median_ms(call, repeats: int = 200) -> float:
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def collectives() -> None:
    """Run under torchrun: time the step's collectives; rank 0 prints JSON."""
    from swiftsampler.distributed import context_from_environment, leave
    from swiftsampler.stats import SampleStats

    context = context_from_environment(torch.device("cpu"))
    n, gen = 18_000, torch.Generator().manual_seed(context.rank)
    stats = SampleStats(n, "cpu")
    params = sum(p.numel() for p in _mlp().parameters())
    rows = {batch: _time_step(batch, n, params, stats, context, gen) for batch in (128, 512)}
    if context.is_main:
        print(json.dumps({"parameters": params, "by_batch": rows}))
    leave(context)


def _time_step(batch: int, n: int, params: int, stats, context, gen) -> dict:
    """The median milliseconds of a step's gather, fold and gradient all-reduce."""
    from swiftsampler.distributed import all_gather_rows

    local = torch.rand(batch // context.world_size, 7, generator=gen, dtype=torch.float64)
    local[:, 0] = torch.randint(n, (local.shape[0],), generator=gen).double()
    gathered = all_gather_rows(local, context)
    grads = torch.zeros(params)
    return {"all_gather_rows_ms": _median_ms(lambda: all_gather_rows(local, context)),
            "fold_ms": _median_ms(lambda: stats.fold(gathered[:, 0].long(),
                                                     gathered[:, 1:6].float(), 0,
                                                     gathered[:, 6].float())),
            "gradient_all_reduce_ms": _median_ms(lambda: dist.all_reduce(grads))}


def _mlp() -> torch.nn.Module:
    from swiftsampler.models import create_model

    return create_model("mlp", 10, (1, 40))


def _train(nproc: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "swiftsampler", "train", "--nproc", str(nproc),
                        *TRAIN, "--out", out], check=True, capture_output=True)
        result = json.loads((Path(out) / "result.json").read_text())
    return {"nproc": nproc, "train_s": round(result["train_s"], 2),
            "wall_s": round(result["wall_s"], 2), "test_acc": result["test_acc"],
            "iterations": result["cost"]["iterations"]}


def main() -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", __file__, "--collectives"], env=env,
                          check=True, capture_output=True, text=True)
    report = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "torch": torch.__version__, "collectives_2_ranks_gloo": json.loads(
                  done.stdout.strip().splitlines()[-1]),
              "train": [_train(1), _train(2)], "command": " ".join(TRAIN)}
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    collectives() if "--collectives" in sys.argv else main()
