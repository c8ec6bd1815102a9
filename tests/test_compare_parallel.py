"""Parallel comparisons with real processes: the thread count makes runs launch-independent; a killed
worker fails its run only; a killed comparison leaves no workers; two comparisons on one store share
the work; colliding grid values are refused before a store is made."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
import torch

import swiftsampler
from swiftsampler.cli import main
from swiftsampler.config import RunConfig
from swiftsampler.engine import train
from swiftsampler.errors import ConfigError
from swiftsampler.experiments import GridSpec, ResultStore, run_comparison

from .conftest import without_times

SRC = Path(swiftsampler.__file__).resolve().parents[1]
TINY = ["--dataset", "synthetic", "--models", "mlp", "--width", "16", "--batch-size", "32",
        "--samplers", "uniform", "--budgets", "1.0", "--progress", "off"]


def compare_process(out, *flags):
    """``swiftsampler compare`` in its own process (its own session, so signals reach only it)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "swiftsampler", "compare", *TINY, *flags,
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True)


def runs_of(out):
    """``{key: (status, pid, attempts, error)}`` of ``out/results.db`` as it is now."""
    path = out / "results.db"
    if not path.exists():
        return {}
    try:
        with closing(sqlite3.connect(path, timeout=30)) as db:
            return {key: rest for key, *rest in db.execute(
                "SELECT key, status, pid, attempts, error FROM runs")}
    except sqlite3.OperationalError:  # the schema is not there yet
        return {}


def wait_until(condition, proc, what, timeout=120.0):
    """Poll ``condition()`` until it is truthy (a deadline against hanging, not a timing check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the comparison ended before {what}: {proc.communicate()}")
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


def _stat(pid):
    """The fields of ``/proc/PID/stat`` after the command name (state, ppid, pgrp, session, ...)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def alive(pid):
    """Whether process ``pid`` exists and is not a zombie."""
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def session_alive(sid):
    """The live processes of session ``sid`` (a comparison started in its own session and all it
    started: workers, multiprocessing's helpers)."""
    pids = (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit())
    return [pid for pid in pids if (stat := _stat(pid)) and stat[0] != "Z" and int(stat[3]) == sid]


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def test_train_and_compare_at_any_jobs_give_the_same_numbers(tmp_path):
    base = RunConfig().replace(dataset="mnist1d", num_samples=2000, model="cnn1d", epochs=2)
    grid = GridSpec(samplers=("uniform",), budgets=(1.0,), models=("cnn1d",), seeds=(0, 1), base=base)
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the launching process uses another count than the runs (1)
    try:
        during = []
        alone = {key: train(cfg, callbacks=[lambda _: during.append(torch.get_num_threads())])
                 for key, _, cfg in grid.runs()}
        assert set(during) == {1} and torch.get_num_threads() == 2  # set per run, then restored
        for jobs in (1, 2):
            out = tmp_path / f"jobs{jobs}"
            assert run_comparison(grid, out, jobs=jobs) == {"done": 2}
            assert torch.get_num_threads() == 2
            with closing(sqlite3.connect(out / "results.db")) as db:
                stored = {k: json.loads(r) for k, r in db.execute("SELECT key, result FROM runs")}
            for key, result in alone.items():
                assert without_times(stored[key]) == without_times(result), (jobs, key)
                assert stored[key]["environment"]["threads"] == 1
                assert stored[key]["config"]["threads"] == 1
    finally:
        torch.set_num_threads(before)


