"""Every sampler on MNIST-1D at several budgets and seeds: accuracy, cost and wall time.

    python bench/samplers.py                      # the table in docs/samplers.md (about 30 min, 2 CPUs)
    python bench/samplers.py --samplers uniform,p-sgd --budgets 0.3 --seeds 0

Writes every run's summary to ``bench/results/samplers.json`` (re-running skips the runs already
there) and the mean ± std table between the markers in ``docs/samplers.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from swiftsampler.config import RunConfig
from swiftsampler.data import prepare_data
from swiftsampler.engine import train
from swiftsampler.files import write_atomic, write_json
from swiftsampler.report import format_table
from swiftsampler.samplers import list_samplers

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- samplers-table:start -->", "<!-- samplers-table:end -->"


def run_key(sampler: str, budget: float, seed: int) -> str:
    return f"{sampler}|{budget:g}|{seed}"


def mean_std(values: list[float], scale: float = 100.0, digits: int = 2) -> str:
    m = statistics.fmean(values) * scale
    s = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def table(runs: dict[str, dict], samplers: list[str], budgets: list[float]) -> str:
    rows = []
    for budget in budgets:
        for sampler in samplers:
            group = [r for r in runs.values() if r["sampler"] == sampler and r["budget"] == budget]
            if not group:
                continue
            rows.append([
                f"{budget:g}", sampler, mean_std([r["test_acc"] for r in group]),
                f"{statistics.fmean(r['backward_samples'] for r in group):,.0f}",
                f"{statistics.fmean(r['forward_samples'] for r in group):,.0f}",
                f"{statistics.fmean(r['epochs'] for r in group):.0f}",
                f"{statistics.fmean(r['wall_s'] for r in group):.1f}", str(len(group)),
            ])
    return format_table(["budget", "sampler", "test acc % (mean ± std)", "backward samples",
                         "forward samples", "epochs", "wall s", "seeds"], rows)


def write_doc(doc: Path, text: str, command: str) -> None:
    body = doc.read_text()
    if START not in body or END not in body:
        sys.exit(f"{doc} has no {START} ... {END} markers")
    head, rest = body.split(START, 1)
    _, tail = rest.split(END, 1)
    block = f"{START}\n<!-- produced by: {command} -->\n{text}\n{END}"
    write_atomic(doc, lambda fh: fh.write((head + block + tail).encode()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samplers", default=",".join(list_samplers()))
    parser.add_argument("--budgets", default="0.3,1.0")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/samplers.json")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs/samplers.md")
    args = parser.parse_args()
    samplers = args.samplers.split(",")
    budgets = [float(b) for b in args.budgets.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    runs: dict[str, dict] = json.loads(args.out.read_text())["runs"] if args.out.exists() else {}
    for seed in seeds:
        base = RunConfig().replace(dataset="mnist1d", model="cnn1d", epochs=args.epochs, seed=seed)
        data = None
        for budget in budgets:
            for sampler in samplers:
                key = run_key(sampler, budget, seed)
                if key in runs:
                    continue
                data = data or prepare_data(base.data, base.data_seed)
                result = train(base.replace(sampler=sampler, budget=budget), data=data)
                runs[key] = {
                    "sampler": sampler, "budget": budget, "seed": seed,
                    "test_acc": result["test_acc"], "val_acc": result["val_acc"],
                    "epochs": result["epochs"], "wall_s": result["wall_s"],
                    "backward_samples": result["cost"]["backward_samples"],
                    "forward_samples": result["cost"]["forward_samples"],
                }
                print(f"{key}: test {100 * result['test_acc']:.2f}%  {result['wall_s']:.1f}s",
                      flush=True)
                write_json(args.out, {"device": result["environment"], "runs": runs})
    text = table(runs, samplers, budgets)
    print(text)
    write_doc(args.doc, text, "python bench/samplers.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
