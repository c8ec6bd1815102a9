"""Which inner-loop subset keeps the candidates' ranking? The no-speed-up search's 30 candidates of
``bench/swift_search.py`` scored again with the inner loop on a training subset only, on a
validation subset only, or on both (the search's default when this was measured), from the same
shared initialisation; the Spearman and Kendall correlations with the full inner loop's validation accuracy.

    python bench/swift_rank_probe.py --shots 500 --seed 0 --out bench/results/swift_search_500

Reads ``OUT/search_none_s<seed>/trials.json`` (the full search's candidates and scores) and writes
``OUT/rank_probe_s<seed>.json`` (each probe cached: a re-run skips finished ones).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from reports import cached
from swift_search import FASHION, VARIANTS, rank_correlation

from swiftsampler.config import RunConfig
from swiftsampler.data import prepare_data
from swiftsampler.report import format_table, replace_marked_block
from swiftsampler.search import SearchConfig, SwiftSearch

ROOT = Path(__file__).resolve().parents[1]

#: name: (what it is, the inner loop's subsets)
PROBES = {"train": ("a training subset (0.5), all validation rows",
                    dict(train_subset=0.5, val_subset=1.0)),
          "val": ("all training rows, a validation subset (0.3): the default",
                  dict(train_subset=1.0, val_subset=0.3)),
          "both": ("both subsets (the default until then)", dict(train_subset=0.5, val_subset=0.3))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shots", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--val-ratio", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--probes", default=",".join(PROBES), help="of: " + ",".join(PROBES))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--doc", action="store_true", help="the table in docs/swift_sampler.md")
    args = parser.parse_args()
    cfg = RunConfig().replace(dataset="fashion-mnist", data_dir=FASHION, model="cnn2d", noise=0.4,
                              shots=args.shots, epochs=args.epochs, val_ratio=args.val_ratio,
                              seed=args.seed)
    data = prepare_data(cfg.data, cfg.data_seed)
    folder = args.out / f"search_none_s{args.seed}"
    trials = json.loads((folder / "trials.json").read_text())["trials"]
    runner = SwiftSearch(cfg, replace(SearchConfig(), **VARIANTS["none"][1]), folder, data=data)
    results = {}
    for name in args.probes.split(","):
        what, subsets = PROBES[name]
        probe = replace(SearchConfig(), pruner="none", references=(), **subsets)
        results[name] = cached(args.out / f"rank_probe_s{args.seed}_{name}.json",
                               lambda probe=probe: rank_correlation(runner, trials, probe))
        print(f"{what}: Spearman {results[name]['spearman']:.3f}, "
              f"Kendall {results[name]['kendall']:.3f}", flush=True)
    if args.doc:
        rows = [[PROBES[name][0], f"{r['spearman']:.3f}", f"{r['kendall']:.3f}", str(r["n"])]
                for name, r in results.items()]
        text = (f"Does the cheap inner loop keep the ranking of the {rows[0][3]} candidates of the "
                f"seed-{args.seed} search with no speed-up? Their validation accuracy after the full "
                f"inner loop against the same candidates' after an inner loop with:\n\n"
                + format_table(["inner loop", "Spearman", "Kendall", "candidates"], rows))
        replace_marked_block(ROOT / "docs" / "swift_sampler.md", "swift-rank-probe", text,
                             "python bench/swift_rank_probe.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
