"""Command-line interface: ``swiftsampler train | demo | list``.

Every ``train`` option is generated from the config dataclasses (:mod:`swiftsampler.config`), so
``--help`` always lists every setting with its default. Precedence: defaults < ``--config FILE`` <
flags. User errors print one line on stderr and exit with status 2; nothing half-written is left.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from .config import (
    GROUPS,
    RunConfig,
    coerce,
    flag,
    from_dict,
    from_flat,
    leaf_fields,
    load_toml,
    read_toml,
)
from .errors import ConfigError, SwiftSamplerError
from .files import check_output_dir, write_json

EXIT_USER_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}\n")


def _parse_param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as a Python literal when it is one (numbers, True/False)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    lowered = raw.strip().lower()
    if lowered in ("true", "false"):
        return key.strip(), lowered == "true"
    try:
        return key.strip(), ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError):
        return key.strip(), raw.strip()


def _field_type(name: str, annotation: str) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return coerce(name, annotation, text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None

    return convert


def add_config_arguments(parser: argparse.ArgumentParser, exclude: Sequence[str] = ()) -> None:
    """One flag per config field, grouped like the config, defaults shown in the help."""
    defaults = RunConfig()
    groups = {name: parser.add_argument_group(f"{name} options", cls.__doc__)
              for name, cls in GROUPS.items()}
    general = parser.add_argument_group("run options")
    for group, f in leaf_fields():
        if f.name in exclude:
            continue
        target = groups[group] if group else general
        default = getattr(getattr(defaults, group) if group else defaults, f.name)
        shown = ",".join(map(str, default)) if isinstance(default, list) else default
        help_text = f.metadata.get("help", "")
        # None means "the dataset's / model's own" (the help says so): no "(default: None)"
        with_default = help_text if default is None else f"{help_text} (default: {shown})"
        if f.type == "bool":
            target.add_argument(flag(f.name), action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=with_default)
        elif f.type.startswith("dict"):
            target.add_argument(flag(f.name), dest=f.name, action="append", type=_parse_param,
                                default=argparse.SUPPRESS, metavar=f.metadata.get("metavar"),
                                help=help_text)
        else:
            target.add_argument(flag(f.name), dest=f.name, type=_field_type(f.name, f.type),
                                default=argparse.SUPPRESS, metavar=f.metadata.get("metavar"),
                                choices=None, help=with_default)


def config_from_args(args: argparse.Namespace, base: RunConfig | None = None) -> RunConfig:
    """defaults (or ``base``) < --config file < flags."""
    if base is not None:
        cfg = base
    else:
        cfg = load_toml(args.config) if getattr(args, "config", None) else RunConfig()
    given = {name: getattr(args, name) for _, f in leaf_fields()
             if hasattr(args, name := f.name)}
    for group, f in leaf_fields():
        if f.type.startswith("dict") and f.name in given:  # flags add to the file's entries
            given[f.name] = {**getattr(getattr(cfg, group), f.name), **dict(given[f.name])}
    return from_flat(cfg, given)


def _default_out(cfg: RunConfig) -> Path:
    return Path("runs") / (f"{cfg.data.dataset}_{cfg.model.model}_{cfg.sampler.sampler}"
                           f"_b{cfg.budget.budget:g}_s{cfg.seed}")


def _show_progress(mode: str) -> bool:
    """A progress bar: ``on``, or ``auto`` on a terminal."""
    return mode == "on" or (mode == "auto" and sys.stderr.isatty())


def _progress_lines(mode: str) -> bool:
    """One line per epoch (or trial) instead: ``auto`` when stderr is not a terminal (logs)."""
    return mode == "auto" and not sys.stderr.isatty()


def _log_names(text: str) -> list[str]:
    """``--log a,b``: the loggers, checked against the registry before any work."""
    from .logs import LOGGERS

    names = [n.strip() for n in text.split(",") if n.strip() and n.strip() != "none"]
    for name in names:
        LOGGERS.get(name)
    return names


def check_names(cfg: RunConfig) -> None:
    """Fail fast, before any data is generated, on unknown plugin names."""
    from .augment import AUGMENTATIONS
    from .data import DATASETS
    from .models import MODELS
    from .optimizers import OPTIMIZERS
    from .samplers import SAMPLERS
    from .schedules import SCHEDULES

    for name in cfg.augment.augment:
        if name != "none":
            AUGMENTATIONS.get(name)
    DATASETS.get(cfg.data.dataset)
    MODELS.get(cfg.model.model)
    SAMPLERS.get(cfg.sampler.sampler)
    SCHEDULES.get(cfg.optim.schedule)
    OPTIMIZERS.get(cfg.optim.optimizer)


def _without_nproc(argv: Sequence[str]) -> list[str]:
    """``argv`` without ``--nproc N`` / ``--nproc=N`` (what each launched rank is given)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    return kept


