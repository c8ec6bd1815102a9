"""Run a comparison grid into the results store: in this process, or in parallel worker processes.

Any number of comparisons may share one output directory: each run is claimed atomically in the store
(:mod:`.store`), so every run is trained once, by whichever comparison claims it first. With
``jobs > 1`` the runs are trained in spawned worker processes, one run at a time each. A worker that
dies (killed, out of memory) costs its own run only: the run is recorded as failed with the reason, and a
fresh worker takes the next one. Workers do not outlive the comparison: on Linux each asks the kernel to
kill it when the comparison's process dies (``prctl(PR_SET_PDEATHSIG)``, so even a SIGKILL leaves none
behind), and an interrupted comparison (Ctrl-C, SIGTERM) stops its workers and puts the runs they held
back to ``pending``.

A run's numbers do not depend on how it is launched: the engine fixes torch's intra-op thread count
from the run's config (``RunConfig.threads``), in this process and in every worker alike.
"""

from __future__ import annotations

import dataclasses
import functools
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from ..config import RunConfig, from_dict
from ..errors import ConfigError, SwiftSamplerError
from .cluster import check_submitit, train_as_jobs
from .grid import GridSpec
from .store import ResultStore

Record = Callable[[str, str, Any], None]


def train_one(config: dict[str, Any]) -> tuple[str, Any]:
    """Train one run in this process; ``("done", result)`` or ``("failed", one-line reason)``."""
    from ..engine import train

    try:
        return "done", train(from_dict(config))
    except SwiftSamplerError as exc:
        return "failed", str(exc)
    except Exception as exc:  # a crash in one run must not stop the comparison
        return "failed", f"{type(exc).__name__}: {exc}"


_warmed = False  # this process has paid its one-time costs (a forked worker inherits them)


def warm_up(config: dict[str, Any]) -> None:
    """Pay this process's one-time costs before its first timed run, once: build (and drop) a
    trainer for ``config``. torch imports some modules on first use (``torch._dynamo``, about 2 s on
    a CPU, when the first optimiser is made), and without this the first run of every worker carried
    them in its wall time, so the report's time column compared start-up, not methods. A config that
    cannot be built is left to its run to report."""
    global _warmed
    if _warmed:
        return
    _warmed = True
    from ..engine import Trainer

    try:
        Trainer(from_dict(config))
    except Exception:  # the run itself reports what is wrong with its config
        return


def _search_card(cfg: RunConfig, folder: Path, n_trials: int, progress: bool) -> str:
    """The sampler card for ``cfg``'s cell, searched once (with the grid's first seed) and reused."""
    from ..search import SearchConfig, SwiftSearch

    card = folder / "sampler.json"
    if not card.exists():
        SwiftSearch(cfg, SearchConfig(n_trials=n_trials), folder).run(progress=progress)
    return str(card)


def run_comparison(grid: GridSpec, out: str | Path, *, jobs: int = 1, progress: bool = False,
                   search_trials: int = 20,
                   on_run: Callable[[str, str, Any], None] | None = None,
                   executor: str = "local") -> dict[str, int]:
    """Run every run of ``grid`` not yet done in ``out/results.db``; return the status counts.

    ``executor``: ``local`` (this process, or ``jobs`` worker processes) or ``submitit`` (``jobs``
    cluster jobs at a time, :mod:`.cluster`).

    ``on_run(key, status, result or reason)`` is called as each run of this comparison ends.

    Runs that failed before are tried again; runs that another live comparison on ``out`` is training
    are left to it (so its counts may still show them ``running``).
    """
    out = Path(out)
    train_runs = EXECUTORS.get(executor)
    if train_runs is None:
        raise ConfigError(f"--executor: unknown executor {executor!r}; choose from: "
                          f"{', '.join(EXECUTORS)}")
    if executor == "submitit":
        check_submitit()
    with _sigterm_as_interrupt(), ResultStore(out / "results.db") as store, store.membership():
        runs = grid.runs()
        store.sync(runs)
        by_key = {key: (spec, cfg) for key, spec, cfg in runs}
        store.retry_failed(list(by_key))
        todo = store.todo(list(by_key))
        if todo:
            configs = _prepare(grid, out, by_key, todo, search_trials, progress)
            _execute(store, configs, jobs, progress, on_run, train_runs, out)
        return store.counts()


def _prepare(grid: GridSpec, out: Path, by_key: dict[str, tuple[dict[str, Any], RunConfig]],
             todo: list[str], search_trials: int, progress: bool) -> dict[str, dict[str, Any]]:
    """Generate each dataset once, search the cards of swift cells, return the run configs."""
    from ..data import prepare_data

    distinct = {repr(dataclasses.asdict(by_key[k][1].data)): by_key[k][1].data for k in todo}
    for data_cfg in distinct.values():  # generate and cache each dataset once
        prepare_data(data_cfg, 0)
    configs: dict[str, dict[str, Any]] = {}
    for key in todo:
        spec, cfg = by_key[key]
        if spec["sampler"] == "swift" and cfg.sampler.sampler_card is None:
            cell = f"{spec['model']}_noise{spec['noise']:g}_{spec['augment']}_b{spec['budget']:g}"
            with _exclusive(out / "cards" / f".{cell}.lock"):  # another comparison waits, then reuses
                card = _search_card(cfg.replace(seed=grid.seeds[0]), out / "cards" / cell,
                                    search_trials, progress)
            cfg = cfg.replace(sampler_card=card)
        configs[key] = cfg.to_dict()
    return configs


