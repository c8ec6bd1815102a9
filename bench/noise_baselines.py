"""The small-scale analogue of Swift Sampler's Table 1: the label-noise baselines on MNIST-1D.

    python bench/noise_baselines.py        # about 30 min on one CPU core; re-running skips finished runs

Runs ``swiftsampler compare --preset swift-noise --noises 0,0.2,0.4 --jobs 1 --threads 1 --out
runs/noise-table1`` (uniform, REED soft and hard, MentorNet-PD, L2RW, the small-loss rule, Swift
Sampler with a card searched per noise level, and the clean-labels oracle; seeds 0-2) and copies the
report's tables into docs/noise_baselines.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from swiftsampler.cli import main as cli
from swiftsampler.report import replace_marked_block

ROOT = Path(__file__).resolve().parents[1]


def tables(report: Path) -> str:
    """The report without its title, links and plot section."""
    lines = report.read_text().splitlines()
    keep = [line for line in lines[1:] if not line.startswith(("![", "## Plots"))]
    return "\n".join(keep).strip().replace("\n## ", "\n#### ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--noises", default="0,0.2,0.4")
    parser.add_argument("--out", default=str(ROOT / "runs" / "noise-table1"))
    args = parser.parse_args()
    out = Path(args.out)
    command = ["compare", "--preset", "swift-noise", "--noises", args.noises, "--jobs", "1",
               "--threads", "1", "--progress", "off", "--out", str(out)]
    if cli(command) != 0:
        raise SystemExit("the comparison had failed runs; re-run to retry them")
    shown = ("swiftsampler compare --preset swift-noise --noises " + args.noises
             + " --jobs 1 --threads 1 --out runs/noise-table1")
    replace_marked_block(ROOT / "docs/noise_baselines.md", "noise-table1",
                         tables(out / "report.md"), shown)


if __name__ == "__main__":
    main()