def cmd_train(args: argparse.Namespace) -> int:
    from .distributed import DistributedContext, is_main_process, launch
    from .engine import check_data_parallel, train
    from .logs import MetricsCSV, ProgressLines, create_loggers
    from .report import format_summary

    cfg = config_from_args(args)
    check_names(cfg)
    logs = _log_names(args.log)
    if args.nproc < 1:
        raise ConfigError(f"--nproc: must be a positive integer, got {args.nproc}")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if args.nproc > 1 and world == 1:  # this process starts torchrun, once the input is checked
        check_data_parallel(cfg, DistributedContext(world_size=args.nproc))
        check_output_dir(args.out if args.out else _default_out(cfg))
        return launch(args.nproc, _without_nproc(args.argv))
    out = check_output_dir(args.out if args.out else _default_out(cfg))
    main = is_main_process()  # under torchrun only rank 0 writes or prints
    if main:  # a result from an earlier run in DIR must not look current if this one fails
        (out / "result.json").unlink(missing_ok=True)
    metrics = MetricsCSV(out / "metrics.csv")
    callbacks = [metrics, *create_loggers(logs, out)] if main else []
    if main and _progress_lines(args.progress):
        callbacks.append(ProgressLines("swiftsampler train"))
    try:
        result = train(cfg, out_dir=out, resume=args.resume, progress=_show_progress(args.progress),
                       callbacks=callbacks)
    finally:
        for callback in callbacks:
            getattr(callback, "close", lambda: None)()
    if not main:
        return 0
    MetricsCSV(out / "metrics.csv", result["history"]).write()  # every epoch, also after --resume
    path = write_json(out / "result.json", result)
    print(format_summary(result, path))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from .search import SearchConfig, SwiftSearch
    from .search.report import format_search_summary, search_plots

    cfg = config_from_args(args)
    check_names(cfg)
    search = SearchConfig(
        n_trials=args.n_trials, search_algo=args.search_algo, inner_epochs=args.inner_epochs,
        inner_schedule=args.inner_schedule,
        init_fraction=args.init_fraction, features=tuple(args.features.split(",")),
        transform=args.transform, n_knots=args.n_knots, combine=args.combine, floor=args.floor,
        storage=args.storage, study_name=args.study_name, heartbeat=args.heartbeat,
        pruner=args.pruner, rungs=args.rungs, train_subset=args.train_subset,
        val_subset=args.val_subset, final_val_subset=args.final_val_subset,
        trial_eval_batch=args.trial_eval_batch, jobs=args.jobs,
        warm_start=args.warm_start,
        references=tuple(r for r in args.references.split(",") if r and r != "none"),
        objective=args.objective,
    )
    out = check_output_dir(args.out)
    runner = SwiftSearch(cfg, search, out)
    outcome = runner.run(resume=args.resume, progress=_show_progress(args.progress),
                         on_trial=_trial_logs(args, search.n_trials, out,
                                              runner.search.objective_name))
    plots = search_plots(runner, outcome) if args.plots else []
    print(format_search_summary(runner, outcome, plots))
    return 0


def _trial_logs(args: argparse.Namespace, n_trials: int, out: Path, objective: str) -> Any:
    """The search's per-trial callback: progress lines off a terminal and the ``--log`` loggers."""
    from .logs import TrialLines, create_loggers

    callbacks = create_loggers(_log_names(args.log), out, step_key="trial")
    if _progress_lines(args.progress):
        callbacks.append(TrialLines("swiftsampler search", n_trials, objective))

    def on_trial(row: dict[str, Any]) -> None:
        for callback in callbacks:
            callback(row)

    return on_trial


