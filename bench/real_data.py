"""The two papers' headline experiments on real data (Fashion-MNIST, Tiny Shakespeare), as resumable
comparisons whose reports become the tables of docs/real_data.md.

    python bench/real_data.py budgeted              # sized to about two hours on 2 CPU cores
    python bench/real_data.py budgeted --full       # the full size (all 60,000 images, 30 epochs)
    python bench/real_data.py budgeted --jobs 2 --docs-only   # re-render the docs from the stores
    python bench/real_data.py noise                 # Table 1: label noise (about two hours)
    python bench/real_data.py clean                 # Table 2: clean data, a card moved to resnet18

Each experiment is one or more ``swiftsampler compare`` grids into ``runs/real-<name>/`` (one results
store per experiment, so re-running skips finished runs and a killed run continues where it stopped);
then the report's tables go into docs/real_data.md between the experiment's markers and its main
plot into docs/images/. The sized and full settings are listed by ``--help`` and in the docs.

The store is copied (SQLite's online backup, consistent while runs are writing) to
``bench/results/real-<name>.db`` after every grid and by ``--snapshot``; that copy is committed, and a
fresh checkout without ``runs/`` starts from it, so hours of runs survive a new machine.

Experiments:

* ``budgeted`` (Arazo et al., BMVC 2021): uniform sampling, p-SGD, c-SGD, selective backprop, UIS and
  InfoBatch with no augmentation, and uniform sampling with the standard augmentation, mixup, RICAP
  and RandAugment, at budgets 0.2, 0.3, 0.5 and 1.0, on ``cnn2d`` and ``resnet18``, 3 seeds.
* ``lm`` (Swift Sampler, Table 11): ``gpt-tiny`` on Tiny Shakespeare (``--text``, characters, AdamW),
  uniform sampling, selective backprop and Swift Sampler (a card searched per budget on the
  validation loss, the language-model task's search objective) at budgets 0.3 and 1.0, 3 seeds;
  the table is the validation and test loss in nats per character (and the test perplexity), each
  sampler's paired difference to uniform sampling at the same budget with its 95% interval.
* ``noise`` (Swift Sampler, Table 1): ``cnn2d`` on Fashion-MNIST with 0, 20 and 40% symmetric
  noise and 40% asymmetric noise (its own store, ``-asym``): uniform sampling, REED (soft),
  MentorNet, L2RW, the small-loss rule, Swift Sampler (a card searched per noise level) and the
  clean-labels oracle, 3 seeds; the report's test accuracy, mislabelled share of the draws and wall
  time.
* ``clean`` (Swift Sampler, Table 2): no noise, budgets 0.3 and 1.0, uniform sampling and Swift
  Sampler on ``cnn2d`` and ``resnet18`` (a card searched per model and budget), and on resnet18
  also the card searched with cnn2d (``compare --sampler-card``, stores ``-transfer-b0.3`` and
  ``-transfer-b1``), 3 seeds; the table pairs every card with uniform sampling.
* ``few-shot`` (Swift Sampler, Table 6): ``cnn2d`` on 1, 5 and 10 Fashion-MNIST images per class
  (a store each), uniform sampling and Swift Sampler (a card searched per setting), 3 seeds.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from reports import restore, snapshot, tables

from swiftsampler.cli import main as cli
from swiftsampler.experiments.report import paired_interval
from swiftsampler.report import replace_marked_block

ROOT = Path(__file__).resolve().parents[1]
INTERRUPTED = 130  # the exit status of an interrupted ``swiftsampler compare``
DOC = ROOT / "docs" / "real_data.md"


@dataclass(frozen=True)
class Size:
    """The settings that differ between the sized run and the full one."""

    shots: int  # training images per class (0: all)
    epochs: int  # epochs of the budget-1.0 reference schedule
    val_ratio: float
    widths: dict[str, int] = field(default_factory=dict)  # per model; absent: the model's default
    text: str = ""  # the description, where the grids set the size themselves

    def describe(self) -> str:
        if self.text:
            return self.text
        images = "all training samples" if self.shots == 0 else f"{self.shots:,} training samples per class"
        widths = ", ".join(f"{m} width {w}" for m, w in self.widths.items()) or "default widths"
        return (f"{images}, a {self.epochs}-epoch reference schedule, {self.val_ratio:.0%} of the "
                f"training set held out for validation, {widths}")


@dataclass(frozen=True)
class Grid:
    """One ``swiftsampler compare`` call: its axes and the settings held fixed.

    ``store`` suffixes the results store of grids whose fixed settings differ from the others' (a
    comparison keys its runs by their axes, so one store holds one value of every other setting);
    ``label`` heads that store's tables in the docs (none: the store's report is not in the docs,
    only in the experiment's ``summary``). ``models``: the grid's (default: the experiment's).
    ``{main}`` in ``fixed`` stands for the experiment's first store (e.g. a card searched there)."""

    axes: dict[str, str]
    fixed: tuple[str, ...] = ()
    store: str = ""
    label: str = ""
    models: tuple[str, ...] = ()


@dataclass(frozen=True)
class Experiment:
    title: str
    models: tuple[str, ...]
    grids: tuple[Grid, ...]
    sized: Size
    full: Size
    base: tuple[str, ...]
    plot: str = "accuracy_vs_budget.png"
    table: str = "report"  # the docs' table: the compare report's ("report") or the losses ("loss")
    #: a table built from every store (their directories by suffix), put first in the docs
    summary: Callable[[dict[str, Path]], str] | None = None


BUDGETS = "0.2,0.3,0.5,1.0"
EXPERIMENTS: dict[str, Experiment] = {
    "budgeted": Experiment(
        title="Budgeted training with importance sampling and augmentation (Arazo et al.)",
        models=("cnn2d", "resnet18"),
        grids=(
            Grid({"samplers": "uniform,p-sgd,c-sgd,selective-backprop,uis,infobatch",
                  "budgets": BUDGETS, "augments": "none"}),
            Grid({"samplers": "uniform", "budgets": BUDGETS,
                  "augments": "standard,mixup,ricap,randaugment"}),
        ),
        sized=Size(shots=500, epochs=10, val_ratio=0.02, widths={"resnet18": 16}),
        full=Size(shots=0, epochs=30, val_ratio=0.1),
        base=("--dataset", "fashion-mnist", "--eval-batch-size", "256"),
    ),
    "lm": Experiment(
        title="A character-level language model (Swift Sampler Table 11)",
        models=("gpt-tiny",),
        grids=(Grid({"samplers": "uniform,selective-backprop,swift", "budgets": "0.3,1.0"}),),
        sized=Size(shots=0, epochs=10, val_ratio=0.1),
        full=Size(shots=0, epochs=40, val_ratio=0.1),
        base=("--dataset", "textfile", "--optimizer", "adamw", "--lr", "0.003",
              "--weight-decay", "0.1", "--eval-batch-size", "256"),
        plot="accuracy_vs_time.png",
        table="loss",
    ),
}
NOISE_SAMPLERS = "uniform,reed-soft,mentornet,l2rw,small-loss,swift,oracle"
EXPERIMENTS["noise"] = Experiment(
    title="Label noise (Swift Sampler Table 1)",
    models=("cnn2d",),
    grids=(
        Grid({"samplers": NOISE_SAMPLERS, "noises": "0,0.2,0.4"}, label="symmetric noise"),
        Grid({"samplers": NOISE_SAMPLERS, "noises": "0.4"}, fixed=("--noise-type", "asymmetric"),
             store="-asym", label="40% asymmetric noise (each class flipped to the next)"),
    ),
    sized=Size(shots=500, epochs=10, val_ratio=0.1),
    full=Size(shots=0, epochs=30, val_ratio=0.1),
    base=("--dataset", "fashion-mnist", "--eval-batch-size", "256"),
    plot="accuracy_vs_noise.png",
)
def transfer_table(outs: dict[str, Path]) -> str:
    """Swift Sampler's Table 2 on clean data: per budget and model, uniform sampling, the card
    searched with that model, and (resnet18) the card searched with cnn2d, "SS(cnn2d)": test
    accuracy (mean ± sd over the seeds) and the paired difference to uniform sampling at the same
    budget with its 95% interval."""
    from swiftsampler import load_results
    from swiftsampler.report import format_table

    main = load_results(outs[""])
    main = main[main["status"] == "done"]
    rows = []
    for (budget, model), group in sorted(main.groupby(["budget", "model"]), key=lambda g: g[0]):
        uniform = group[group["sampler"] == "uniform"]
        arms = [("uniform", uniform), ("Swift Sampler, its own card", group[group["sampler"] == "swift"])]
        transfer = outs.get(f"-transfer-b{budget:g}")
        if model == "resnet18" and transfer is not None and (transfer / "results.db").exists():
            moved = load_results(transfer)
            arms.append(("Swift Sampler, the cnn2d card: SS(cnn2d)",
                         moved[(moved["status"] == "done") & (moved["budget"] == budget)]))
        for name, runs in arms:
            if runs.empty:
                continue
            diff = "-"
            if name != "uniform":
                pairs = runs.merge(uniform, on="seed", suffixes=("", "_u"))
                if len(pairs):
                    mean, low, high = paired_interval(list(100 * (pairs["test_acc"] - pairs["test_acc_u"])))
                    diff = f"{mean:+.2f}" + ("" if low is None else f" [{low:+.2f}, {high:+.2f}]")
            acc = 100 * runs["test_acc"]
            rows.append([f"{budget:.0%}", model, name,
                         f"{acc.mean():.2f} ± {acc.std(ddof=1) if len(acc) > 1 else 0.0:.2f}",
                         diff, str(len(runs))])
    return format_table(["budget", "model", "sampler", "test acc %", "- uniform [95% CI]", "seeds"],
                        rows)


EXPERIMENTS["clean"] = Experiment(
    title="Clean data and a card moved to another model (Swift Sampler Table 2)",
    models=("cnn2d", "resnet18"),
    grids=(
        Grid({"samplers": "uniform,swift", "budgets": "0.3,1.0"}),
        *(Grid({"samplers": "swift", "budgets": budget}, models=("resnet18",),
               fixed=("--sampler-card", f"{{main}}/cards/cnn2d_noise0_none_b{budget}/sampler.json"),
               store=f"-transfer-b{budget}") for budget in ("0.3", "1")),
    ),
    sized=Size(shots=500, epochs=10, val_ratio=0.1, widths={"resnet18": 16}),
    full=Size(shots=0, epochs=30, val_ratio=0.1),
    base=("--dataset", "fashion-mnist", "--eval-batch-size", "256"),
    summary=transfer_table,
)
#: (images per class, epochs): every few-shot run sees 2,000 training images in all
FEW_SHOTS = ((1, 200), (5, 40), (10, 20))
EXPERIMENTS["few-shot"] = Experiment(
    title="Few-shot training (Swift Sampler Table 6)",
    models=("cnn2d",),
    grids=tuple(Grid({"samplers": "uniform,swift"}, fixed=("--shots", str(k), "--epochs", str(e)),
                     store=f"-{k}shot", label=f"{k} training image{'s' if k > 1 else ''} per class")
                for k, e in FEW_SHOTS),
    sized=Size(shots=10, epochs=20, val_ratio=0.02,
               text="1, 5 and 10 training images per class for 200, 40 and 20 epochs (2,000 "
                    "images seen), 2% of the training set (1,200 images) held out for validation"),
    full=Size(shots=10, epochs=20, val_ratio=0.1,
              text="1, 5 and 10 training images per class for 200, 40 and 20 epochs (2,000 "
                   "images seen), 10% of the training set (6,000 images) held out for validation"),
    base=("--dataset", "fashion-mnist", "--eval-batch-size", "256"),
    plot="accuracy_vs_time.png",
)
TEXT = Path("/work/shared/data/tinyshakespeare.txt")  # ../shared/data/README.md


def loss_table(store: Path) -> str:
    """Per sampler and budget: the validation and test loss in nats per token (mean ± sd over the
    seeds), the test perplexity, and the paired test-loss difference to uniform sampling at the
    same budget with its 95% interval (negative: lower loss than uniform)."""
    from swiftsampler import load_results
    from swiftsampler.report import format_table

    frame = load_results(store.parent)  # the compare directory
    frame = frame[frame["status"] == "done"]
    rows = []
    groups = frame.groupby(["budget", "sampler"], sort=True)
    for (budget, sampler), group in sorted(groups, key=lambda g: (g[0][0], g[0][1] != "uniform",
                                                                   g[0][1])):
        uniform = frame[(frame["budget"] == budget) & (frame["sampler"] == "uniform")]
        pairs = group.merge(uniform, on="seed", suffixes=("", "_u"))
        diffs = list(pairs["test_loss"] - pairs["test_loss_u"])
        mean, low, high = paired_interval(diffs) if sampler != "uniform" else (None, None, None)
        rows.append([f"{budget:.0%}", sampler,
                     f"{group['val_loss'].mean():.3f} ± {group['val_loss'].std(ddof=1):.3f}",
                     f"{group['test_loss'].mean():.3f} ± {group['test_loss'].std(ddof=1):.3f}",
                     f"{group['test_ppl'].mean():.2f}" if "test_ppl" in group else "-",
                     "-" if mean is None else
                     f"{mean:+.3f}" + ("" if low is None else f" [{low:+.3f}, {high:+.3f}]"),
                     f"{group['wall_s'].mean():.0f}", str(len(group))])
    return format_table(["budget", "sampler", "val loss (nats/char)", "test loss (nats/char)",
                         "test perplexity", "test loss - uniform [95% CI]", "wall s", "seeds"], rows)



def compare_commands(experiment: Experiment, size: Size, jobs: int, out: Path,
                     skip: frozenset[str] = frozenset(), store: str = "",
                     main: Path | None = None) -> list[list[str]]:
    """The ``swiftsampler compare`` argument lists of an experiment's grids in the results store
    ``store`` (into ``out``), one per (model, grid), without the samplers in ``skip``; ``main`` is
    the experiment's first store (``{main}`` in a grid's fixed settings; default: ``out``)."""
    commands = []
    main = out if main is None else main
    for grid in experiment.grids:
        if grid.store != store:
            continue
        for model in grid.models or experiment.models:
            width = size.widths.get(model)
            fixed = [arg.replace("{main}", str(main)) for arg in grid.fixed]
            command = ["compare", *experiment.base, "--models", model,
                       "--shots", str(size.shots), "--epochs", str(size.epochs),
                       "--val-ratio", str(size.val_ratio), "--jobs", str(jobs),
                       "--progress", "off", "--out", str(out), *fixed]
            if width is not None:
                command += ["--width", str(width)]
            for axis, values in grid.axes.items():
                if axis == "samplers":
                    values = ",".join(s for s in values.split(",") if s not in skip)
                command += [f"--{axis}", values]
            commands.append(command)
    return commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(f"{n}: sized = {e.sized.describe()}; "
                                                      f"full = {e.full.describe()}"
                                                      for n, e in EXPERIMENTS.items()))
    parser.add_argument("experiment", choices=sorted(EXPERIMENTS))
    parser.add_argument("--full", action="store_true", help="run at full size")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (default: 2)")
    parser.add_argument("--skip-samplers", default="", metavar="A,B",
                        help="leave these samplers out for now (their runs are added later)")
    parser.add_argument("--docs-only", action="store_true",
                        help="only re-render the report and the docs from the results store")
    parser.add_argument("--snapshot", action="store_true",
                        help="only copy the results store to bench/results/ (safe while runs write)")
    parser.add_argument("--text", type=Path, default=TEXT,
                        help=f"the text file of the lm experiment (default: {TEXT})")
    args = parser.parse_args(argv)
    experiment = EXPERIMENTS[args.experiment]
    if experiment.base[1] == "textfile":
        experiment = replace(experiment, base=(*experiment.base, "--data-dir", str(args.text)))
    size = experiment.full if args.full else experiment.sized
    tag = f"real-{args.experiment}" + ("-full" if args.full else "")
    stores = list(dict.fromkeys(grid.store for grid in experiment.grids))
    outs = {store: ROOT / "runs" / f"{tag}{store}" for store in stores}
    copies = {store: ROOT / "bench" / "results" / f"{tag}{store}.db" for store in stores}
    for store in stores:
        restore(copies[store], outs[store] / "results.db")
    if args.snapshot:
        for store in stores:
            if (outs[store] / "results.db").exists():
                snapshot(outs[store] / "results.db", copies[store])
        return 0
    failed = False
    skip = frozenset(s for s in args.skip_samplers.split(",") if s)
    for store in stores if not args.docs_only else ():
        out = outs[store]
        for command in compare_commands(experiment, size, args.jobs, out, skip, store,
                                        main=outs[stores[0]]):
            print("swiftsampler " + " ".join(command), flush=True)
            status = cli(command)
            snapshot(out / "results.db", copies[store])
            if status == INTERRUPTED:  # stop here (re-running continues), not with the next grid
                return status
            failed |= status != 0
    bodies = []
    for store in stores:
        out = outs[store]
        if not (out / "results.db").exists():
            continue
        if cli(["report", str(out)]) != 0:
            return 1
        label = next(grid.label for grid in experiment.grids if grid.store == store)
        if store and not label:  # only in the summary
            continue
        body = loss_table(out / "results.db") if experiment.table == "loss" else tables(out / "report.md")
        image = f"{tag}{store}.png"
        shutil.copyfile(out / experiment.plot, ROOT / "docs" / "images" / image)
        heading = f"### {label[0].upper()}{label[1:]}\n\n" if label and len(stores) > 1 else ""
        bodies.append(f"{heading}{body}\n\n![{experiment.title}{': ' + label if label else ''}]"
                      f"(images/{image})")
    shown = f"python bench/real_data.py {args.experiment}" + (" --full" if args.full else "")
    if experiment.summary is not None:
        bodies.insert(0, experiment.summary(outs))
    text = f"Size: {size.describe()}; 3 seeds.\n\n" + "\n\n".join(bodies)
    replace_marked_block(DOC, tag, text, shown)
    if failed:
        print("some runs failed; re-run the same command to retry them", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
