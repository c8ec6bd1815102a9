"""Run the two comparison presets at their default size and put their reports into docs/compare.md.

    python bench/presets.py            # about 15 min on 2 CPUs; re-running skips finished runs

Runs ``swiftsampler compare --preset NAME --jobs 2 --out runs/preset-NAME`` for ``budgeted-is`` and
``swift-noise``, then copies each report's tables into docs/compare.md and its main plot into
docs/images/. Each results store is also copied to ``bench/results/preset-NAME.db`` (committed), and a
checkout without ``runs/`` starts from that copy.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from reports import restore, snapshot, tables

from swiftsampler.cli import main as cli
from swiftsampler.report import replace_marked_block

ROOT = Path(__file__).resolve().parents[1]
PLOTS = {"budgeted-is": "accuracy_vs_budget.png", "swift-noise": "accuracy_vs_noise.png"}
#: what the committed stores were made with beyond the preset (swift-noise's cards: 30 trials each,
#: the default before stop 30)
EXTRA = {"swift-noise": ("--search-trials", "30")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="budgeted-is,swift-noise")
    parser.add_argument("--jobs", default="2")
    args = parser.parse_args()
    for name in args.presets.split(","):
        out = ROOT / "runs" / f"preset-{name}"
        copy = ROOT / "bench" / "results" / f"preset-{name}.db"
        restore(copy, out / "results.db")
        extra = EXTRA.get(name, ())
        command = ["compare", "--preset", name, *extra, "--jobs", args.jobs, "--progress", "off",
                   "--out", str(out)]
        status = cli(command)
        snapshot(out / "results.db", copy)
        if status == 130:  # interrupted: stop; re-running continues
            raise SystemExit(status)
        if status != 0:
            raise SystemExit(f"the {name} comparison had failed runs; re-run to retry them")
        shown = " ".join(["swiftsampler compare --preset", name, *extra, "--jobs", args.jobs,
                          "--out", f"runs/preset-{name}"])
        replace_marked_block(ROOT / "docs/compare.md", f"preset-{name}",
                             tables(out / "report.md"), shown)
        image = ROOT / "docs/images" / f"preset_{name.replace('-', '_')}_{PLOTS[name].split('_')[-1]}"
        shutil.copyfile(out / PLOTS[name], image)


if __name__ == "__main__":
    main()
