"""The Optuna study behind ``swiftsampler search``, shared by any number of workers.

* **Storage** (:func:`open_storage`): in memory, a database URL (``sqlite:///x.db``,
  ``postgresql://...``: :class:`optuna.storages.RDBStorage`) or a journal file
  (:class:`optuna.storages.JournalStorage`). Both persistent kinds run Optuna's heartbeat protocol: a
  worker records a heartbeat for its running trial every ``heartbeat`` seconds, and a RUNNING trial
  without one for ``2 * heartbeat`` seconds (its worker was killed) is failed and queued again with
  the same parameters by :class:`optuna.storages.RetryHeartbeatStaleTrialCallback` (at most
  :data:`MAX_RETRY` times).
  Optuna 5.0's journal storage has no heartbeats of its own; :class:`HeartbeatJournalStorage` adds
  them through Optuna's heartbeat interface (``BaseHeartbeat``), so Optuna's own loop records them
  and fails stale trials exactly as for a database.
* **Creating or joining** (:func:`open_study`): the first worker creates the study, stores the
  settings that define the objective (:func:`study_settings`) in its user attributes and enqueues
  the uniform sampler; a worker that finds the study (``--resume``, or a concurrent creator that got
  there first) checks the stored settings against its own and refuses the first difference.
* **Sampling** (:class:`TrialSeededSampler`): trial ``k`` draws its random numbers from a sampler
  seeded with ``derive_seed(seed, "trial k")`` (modulo 2^32). Trial numbers are unique in a study,
  so concurrent workers never propose the same parameters, and one worker with a seed is
  deterministic.
* **The trial count is the study's** (:func:`run_trials`): ``n_trials`` is the number of complete
  trials the study ends with, whatever the number of workers. A trial is admitted if fewer than
  ``n_trials`` trials numbered before it are complete, running or waiting (numbers are given out by
  the storage, so two workers racing for the last place cannot both win); a trial that is not, or a
  second uniform trial, is pruned before it samples anything. A worker with no place left waits
  for the others' running trials (re-queueing those whose worker died) and returns when the study
  has its ``n_trials``. A trial the pruner stopped (:data:`PRUNED_ATTR`) counts as one of them, as
  in Optuna; one pruned for being surplus does not.
* **Pruning** (:func:`make_pruner`): the inner loop reports its validation score at ``rungs``
  points (``trial.report``) and Optuna's pruner stops a trial whose score at a point is poor
  against the other trials' at the same point: ``median`` (below the median of earlier trials),
  ``successive-halving`` (asynchronous successive halving, Li et al. 2020: only the top
  1/``reduction_factor`` of a rung go on) or ``hyperband`` (Li et al. 2018: several brackets of
  successive halving).
"""

from __future__ import annotations

import json
import os
import socket
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import DuplicatedStudyError, ExperimentalWarning, UpdateFinishedTrialError
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage, JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from ..data.files import describe_exception
from ..engine.checkpoint import config_difference
from ..errors import ConfigError
from ..seeding import derive_seed
from .config import SearchConfig

#: How many times a trial whose worker died is re-queued.
MAX_RETRY = 3
#: The search settings that define the objective; a study is only continued with the same ones.
OBJECTIVE_SETTINGS = ("features", "transform", "n_knots", "combine", "floor", "init_fraction",
                      "inner_epochs", "inner_schedule", "train_subset", "val_subset",
                      "final_val_subset", "rungs", "objective")
#: What a study stored before a setting was recorded meant (studies made before stop 30 maximised the
#: validation accuracy).
_BEFORE = {"objective": "val_acc"}
#: Trial user attributes: the uniform sampler's trial, and the worker (``host:pid``) running a trial.
UNIFORM_ATTR = "uniform"
WORKER_ATTR = "worker"
#: Trial user attributes: the rung (1-based report step) where the pruner stopped a trial, and the
#: reference or warm-start origin of an enqueued trial.
PRUNED_ATTR = "pruned_at"
ORIGIN_ATTR = "origin"
#: The reduction factor of the successive-halving and Hyperband pruners.
REDUCTION_FACTOR = 3
_SETTINGS_ATTR = "swiftsampler"
_ALIVE = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
_POLL_S = 1.0  # how often a worker with no trial to run looks at the study again
_CREATOR_WAIT_S = 10.0  # how long a joining worker waits for a concurrent creator's settings
_CREATE_ATTEMPTS = 5  # opening a fresh database that other workers are creating at the same time


# ------------------------------------------------------------------------------------------ storage

