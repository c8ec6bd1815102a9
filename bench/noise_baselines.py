"""The small-scale analogue of Swift Sampler's Table 1: the label-noise baselines on MNIST-1D.

    python bench/noise_baselines.py        # about 30 min on one CPU core; re-running skips finished runs

Runs ``swiftsampler compare --preset swift-noise --noises 0,0.2,0.4 --search-trials 30 --jobs 1
--threads 1 --out runs/preset-swift-noise`` (uniform, REED soft and hard, MentorNet-PD, L2RW, the
small-loss rule, Swift Sampler with a card searched per noise level, and the clean-labels oracle;
seeds 0-2) and copies the report's tables into docs/noise_baselines.md; the committed store's cards
were searched with 30 trials, the default before stop 30. The store is the ``swift-noise`` preset's
(``bench/presets.py`` adds the 10% and 30% levels to it), committed as
``bench/results/preset-swift-noise.db``; a checkout without ``runs/`` starts from that copy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reports import restore, snapshot, tables

from swiftsampler.cli import main as cli
from swiftsampler.report import replace_marked_block

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--noises", default="0,0.2,0.4")
    args = parser.parse_args()
    out = ROOT / "runs" / "preset-swift-noise"
    copy = ROOT / "bench" / "results" / "preset-swift-noise.db"
    restore(copy, out / "results.db")
    command = ["compare", "--preset", "swift-noise", "--noises", args.noises, "--search-trials", "30",
               "--jobs", "1",
               "--threads", "1", "--progress", "off", "--out", str(out)]
    status = cli(command)
    snapshot(out / "results.db", copy)
    if status != 0:
        raise SystemExit("the comparison was interrupted or had failed runs; re-run to continue")
    shown = ("swiftsampler compare --preset swift-noise --noises " + args.noises
             + " --search-trials 30 --jobs 1 --threads 1 --out runs/preset-swift-noise")
    replace_marked_block(ROOT / "docs/noise_baselines.md", "noise-table1",
                         tables(out / "report.md"), shown)


if __name__ == "__main__":
    main()
