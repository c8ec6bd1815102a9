"""The search's Optuna study: storages and their errors, resuming with the same settings only, seeds
per trial, heartbeats, and real worker processes sharing one study (one of them killed mid-trial)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from swiftsampler.cli import main
from swiftsampler.errors import ConfigError
from swiftsampler.search import SearchConfig, SwiftSearch
from swiftsampler.search.study import (
    UNIFORM_ATTR,
    WORKER_ATTR,
    HeartbeatJournalStorage,
    make_sampler,
    open_storage,
    run_trials,
    worker_name,
)

from .test_swift_search import small

TINY = ["--dataset", "synthetic", "--model", "mlp", "--width", "16", "--epochs", "4",
        "--num-samples", "400", "--batch-size", "32", "--search-algo", "random", "--n-trials", "6",
        "--no-plots", "--progress", "off", "--pruner", "none"]  # every trial complete


def _one_line_error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("swiftsampler search: error: "), err
    return err


# ------------------------------------------------------------------------------ unusable storages

@pytest.mark.parametrize("storage, message", [
    ("sqlite:///{tmp}/missing/study.db", "directory of the database"),
    ("nosuchdb://user@host/study", "NoSuchModuleError"),
    ("sqlite://", "in-memory database"),
    ("{tmp}", "is a directory"),
    ("{tmp}/missing/study.journal", "directory of the journal file"),
    ("{tmp}/notes.csv", "not an Optuna journal file"),
    ("{tmp}/partial.txt", "not an Optuna journal file"),
    ("sqlite:///{tmp}/notes.csv", "file is not a database"),
])
def test_an_unusable_storage_is_one_line_before_any_training(tmp_path, capsys, storage, message):
    (tmp_path / "notes.csv").write_text("trial,val_acc\n0,0.5\n")
    (tmp_path / "partial.txt").write_bytes(b"no newline, not JSON")  # Optuna skips such a last line
    out = tmp_path / "out"
    err = _one_line_error(capsys, ["search", *TINY, "--storage", storage.format(tmp=tmp_path),
                                   "--out", str(out)])
    assert message in err
    assert not out.exists()  # refused before the data, the shared initialisation and any trial


def test_resume_needs_a_storage(tmp_path, capsys):
    err = _one_line_error(capsys, ["search", *TINY, "--resume", "--out", str(tmp_path / "o")])
    assert "--resume: needs --storage" in err


def test_resume_refuses_a_study_made_with_other_settings(tmp_path):
    journal = str(tmp_path / "study.journal")
    cfg = small(epochs=2)
    search = SearchConfig(n_trials=1, search_algo="random", storage=journal)
    SwiftSearch(cfg, search, tmp_path / "a").run()
    for other_cfg, other_search, diff in [
            (cfg, SearchConfig(n_trials=2, search_algo="random", storage=journal, n_knots=4),
             "n_knots: 5 != 4"),
            (cfg, SearchConfig(n_trials=2, search_algo="random", storage=journal,
                               features=("loss",)), "features: ['loss', 'entropy'] != ['loss']"),
            (cfg.replace(lr=0.1), search, "optim.lr: 0.05 != 0.1"),
            (cfg.replace(noise=0.1), search, "data.noise: 0.3 != 0.1"),
            (cfg, SearchConfig(n_trials=2, search_algo="random", storage=journal,
                               objective="val_loss"), "objective: 'val_acc' != 'val_loss'")]:
        with pytest.raises(ConfigError, match=re.escape(f"made with other settings ({diff})")):
            SwiftSearch(other_cfg, other_search, tmp_path / "b").run(resume=True)
    assert not (tmp_path / "b").exists()
    # what does not change the objective may change: more trials, another algorithm, the workers
    more = SearchConfig(n_trials=2, search_algo="tpe", storage=journal, heartbeat=5)
    assert len(SwiftSearch(cfg.replace(workers=0), more, tmp_path / "a").run(resume=True)["trials"]) == 2


def test_resume_refuses_a_study_not_made_by_the_search(tmp_path, capsys):
    journal = str(tmp_path / "study.journal")
    study = optuna.create_study(study_name="swiftsampler", storage=open_storage(journal, heartbeat=60))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    err = _one_line_error(capsys, ["search", *TINY, "--storage", journal, "--resume",
                                   "--out", str(tmp_path / "o")])
    assert "holds no swiftsampler search settings" in err and not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------ sampling and heartbeats

def _params(seed, trials):
    study = optuna.create_study(sampler=make_sampler(SearchConfig(search_algo="random"), seed))
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_float("y", 0, 1), n_trials=trials)
    return [tuple(t.params.values()) for t in study.trials]


def test_each_trial_number_has_its_own_seed_and_a_seed_reproduces_a_study():
    a = _params(0, 5)
    assert a == _params(0, 5)  # one worker with a seed is deterministic
    assert len(set(a)) == 5 and set(a).isdisjoint(_params(1, 5))
    # a worker that joins at trial 3 draws what trial 3 draws, not what a new study's trial 0 draws
    study = optuna.create_study(sampler=make_sampler(SearchConfig(search_algo="random"), 0))
    for _ in range(3):
        study.add_trial(optuna.create_trial(params={"x": 0.5, "y": 0.5}, value=1.0, distributions={
            "x": optuna.distributions.FloatDistribution(0, 1),
            "y": optuna.distributions.FloatDistribution(0, 1)}))
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_float("y", 0, 1), n_trials=1)
    assert tuple(study.trials[3].params.values()) == a[3]


def test_a_journal_trial_without_heartbeats_is_failed_and_requeued(tmp_path):
    storage = open_storage(str(tmp_path / "study.journal"), heartbeat=1)
    assert isinstance(storage, HeartbeatJournalStorage)
    study = optuna.create_study(storage=storage)
    with warnings.catch_warnings():  # Optuna: heartbeats are meant for Study.optimize
        warnings.simplefilter("ignore", UserWarning)
        beating, silent = study.ask(), study.ask()
    for trial in (beating, silent):
        trial.suggest_float("x", 0, 1)
        storage.record_heartbeat(trial._trial_id)
    # the silent trial's worker last beat 10 s ago (2 s is the grace period)
    storage.set_trial_system_attr(silent._trial_id, f"heartbeat:{silent._trial_id}", time.time() - 10)
    with pytest.warns(optuna.exceptions.ExperimentalWarning):
        optuna.storages.fail_stale_trials(study)
    states = [t.state for t in study.trials]
    assert states == [TrialState.RUNNING, TrialState.FAIL, TrialState.WAITING]
    retry = study.trials[2]
    assert retry.params == silent.params and retry.system_attrs["failed_trial"] == silent.number


# ------------------------------------------------------------------------------ worker processes

def _worker(storage, out, *extra):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-m", "swiftsampler", "search", *TINY, "--heartbeat", "1", "--resume",
         "--storage", storage, "--out", str(out), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _finished(*workers):
    for proc in workers:
        stdout, stderr = proc.communicate(timeout=240)
        assert proc.returncode == 0, stderr
        assert stderr == ""


def _journal_trials(path):
    if not path.exists():
        return []
    storage = JournalStorage(JournalFileBackend(str(path)))
    try:
        return optuna.load_study(study_name="swiftsampler", storage=storage).trials
    except KeyError:  # the study is not created yet
        return []


def _check_study(trials, out):
    """Exactly 6 complete trials, nothing left running or queued, no parameters twice, one uniform
    trial, and the card and table written from the whole study."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 6
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert len({tuple(t.params.values()) for t in complete}) == 6
    assert sum(bool(t.user_attrs.get(UNIFORM_ATTR)) for t in complete) == 1
    card = json.loads((out / "sampler.json").read_text())
    assert card["provenance"]["trials"] == 6
    assert card["provenance"]["uniform_value"] is not None
    assert len(json.loads((out / "trials.json").read_text())["trials"]) == 6