class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """A journal storage with Optuna's heartbeat protocol.

    A heartbeat is the trial's system attribute ``heartbeat:<trial id>`` (the worker's
    ``time.time()``; the id in the key keeps a re-queued copy from inheriting it). A RUNNING trial
    whose last heartbeat is older than ``2 * heartbeat_interval`` is stale; one without any is not
    (as in :class:`optuna.storages.RDBStorage`). Workers on several hosts need clocks that agree to
    well within the grace period (NTP).
    """

    def __init__(self, backend: JournalFileBackend, heartbeat_interval: int,
                 stale_trial_callback: Callable[[optuna.Study, FrozenTrial], None]) -> None:
        super().__init__(backend)
        self._heartbeat_interval = heartbeat_interval
        self._stale_trial_callback = stale_trial_callback

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            self.set_trial_system_attr(trial_id, f"heartbeat:{trial_id}", time.time())
        except UpdateFinishedTrialError:  # another worker declared it stale; its retry runs elsewhere
            pass

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now, grace = time.time(), 2 * self._heartbeat_interval
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        return [t._trial_id for t in running
                if now - t.system_attrs.get(f"heartbeat:{t._trial_id}", now) > grace]

    def get_heartbeat_interval(self) -> int:
        return self._heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None]:
        return self._stale_trial_callback


def open_storage(spec: str | None, heartbeat: int) -> BaseStorage | None:
    """``None`` (in memory), a database URL, or a journal file path, checked and opened; an unusable
    one (missing directory, unknown database, a directory, a file that is not a journal, ...) is a
    one-line ConfigError."""
    if spec is None:
        return None
    with warnings.catch_warnings():  # heartbeats and the retry callback are "experimental" in Optuna
        warnings.simplefilter("ignore", ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)
        if "://" in spec:
            return _open_database(spec, heartbeat, retry)
        return _open_journal(Path(spec), heartbeat, retry)


def _open_database(url: str, heartbeat: int, retry: Callable[..., None]) -> BaseStorage:
    import sqlalchemy
    import sqlalchemy.exc

    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise ConfigError(f"--storage: {url!r} is not a database URL "
                          "(e.g. sqlite:///study.db, postgresql://user@host/db)") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ConfigError(f"--storage {url!r}: an in-memory database cannot be shared or "
                              "resumed (leave --storage out for an in-memory study)")
        _check_file_place(Path(parsed.database), "database")
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            return RDBStorage(url, heartbeat_interval=heartbeat, grace_period=2 * heartbeat,
                              heartbeat_stale_trial_callback=retry)
        except (ImportError, sqlalchemy.exc.SQLAlchemyError, RuntimeError, ValueError) as exc:
            # Two workers on a fresh database both create Optuna's tables; the loser sees "table
            # already exists", a duplicate schema version or a locked database. The tables are
            # there once the winner is done, so it opens the database again.
            race = isinstance(exc, sqlalchemy.exc.IntegrityError) or (
                isinstance(exc, sqlalchemy.exc.OperationalError)
                and any(word in str(exc) for word in ("already exists", "locked")))
            if not race or attempt == _CREATE_ATTEMPTS - 1:
                raise ConfigError(f"--storage {url!r}: {_first_line(exc)}") from None
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _open_journal(path: Path, heartbeat: int, retry: Callable[..., None]) -> BaseStorage:
    _check_file_place(path, "journal file")
    if path.is_file() and path.stat().st_size > 0:
        with open(path, "rb") as fh:
            first = fh.readline()
        try:
            record = json.loads(first)
            ok = first.endswith(b"\n") and isinstance(record, dict) and "op_code" in record
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError(f"--storage: {str(path)!r} is not an Optuna journal file (a database "
                              "needs a URL such as sqlite:///study.db)")
    try:
        return HeartbeatJournalStorage(JournalFileBackend(str(path)), heartbeat, retry)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"--storage: journal file {str(path)!r} is unreadable: "
                          f"{describe_exception(exc)}") from None


def _check_file_place(path: Path, what: str) -> None:
    if path.is_dir():
        raise ConfigError(f"--storage: {str(path)!r} is a directory; give a {what} in it")
    if not path.parent.is_dir():
        raise ConfigError(f"--storage: the directory of the {what} {str(path)!r} does not exist")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


# ------------------------------------------------------------------------------------------ sampler

