"""Do the pruner's early rungs predict a candidate's final score? The 30 candidates of a no-speed-up
search of ``bench/swift_search.py`` run again through the default search's inner loop (all training
rows, rungs scored on 30% of the validation rows, the end on all of them) with no pruning, from the
same shared initialisation; each rung's score against the final one.

    python bench/swift_rung_probe.py --seed 3 --out bench/results/swift_search_20k_m2

The setting is ``swift_search.py --full-size``'s (Fashion-MNIST, 2,000 images per class, 10%
validation, 40% symmetric noise, cnn2d, 10 epochs). Reads ``OUT/search_none_s<seed>/trials.json``
and that search's ``init.pt``; writes ``OUT/rung_probe_s<seed>.json`` (a re-run reuses it). Printed:
the Spearman correlation of each rung's score with the final one, and what keeping only the top
third at a rung would have kept (the best final score among those candidates against the best of
all 30). The final scores must equal the no-speed-up search's own (the same training): checked.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from reports import cached
from swift_search import FASHION, VARIANTS

from swiftsampler.config import RunConfig
from swiftsampler.data import prepare_data
from swiftsampler.samplers import SwiftSampler
from swiftsampler.search import SearchConfig, SwiftSearch


def probe(runner: SwiftSearch, trials: list[dict]) -> dict:
    """Each candidate's rung scores (``rungs - 1`` on the validation subset) and its final score."""
    search, names = runner.search, runner.family.param_names
    rows = []
    for row in trials:
        rungs: list[float] = []
        sampler = SwiftSampler(runner.inner_size, params=[row[n] for n in names],
                               features=search.features, transform=search.transform,
                               n_knots=search.n_knots, combine=search.combine, floor=search.floor,
                               warmup=0.0, guard=False)
        final = runner.fine_tune(sampler, lambda score, step, metrics=None, rungs=rungs: rungs.append(score))
        rows.append({"trial": row["trial"], "rungs": rungs, "final": final["val_acc"],
                     "none": row["val_acc"]})
        print(f"trial {row['trial']}: rungs {[round(r, 4) for r in rungs]}, final "
              f"{final['val_acc']:.4f} (full search {row['val_acc']:.4f})", flush=True)
    return {"rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from scipy.stats import spearmanr

    cfg = RunConfig().replace(dataset="fashion-mnist", data_dir=FASHION, model="cnn2d", noise=0.4,
                              shots=2000, epochs=10, val_ratio=0.1, seed=args.seed)
    data = prepare_data(cfg.data, cfg.data_seed)
    folder = args.out / f"search_none_s{args.seed}"
    trials = json.loads((folder / "trials.json").read_text())["trials"]
    default = replace(SearchConfig(), **{**VARIANTS["eval-128"][1], "pruner": "none", "references": ()})
    runner = SwiftSearch(cfg, default, folder, data=data)  # reuses the search's init.pt
    result = cached(args.out / f"rung_probe_s{args.seed}.json", lambda: probe(runner, trials))
    rows = result["rows"]
    finals = [r["final"] for r in rows]
    same = sum(r["final"] == r["none"] for r in rows)
    print(f"final scores equal to the full search's: {same} of {len(rows)}")
    best = max(finals)
    for k in range(len(rows[0]["rungs"])):
        scores = [r["rungs"][k] for r in rows]
        kept = sorted(range(len(rows)), key=lambda i: -scores[i])[:len(rows) // 3]
        print(f"rung {k + 1}: Spearman with the final score {spearmanr(scores, finals).statistic:.3f}; "
              f"the top third at this rung holds the best final {max(finals[i] for i in kept):.4f} "
              f"(best of all {best:.4f}, trial {rows[finals.index(best)]['trial']})")


if __name__ == "__main__":
    main()
