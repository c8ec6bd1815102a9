"""Train a comparison's runs as cluster jobs through `submitit <https://github.com/facebookincubator/submitit>`_
(``swiftsampler compare --executor submitit``; ``pip install 'swiftsampler[cluster]'``).

The comparison process stays the only one that touches ``results.db``: it claims a run, submits
:func:`~swiftsampler.experiments.runner.train_one` with the run's config as a job, and records the
job's outcome when it ends, at most ``jobs`` jobs in flight. So the SQLite store never has to be
shared over a network file system (where its locking is unreliable); only the jobs' pickled inputs
and outputs in ``DIR/submitit`` must be on a disk the cluster's nodes see. ``submitit.AutoExecutor``
submits to Slurm where ``sbatch`` exists and otherwise runs each job as a local subprocess (what
the tests use). A job that dies (killed, timed out, out of memory) costs its own run only: it is
recorded as failed with submitit's reason, as with a dead local worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .store import ResultStore

POLL_S = 0.5  # how often the comparison looks at its jobs


def check_submitit() -> None:
    """ConfigError unless submitit is installed (checked before any run is prepared)."""
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise ConfigError("--executor submitit: needs the submitit package "
                          "(pip install 'swiftsampler[cluster]')") from None


def train_as_jobs(store: ResultStore, configs: dict[str, dict[str, Any]], jobs: int,
                  record: Callable[[str, str, Any], None], out: Path, *,
                  train: Callable[[dict[str, Any]], tuple[str, Any]]) -> None:
    """Claim, submit and record runs of ``configs`` until none is left, ``jobs`` jobs at a time;
    a job runs ``train(config)`` (the runner's ``train_one``)."""
    check_submitit()
    import submitit

    executor = submitit.AutoExecutor(folder=out / "submitit")
    executor.update_parameters(name="swiftsampler-compare", timeout_min=24 * 60)
    keys, running = list(configs), {}
    try:
        while True:
            while len(running) < jobs and (key := store.claim(keys)) is not None:
                running[key] = executor.submit(train, configs[key])
            if not running:
                return
            for key in [k for k, job in running.items() if job.done()]:
                job = running.pop(key)
                try:
                    status, payload = job.result()
                except Exception as exc:  # the job died: its run fails, the comparison goes on
                    status, payload = "failed", f"job {job.job_id}: {str(exc).splitlines()[0]}"
                record(key, status, payload)
            time.sleep(POLL_S)
    finally:
        for job in running.values():  # interrupted: stop the jobs still in flight
            job.cancel(check=False)