def _execute(store: ResultStore, configs: dict[str, dict[str, Any]], jobs: int,
             progress: bool, on_run: Callable[[str, str, Any], None] | None,
             train_runs: Callable[..., None], out: Path) -> None:
    """Claim and train runs of ``configs`` until none is left, ``jobs`` at a time, recording each
    outcome as it arrives."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(configs), disable=not progress, unit=" runs", dynamic_ncols=True,
               file=sys.stderr)

    def record(key: str, status: str, payload: Any) -> None:
        kept = store.done(key, payload) if status == "done" else store.failed(key, payload)
        if not kept:
            bar.write(f"run dropped: {key}: another comparison took it over meanwhile")
        elif status != "done":
            bar.write(f"run failed: {key}: {payload}")
        bar.update(1)
        if kept and on_run is not None:
            on_run(key, status, payload)

    try:
        train_runs(store, configs, jobs, record, out)
    finally:
        bar.close()


def _train_locally(store: ResultStore, configs: dict[str, dict[str, Any]], jobs: int,
                   record: Record, out: Path) -> None:
    """The ``local`` executor: in this process, or in ``jobs`` worker processes."""
    if jobs <= 1:
        _train_here(store, configs, record)
    else:
        _train_in_workers(store, configs, jobs, record)


def _train_here(store: ResultStore, configs: dict[str, dict[str, Any]], record: Record) -> None:
    while (key := store.claim(list(configs))) is not None:
        warm_up(configs[key])
        record(key, *train_one(configs[key]))


def _train_in_workers(store: ResultStore, configs: dict[str, dict[str, Any]], jobs: int,
                      record: Record) -> None:
    keys = list(configs)
    with WorkerPool(jobs) as pool:
        while True:
            while pool.has_room() and (key := store.claim(keys)) is not None:
                worker = pool.idle_worker()
                worker.send(key, configs[key])
                store.started(key, worker.pid)
            if not pool.busy():
                return
            for key, status, payload in pool.outcomes():
                record(key, status, payload)


# ---------------------------------------------------------------------- worker processes
def _serve(conn: Connection, parent_pid: int) -> None:
    """A worker's life: train the runs it is sent until told to stop (``None``) or orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent handles it
    _die_with_parent(parent_pid)
    while True:
        try:
            task = conn.recv()
        except EOFError:  # the comparison is gone
            return
        if task is None:
            return
        _, config = task
        warm_up(config)
        conn.send(train_one(config))


def _die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux), and exit now if it already
    has. Elsewhere an orphaned worker stops when it next reads from its closed pipe."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1  # <linux/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)


def _death_reason(exitcode: int | None) -> str:
    """One line on why a worker process ended without an answer, from its exit code."""
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (out of memory, or killed by hand)" if -exitcode == signal.SIGKILL else ""
        return f"the worker process training it was killed by {name}{hint}"
    return f"the worker process training it exited with status {exitcode} before it finished"


class Worker:
    """One spawned process that trains the runs it is sent, one at a time."""

    def __init__(self, context: Any) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, os.getpid()),
                                       name="swiftsampler-compare-worker")
        with _sigint_ignored():  # inherited: a Ctrl-C while it starts up is not its to handle
            self.process.start()
        child.close()
        self.key: str | None = None

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def send(self, key: str, config: dict[str, Any]) -> None:
        self.key = key
        try:
            self.conn.send((key, config))
        except OSError:  # died already: its sentinel tells
            pass

    def answer(self) -> tuple[str, Any] | None:
        """The outcome it sent, or ``None`` if it died without one."""
        try:
            return self.conn.recv() if self.conn.poll() else None
        except (EOFError, OSError):
            return None

    def stop(self) -> None:
        """Ask an idle worker to exit; kill a busy one."""
        if self.key is None:
            try:
                self.conn.send(None)
            except OSError:
                pass
        elif self.process.is_alive():
            self.process.kill()

    def join(self) -> None:
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class WorkerPool:
    """Up to ``jobs`` workers, spawned as needed; one that dies is replaced when work remains."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[Worker] = []

    def busy(self) -> list[Worker]:
        return [w for w in self.workers if w.key is not None]

    def has_room(self) -> bool:
        return len(self.busy()) < self.jobs

    def idle_worker(self) -> Worker:
        idle = [w for w in self.workers if w.key is None]
        if idle:
            return idle[0]
        worker = Worker(self.context)
        self.workers.append(worker)
        return worker

    def outcomes(self) -> list[tuple[str, str, Any]]:
        """Wait until a busy worker answers or dies; ``(key, status, payload)`` of each that did."""
        busy = self.busy()
        ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
        out = []
        for worker in busy:
            if worker.conn not in ready and worker.process.sentinel not in ready:
                continue
            key, answer = worker.key, worker.answer()
            assert key is not None
            if answer is None:  # died without an answer: this run failed, the others go on
                worker.process.join()
                out.append((key, "failed", _death_reason(worker.process.exitcode)))
                worker.key = None
                self.workers.remove(worker)
                worker.join()
            else:
                out.append((key, *answer))
                worker.key = None
        return out

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self.workers:
            worker.stop()
        for worker in self.workers:
            worker.join()
        self.workers = []


# ---------------------------------------------------------------------- the comparison process
@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While a comparison runs, SIGTERM is handled like Ctrl-C (workers are stopped and their runs go
    back to ``pending``); a second SIGTERM ends the process at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    previous = signal.SIG_DFL if previous is None else previous

    def interrupt(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, previous)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while the block runs (in the main thread; elsewhere signals cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` while the block runs (released if the process dies)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


#: how a comparison trains its runs: ``--executor NAME``
EXECUTORS: dict[str, Callable[..., None]] = {
    "local": _train_locally, "submitit": functools.partial(train_as_jobs, train=train_one)}
