"""What a run tells the outside world while it runs: a metrics file, progress lines, TensorBoard.

Each logger is an epoch callback of the engine (``callback(record)`` with the epoch's history record,
see :class:`swiftsampler.engine.Trainer`), so the same records reach every destination:

* :class:`MetricsCSV` — ``DIR/metrics.csv``, one row per epoch (the history fields), rewritten
  atomically after every epoch, so a reader never sees half a file;
* :class:`ProgressLines` — one line per epoch on stderr when it is not a terminal (SLURM and ``nohup``
  logs show progress; a terminal gets the progress bar instead);
* :class:`TensorBoard` — event files for ``tensorboard --logdir`` (the ``tensorboard`` package, an
  optional extra: ``pip install 'swiftsampler[tensorboard]'``);
* :class:`WandB` — a Weights & Biases run (the ``wandb`` package, ``pip install 'swiftsampler[wandb]'``;
  W&B's own settings apply: ``WANDB_PROJECT``, ``WANDB_MODE=offline`` for files only, under
  ``DIR/wandb``).

``LOGGERS`` is the registry of the optional destinations that ``--log NAME`` turns on.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from .errors import ConfigError
from .files import write_csv
from .registry import Registry

__all__ = ["LOGGERS", "MetricsCSV", "ProgressLines", "RunLines", "TensorBoard", "TrialLines",
           "WandB", "create_loggers", "run_logger"]

EpochCallback = Callable[[dict[str, Any]], None]

#: The columns of ``metrics.csv`` first (in this order), then any other history field.
METRIC_COLUMNS = ("epoch", "progress", "lr", "train_loss", "train_acc", "val_loss", "val_acc",
                  "iterations", "forward_samples", "backward_samples", "samples", "scored", "time_s")


class MetricsCSV:
    """``path`` holds one row per epoch of the records seen so far (``history`` rows first)."""

    def __init__(self, path: str | Path, history: Sequence[dict[str, Any]] = ()) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = list(history)

    def __call__(self, record: dict[str, Any]) -> None:
        self.rows.append(record)
        self.write()

    def write(self) -> Path:
        seen = dict.fromkeys(key for row in self.rows for key in row)
        header = [c for c in METRIC_COLUMNS if c in seen] + [c for c in seen if c not in METRIC_COLUMNS]
        return write_csv(self.path, header, ([row.get(c) for c in header] for row in self.rows))


class ProgressLines:
    """One line per epoch: progress, losses, validation accuracy, time spent and time left.

    The time left extrapolates the elapsed wall-clock time linearly in budget progress.
    """

    def __init__(self, prefix: str, stream: IO[str] | None = None) -> None:
        self.prefix, self.stream = prefix, stream
        self.start = time.perf_counter()

    def __call__(self, record: dict[str, Any]) -> None:
        elapsed = time.perf_counter() - self.start
        progress = float(record.get("progress") or 0.0)
        left = elapsed * (1 - progress) / progress if progress > 0 else math.nan
        parts = [f"epoch {record['epoch']}", f"{progress:.0%} of the budget",
                 f"train loss {_number(record.get('train_loss'))}"]
        if record.get("val_loss") is not None:
            parts.append(f"val loss {_number(record['val_loss'])}")
        if record.get("val_acc") is not None:
            parts.append(f"val acc {100 * record['val_acc']:.2f}%")
        parts.append(f"{_duration(elapsed)} elapsed, ~{_duration(left)} left")
        print(f"{self.prefix}: " + ", ".join(parts), file=self.stream or sys.stderr, flush=True)


class TrialLines:
    """One line per search trial: its score, the best so far, time spent and time left."""

    def __init__(self, prefix: str, n_trials: int, objective: str,
                 stream: IO[str] | None = None) -> None:
        self.prefix, self.n_trials, self.objective, self.stream = prefix, n_trials, objective, stream
        self.start = time.perf_counter()

    def __call__(self, row: dict[str, Any]) -> None:
        elapsed = time.perf_counter() - self.start
        done = row["trial"] + 1
        left = elapsed * max(0, self.n_trials - done) / done
        print(f"{self.prefix}: trial {row['trial']} of {self.n_trials}: {self.objective} "
              f"{_number(row.get(self.objective))} (best {_number(row.get('best'))}), "
              f"{_duration(elapsed)} elapsed, ~{_duration(left)} left",
              file=self.stream or sys.stderr, flush=True)


class RunLines:
    """One line per finished run of a comparison: which, its test accuracy, how many are left."""

    def __init__(self, prefix: str, total: int, stream: IO[str] | None = None) -> None:
        self.prefix, self.total, self.stream = prefix, total, stream
        self.finished = 0
        self.start = time.perf_counter()

    def __call__(self, key: str, status: str, payload: Any) -> None:
        self.finished += 1
        elapsed = time.perf_counter() - self.start
        left = elapsed * (self.total - self.finished) / self.finished
        outcome = (f"test acc {100 * payload['test_acc']:.2f}%" if status == "done"
                   else f"failed ({payload})")
        print(f"{self.prefix}: run {self.finished} of {self.total} ended: {key}: {outcome}; "
              f"{_duration(elapsed)} elapsed, ~{_duration(left)} left",
              file=self.stream or sys.stderr, flush=True)


def run_logger(names: Sequence[str], out_dir: str | Path) -> Callable[[str, str, Any], None]:
    """For ``compare --log``: each finished run's epoch history goes to the loggers in
    ``out_dir/<logger>/<run key>`` (e.g. one TensorBoard run per grid cell and seed)."""

    def log(key: str, status: str, payload: Any) -> None:
        if status != "done":
            return
        folder = Path(out_dir) / "runs" / "".join(c if c.isalnum() or c in "=.-" else "_"
                                                  for c in key)
        for callback in create_loggers(names, folder):
            for record in payload.get("history", []):
                callback(record)
            getattr(callback, "close", lambda: None)()

    return log


class TensorBoard:
    """Scalars of every record under ``log_dir``, at the step ``record[step_key]`` (epoch records:
    the optimiser steps so far; search trials: the trial number)."""

    def __init__(self, log_dir: str | Path, step_key: str = "iterations") -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("--log tensorboard needs the tensorboard package: "
                              "pip install 'swiftsampler[tensorboard]'") from None
        self.writer = SummaryWriter(log_dir=str(log_dir))
        self.step_key = step_key

    def __call__(self, record: dict[str, Any]) -> None:
        step = int(record.get(self.step_key) or 0)
        for key, value in record.items():
            if key != self.step_key and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, global_step=step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandB:
    """Scalars of every record to one Weights & Biases run named after ``out_dir``, at the step
    ``record[step_key]``; its local files go under ``out_dir/wandb``. The project is W&B's own
    setting (``WANDB_PROJECT``, default ``swiftsampler``); ``WANDB_MODE=offline`` writes files only
    (``wandb sync`` uploads them later)."""

    def __init__(self, out_dir: str | Path, step_key: str = "iterations") -> None:
        try:
            import wandb
        except ImportError:
            raise ConfigError("--log wandb needs the wandb package: "
                              "pip install 'swiftsampler[wandb]'") from None
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "swiftsampler"),
                              name=out_dir.name, dir=str(out_dir), reinit="create_new",
                              settings=wandb.Settings(silent=True, console="off"))
        self.step_key = step_key

    def __call__(self, record: dict[str, Any]) -> None:
        scalars = {key: value for key, value in record.items() if key != self.step_key
                   and isinstance(value, (int, float)) and not isinstance(value, bool)}
        self.run.log(scalars, step=int(record.get(self.step_key) or 0), commit=True)

    def close(self) -> None:
        self.run.finish()


LOGGERS: Registry[EpochCallback] = Registry("logger")


@LOGGERS.register("tensorboard")
def tensorboard_logger(out_dir: str | Path, step_key: str = "iterations") -> TensorBoard:
    """TensorBoard event files in DIR/tensorboard (pip install 'swiftsampler[tensorboard]')."""
    return TensorBoard(Path(out_dir) / "tensorboard", step_key)


@LOGGERS.register("wandb")
def wandb_logger(out_dir: str | Path, step_key: str = "iterations") -> WandB:
    """A Weights & Biases run, files in DIR/wandb (pip install 'swiftsampler[wandb]')."""
    return WandB(out_dir, step_key)


def create_loggers(names: Sequence[str], out_dir: str | Path, step_key: str = "iterations"
                   ) -> list[EpochCallback]:
    """The loggers ``--log`` names, writing under ``out_dir`` (unknown names: a ConfigError)."""
    return [LOGGERS.create(name, out_dir, step_key) for name in names if name != "none"]


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
