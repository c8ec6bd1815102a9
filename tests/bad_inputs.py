"""The catalogue of bad inputs: every row is a command line a user might type (or a file they might hand
us), and the one line it must get on stderr, with exit status 2 and no traceback.

``tests/test_bad_inputs.py`` runs every row; ``docs/errors.md`` is written from the same rows by::

    .venv/bin/python -m tests.bad_inputs docs/errors.md

A row's ``setup`` builds the files it needs under a fresh directory (``{tmp}`` in the arguments).
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TINY = ("--dataset", "synthetic", "--model", "mlp", "--width", "16", "--epochs", "2",
        "--progress", "off")


@dataclass(frozen=True)
class Case:
    """One bad input: ``argv`` (after ``swiftsampler``), the words its message must hold."""

    what: str
    argv: tuple[str, ...]
    expect: str
    setup: Callable[[Path], None] | None = None

    @property
    def command(self) -> str:
        return self.argv[0]


class _Marker:
    """Unpickled by an unsafe reader, it runs a shell command that creates ``{tmp}/marker``."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.path}",))


def _file(name: str, content: str | bytes = "x") -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)  # type: ignore[operator]
    return make


def _marker_checkpoint(name: str) -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        from swiftsampler.engine.checkpoint import CHECKPOINT_VERSION

        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            pickle.dump({"version": CHECKPOINT_VERSION, "config": {},
                         "state": {"x": _Marker(tmp / "marker")}}, fh)
    return make


def _checkpoint_without(part: str) -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        from swiftsampler.cli import main

        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            main(["train", *TINY, "--checkpoint-every", "1", "--out", str(tmp / "run")])
        from swiftsampler.engine.checkpoint import load_checkpoint, save_checkpoint

        saved = load_checkpoint(tmp / "run" / "checkpoint.pt")
        del saved["state"][part]
        save_checkpoint(tmp / "run" / "checkpoint.pt", {k: v for k, v in saved.items()
                                                        if k != "version"})
    return make


def _card(provenance: dict[str, object] | None = None, params: list[float] | None = None
          ) -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        import json

        card = {"schema": "swiftsampler.sampler-card/1", "features": ["loss"], "transform": "cdf",
                "family": {"features": ["loss"], "n_knots": 2, "combine": "product", "low": 0.0,
                           "high": 1.0, "floor": 0.0},
                "params": [1.0, 0.5] if params is None else params,
                "provenance": provenance or {}}
        (tmp / "card.json").write_text(json.dumps(card))
    return make


def _idx_dir(damage: str) -> Callable[[Path], None]:
    """An MNIST-layout folder ``{tmp}/idx`` with one file damaged: ``truncate`` or ``magic``."""
    def make(tmp: Path) -> None:
        from .fixtures import write_idx_dataset

        write_idx_dataset(tmp / "idx", compress=(False, False, False, False))
        path = tmp / "idx" / "train-images-idx3-ubyte"
        data = path.read_bytes()
        path.write_bytes(data[:-100] if damage == "truncate" else b"\x00\x00\x08\x01" + data[4:])
    return make


def _marker_init(tmp: Path) -> None:
    """A shared initialisation ``{tmp}/s/init.pt`` whose pickle would create the marker."""
    _marker_checkpoint("s/init.pt")(tmp)


def _train(*args: str) -> tuple[str, ...]:
    return ("train", *TINY, "--out", "{tmp}/run", *args)


def _search(*args: str) -> tuple[str, ...]:
    return ("search", *TINY, "--n-trials", "2", "--out", "{tmp}/s", *args)


def _compare(*args: str) -> tuple[str, ...]:
    return ("compare", *TINY, "--out", "{tmp}/c", *args)


