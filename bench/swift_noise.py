"""Swift Sampler on noisy MNIST-1D: uniform vs clean-only vs the searched sampler, its transfer to
another model, the search's cost, and the search algorithms compared.

    python bench/swift_noise.py                     # the tables and figures of docs/swift_sampler.md
    python bench/swift_noise.py --seeds 0 --n-trials 10 --algos gp

With ``--noise 0.4`` (symmetric), budget 1.0 and the default training settings it runs, for each seed,
cnn1d with uniform sampling, cnn1d on the clean samples only (an oracle), cnn1d with the sampler found
by ``swiftsampler search`` (searched once, with cnn1d and the first seed), and the same card on ``mlp``
against uniform ``mlp`` (transfer). Each run's summary is a JSON file in ``--out`` (re-running skips
finished runs); the tables go into docs/swift_sampler.md and the figures into docs/images/.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from reports import cached

from swiftsampler.config import RunConfig
from swiftsampler.data import prepare_data
from swiftsampler.engine import train
from swiftsampler.plots import plot_convergence
from swiftsampler.report import format_table, replace_marked_block
from swiftsampler.search import SearchConfig, SwiftSearch
from swiftsampler.search.report import search_plots

ROOT = Path(__file__).resolve().parents[1]
#: The cards are measured as they are, without the online guard (bench/guard_transfer.py measures it).
UNGUARDED = {"guard": False}


def summary(result: dict) -> dict:
    return {"test_acc": result["test_acc"], "val_acc": result["val_acc"], "wall_s": result["wall_s"],
            "noisy_mass": result.get("noise", {}).get("sampling_mass_on_noisy"),
            "backward_samples": result["cost"]["backward_samples"]}


def mean_std(values: list[float], scale: float = 100.0) -> str:
    m = statistics.fmean(values) * scale
    s = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{m:.2f} ± {s:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--noise", type=float, default=0.4)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--n-trials", type=int, default=30)
    parser.add_argument("--algos", default="gp,tpe,random")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/swift")
    parser.add_argument("--doc", default=str(ROOT / "docs/swift_sampler.md"))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    algos = args.algos.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    base = RunConfig().replace(dataset="mnist1d", model="cnn1d", noise=args.noise)
    command = "python bench/swift_noise.py " + " ".join(sys.argv[1:])

    # The search: once per algorithm, with cnn1d and the first seed.
    searches = {}
    first = base.replace(seed=seeds[0])
    data0 = prepare_data(first.data, first.data_seed)
    for algo in algos:
        folder = args.out / f"search_{algo}"

        def run_search(folder: Path = folder, algo: str = algo) -> dict:
            t0 = time.perf_counter()
            runner = SwiftSearch(first, SearchConfig(n_trials=args.n_trials, search_algo=algo),
                                 folder, data=data0)
            outcome = runner.run()
            if algo == algos[0]:
                search_plots(runner, outcome)
            return {"wall_s": time.perf_counter() - t0, "best": outcome["best_value"],
                    "uniform": outcome["uniform_value"],
                    "values": [t["val_acc"] for t in outcome["trials"]]}

        searches[algo] = cached(folder / "summary.json", run_search)
    card = str(args.out / f"search_{algos[0]}" / "sampler.json")

    runs: dict[str, list[dict]] = {}
    settings = {
        "cnn1d uniform": base,
        "cnn1d clean samples only (oracle)": base.replace(drop_noisy=True),
        "cnn1d swift (searched with cnn1d)": base.replace(sampler="swift", sampler_card=card,
                                                          sampler_params=UNGUARDED),
        "mlp uniform": base.replace(model="mlp"),
        "mlp swift (card from cnn1d)": base.replace(model="mlp", sampler="swift",
                                                    sampler_card=card, sampler_params=UNGUARDED),
    }
    for seed in seeds:
        data = None
        for label, cfg in settings.items():
            path = args.out / f"{label.split(' (')[0].replace(' ', '_')}_s{seed}.json"

            def run(cfg: RunConfig = cfg, seed: int = seed) -> dict:
                nonlocal data
                data = data or prepare_data(cfg.replace(seed=seed).data, seed)
                if cfg.data.drop_noisy:
                    return summary(train(cfg.replace(seed=seed)))
                return summary(train(cfg.replace(seed=seed), data=data))

            runs.setdefault(label, []).append(cached(path, run))
            print(f"{label} seed {seed}: {100 * runs[label][-1]['test_acc']:.2f}%", flush=True)

    rows = [[label, mean_std([r["test_acc"] for r in rs]),
             "-" if rs[0]["noisy_mass"] is None else mean_std([r["noisy_mass"] for r in rs], 100),
             f"{statistics.fmean(r['wall_s'] for r in rs):.1f}", str(len(rs))]
            for label, rs in runs.items()]
    table = format_table(["setting", "test acc %", "mislabelled share of drawn samples %",
                          "wall s", "seeds"], rows)
    uniform_wall = runs["cnn1d uniform"][0]["wall_s"]
    cost_rows = [[algo, f"{100 * s['uniform']:.2f}", f"{100 * s['best']:.2f}",
                  f"{s['wall_s']:.1f}", f"{s['wall_s'] / uniform_wall:.2f}"]
                 for algo, s in searches.items()]
    cost = format_table(["search algorithm", "uniform trial val acc %", "best val acc %",
                         "search wall s", "× one uniform cnn1d run"], cost_rows)
    images = ROOT / "docs/images"
    images.mkdir(parents=True, exist_ok=True)
    plot_convergence({a: s["values"] for a, s in searches.items()}, images / "swift_convergence.png",
                     uniform=searches[algos[0]]["uniform"], startup=SearchConfig().startup_trials,
                     title=f"Search on MNIST-1D, {args.noise:.0%} label noise")
    sampler_png = args.out / f"search_{algos[0]}" / "sampler.png"
    if sampler_png.exists():
        (images / "swift_sampler.png").write_bytes(sampler_png.read_bytes())
    print(table, "\n", cost, sep="\n")
    if args.doc:
        replace_marked_block(args.doc, "swift-results", table, command)
        replace_marked_block(args.doc, "swift-cost", cost, command)


if __name__ == "__main__":
    torch.set_num_threads(torch.get_num_threads())
    main()