def cmd_compare(args: argparse.Namespace) -> int:
    from .experiments import AXES, GridSpec, parse_axis
    from .experiments.presets import PRESETS

    grid = PRESETS[args.preset][1] if args.preset else GridSpec()
    base, axes = grid.base, {}
    if args.config:
        tables = read_toml(args.config)
        for axis, value in tables.pop("grid", {}).items():
            if axis not in AXES:
                raise ConfigError(f"unknown grid setting {axis!r} in [grid]; "
                                  f"known: {', '.join(AXES)}")
            axes[axis] = parse_axis(axis, value)
        base = from_dict(tables, base)
    base = config_from_args(args, base)
    axes.update({axis: parse_axis(axis, getattr(args, axis)) for axis in AXES
                 if getattr(args, axis) is not None})
    if args.card is not None:  # read and checked before any work
        from .samplers import SamplerCard

        SamplerCard.load(args.card)
        axes["card"] = str(Path(args.card).resolve())
    grid = grid.replace(base=base, **axes)
    for _, _, cfg in grid.runs():
        check_names(cfg)
    return _compare_and_report(grid, check_output_dir(args.out), args.jobs, args.progress,
                               args.search_trials, _log_names(args.log), args.executor)


def _compare_and_report(grid: Any, out: Path, jobs: int, progress: str, search_trials: int,
                        logs: Sequence[str] = (), executor: str = "local") -> int:
    from .experiments import AXES, run_comparison
    from .experiments.report import write_report
    from .logs import RunLines, run_logger

    if jobs < 1:
        raise ConfigError(f"--jobs: must be >= 1, got {jobs}")
    if search_trials < 1:
        raise ConfigError(f"--search-trials: must be >= 1, got {search_trials}")
    if executor == "submitit":
        from .experiments.cluster import check_submitit

        check_submitit()
    runs = len(grid.runs())
    axes = " x ".join(f"{len(getattr(grid, a))} {a}" for a in AXES)
    print(f"swiftsampler compare: {runs} runs ({axes}) into {out}, {jobs} at a time", flush=True)
    callbacks = [run_logger(logs, out)] if logs else []
    if _progress_lines(progress):
        callbacks.append(RunLines("swiftsampler compare", runs))

    def on_run(key: str, status: str, payload: Any) -> None:
        for callback in callbacks:
            callback(key, status, payload)

    counts = run_comparison(grid, out, jobs=jobs, progress=_show_progress(progress),
                            search_trials=search_trials, on_run=on_run, executor=executor)
    paths = write_report(out)
    print(_report_tables(paths["markdown"]))
    print(_counts_line(counts, out))
    for name, path in paths.items():
        print(f"  {name:<9} {path}")
    return 0 if not counts.get("failed") else 1


def _counts_line(counts: dict[str, int], out: Path) -> str:
    """``runs: 6 done, 1 failed (...), 2 running in another comparison (...)``."""
    parts = [f"{counts.get('done', 0)} done"]
    if counts.get("failed"):
        parts.append(f"{counts['failed']} failed (re-run the same command to retry)")
    if counts.get("running"):
        parts.append(f"{counts['running']} running in another comparison on {out} (it writes the "
                     f"full report when it finishes)")
    return "runs: " + ", ".join(parts)


def _report_tables(report: Path) -> str:
    """The tables of a report (what the terminal shows)."""
    lines = report.read_text().splitlines()
    return "\n".join(line for line in lines
                     if line.startswith(("|", "#")) and line != "## Plots")


