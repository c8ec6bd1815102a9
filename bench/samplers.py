"""Samplers x augmentations on MNIST-1D at several budgets and seeds: accuracy, cost and wall time.

    python bench/samplers.py          # the sampler table in docs/samplers.md (about 30 min, 2 CPUs)
    python bench/samplers.py --samplers uniform --augments none,standard,cutout,mixup,cutmix,ricap,\
randaugment,standard+ricap --doc docs/augmentations.md --marker augment-table

Each run's summary is one JSON file in ``bench/results/runs/`` (re-running skips the runs already
there; several processes can share the work: each claims a run with a lock file first). The mean ± std
table goes between the ``<!-- MARKER:start/end -->`` lines of ``--doc``. An augmentation setting is
``none`` or names joined by ``+`` (``standard+ricap``). ``--threads 1`` with two processes uses a
2-core machine better than one process with two threads (the models are small).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
from pathlib import Path

from swiftsampler.config import RunConfig
from swiftsampler.data import prepare_data
from swiftsampler.engine import train
from swiftsampler.files import write_json
from swiftsampler.report import format_table, replace_marked_block
from swiftsampler.samplers import list_samplers

ROOT = Path(__file__).resolve().parents[1]


def run_key(sampler: str, augment: str, budget: float, seed: int) -> str:
    return f"{sampler}__{augment}__b{budget:g}__s{seed}"


def load_runs(folder: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def claim(folder: Path, key: str) -> bool:
    """True if this process may run ``key``: not done and no other process holds its lock."""
    if (folder / f"{key}.json").exists():
        return False
    try:
        os.close(os.open(folder / f"{key}.lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def mean_std(values: list[float], scale: float = 100.0, digits: int = 2) -> str:
    m = statistics.fmean(values) * scale
    s = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def table(runs: dict[str, dict], samplers: list[str], augments: list[str],
          budgets: list[float]) -> str:
    def group(sampler: str, augment: str, budget: float) -> dict[int, dict]:
        return {r["seed"]: r for r in runs.values() if r["sampler"] == sampler
                and r.get("augment", "none") == augment and r["budget"] == budget}

    rows = []
    for budget in budgets:
        for sampler in samplers:
            base = group(sampler, "none", budget)
            for augment in augments:
                runs_here = group(sampler, augment, budget)
                if not runs_here:
                    continue
                cells = list(runs_here.values())
                paired = [runs_here[s]["test_acc"] - base[s]["test_acc"] for s in runs_here
                          if s in base]
                delta = "" if augment == "none" or not paired else mean_std(paired)
                rows.append([
                    f"{budget:g}", sampler, augment, mean_std([r["test_acc"] for r in cells]),
                    delta, f"{statistics.fmean(r['backward_samples'] for r in cells):,.0f}",
                    f"{statistics.fmean(r['forward_samples'] for r in cells):,.0f}",
                    f"{statistics.fmean(r['epochs'] for r in cells):.0f}",
                    f"{statistics.fmean(r['wall_s'] for r in cells):.1f}", str(len(cells)),
                ])
    return format_table(["budget", "sampler", "augment", "test acc % (mean ± std)",
                         "Δ vs no augmentation (pts)", "backward samples", "forward samples",
                         "epochs", "wall s", "seeds"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samplers", default=",".join(list_samplers()))
    parser.add_argument("--augments", default="none")
    parser.add_argument("--budgets", default="0.3,1.0")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/runs",
                        help="folder of per-run JSON files")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads per run (default: 1)")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs/samplers.md")
    parser.add_argument("--marker", default="samplers-table")
    args = parser.parse_args()
    samplers = args.samplers.split(",")
    augments = args.augments.split(",")
    budgets = [float(b) for b in args.budgets.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        base = RunConfig().replace(dataset="mnist1d", model="cnn1d", epochs=args.epochs, seed=seed,
                                   threads=args.threads)
        data = None
        for budget in budgets:
            for sampler, augment in itertools.product(samplers, augments):
                key = run_key(sampler, augment, budget, seed)
                if not claim(args.out, key):
                    continue
                try:
                    data = data or prepare_data(base.data, base.data_seed)
                    cfg = base.replace(sampler=sampler, budget=budget, augment=augment.split("+"))
                    result = train(cfg, data=data)
                    summary = {
                        "sampler": sampler, "augment": augment, "budget": budget, "seed": seed,
                        "test_acc": result["test_acc"], "val_acc": result["val_acc"],
                        "epochs": result["epochs"], "wall_s": result["wall_s"],
                        "backward_samples": result["cost"]["backward_samples"],
                        "forward_samples": result["cost"]["forward_samples"],
                        "threads": result["environment"]["threads"],
                        "device": result["environment"]["device"],
                    }
                    write_json(args.out / f"{key}.json", summary)
                    print(f"{key}: test {100 * result['test_acc']:.2f}%  {result['wall_s']:.1f}s",
                          flush=True)
                finally:
                    (args.out / f"{key}.lock").unlink(missing_ok=True)
    runs = load_runs(args.out)
    text = table(runs, samplers, augments, budgets)
    print(text)
    replace_marked_block(args.doc, args.marker, text,
                         "python bench/samplers.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
