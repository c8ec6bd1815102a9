"""A swift search (issue 18): the search's cost in full-run units and its card's test accuracy, for
the search with every speed-up (the default) and with none (30 full inner loops), on Fashion-MNIST
with 40% symmetric label noise and ``cnn2d``.

    python bench/swift_search.py                      # the reduced setting (100 images per class)
    python bench/swift_search.py --full-size          # the issue's setting: 20k images, val 10%
    python bench/swift_search.py --variants pruning,subset --seeds 0,1,2
    python bench/swift_search.py --shots 500 --seeds 0,1,2 --out bench/results/swift_search_500 \
        --doc docs/swift_sampler.md --marker swift-search-500   # 5,000 training images

The table is printed; ``--doc PAGE`` also writes it into PAGE's ``--marker`` block (so a run of one
seed or one variant does not replace a table of the docs).

For each seed: one uniform training run (the unit of the cost: its wall time, same process, same
machine), then each search variant, then a training run with each variant's card (test accuracy).
``full runs`` = the search's wall time (shared initialisation included) / that uniform run's;
with ``--own-uniform`` the unit is a uniform run measured again for the variant, in the same session
(under the same load as its search), since the machine's speed drifts between sessions.
With ``--rank`` (on by default, first seed) the trials of the no-speed-up search are evaluated
again with the subset inner loop from the same shared initialisation, and the Spearman and Kendall
rank correlations of the two scores are reported (does the subset keep the candidates' ranking?).
Every step's summary is a JSON file in ``--out`` (re-running skips finished steps).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from reports import cached

from swiftsampler.config import RunConfig
from swiftsampler.data import prepare_data
from swiftsampler.engine import train
from swiftsampler.report import format_table, replace_marked_block
from swiftsampler.search import SearchConfig, SwiftSearch

ROOT = Path(__file__).resolve().parents[1]
FASHION = "/usr/share/datasets/fashion-mnist"

#: The search variants' speed-up settings, spelled out (not relative to ``SearchConfig``'s defaults,
#: so a cached result keeps its meaning when a default changes): short name -> (table label, settings).
#: Every variant sets all eight; ``_DEFAULT`` (``eval-128``) is today's ``SearchConfig`` default.
#: Until stop 27 the default ran 30 trials and scored a complete trial on the rungs' 30% of the
#: validation rows (``subset-scored``); in stop 27, 20 trials scored on all the validation rows
#: (``final-full-20``); since stop 28 a trial's validation passes run in batches of 128 and a
#: complete trial skips its last rung's subset pass and the shared initialisation trains without
#: validation passes (the variants measured before that ran them).
_DEFAULT = dict(pruner="successive-halving", train_subset=1.0, val_subset=0.3, final_val_subset=1.0,
                references=("drop-loss",), inner_epochs=1.0, n_trials=20, trial_eval_batch=128)
_FINAL_FULL_20 = dict(_DEFAULT, trial_eval_batch=1024)
_SUBSET_SCORED = dict(_FINAL_FULL_20, final_val_subset=0.3, n_trials=30)
_NO_SPEEDUP = dict(_FINAL_FULL_20, pruner="none", val_subset=1.0, references=(), n_trials=30)
VARIANTS = {
    "none": ("none (30 full inner loops)", _NO_SPEEDUP),
    "eval-128": ("default: the stop-27 search with its validation passes in batches of 128, no "
                 "subset pass at the last rung, the shared initialisation trained without "
                 "validation passes (stop 28)", _DEFAULT),
    "full-12": ("12 trials run to the end, no pruner, no rung passes, no reference sampler (stop 30)",
                dict(_DEFAULT, pruner="none", rungs=1, references=(), n_trials=12)),
    "final-full-20": ("20 trials, successive halving on 30% of the validation rows, "
                      "complete trials scored on all of them, drop-loss reference (stop 27)",
                      _FINAL_FULL_20),
    "final-full": ("final-full-20 with 30 trials", dict(_FINAL_FULL_20, n_trials=30)),
    "subset-scored": ("successive halving + 30% of validation rows + drop-loss reference (the "
                      "default until stop 27)", _SUBSET_SCORED),
    "subset-scored-20": ("the same with 20 trials", dict(_SUBSET_SCORED, n_trials=20)),
    "half-inner": ("subset-scored + half an epoch per inner loop",
                   dict(_SUBSET_SCORED, inner_epochs=0.5)),
    "half-train": ("subset-scored + half of the training rows", dict(_SUBSET_SCORED, train_subset=0.5)),
    "half-train-full-val": ("subset-scored + half of the training rows, all validation rows",
                            dict(_SUBSET_SCORED, train_subset=0.5, val_subset=1.0,
                                 final_val_subset=1.0)),
    "pruning": ("successive halving only", dict(_NO_SPEEDUP, pruner="successive-halving")),
    "subset": ("subsets only (half of the training rows, 30% of validation rows)",
               dict(_NO_SPEEDUP, train_subset=0.5, val_subset=0.3, final_val_subset=0.3)),
}


def mean_std(values: list[float], scale: float = 100.0, digits: int = 2) -> str:
    m = statistics.fmean(values) * scale
    s = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def rank_correlation(runner: SwiftSearch, trials: list[dict], subset: SearchConfig) -> dict:
    """The no-speed-up search's trials scored again by the subset inner loop (no pruning)."""
    from scipy.stats import kendalltau, spearmanr

    names = runner.family.param_names
    again = SwiftSearch(runner.cfg, subset, runner.out, data=runner.data)
    full, sub = [], []
    for row in trials:
        full.append(row["val_acc"])
        sub.append(again.evaluate([row[n] for n in names])["val_acc"])
    return {"spearman": spearmanr(full, sub).statistic, "kendall": kendalltau(full, sub).statistic,
            "n": len(full), "full": full, "subset": sub}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--variants", default="none,eval-128", help="of: " + ",".join(VARIANTS))
    parser.add_argument("--shots", type=int, default=100, help="training images per class")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--val-ratio", type=float, default=0.02)
    parser.add_argument("--full-size", action="store_true",
                        help="the issue's setting: 2000 shots per class (20k images), val 10%%")
    parser.add_argument("--no-rank", dest="rank", action="store_false")
    parser.add_argument("--own-uniform", action="store_true",
                        help="measure the cost's unit again for each variant: a uniform run right "
                             "before its search, under the load of that session (kept as "
                             "uniform_VARIANT_sSEED.json and used from then on)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/swift_search")
    parser.add_argument("--doc", type=Path, default=None,
                        help="write the table into this page's --marker block (the docs use "
                             "docs/swift_sampler.md); without it the table is only printed")
    parser.add_argument("--marker", default="swift-search",
                        help="the block of --doc to write (default: swift-search)")
    args = parser.parse_args()
    if args.full_size:
        args.shots, args.val_ratio = 2000, 0.1
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = args.variants.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    base = RunConfig().replace(dataset="fashion-mnist", data_dir=FASHION, model="cnn2d", noise=0.4,
                               shots=args.shots, epochs=args.epochs, val_ratio=args.val_ratio)
    command = "python bench/swift_search.py " + " ".join(sys.argv[1:])
    results: dict[str, list[dict]] = {}
    rank = None
    for seed in seeds:
        cfg = base.replace(seed=seed)
        data = prepare_data(cfg.data, cfg.data_seed)
        uniform = cached(args.out / f"uniform_s{seed}.json",
                         lambda cfg=cfg, data=data: train_summary(cfg, data))
        print(f"seed {seed} uniform: {100 * uniform['test_acc']:.2f}% in {uniform['wall_s']:.1f} s",
              flush=True)
        for key in variants:
            label, settings = VARIANTS[key]
            folder = args.out / f"search_{key}_s{seed}"
            search = replace(SearchConfig(), **settings)

            def run_search(folder: Path = folder, search: SearchConfig = search,
                           cfg: RunConfig = cfg, data=data) -> dict:  # noqa: ANN001
                t0 = time.perf_counter()
                outcome = SwiftSearch(cfg, search, folder, data=data).run()
                wall = time.perf_counter() - t0
                cost = outcome["card"].provenance["cost"]
                return {"wall_s": wall, "best": outcome["best_value"],
                        "uniform": outcome["uniform_value"],
                        "pruned": outcome["card"].provenance.get("pruned", 0),
                        "estimated_full_runs": cost["full_runs"],
                        "overhead": {k: cost[k] for k in ("init_wall_s", "trials_wall_s",
                                                          "build_s", "eval_s", "propose_s")}}

            unit = uniform  # the cost's unit: the seed's uniform run, or one measured beside this search
            own = args.out / f"uniform_{key}_s{seed}.json"
            if args.own_uniform or own.exists():
                unit = cached(own, lambda cfg=cfg, data=data: train_summary(cfg, data))
            found = cached(folder / "summary.json", run_search)
            card = str(folder / "sampler.json")
            trained = cached(args.out / f"train_{key}_s{seed}.json",
                             lambda card=card, cfg=cfg, data=data: train_summary(
                                 cfg.replace(sampler="swift", sampler_card=card,
                                             sampler_params={"guard": False}), data))
            # the card itself is measured: without the online guard's check
            row = {**found, "full_runs": found["wall_s"] / unit["wall_s"],
                   "test_acc": trained["test_acc"], "uniform_test_acc": uniform["test_acc"]}
            results.setdefault(label, []).append(row)
            print(f"seed {seed} {key}: {row['full_runs']:.2f} full runs, card "
                  f"{100 * row['test_acc']:.2f}%", flush=True)
        if args.rank and rank is None and "none" in variants:
            folder = args.out / f"search_none_s{seed}"
            trials = json.loads((folder / "trials.json").read_text())["trials"]
            runner = SwiftSearch(cfg, replace(SearchConfig(), **VARIANTS["none"][1]), folder,
                                 data=data)
            subset = replace(SearchConfig(), **VARIANTS["subset"][1])
            rank = cached(args.out / f"rank_s{seed}.json",
                          lambda runner=runner, trials=trials, subset=subset:
                          rank_correlation(runner, trials, subset))
            print(f"rank correlation full vs subset inner loop: Spearman {rank['spearman']:.3f}, "
                  f"Kendall {rank['kendall']:.3f} over {rank['n']} candidates", flush=True)

    rows = [[label, mean_std([r["full_runs"] for r in rs], 1.0),
             mean_std([r["estimated_full_runs"] for r in rs], 1.0),
             f"{statistics.fmean(r['wall_s'] for r in rs):.0f}",
             f"{statistics.fmean(r['overhead']['eval_s'] for r in rs):.0f}",
             mean_std([r["test_acc"] for r in rs]), mean_std([r["uniform_test_acc"] for r in rs]),
             f"{statistics.fmean(r['pruned'] for r in rs):.1f}", str(len(rs))]
            for label, rs in results.items()]
    table = format_table(["search (speed-ups)", "full runs (measured run)",
                          "full runs (estimated in the search)", "search s", "of which validation s",
                          "card: test acc %", "uniform: test acc %", "trials pruned", "seeds"], rows)
    setting = (f"Fashion-MNIST, {args.shots} training images per class, validation "
               f"{args.val_ratio:.0%} of the training split, 40% symmetric noise, cnn2d, "
               f"{args.epochs} epochs, 2-core CPU, one thread")
    text = f"{setting}.\n\n{table}"
    if rank is not None:
        text += (f"\n\nRank correlation of the {rank['n']} candidates' validation accuracy, full "
                 f"inner loop vs the subset one (half the training rows, 30% of the validation "
                 f"rows): Spearman {rank['spearman']:.3f}, Kendall {rank['kendall']:.3f}.")
    print(text)
    if args.doc:
        replace_marked_block(args.doc, args.marker, text, command)


def train_summary(cfg: RunConfig, data) -> dict:  # noqa: ANN001
    """Train ``cfg`` on ``data``: its test and validation accuracy and wall time."""
    result = train(cfg, data=data)
    return {"test_acc": result["test_acc"], "val_acc": result["val_acc"], "wall_s": result["wall_s"]}


if __name__ == "__main__":
    main()