def test_two_workers_on_a_fresh_database_share_six_trials(tmp_path):
    """Both create Optuna's tables and the study at the same time, and train the shared
    initialisation into one folder at the same time."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    out = tmp_path / "out"
    _finished(_worker(url, out), _worker(url, out))
    _check_study(optuna.load_study(study_name="swiftsampler", storage=url).trials, out)


def test_a_worker_killed_mid_trial_loses_only_that_trial(tmp_path):
    """A worker is stopped inside its first trial, the uniform one (not while it holds the journal's
    lock), and killed; two workers then resume the study together: the killed trial is failed once
    its heartbeats stop, re-queued and completed, and the study still ends with exactly 6 trials."""
    journal, out = tmp_path / "study.journal", tmp_path / "out"
    first = _worker(str(journal), out)
    while not (out / "init.pt").exists():  # it trains the shared initialisation, then trial 0
        assert first.poll() is None, first.communicate()[1]
        time.sleep(0.005)
    lock = tmp_path / "study.journal.lock"
    while True:  # let it run 2 ms at a time until it is inside the uniform trial
        assert first.poll() is None, first.communicate()[1]
        os.kill(first.pid, signal.SIGSTOP)
        running = [t for t in _journal_trials(journal) if t.state == TrialState.RUNNING
                   and t.user_attrs.get(WORKER_ATTR, "").endswith(f":{first.pid}")]
        if running and not os.path.lexists(lock):
            os.kill(first.pid, signal.SIGKILL)
            first.communicate()
            break
        os.kill(first.pid, signal.SIGCONT)
        time.sleep(0.002)
    killed = running[0]
    assert killed.number == 0 and killed.user_attrs[UNIFORM_ATTR]
    _finished(_worker(str(journal), out), _worker(str(journal), out))
    trials = _journal_trials(journal)
    _check_study(trials, out)
    assert trials[killed.number].state == TrialState.FAIL
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert [t.state for t in retried] == [TrialState.COMPLETE]
    assert retried[0].user_attrs[UNIFORM_ATTR] and set(retried[0].params.values()) == {0.5}
    assert killed.params.items() <= retried[0].params.items()  # (killed before it asked for all)


def test_a_worker_whose_trial_was_declared_stale_drops_it_and_goes_on(tmp_path):
    storage = open_storage(str(tmp_path / "study.journal"), heartbeat=1)
    study = optuna.create_study(storage=storage)
    seen = []

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        if not seen:  # meanwhile another worker, missing this one's heartbeats, fails its trial
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        seen.append(trial.number)
        return x

    run_trials(study, objective, 2)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert [t.user_attrs[WORKER_ATTR] for t in study.trials] == [worker_name()] * 3


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_a_search_storage_opens_with_plain_optuna_as_the_dashboard_does(tmp_path, kind):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = tmp_path / "study.journal"
    url = str(journal) if kind == "journal" else f"sqlite:///{tmp_path / 'study.db'}"
    SwiftSearch(small(epochs=2), SearchConfig(n_trials=2, search_algo="random", storage=url),
                tmp_path / "out").run()
    storage = JournalStorage(JournalFileBackend(str(journal))) if kind == "journal" else url
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 2 and all("val_acc" in t.user_attrs for t in complete)
    assert complete[0].params and study.best_value == max(t.value for t in complete)


def test_a_study_stored_before_the_objective_was_recorded_reads_as_accuracy():
    from swiftsampler.search.study import settings_difference, study_settings

    training = small().to_dict()
    current = study_settings(SearchConfig(objective="val_acc"), training)
    old = {"search": {k: v for k, v in current["search"].items() if k != "objective"},
           "config": training}
    assert settings_difference(old, current) is None
    assert settings_difference(old, study_settings(SearchConfig(objective="val_loss"), training)) \
        == "objective: 'val_acc' != 'val_loss'"
