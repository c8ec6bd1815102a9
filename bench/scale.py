"""How planning scales with the training-set size N: time of ``plan_epoch``, of a batch's ``select``
and of the statistics update, and bytes of per-sample state, from 10^4 to 10^8 samples.

    python bench/scale.py                       # N = 10^4 ... 10^7, 3 repeats (a few minutes)
    python bench/scale.py --max-exponent 8      # up to 10^8 (needs ~6 GB of memory)

Statistics are simulated (every sample seen once with random logits over 10 classes), then each
sampler plans an epoch at budget 0.3 (``round(0.3 N)`` samples); batch-then-sample methods score one
candidate batch; ``SampleStats.record`` folds one training batch of 128 in. The median of
``--repeats`` timed calls after one untimed call, on the CPU with ``--threads`` intra-op threads.
Writes ``bench/results/scale.json`` and, with ``--doc``, the table in docs/performance.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

from swiftsampler.files import write_json
from swiftsampler.report import format_table, replace_marked_block
from swiftsampler.samplers import BatchScores, EpochInfo, create_sampler
from swiftsampler.stats import SampleStats

ROOT = Path(__file__).resolve().parents[1]
PLANNERS = ("uniform", "rs2", "p-sgd", "c-sgd", "infobatch", "online-batch-selection", "swift")
SELECTORS = ("selective-backprop", "uis", "ordered-sgd")
SWIFT = {"params": [1.0, 0.8, 0.6, 0.4, 0.2, 1.0, 0.8, 0.6, 0.4, 0.2]}


def simulated_stats(n: int, generator: torch.Generator) -> SampleStats:
    stats = SampleStats(n)
    for start in range(0, n, 1 << 20):  # in chunks: the logits of 10^8 samples do not fit
        idx = torch.arange(start, min(n, start + (1 << 20)))
        logits = torch.randn(idx.numel(), 10, generator=generator)
        targets = torch.randint(0, 10, (idx.numel(),), generator=generator)
        losses = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
        stats.record(idx, logits, targets, losses, step=0)
    return stats


def timed(fn, repeats: int) -> float:  # noqa: ANN001
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def state_bytes(stats: SampleStats) -> int:
    return sum(getattr(stats, name).element_size() for name in (*SampleStats._FIELDS, "_scratch"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-exponent", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/scale.json")
    parser.add_argument("--doc", action="store_true", help="write the table into docs/performance.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    rows: list[dict] = []
    for exponent in range(4, args.max_exponent + 1):
        n = 10 ** exponent
        stats = simulated_stats(n, g)
        info = EpochInfo(epoch=1, progress=0.5, n_samples=round(0.3 * n))
        row: dict = {"n": n, "state_bytes_per_sample": state_bytes(stats)}
        for name in PLANNERS:
            sampler = create_sampler(name, n, budget=0.3, **(SWIFT if name == "swift" else {}))
            row[f"plan:{name}"] = timed(
                lambda s=sampler, stats=stats, info=info: s.plan_epoch(stats, g, info), args.repeats)
        logits = torch.randn(384, 10, generator=g)
        targets = torch.randint(0, 10, (384,), generator=g)
        scores = BatchScores(torch.nn.functional.cross_entropy(logits, targets, reduction="none"),
                             logits, targets)
        for name in SELECTORS:
            sampler = create_sampler(name, n, budget=0.3)
            row[f"select:{name}"] = timed(
                lambda s=sampler, n=n, scores=scores: s.select(
                    torch.randint(0, n, (384,), generator=g), scores, g), args.repeats)
        batch = torch.randint(0, n, (128,), generator=g)
        row["record"] = timed(lambda stats=stats, batch=batch, logits=logits, targets=targets,
                              losses=scores.losses: stats.record(batch, logits[:128], targets[:128],
                                                                 losses[:128], step=1), args.repeats)
        rows.append(row)
        print(f"N = {n:.0e}: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in row.items()
                                            if isinstance(v, float)), flush=True)
        del stats
    write_json(args.out, {"threads": args.threads, "repeats": args.repeats,
                          "platform": platform.platform(), "torch": torch.__version__, "rows": rows})
    headers = ["N", "bytes/sample", *[k.split(":")[1] for k in rows[0] if k.startswith("plan:")],
               "select (SB / UIS / OSGD)", "record (B = 128)"]
    table = [[f"{r['n']:.0e}", str(r["state_bytes_per_sample"]),
              *[_ms(r[k]) for k in r if k.startswith("plan:")],
              " / ".join(_ms(r[f"select:{s}"]) for s in SELECTORS), _ms(r["record"])] for r in rows]
    text = format_table(headers, table)
    print(text)
    under_a_second = [r["n"] for r in rows
                      if max(v for k, v in r.items() if k.startswith("plan:")) < 1.0]
    print(f"largest N planned by every sampler in under a second: "
          f"{max(under_a_second):.0e}" if under_a_second else "none under a second")
    if args.doc:
        replace_marked_block(ROOT / "docs/performance.md", "scale", text,
                             f"python bench/scale.py --max-exponent {args.max_exponent} "
                             f"--threads {args.threads}")


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


if __name__ == "__main__":
    main()
