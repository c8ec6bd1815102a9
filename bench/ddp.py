"""What data-parallel training costs on this machine: the statistics all-gather a step, and a
whole run with 1 and 2 processes.

    python bench/ddp.py                 # a few minutes on 2 CPU cores; writes bench/results/ddp.json

1. Under ``torchrun --nproc_per_node 2`` (gloo), the median time of one
   :func:`~swiftsampler.distributed.all_gather_rows` of a step's rows (7 float64 numbers a sample,
   ``B / 2`` samples a rank), of folding the gathered rows into :class:`SampleStats`, and of DDP's
   gradient all-reduce of the model's parameters (one ``all_reduce`` of that many floats), for
   batches of 128 and 512 over N = 18,000 samples.
   Also a batch-then-sample step's two gathers (a candidate batch of ``3 B``): the candidates'
   scores (index, loss, target, 10 logits; float64 rows) and the inputs (40 floats) of the third
   of them kept (:func:`~swiftsampler.distributed.all_gather_taken`).
2. ``swiftsampler train --dataset mnist1d --budget 0.3`` (cnn1d, 20 epochs, the defaults) with
   p-SGD and selective backprop, ``--nproc 1`` and ``--nproc 2`` (the same global batch), seeds
   0-2: training seconds (``train_s`` of result.json), backward samples and test accuracy.

    python bench/ddp.py --seeds 0      # one seed: about half the time
    python bench/ddp.py --doc-only     # the README's table from bench/results/ddp.json
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
TRAIN = ("--dataset", "mnist1d", "--budget", "0.3", "--progress", "off")
SAMPLERS = ("p-sgd", "selective-backprop")


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
    from swiftsampler.distributed import all_gather_rows, all_gather_taken

    local = torch.rand(batch // context.world_size, 7, generator=gen, dtype=torch.float64)
    local[:, 0] = torch.randint(n, (local.shape[0],), generator=gen).double()
    gathered = all_gather_rows(local, context)
    grads = torch.zeros(params)
    candidates = 3 * batch  # a batch-then-sample step: scores of 3B candidates, inputs of B kept
    scores = torch.rand(candidates // context.world_size, 13, dtype=torch.float64, generator=gen)
    inputs = torch.rand(candidates // context.world_size, 40, generator=gen)
    kept = torch.randperm(candidates, generator=torch.Generator().manual_seed(0))[:batch]
    return {"all_gather_rows_ms": _median_ms(lambda: all_gather_rows(local, context)),
            "fold_ms": _median_ms(lambda: stats.fold(gathered[:, 0].long(),
                                                     gathered[:, 1:6].float(), 0,
                                                     gathered[:, 6].float())),
            "gradient_all_reduce_ms": _median_ms(lambda: dist.all_reduce(grads)),
            "select_scores_gather_ms": _median_ms(lambda: all_gather_rows(scores, context)),
            "select_inputs_gather_ms": _median_ms(lambda: all_gather_taken(inputs, kept, context))}


def _mlp() -> torch.nn.Module:
    from swiftsampler.models import create_model

    return create_model("mlp", 10, (1, 40))


def _train(sampler: str, seed: int, nproc: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "swiftsampler", "train", "--nproc", str(nproc),
                        *TRAIN, "--sampler", sampler, "--seed", str(seed), "--out", out],
                       check=True, capture_output=True)
        result = json.loads((Path(out) / "result.json").read_text())
    return {"sampler": sampler, "seed": seed, "nproc": nproc,
            "train_s": round(result["train_s"], 2), "wall_s": round(result["wall_s"], 2),
            "test_acc": result["test_acc"], "iterations": result["cost"]["iterations"],
            "backward_samples": result["cost"]["backward_samples"]}


def _summary(runs: list[dict]) -> list[dict]:
    """Per sampler: the mean test accuracy with 1 and 2 processes, the mean difference and the
    largest per-seed difference (2 - 1), and whether the backward samples were the same."""
    rows = []
    for sampler in SAMPLERS:
        pairs = {}
        for run in runs:
            if run["sampler"] == sampler:
                pairs.setdefault(run["seed"], {})[run["nproc"]] = run
        diffs = [p[2]["test_acc"] - p[1]["test_acc"] for p in pairs.values()]
        rows.append({"sampler": sampler, "seeds": len(pairs),
                     "test_acc_1": statistics.fmean(p[1]["test_acc"] for p in pairs.values()),
                     "test_acc_2": statistics.fmean(p[2]["test_acc"] for p in pairs.values()),
                     "mean_difference": statistics.fmean(diffs),
                     "largest_difference": max(diffs, key=abs),
                     "backward_1": [p[1]["backward_samples"] for p in pairs.values()],
                     "backward_2": [p[2]["backward_samples"] for p in pairs.values()],
                     "train_s_1": statistics.fmean(p[1]["train_s"] for p in pairs.values()),
                     "train_s_2": statistics.fmean(p[2]["train_s"] for p in pairs.values())})
    return rows


def table(report: dict) -> str:
    """The README's scale-out table: per sampler, 1 vs 2 processes; then the collectives."""
    from swiftsampler.report import format_table

    rows = [[row["sampler"], str(row["seeds"]), f"{100 * row['test_acc_1']:.2f}",
             f"{100 * row['test_acc_2']:.2f}", f"{100 * row['mean_difference']:+.2f}",
             f"{100 * row['largest_difference']:+.2f}",
             "same" if row["backward_1"] == row["backward_2"] else
             f"{max(abs(a - b) for a, b in zip(row['backward_1'], row['backward_2']))} apart",
             f"{row['train_s_1']:.1f}", f"{row['train_s_2']:.1f}"] for row in report["summary"]]
    runs = format_table(["sampler", "seeds", "test acc % (1 process)", "test acc % (2 ranks)",
                         "mean difference", "largest difference", "backward samples",
                         "train s (1)", "train s (2)"], rows)
    by_batch = report["collectives_2_ranks_gloo"]["by_batch"]
    collectives = format_table(
        ["global batch", "statistics all-gather ms", "fold ms", "gradient all-reduce ms",
         "select: scores gather ms", "select: kept inputs gather ms"],
        [[batch, *(f"{ms[k]:.2f}" for k in ("all_gather_rows_ms", "fold_ms",
                                            "gradient_all_reduce_ms", "select_scores_gather_ms",
                                            "select_inputs_gather_ms"))]
         for batch, ms in by_batch.items()])
    return (f"`swiftsampler train {report['command']} --sampler S --seed K --nproc 1|2` on "
            f"{report['machine']} (torch {report['torch']}, gloo, one thread a rank; the two ranks "
            f"share the two cores):\n\n{runs}\n\nOne step's collectives with 2 gloo ranks (median ms; "
            f"the MLP's {report['collectives_2_ranks_gloo']['parameters']:,} parameters for the "
            f"all-reduce; a batch-then-sample step gathers the scores of 3 B candidates and the "
            f"inputs of the B kept):\n\n{collectives}")


def main() -> None:
    if "--doc-only" in sys.argv:
        _write_doc(json.loads(OUT.read_text()))
        return
    seeds = [int(s) for s in (sys.argv[sys.argv.index("--seeds") + 1]
                              if "--seeds" in sys.argv else "0,1,2").split(",")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", __file__, "--collectives"], env=env,
                          check=True, capture_output=True, text=True)
    report = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "torch": torch.__version__, "collectives_2_ranks_gloo": json.loads(
                  done.stdout.strip().splitlines()[-1]),
              "command": " ".join(TRAIN)}
    runs = [_train(sampler, seed, nproc) for sampler in SAMPLERS for seed in seeds
            for nproc in (1, 2)]
    report.update(train=runs, summary=_summary(runs))
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    _write_doc(report)


def _write_doc(report: dict) -> None:
    from swiftsampler.report import replace_marked_block

    replace_marked_block(ROOT / "README.md", "ddp-summary", table(report), "python bench/ddp.py")


if __name__ == "__main__":
    collectives() if "--collectives" in sys.argv else main()