class TrialSeededSampler(BaseSampler):
    """An Optuna sampler whose trial ``k`` is drawn by a fresh ``make(trial_seed(k))``.

    Args:
        make: builds the underlying sampler (GP, TPE, random) from a seed.
        seed: the search's seed.
    """

    def __init__(self, make: Callable[[int], BaseSampler], seed: int) -> None:
        self._make, self._seed = make, seed
        self._sampler = make(self.trial_seed(-1))

    def trial_seed(self, number: int) -> int:
        """The seed of trial ``number`` (32 bits, as NumPy's ``RandomState`` behind Optuna needs)."""
        return derive_seed(self._seed, f"trial {number}") % 2**32

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._sampler = self._make(self.trial_seed(trial.number))
        self._sampler.before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
        return self._sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, Any]) -> dict[str, Any]:
        return self._sampler.sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: Any) -> Any:
        return self._sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Any) -> None:
        self._sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._sampler.reseed_rng()


def make_sampler(search: SearchConfig, seed: int) -> TrialSeededSampler:
    """The search's Optuna sampler (``gp``, ``tpe`` or ``random``), seeded per trial."""
    samplers: dict[str, Callable[[int], BaseSampler]] = {
        "gp": lambda s: optuna.samplers.GPSampler(seed=s, n_startup_trials=search.startup_trials,
                                                  deterministic_objective=False),
        "tpe": lambda s: optuna.samplers.TPESampler(seed=s, n_startup_trials=search.startup_trials),
        "random": lambda s: optuna.samplers.RandomSampler(seed=s),
    }
    return TrialSeededSampler(samplers[search.search_algo], seed)


def make_pruner(search: SearchConfig) -> optuna.pruners.BasePruner:
    """The Optuna pruner of ``search.pruner`` over report steps ``1..search.rungs``."""
    pruners: dict[str, Callable[[], optuna.pruners.BasePruner]] = {
        "none": optuna.pruners.NopPruner,
        "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=search.startup_trials // 2,
                                                      n_warmup_steps=0),
        "successive-halving": lambda: optuna.pruners.SuccessiveHalvingPruner(
            min_resource=1, reduction_factor=REDUCTION_FACTOR),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=search.rungs, reduction_factor=REDUCTION_FACTOR),
    }
    return pruners[search.pruner]()


def counted(trial: FrozenTrial) -> bool:
    """Whether ``trial`` counts towards the study's ``n_trials``: complete, running, waiting, or
    stopped by the pruner."""
    return trial.state in _ALIVE or (trial.state == TrialState.PRUNED
                                     and PRUNED_ATTR in trial.user_attrs)


def finished(trial: FrozenTrial) -> bool:
    """Whether ``trial`` is done and counted: complete, or stopped by the pruner."""
    return trial.state == TrialState.COMPLETE or (trial.state == TrialState.PRUNED
                                                  and PRUNED_ATTR in trial.user_attrs)


# ------------------------------------------------------------------------------------------ study

def study_settings(search: SearchConfig, training: dict[str, Any]) -> dict[str, Any]:
    """What a study is made with (stored in it, JSON): the objective's search settings and the
    training settings (``RunConfig.to_dict()`` for the CLI, whatever a library caller passes)."""
    search_settings = {key: getattr(search, key) for key in OBJECTIVE_SETTINGS}
    return {"search": {k: list(v) if isinstance(v, tuple) else v for k, v in search_settings.items()},
            "config": training}


def settings_difference(saved: dict[str, Any], current: dict[str, Any]) -> str | None:
    """The first setting that differs between two :func:`study_settings`, as ``key: a != b``."""
    for key in OBJECTIVE_SETTINGS:
        a, b = saved.get("search", {}).get(key, _BEFORE.get(key)), current["search"][key]
        if a != b:
            return f"{key}: {a!r} != {b!r}"
    return config_difference(saved.get("config", {}), current["config"])