CASES: list[Case] = [
    # ------------------------------------------------------------------ names
    Case("unknown dataset (close to a known one)", ("train", "--dataset", "mnist1", "--out", "{tmp}/r"),
         "unknown dataset 'mnist1' (did you mean 'mnist1d'?)"),
    Case("unknown model", _train("--model", "resnet19"), "unknown model 'resnet19'"),
    Case("unknown sampler", _train("--sampler", "p_sgd"), "unknown sampler 'p_sgd'"),
    Case("unknown augmentation", _train("--augment", "mixupp"), "unknown augmentation 'mixupp'"),
    Case("unknown optimiser", _train("--optimizer", "adam"), "unknown optimizer 'adam'"),
    Case("unknown LR schedule", _train("--schedule", "exp"), "unknown LR schedule 'exp'"),
    Case("unknown device", _train("--device", "tpu"), "--device: unknown device 'tpu'"),
    Case("unknown subcommand", ("trian",), "invalid choice: 'trian'"),
    Case("unknown flag", _train("--budgett", "0.3"), "unrecognized arguments: --budgett"),
    # ------------------------------------------------------------------ numbers
    Case("budget of zero", _train("--budget", "0"), "--budget: must be in (0, 1], got 0.0"),
    Case("budget above 1", _train("--budget", "1.5"), "--budget: must be in (0, 1], got 1.5"),
    Case("budget NaN", _train("--budget", "nan"), "--budget: must be in (0, 1], got nan"),
    Case("budget not a number", _train("--budget", "half"), "--budget: expected float, got 'half'"),
    Case("learning rate of zero", _train("--lr", "0"), "--lr: must be in (0, 1000], got 0.0"),
    Case("learning rate 1e300", _train("--lr", "1e300"), "--lr: must be in (0, 1000], got 1e+300"),
    Case("learning rate that diverges", _train("--lr", "900"),
         "the training loss became nan in epoch 1; try a smaller --lr"),
    Case("zero epochs", _train("--epochs", "0"), "--epochs: must be a positive integer, got 0"),
    Case("fractional epochs", _train("--epochs", "2.5"), "--epochs: expected int, got '2.5'"),
    Case("zero batch size", _train("--batch-size", "0"), "--batch-size: must be a positive integer"),
    Case("noise rate of 1", _train("--noise", "1"), "--noise: must be in [0, 1), got 1.0"),
    Case("negative noise rate", _train("--noise", "-0.1"), "--noise: must be in [0, 1), got -0.1"),
    Case("unknown noise type", _train("--noise-type", "pairwise"),
         "--noise-type: must be symmetric or asymmetric"),
    Case("validation ratio of 1", _train("--val-ratio", "1"), "--val-ratio: must be in [0, 1)"),
    Case("momentum of 1", _train("--momentum", "1"), "--momentum: must be in [0, 1)"),
    Case("negative weight decay", _train("--weight-decay", "-1"), "--weight-decay: must be >= 0"),
    Case("warm-up of the whole budget", _train("--warmup", "1"), "--warmup: must be in [0, 1)"),
    Case("step milestone outside (0, 1)", _train("--milestones", "0.5,2"),
         "--milestones: must lie in (0, 1)"),
    Case("decay factor of zero", _train("--gamma", "0"), "--gamma: must be in (0, 1]"),
    Case("negative seed", _train("--seed", "-1"), "--seed: must be a non-negative integer"),
    Case("width of zero", _train("--width", "0"), "--width: must be a positive integer"),
    Case("width too big for memory", _train("--width", "100000000"),
         "--model mlp --width 100000000: the model has"),
    Case("negative shots", _train("--shots", "-1"), "--shots: must be a non-negative integer"),
    Case("negative workers", _train("--workers", "-1"), "--workers: must be a non-negative integer"),
    Case("time budget of zero", _train("--time-budget", "0"), "--time-budget: must be a positive"),
    Case("unknown budget unit", _train("--budget-unit", "flops"), "--budget-unit: must be backward"),
    Case("unknown logger", _train("--log", "wandb2"), "unknown logger 'wandb2'"),
    Case("negative checkpoint interval", _train("--checkpoint-every", "-1"),
         "--checkpoint-every: must be a non-negative integer"),
    # ------------------------------------------------------------------ plugin parameters
    Case("internal sampler parameter", _train("--sampler-param", "num_samples=5"),
         "sampler 'uniform': 'num_samples' is not settable (it is the training-set size)"),
    Case("unknown sampler parameter", _train("--sampler", "p-sgd", "--sampler-param", "bogus=1"),
         "sampler 'p-sgd' has no parameter 'bogus'; its parameters: epsilon, warmup_epochs"),
    Case("sampler parameter out of range",
         _train("--sampler", "selective-backprop", "--sampler-param", "beta=-1"),
         "sampler 'selective-backprop': beta must be in [0, 1e+06], got -1"),
    Case("REED's beta above 1", _train("--sampler", "reed-soft", "--sampler-param", "beta=1.5"),
         "sampler 'reed-soft': beta must be in [0, 1], got 1.5"),
    Case("MentorNet percentile of 0",
         _train("--sampler", "mentornet", "--sampler-param", "percentile=0"),
         "sampler 'mentornet': percentile must be in (0, 1], got 0"),
    Case("small-loss forget rate of 1",
         _train("--sampler", "small-loss", "--sampler-param", "forget_rate=1"),
         "sampler 'small-loss': forget_rate must be in [0, 1), got 1"),
    Case("L2RW clean batch of 0 samples",
         _train("--sampler", "l2rw", "--sampler-param", "clean_batch_size=0"),
         "sampler 'l2rw': clean_batch_size must be an integer >= 1, got 0"),
    Case("L2RW without a validation split (its clean batches)",
         _train("--sampler", "l2rw", "--val-ratio", "0"),
         "--sampler l2rw: its clean batches come from the validation split; set --val-ratio above 0"),
    Case("sampler parameter without a value", _train("--sampler-param", "beta"),
         "expected KEY=VALUE, got 'beta'"),
    Case("sampler option that is not settable (budget)", _train("--sampler-param", "budget=0.5"),
         "'budget' is set by --budget"),
    Case("augmentation parameter out of range",
         _train("--augment", "mixup", "--augment-param", "mixup.alpha=-1"), "alpha"),
    Case("the same augmentation twice", _train("--augment", "mixup,mixup"),
         "--augment: each augmentation at most once"),
    Case("unknown dataset parameter", _train("--dataset-param", "bogus=1"),
         "dataset 'synthetic' has no parameter 'bogus'"),
    Case("dataset path given as a dataset parameter", _train("--dataset-param", "data_dir=/x"),
         "data_dir and num_samples have their own flags"),
    Case("--data-dir for a generated dataset", _train("--data-dir", "{tmp}"),
         "--data-dir: dataset 'synthetic' does not read files"),
    Case("token model on non-token data", _train("--model", "gpt-tiny"), "gpt-tiny"),
    # ------------------------------------------------------------------ files
    Case("file dataset without --data-dir", ("train", "--dataset", "cifar10", "--out", "{tmp}/r"),
         "cifar10 reads files: pass --data-dir DIR"),
    Case("file dataset with a missing --data-dir",
         ("train", "--dataset", "cifar10", "--data-dir", "{tmp}/nowhere", "--out", "{tmp}/r"),
         "is not a directory"),
    Case("truncated IDX file", ("train", "--dataset", "mnist", "--data-dir", "{tmp}/idx",
                                "--out", "{tmp}/r"), "truncated", _idx_dir("truncate")),
    Case("IDX file with a wrong magic number",
         ("train", "--dataset", "mnist", "--data-dir", "{tmp}/idx", "--out", "{tmp}/r"), "magic",
         _idx_dir("magic")),
    Case("text corpus given as a directory",
         ("train", "--dataset", "textfile", "--data-dir", "{tmp}", "--model", "gpt-tiny",
          "--out", "{tmp}/r"), "textfile", _file("corpus.txt", "to be or not to be")),
    Case("text corpus that is not UTF-8",
         ("train", "--dataset", "textfile", "--data-dir", "{tmp}/c.txt", "--model", "gpt-tiny",
          "--out", "{tmp}/r"), "UTF-8", _file("c.txt", b"\xff\xfe\xfa" * 400)),
    Case("noise on token data",
         ("train", "--dataset", "textfile", "--data-dir", "{tmp}/c.txt", "--model", "gpt-tiny",
          "--noise", "0.2", "--out", "{tmp}/r"), "has no class labels",
         _file("c.txt", "to be or not to be, that is the question. " * 200)),
    Case("config file that does not exist", _train("--config", "{tmp}/none.toml"),
         "config file '{tmp}/none.toml' does not exist"),
    Case("config file that is not TOML", _train("--config", "{tmp}/bad.toml"), "is not valid TOML",
         _file("bad.toml", "lr = = 1")),
    Case("config file with an unknown setting", _train("--config", "{tmp}/c.toml"),
         "unknown setting 'learning_rate'", _file("c.toml", "learning_rate = 0.1\n")),
    Case("config file with a value of the wrong type", _train("--config", "{tmp}/c.toml"),
         "--lr: expected float, got 'fast'", _file("c.toml", '[optim]\nlr = "fast"\n')),
    Case("--resume without a checkpoint", _train("--resume"), "--resume: no checkpoint at"),
    Case("--resume with a checkpoint that would run code", _train("--resume"),
         "is refused as unsafe or corrupt", _marker_checkpoint("run/checkpoint.pt")),
    Case("--resume with a corrupt checkpoint", _train("--resume"), "is refused as unsafe or corrupt",
         _file("run/checkpoint.pt", b"\x80\x02garbage")),
    Case("--resume with a checkpoint that lacks the model", _train("--resume"),
         "does not fit this run (KeyError: 'model')", _checkpoint_without("model")),
    Case("--resume with another config", _train("--resume", "--budget", "0.5"),
         "the checkpoint was made with another config (budget.budget: 1.0 != 0.5)",
         _checkpoint_without("history")),
    Case("--nproc below 1", _train("--nproc", "0"), "--nproc: must be a positive integer, got 0"),
    Case("--nproc with a look-ahead sampler", _train("--nproc", "2", "--sampler", "l2rw"),
         "--sampler l2rw: look-ahead samplers are single-process only"),
    Case("--nproc with a time budget", _train("--nproc", "2", "--time-budget", "5"),
         "--time-budget: single-process only"),
    Case("--nproc that does not divide the batch", _train("--nproc", "2", "--batch-size", "33"),
         "--batch-size: 33 is the global batch and must be a multiple of the 2 processes"),
    Case("--out that is a file", ("train", *TINY, "--out", "{tmp}/f"), "--out: {tmp}/f is a file",
         _file("f")),
    Case("--out under a file", ("train", *TINY, "--out", "{tmp}/f/run"),
         "--out: {tmp}/f/run lies under {tmp}/f, which is a file", _file("f")),
    Case("--sampler-card with another sampler", _train("--sampler-card", "{tmp}/card.json"),
         "--sampler-card: is only for --sampler swift", _card()),
    Case("swift sampler without a card", _train("--sampler", "swift"),
         "the swift sampler needs a sampler card (--sampler-card PATH"),
    Case("sampler card that does not exist", _train("--sampler", "swift", "--sampler-card", "{tmp}/x"),
         "sampler card {tmp}/x not found"),
    Case("sampler card that is not JSON",
         _train("--sampler", "swift", "--sampler-card", "{tmp}/card.json"), "is not valid JSON",
         _file("card.json", "{oops")),
    Case("sampler card with provenance of the wrong type",
         _train("--sampler", "swift", "--sampler-card", "{tmp}/card.json"),
         "card provenance.search must be a table, got 'fast'", _card({"search": "fast"})),
    Case("sampler card with a warm-up fraction out of range",
         _train("--sampler", "swift", "--sampler-card", "{tmp}/card.json"),
         "card provenance.search.init_fraction must be in (0, 1), got 3",
         _card({"search": {"init_fraction": 3}})),
    Case("sampler card with too few parameters",
         _train("--sampler", "swift", "--sampler-card", "{tmp}/card.json"),
         "expected 2 sampler parameters (1 features x 2 knots), got 1",
         _card(params=[1.0])),
    Case("guard window of nothing",
         _train("--sampler", "swift", "--sampler-card", "{tmp}/card.json", "--sampler-param",
                "guard_window=0"), "guard_window must be in (0, 0.5], got 0", _card()),
    Case("guard turned off with a word that is not true or false",
         _train("--sampler", "swift", "--sampler-card", "{tmp}/card.json", "--sampler-param",
                "guard=off"), "guard must be true or false, got 'off'", _card()),
    # ------------------------------------------------------------------ search
    Case("no trials", _search("--n-trials", "0"), "--n-trials: must be a positive integer, got 0"),
    Case("no inner epochs", _search("--inner-epochs", "0"), "--inner-epochs: must be positive"),
    Case("shared initialisation of the whole budget", _search("--init-fraction", "1"),
         "--init-fraction: must be in (0, 1), got 1.0"),
    Case("unknown transform", _search("--transform", "rank"), "unknown transform 'rank'"),
    Case("unknown feature", _search("--features", "loss,novelty"), "unknown feature 'novelty'"),
    Case("one knot", _search("--n-knots", "1"), "--n-knots: must be an integer >= 2, got 1"),
    Case("unknown way to combine features", _search("--combine", "max"),
         "--combine: must be one of product, sum, got 'max'"),
    Case("probability floor of 2", _search("--floor", "2"), "--floor: must be in [0, 1), got 2.0"),
    Case("unknown search algorithm", _search("--search-algo", "cma"), "invalid choice: 'cma'"),
    Case("no validation split to score on", _search("--val-ratio", "0"), "--val-ratio must be > 0"),
    Case("no heartbeat", _search("--heartbeat", "0"), "--heartbeat: must be a positive number"),
    Case("--resume without --storage", _search("--resume"), "--resume: needs --storage"),
    Case("journal file in a missing directory", _search("--storage", "{tmp}/none/study.log"),
         "--storage: the directory of the journal file '{tmp}/none/study.log' does not exist"),
    Case("SQLite database in a missing directory", _search("--storage", "sqlite:///{tmp}/none/s.db"),
         "--storage: the directory of the database '{tmp}/none/s.db' does not exist"),
    Case("unknown database dialect", _search("--storage", "mysql2://host/db"),
         "--storage 'mysql2://host/db': NoSuchModuleError"),
    Case("storage that is a directory", _search("--storage", "{tmp}"), "is a directory"),
    Case("storage file that is not a journal", _search("--storage", "{tmp}/notes.txt"), "journal",
         _file("notes.txt", "dear diary\n")),
    Case("shared initialisation that would run code", _search(), "is refused as unsafe or corrupt",
         _marker_init),
    Case("shared initialisation that is corrupt", _search(), "delete it to recompute it",
         _file("s/init.pt", b"PK\x03\x04broken")),
    Case("unknown pruner", _search("--pruner", "patient"), "invalid choice: 'patient'"),
    Case("no rungs", _search("--rungs", "0"), "--rungs: must be an integer in [1, 100], got 0"),
    Case("empty training subset", _search("--train-subset", "0"),
         "--train-subset: must be in (0, 1], got 0.0"),
    Case("validation subset over the whole", _search("--val-subset", "1.5"),
         "--val-subset: must be in (0, 1], got 1.5"),
    Case("no jobs", _search("--jobs", "0"), "--jobs: must be an integer in [1, 256], got 0"),
    Case("unknown reference sampler", _search("--references", "drop-loss,oracle"),
         "--references: unknown reference sampler 'oracle' (known: drop-loss)"),
    Case("warm start from a missing card", _search("--warm-start", "{tmp}/nothing.json"),
         "--warm-start: no sampler card at '{tmp}/nothing.json'"),
    Case("warm start from a card of another family", _search("--warm-start", "{tmp}/card.json"),
         "--warm-start: the card's family (loss, 2 knots) is not this search's (loss,entropy, 5 "
         "knots)", _card()),
    Case("warm start from a card that is not JSON", _search("--warm-start", "{tmp}/card.json"),
         "--warm-start: ", _file("card.json", "{oops")),
    Case("search --out that is a file", ("search", *TINY, "--out", "{tmp}/f"),
         "--out: {tmp}/f is a file", _file("f")),
    # ------------------------------------------------------------------ compare, report, demo
    Case("budgets that give the same run", _compare("--budgets", "0.3,0.3000001"),
         "--budgets: 0.3 and 0.3000001 give the same run key (0.3)"),
    Case("budget list that is not numbers", _compare("--budgets", "0.3,x"),
         "--budgets: cannot read '0.3,x'"),
    Case("unknown sampler in a grid", _compare("--samplers", "uniform,bogus"), "unknown sampler 'bogus'"),
    Case("unknown model in a grid", _compare("--models", "mlp,bogus"), "unknown model 'bogus'"),
    Case("noise level out of range in a grid", _compare("--noises", "0,1.5"),
         "--noise: must be in [0, 1), got 1.5"),
    Case("seeds that are not integers", _compare("--seeds", "a"), "--seeds: cannot read 'a'"),
    Case("the same seed twice", _compare("--seeds", "0,0"), "--seeds: repeated value in [0, 0]"),
    Case("no parallel jobs", _compare("--jobs", "0"), "--jobs: must be >= 1, got 0"),
    Case("no search trials for swift cells", _compare("--search-trials", "0"),
         "--search-trials: must be >= 1, got 0"),
    Case("a card for the swift cells that is missing", _compare("--sampler-card", "{tmp}/none.json"),
         "sampler card {tmp}/none.json not found"),
    Case("unknown preset", _compare("--preset", "huge"), "invalid choice: 'huge'"),
    Case("grid file with an unknown axis", _compare("--config", "{tmp}/g.toml"),
         "unknown grid setting 'samplerz' in [grid]", _file("g.toml", '[grid]\nsamplerz = ["uniform"]\n')),
    Case("results store that is not a database", _compare(), "is not a results database",
         _file("c/results.db", "not sqlite")),
    Case("report of a folder without results", ("report", "{tmp}"),
         "{tmp} holds no results.db (made by `swiftsampler compare --out DIR`)"),
    Case("report of a store that is not a database", ("report", "{tmp}"),
         "not a readable SQLite results database", _file("results.db", "not sqlite")),
    Case("demo with no parallel jobs", ("demo", "--jobs", "0", "--out", "{tmp}/d"),
         "--jobs: must be >= 1, got 0"),
    Case("demo --out that is a file", ("demo", "--out", "{tmp}/f"), "--out: {tmp}/f is a file",
         _file("f")),
]