def cmd_report(args: argparse.Namespace) -> int:
    from .experiments.report import write_report

    folder = Path(args.dir)
    if not (folder / "results.db").is_file():
        raise ConfigError(f"{folder} holds no results.db (made by `swiftsampler compare --out DIR`)")
    paths = write_report(check_output_dir(folder, flag="DIR"))
    print(_report_tables(paths["markdown"]))
    for name, path in paths.items():
        print(f"  {name:<9} {path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .experiments.presets import PRESETS

    description, grid = PRESETS["demo"]
    print(f"swiftsampler demo: {description}, on MNIST-1D (generated, no download)")
    return _compare_and_report(grid, check_output_dir(args.out), args.jobs, args.progress, 20)


def cmd_list(args: argparse.Namespace) -> int:
    from .augment import AUGMENTATIONS
    from .data import DATASETS
    from .models import MODELS
    from .optimizers import OPTIMIZERS
    from .samplers import SAMPLERS
    from .schedules import SCHEDULES

    for title, registry in (("datasets", DATASETS), ("models", MODELS), ("samplers", SAMPLERS),
                            ("augmentations", AUGMENTATIONS), ("optimizers", OPTIMIZERS),
                            ("LR schedules", SCHEDULES)):
        print(f"{title}:")
        for entry in registry:
            lines = textwrap.wrap(entry.summary, width=110 - 27) or [""]
            print(f"  {entry.name:<24} {lines[0]}")
            for line in lines[1:]:
                print(f"  {'':<24} {line}")
            if args.verbose:
                for param in registry.user_parameters(entry.name):
                    print(f"  {'':<24}   {param.name}={param.default!r}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="swiftsampler", description=__doc__.split("\n\n")[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"swiftsampler {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = sub.add_parser(
        "train", help="train one model under a budget and write DIR/result.json",
        description="Train one model under a budget with a sampler; writes DIR/result.json.",
        epilog="example: swiftsampler train --dataset mnist1d --model cnn1d --sampler uniform "
               "--budget 0.3 --seed 0 --out runs/a",
    )
    train.add_argument("--config", metavar="FILE", help="TOML file of settings (flags override it)")
    train.add_argument("--out", metavar="DIR",
                       help="output directory (default: runs/<dataset>_<model>_<sampler>_b<B>_s<K>)")
    train.add_argument("--resume", action="store_true",
                       help="continue from DIR/checkpoint.pt (needs --checkpoint-every)")
    train.add_argument("--nproc", type=int, default=1, metavar="N",
                       help="data-parallel processes on this machine: starts torchrun "
                            "--nproc_per_node N (gloo on the CPU, nccl on GPUs); --batch-size is "
                            "global (default: 1)")
    train.add_argument("--log", default="none", metavar="NAME[,NAME]",
                       help="also log every epoch to: tensorboard (event files in DIR/tensorboard), "
                            "wandb (a Weights & Biases run, files in DIR/wandb); DIR/metrics.csv is "
                            "always written (default: none)")
    train.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                       help="progress on stderr: a bar on a terminal, one line per epoch otherwise "
                            "(auto, the default); on: always a bar; off: nothing")
    add_config_arguments(train)
    train.set_defaults(func=cmd_train)

    search = sub.add_parser(
        "search", help="learn a Swift Sampler by Bayesian optimisation; write DIR/sampler.json",
        description="Search the ~10 parameters of a Swift Sampler (Yao et al., NeurIPS 2024): "
                    "uniform warm-up to a shared initialisation, then one short fine-tune per "
                    "candidate, scored on the validation split. Writes DIR/sampler.json (the "
                    "sampler card), DIR/trials.csv and plots.",
        epilog="example: swiftsampler search --dataset mnist1d --model cnn1d --noise 0.4 "
               "--out runs/ss",
    )
    search.add_argument("--config", metavar="FILE", help="TOML file of training settings")
    search.add_argument("--out", metavar="DIR", required=True, help="output directory")
    search.add_argument("--n-trials", type=int, default=20, metavar="N",
                        help="trials in all, the uniform sampler and the references first (default: 20)")
    search.add_argument("--search-algo", choices=("gp", "tpe", "random"), default="gp",
                        help="Optuna sampler: gp (Bayesian optimisation), tpe or random "
                             "(default: gp)")
    search.add_argument("--inner-epochs", type=float, default=1.0, metavar="E_O",
                        help="epochs of fine-tuning per candidate (default: 1)")
    search.add_argument("--inner-schedule", choices=("compressed", "continue"),
                        default="compressed",
                        help="LR in the inner loop: the rest of the schedule compressed into the "
                             "inner epochs (anneals to a local minimum), or continued as it is "
                             "(default: compressed)")
    search.add_argument("--init-fraction", type=float, default=0.2, metavar="P",
                        help="fraction of the budget trained uniformly for the shared "
                             "initialisation; also the final run's warm-up (default: 0.2)")
    search.add_argument("--features", default="loss,entropy",
                        help="per-sample features (default: loss,entropy)")
    search.add_argument("--transform", default="cdf",
                        help="feature transform to [0, 1]: cdf, cgf or none (default: cdf)")
    search.add_argument("--n-knots", type=int, default=5,
                        help="knots per feature (default: 5; 2 features x 5 = 10 parameters)")
    search.add_argument("--combine", default="product", help="product or sum (default: product)")
    search.add_argument("--floor", type=float, default=0.0,
                        help="probability floor as a fraction of uniform (default: 0)")
    search.add_argument("--pruner", choices=("none", "median", "successive-halving", "hyperband"),
                        default="successive-halving",
                        help="Optuna pruner stopping poor candidates at the --rungs points of "
                             "their inner loop (default: successive-halving)")
    search.add_argument("--rungs", type=int, default=3, metavar="R",
                        help="validation scores reported per inner loop, equally spaced "
                             "(default: 3)")
    search.add_argument("--train-subset", type=float, default=1.0, metavar="F",
                        help="fraction of the training rows the inner loop trains on, stratified "
                             "by class (default: 1, all of them)")
    search.add_argument("--val-subset", type=float, default=0.3, metavar="F",
                        help="fraction of the validation rows the inner loop scores on, "
                             "stratified by class (default: 0.3)")
    search.add_argument("--final-val-subset", type=float, default=1.0, metavar="F",
                        help="fraction of the validation rows a trial that was not pruned is "
                             "finally scored on (its value for the GP and the card; default: 1, "
                             "all of them)")
    search.add_argument("--trial-eval-batch", type=int, default=128, metavar="N",
                        help="at most N rows a batch in a trial's validation passes (the scores "
                             "do not depend on it; default: 128, faster than larger batches on CPU)")
    search.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="trials run at once by N processes sharing the study (default: 1)")
    search.add_argument("--warm-start", metavar="CARD|DIR",
                        help="enqueue the parameters of a card (or of the card and best trials "
                             "of a search directory) searched in a related setting")
    search.add_argument("--objective", choices=("auto", "val_acc", "val_loss"), default="auto",
                        help="what a trial scores on the validation split: val_acc (maximised) or "
                             "val_loss (minimised); auto: the task's, the loss for language "
                             "models and the accuracy otherwise (default: auto)")
    search.add_argument("--references", default="drop-loss", metavar="NAME[,NAME]",
                        help="reference samplers tried after the uniform one: drop-loss or none "
                             "(default: drop-loss)")
    search.add_argument("--storage", metavar="PATH|URL",
                        help="Optuna storage: a journal file (shared by several workers) or a "
                             "database URL; default: in memory")
    search.add_argument("--study-name", default="swiftsampler", help="(default: swiftsampler)")
    search.add_argument("--resume", action="store_true",
                        help="continue the study in --storage, or join it as another worker "
                             "(--n-trials counts the trials of the whole study)")
    search.add_argument("--heartbeat", type=int, default=60, metavar="SECONDS",
                        help="a worker's running trial beats every SECONDS; one silent for twice "
                             "that (its worker died) is failed and re-queued (default: 60)")
    search.add_argument("--no-plots", dest="plots", action="store_false",
                        help="skip the PNG plots")
    search.add_argument("--log", default="none", metavar="NAME[,NAME]",
                        help="also log every trial to: tensorboard (DIR/tensorboard), wandb "
                             "(DIR/wandb) (default: none)")
    search.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                        help="a bar on a terminal, one line per trial otherwise (default: auto)")
    add_config_arguments(search, exclude=("sampler", "sampler_params", "sampler_card",
                                          "checkpoint_every"))
    search.set_defaults(func=cmd_search)

    from .experiments.presets import PRESETS

    compare = sub.add_parser(
        "compare", help="run a grid of samplers x budgets x augmentations x noise x models x seeds",
        description="Run every combination of the given axes (in parallel with --jobs), keep each "
                    "run in DIR/results.db (re-running skips finished runs), and write "
                    "DIR/report.md, DIR/report.csv and PNG plots. Presets: " + "; ".join(
                        f"{name}: {desc}" for name, (desc, _) in PRESETS.items()),
        epilog="example: swiftsampler compare --samplers uniform,p-sgd --budgets 0.3,1.0 "
               "--augments none,ricap --noises 0,0.4 --models cnn1d --seeds 0,1,2 --out runs/cmp",
    )
    compare.add_argument("--out", metavar="DIR", required=True, help="output directory")
    compare.add_argument("--preset", choices=sorted(PRESETS), help="a named grid (flags override)")
    compare.add_argument("--config", metavar="FILE",
                         help="TOML file: a [grid] table (samplers = [...], budgets = [...], ...) "
                              "and the usual settings")
    for axis, example in (("samplers", "uniform,p-sgd"), ("budgets", "0.3,1.0"),
                          ("augments", "none,standard+ricap"), ("noises", "0,0.4"),
                          ("models", "cnn1d"), ("seeds", "0,1,2")):
        compare.add_argument(f"--{axis}", metavar="A,B", help=f"comma-separated, e.g. {example}")
    compare.add_argument("--jobs", type=int, default=1,
                         help="runs at a time, each in its own worker process when N > 1 (default: 1)")
    compare.add_argument("--executor", choices=("local", "submitit"), default="local",
                         help="local: this process or --jobs worker processes; submitit: --jobs "
                              "cluster jobs at a time (Slurm where sbatch exists, else local "
                              "subprocesses; pip install 'swiftsampler[cluster]') (default: local)")
    compare.add_argument("--sampler-card", dest="card", metavar="PATH",
                         help="the card of the swift cells, e.g. one searched in another setting "
                              "(default: a card searched per cell, with the grid's first seed)")
    compare.add_argument("--search-trials", type=int, default=20,
                         help="trials of the sampler search behind each swift cell (default: 20, "
                              "as swiftsampler search)")
    compare.add_argument("--log", default="none", metavar="NAME[,NAME]",
                         help="also log every run's epochs to: tensorboard (DIR/runs/<run>/tensorboard), "
                              "wandb (one W&B run a grid run, files in DIR/runs/<run>/wandb) "
                              "(default: none)")
    compare.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                         help="a bar on a terminal, one line per finished run otherwise (default: auto)")
    add_config_arguments(compare, exclude=("sampler", "budget", "augment", "noise", "model", "seed",
                                           "sampler_card", "checkpoint_every"))
    compare.set_defaults(func=cmd_compare)

    report = sub.add_parser("report", help="re-render DIR/report.md, CSV and plots from results.db")
    report.add_argument("dir", metavar="DIR")
    report.set_defaults(func=cmd_report)

    demo = sub.add_parser("demo", help="the main job: a small comparison on the embedded MNIST-1D",
                          description="The demo preset of `compare` on MNIST-1D: "
                                      + PRESETS["demo"][0] + ".")
    demo.add_argument("--out", metavar="DIR", default="runs/demo", help="(default: runs/demo)")
    demo.add_argument("--jobs", type=int, default=2, help="runs at a time (default: 2)")
    demo.add_argument("--progress", choices=("auto", "on", "off"), default="auto")
    demo.set_defaults(func=cmd_demo)

    lister = sub.add_parser("list", help="list datasets, models, samplers and schedules")
    lister.add_argument("--verbose", "-v", action="store_true",
                        help="also show each entry's parameters and their defaults")
    lister.set_defaults(func=cmd_list)
    return parser


def _show_library_messages() -> None:
    """The library's informational messages (``logging`` logger ``swiftsampler``) as lines on stderr."""
    import logging

    class CurrentStderr(logging.StreamHandler):  # whatever sys.stderr is when a message comes
        stream = property(lambda self: sys.stderr, lambda self, value: None)

    logger = logging.getLogger("swiftsampler")
    if not logger.handlers:
        handler = CurrentStderr()
        handler.setFormatter(logging.Formatter("swiftsampler: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    _show_library_messages()
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what --nproc relaunches
    try:
        return args.func(args)
    except SwiftSamplerError as exc:
        from .distributed import is_main_process

        if is_main_process():  # every rank of a torchrun job gets the same input: one line
            print(f"swiftsampler {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"swiftsampler {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a reader that stopped (`| head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