def open_study(search: SearchConfig, settings: dict[str, Any], uniform: dict[str, float], seed: int,
               *, resume: bool, enqueue: list[tuple[str, dict[str, float]]] = ()) -> optuna.Study:
    """Create the study (storing ``settings`` and enqueueing the ``uniform`` parameters first, then
    the ``enqueue`` ones: ``(origin, params)``), or, with ``resume``, join the one in the storage
    after checking its settings."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(search.storage, search.heartbeat)
    sampler = make_sampler(search, seed)
    try:
        study = optuna.create_study(study_name=search.study_name, storage=storage, sampler=sampler,
                                    pruner=make_pruner(search), direction=search.direction)
        study.set_user_attr(_SETTINGS_ATTR, settings)
        created = True
    except DuplicatedStudyError:
        if not resume:
            raise ConfigError(f"--storage already holds a study {search.study_name!r}; use --resume "
                              "to continue it (or join it as another worker) or --study-name for a "
                              "new one") from None
        study = optuna.load_study(study_name=search.study_name, storage=storage, sampler=sampler,
                                  pruner=make_pruner(search))
        created = False
        diff = settings_difference(_stored_settings(study), settings)
        if diff is not None:
            raise ConfigError(f"--resume: the study {search.study_name!r} was made with other "
                              f"settings ({diff})") from None
    if not any(t.user_attrs.get(UNIFORM_ATTR) for t in study.get_trials(deepcopy=False, states=_ALIVE)):
        # The uniform sampler first (again, if its trial failed): a floor for the objective.
        study.enqueue_trial(uniform, user_attrs={UNIFORM_ATTR: True, ORIGIN_ATTR: "uniform"})
    if created:
        for origin, params in enqueue:
            study.enqueue_trial(params, user_attrs={ORIGIN_ATTR: origin}, skip_if_exists=True)
    return study


def _stored_settings(study: optuna.Study) -> dict[str, Any]:
    """The settings of a study being joined (waiting briefly for a creator that is storing them)."""
    deadline = time.monotonic() + _CREATOR_WAIT_S
    while not isinstance(saved := study.user_attrs.get(_SETTINGS_ATTR), dict):
        if study.get_trials(deepcopy=False) or time.monotonic() > deadline:
            raise ConfigError(f"--resume: the study {study.study_name!r} holds no swiftsampler "
                              "search settings (it was not made by swiftsampler search)")
        time.sleep(0.1)
    return saved


# ------------------------------------------------------------------------------------------ trials

def worker_name() -> str:
    """``host:pid``, recorded with each trial a worker runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_surplus(study: optuna.Study, trial: optuna.Trial, n_trials: int) -> bool:
    """Whether ``trial`` is beyond the study's ``n_trials`` (counting the complete, running and
    waiting trials numbered before it), or a second uniform trial."""
    earlier = [t for t in study.get_trials(deepcopy=False) if counted(t) and t.number < trial.number]
    return len(earlier) >= n_trials or (
        bool(trial.user_attrs.get(UNIFORM_ATTR)) and any(t.user_attrs.get(UNIFORM_ATTR) for t in earlier))


def run_trials(study: optuna.Study, objective: Callable[[optuna.Trial], float], n_trials: int, *,
               on_change: Callable[[int], None] = lambda complete: None) -> None:
    """Run trials of ``study`` until it has ``n_trials`` complete ones (see the module docstring);
    ``on_change(complete)`` is called whenever this worker looks at the study."""
    worker = worker_name()
    superseded: set[int] = set()  # trials of this worker that another one declared stale

    def admitted(trial: optuna.Trial) -> float:
        trial.set_user_attr(WORKER_ATTR, worker)
        if is_surplus(study, trial, n_trials):
            raise optuna.TrialPruned(f"the study has its {n_trials} trials")
        try:
            value = objective(trial)
            running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            lost = trial.number not in {t.number for t in running}
        except UpdateFinishedTrialError:  # a journal refuses the attributes of a finished trial
            lost = True
        if lost:
            superseded.add(trial.number)
            raise optuna.TrialPruned("another worker found this trial without heartbeats, failed it "
                                     "and re-queued it")
        return value

    while True:
        alive = [t for t in study.get_trials(deepcopy=False) if counted(t)]
        complete = sum(finished(t) for t in alive)
        on_change(complete)
        if complete >= n_trials:
            return
        if len(alive) < n_trials or any(t.state == TrialState.WAITING for t in alive):
            try:
                study.optimize(admitted, n_trials=1, catch=())
            except (UpdateFinishedTrialError, ValueError):
                # Optuna 5.0 cannot tell a trial that another worker has failed meanwhile
                # ("Cannot tell a FAIL trial"); that trial runs again elsewhere, this worker goes on.
                if not superseded:
                    raise
                superseded.clear()
        else:  # every place is taken: wait for the running trials, re-queue those that went stale
            time.sleep(_POLL_S)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)


__all__ = ["MAX_RETRY", "OBJECTIVE_SETTINGS", "ORIGIN_ATTR", "PRUNED_ATTR", "UNIFORM_ATTR",
           "WORKER_ATTR", "HeartbeatJournalStorage", "TrialSeededSampler", "counted", "finished",
           "is_surplus", "make_pruner", "make_sampler", "open_storage", "open_study",
           "run_trials", "settings_difference", "study_settings", "worker_name"]
