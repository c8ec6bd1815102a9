"""The Swift Sampler search's ablations on real data (Yao et al., NeurIPS 2024, Figure 3 and Table 9):
the outer loop's algorithm (GP, TPE, random), the feature transform (cdf, cgf) and the inner loop's
length E_o (1, 2, 4 epochs), on Fashion-MNIST with 20% symmetric label noise and ``cnn2d``.

    python bench/search_ablations.py                    # sized: 500 images per class (~2 h on 2 cores)
    python bench/search_ablations.py --seeds 0 &        # two processes, one seed set each
    python bench/search_ablations.py --seeds 1,2
    python bench/search_ablations.py --full             # all 60,000 images, 30 epochs

For each seed: one uniform training run (the unit of the cost and the accuracy to beat), then each
variant's search (the default search, ``SearchConfig()``, with one setting changed; the seed seeds
both the training and the proposals), then a training run with its card (the card itself: no online
guard). Every step's summary is a JSON file in ``--out`` (re-running skips finished steps); when
every seed of every variant is there, the table and the best-so-far plot go into docs/real_data.md
(``--no-doc``: only printed).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from reports import cached
from swift_search import FASHION, mean_std, train_summary

from swiftsampler.config import RunConfig
from swiftsampler.data import prepare_data
from swiftsampler.plots import plot_convergence
from swiftsampler.report import format_table, replace_marked_block
from swiftsampler.search import SearchConfig, SwiftSearch

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "real_data.md"
MARKER = "real-ablations"

#: short name -> (table label, the one setting changed from the default search)
VARIANTS: dict[str, tuple[str, dict]] = {
    "gp": ("GP, cdf, E_o = 1 (the default search)", {}),
    "tpe": ("TPE", {"search_algo": "tpe"}),
    "random": ("random search", {"search_algo": "random"}),
    "cgf": ("cgf transform", {"transform": "cgf"}),
    "inner-2": ("E_o = 2 inner epochs", {"inner_epochs": 2.0}),
    "inner-4": ("E_o = 4 inner epochs", {"inner_epochs": 4.0}),
}
#: the curves of the plot: the outer-loop algorithms (Yao et al., Figure 3)
ALGOS = ("gp", "tpe", "random")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="of: " + ",".join(VARIANTS))
    parser.add_argument("--full", action="store_true",
                        help="all 60,000 training images and a 30-epoch schedule")
    parser.add_argument("--shots", type=int, default=None, help="images per class (a smoke test)")
    parser.add_argument("--epochs", type=int, default=None, help="(a smoke test)")
    parser.add_argument("--out", type=Path, default=None,
                        help="(default: bench/results/search_ablations[_full])")
    parser.add_argument("--no-doc", dest="doc", action="store_false")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"--variants: unknown {unknown[0]!r} (known: {', '.join(VARIANTS)})")
    shots, epochs = (0, 30) if args.full else (500, 10)
    sized = args.shots is None and args.epochs is None and not args.full  # the docs' size
    shots, epochs = args.shots or shots, args.epochs or epochs
    out = args.out or ROOT / "bench" / "results" / ("search_ablations_full" if args.full
                                                    else "search_ablations")
    out.mkdir(parents=True, exist_ok=True)
    base = RunConfig().replace(dataset="fashion-mnist", data_dir=FASHION, model="cnn2d", noise=0.2,
                               shots=shots, epochs=epochs, val_ratio=0.1, eval_batch_size=256)
    for seed in seeds:
        cfg = base.replace(seed=seed)
        data = prepare_data(cfg.data, cfg.data_seed)
        uniform = cached(out / f"uniform_s{seed}.json", lambda cfg=cfg, data=data: train_summary(cfg, data))
        print(f"seed {seed} uniform: {100 * uniform['test_acc']:.2f}% in {uniform['wall_s']:.0f} s",
              flush=True)
        for key in variants:
            search = replace(SearchConfig(), **VARIANTS[key][1])
            folder = out / f"search_{key}_s{seed}"
            found = cached(folder / "summary.json",
                           lambda folder=folder, search=search, cfg=cfg, data=data:
                           _search(cfg, search, folder, data))
            trained = cached(out / f"train_{key}_s{seed}.json",
                             lambda folder=folder, cfg=cfg, data=data: train_summary(
                                 cfg.replace(sampler="swift", sampler_card=str(folder / "sampler.json"),
                                             sampler_params={"guard": False}), data))
            print(f"seed {seed} {key}: {found['wall_s'] / uniform['wall_s']:.2f} full runs, card "
                  f"val {100 * found['best']:.2f}%, test {100 * trained['test_acc']:.2f}%", flush=True)
    setting = (f"Fashion-MNIST, {'all' if shots == 0 else f'{shots:,}'} training images per class, "
               f"validation 10% of the training split, 20% symmetric noise, cnn2d, {epochs} epochs")
    image = ROOT / "docs" / "images" / f"{MARKER}.png" if args.doc and sized else out / "ablations.png"
    text = render(out, seeds, setting, image)
    if text is None:
        print("not every variant and seed is done yet: no table", file=sys.stderr)
        return 0
    print(text)
    if args.doc and sized:
        command = "python bench/search_ablations.py"
        replace_marked_block(DOC, MARKER, text, command)
    return 0


def _search(cfg: RunConfig, search: SearchConfig, folder: Path, data) -> dict:  # noqa: ANN001
    t0 = time.perf_counter()
    outcome = SwiftSearch(cfg, search, folder, data=data).run()
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "best": outcome["best_value"], "uniform": outcome["uniform_value"],
            "best_so_far": [row["best_so_far"] for row in outcome["trials"]],
            "pruned": outcome["card"].provenance.get("pruned", 0)}


def render(out: Path, seeds: list[int], setting: str, image: Path) -> str | None:
    """The table (and the plot, at ``image``) from every variant's seeds, or None while some are
    missing."""
    import json

    def load(name: str) -> dict | None:
        path = out / name
        return json.loads(path.read_text()) if path.exists() else None

    rows, curves = [], {}
    for key, (label, _) in VARIANTS.items():
        runs = [(load(f"uniform_s{s}.json"), load(f"search_{key}_s{s}/summary.json"),
                 load(f"train_{key}_s{s}.json")) for s in seeds]
        if any(part is None for run in runs for part in run):
            return None
        gains = [t["test_acc"] - u["test_acc"] for u, _, t in runs]
        rows.append([label, mean_std([f["best"] for _, f, _ in runs]),
                     mean_std([t["test_acc"] for _, _, t in runs]),
                     f"{100 * statistics.fmean(gains):+.2f}",
                     mean_std([f["wall_s"] / u["wall_s"] for u, f, _ in runs], scale=1.0),
                     f"{statistics.fmean(f['pruned'] for _, f, _ in runs):.1f}", str(len(runs))])
        if key in ALGOS:
            longest = min(len(f["best_so_far"]) for _, f, _ in runs)
            curves[key] = list(np.mean([f["best_so_far"][:longest] for _, f, _ in runs], axis=0))
    table = format_table(["search", "card: validation acc % (search)", "card: test acc %",
                          "card - uniform (test, points)", "cost (uniform runs)", "trials pruned",
                          "seeds"], rows)
    plot_convergence(curves, image, startup=SearchConfig().startup_trials,
                     title=f"Best validation accuracy so far, mean of {len(seeds)} seeds")
    uniform = statistics.fmean(json.loads((out / f"uniform_s{s}.json").read_text())["test_acc"]
                               for s in seeds)
    return (f"{setting}; uniform sampling: {100 * uniform:.2f}% test accuracy (mean of the seeds). "
            f"The default search with one setting changed per row; 20 trials each.\n\n{table}\n\n"
            f"![best validation accuracy so far against the trial](images/{MARKER}.png)")


if __name__ == "__main__":
    sys.exit(main())