def test_threads_is_a_validated_setting_recorded_in_the_result(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "synthetic", "--model", "mlp", "--width", "8", "--epochs", "1",
                 "--threads", "2", "--progress", "off", "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["config"]["threads"] == 2 and result["environment"]["threads"] == 2
    capsys.readouterr()
    assert main(["train", "--threads", "0", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--threads: must be a positive integer" in err


@pytest.mark.slow
@needs_proc
def test_a_worker_killed_mid_run_fails_that_run_and_the_others_finish(tmp_path):
    out = tmp_path / "cmp"
    proc = compare_process(out, "--epochs", "10", "--seeds", "0,1,2", "--jobs", "2")

    def warm_worker_run():  # a run whose worker has finished one before: it trains, not starts up
        runs = runs_of(out).items()
        warm = {pid for _, (status, pid, *_) in runs if status == "done"}
        return next(((key, pid) for key, (status, pid, *_) in runs
                     if status == "running" and pid in warm), None)

    key, pid = wait_until(warm_worker_run, proc, "a worker started its second run")
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr and "BrokenProcessPool" not in stderr
    runs = runs_of(out)
    assert runs[key][0] == "failed"
    error = runs[key][3]
    assert "\n" not in error and "killed by SIGKILL" in error
    assert sorted(status for status, *_ in runs.values()) == ["done", "done", "failed"]
    assert "runs: 2 done, 1 failed" in stdout
    wait_until(lambda: not session_alive(proc.pid), None, "every process it started to exit",
               timeout=60)


@pytest.mark.slow
@needs_proc
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killing_the_comparison_leaves_no_worker_behind(tmp_path, sig):
    out = tmp_path / "cmp"
    proc = compare_process(out, "--epochs", "5000", "--seeds", "0,1", "--jobs", "2")

    def worker_pids():
        pids = [pid for status, pid, *_ in runs_of(out).values() if status == "running"]
        return pids if len(pids) == 2 and proc.pid not in pids and all(map(alive, pids)) else None

    workers = wait_until(worker_pids, proc, "two workers were training")
    os.kill(proc.pid, sig)
    _, stderr = proc.communicate(timeout=60)
    wait_until(lambda: not session_alive(proc.pid), None, "every process it started to exit",
               timeout=60)
    assert not any(map(alive, workers))
    if sig == signal.SIGTERM:  # handled like Ctrl-C: one line, the runs go back to pending
        assert proc.returncode == 130
        assert stderr.strip() == "swiftsampler compare: interrupted"
        assert {status for status, *_ in runs_of(out).values()} == {"pending"}
    else:
        assert proc.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_two_comparisons_on_one_store_train_every_run_exactly_once(tmp_path):
    out = tmp_path / "cmp"
    procs = [compare_process(out, "--epochs", "5", "--seeds", "0,1,2,3", "--jobs", "1")
             for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (_, stderr) in zip(procs, results):
        assert proc.returncode == 0, stderr
        assert "Traceback" not in stderr and "locked" not in stderr
    runs = runs_of(out)
    assert len(runs) == 4
    assert {(status, attempts) for status, _, attempts, _ in runs.values()} == {("done", 1)}
    with closing(sqlite3.connect(out / "results.db")) as db:
        assert db.execute("SELECT COUNT(*) FROM owners").fetchone() == (0,)  # both left cleanly


def test_claims_are_exclusive_and_runs_of_dead_owners_are_taken_again(tmp_path):
    base = RunConfig().replace(dataset="synthetic")
    runs = GridSpec(models=("mlp",), seeds=(0, 1, 2), base=base).runs()
    k0, k1, k2 = keys = [key for key, _, _ in runs]
    path = tmp_path / "results.db"
    with ResultStore(path) as a, ResultStore(path) as b, ResultStore(path) as c:
        a.join()
        b.join()
        a.sync(runs)
        b.sync(runs)  # the same grid again: nothing added, nothing refused
        assert (a.claim(keys), b.claim(keys), a.claim(keys)) == (k0, k1, k2)
        assert b.claim(keys) is None  # a live owner's runs are not taken
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
        a.db.execute("UPDATE owners SET pid = ? WHERE owner = ?", (int(gone.stdout), a.owner))
        assert b.claim(keys) == k0  # a's process is gone: its runs are pending again
        assert not a.done(k0, {"test_acc": 1.0})  # and its late answer is not recorded
        assert b.done(k0, {"test_acc": 1.0})
        b.db.execute("UPDATE owners SET heartbeat = 0 WHERE owner = ?", (b.owner,))
        c.join()  # b's process lives (it is this one), but b has stopped beating: presumed dead
        assert (c.claim(keys), c.claim(keys), c.claim(keys)) == (k1, k2, None)
        with closing(sqlite3.connect(path)) as db:
            rows = {k: (s, n) for k, s, n in db.execute("SELECT key, status, attempts FROM runs")}
        assert rows == {k0: ("done", 2), k1: ("running", 2), k2: ("running", 2)}
        c.leave()  # an owner leaving puts its unfinished runs back
        assert {a.status(k1), a.status(k2)} == {"pending"}


def test_grid_values_that_share_a_run_key_are_refused_before_a_store_exists(tmp_path, capsys):
    for axis, values in (("budgets", (0.3, 0.3000001)), ("noises", (0.1, 0.10000001))):
        with pytest.raises(ConfigError, match=f"--{axis}: .* give the same run key"):
            GridSpec(**{axis: values})
    out = tmp_path / "cmp"
    assert main(["compare", "--dataset", "synthetic", "--models", "mlp", "--budgets", "0.3,0.3000001",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "same run key (0.3)" in err
    assert not out.exists()