def _substitute(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", str(tmp))


def run_case(case: Case, tmp: Path) -> tuple[int, str]:
    """Run ``case`` in this process; its exit status and what it wrote to stderr."""
    from swiftsampler.cli import main

    tmp.mkdir(parents=True, exist_ok=True)
    if case.setup is not None:
        case.setup(tmp)
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            status = main([_substitute(a, tmp) for a in case.argv])
        except SystemExit as exc:  # argparse errors exit from inside parse_args
            status = exc.code if isinstance(exc.code, int) else 2
    return status, err.getvalue()


def catalogue_markdown(rows: list[tuple[Case, str]]) -> str:
    """``docs/errors.md``: one table row per case, the message with the temporary folder as DIR."""
    lines = [
        "# What bad input gets",
        "",
        "Every row is an input tried on purpose and the one line it gets on stderr; each exits with",
        "status 2, prints no traceback and leaves no half-written file. `tests/test_bad_inputs.py`",
        "runs every row, and this page is written from the same rows by",
        "`.venv/bin/python -m tests.bad_inputs docs/errors.md` (`DIR` is a fresh temporary folder).",
        "",
        "| # | command | input | message |",
        "|---|---------|-------|---------|",
    ]
    for number, (case, message) in enumerate(rows, 1):
        lines.append(f"| {number} | `{case.command}` | {case.what}: `{catalogue_cell(shown_args(case))}` "
                     f"| `{catalogue_cell(message)}` |")
    return "\n".join(lines) + "\n"


def shown_args(case: Case) -> str:
    """The arguments that make the case, without the tiny run's settings and its usual ``--out``."""
    args = list(case.argv[1:])
    if args[:len(TINY)] == list(TINY):
        args = args[len(TINY):]
    if args[:2] == ["--n-trials", "2"]:
        args = args[2:]
    for i in range(len(args) - 1):
        usual = args[i:i + 2] in (["--out", "{tmp}/run"], ["--out", "{tmp}/s"], ["--out", "{tmp}/c"])
        if usual and len(args) > 2:  # keep it when it is all there is to show
            del args[i:i + 2]
            break
    return " ".join(args).replace("{tmp}", "DIR")


def catalogue_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def normalised(message: str, tmp: Path) -> str:
    """The message without the temporary folder's name, the machine's free memory and trailing
    whitespace (what differs from one run or machine to the next)."""
    message = re.sub(re.escape(str(tmp)), "DIR", message.strip())
    return re.sub(r"[\d,.]+ GiB free", "(free memory) GiB free", message)


def main(argv: list[str]) -> int:
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as root:
        for number, case in enumerate(CASES):
            tmp = Path(root) / f"case{number}"
            status, err = run_case(case, tmp)
            if status != 2:
                print(f"case {case.what!r} exited with {status}", file=sys.stderr)
            rows.append((case, normalised(err, tmp)))
    text = catalogue_markdown(rows)
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
