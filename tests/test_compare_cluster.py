"""``compare --executor submitit``: runs trained as submitit jobs (local subprocesses where Slurm
is absent) give the same results as the local executor; the comparison alone writes the store.
Skipped without submitit (``pip install 'swiftsampler[cluster]'``)."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from swiftsampler.config import RunConfig
from swiftsampler.errors import ConfigError
from swiftsampler.experiments import GridSpec, run_comparison

ROOT = Path(__file__).resolve().parents[1]
BASE = RunConfig().replace(dataset="synthetic", model="mlp", width=16, epochs=2, batch_size=32)


def _grid() -> GridSpec:
    return GridSpec(samplers=("uniform", "p-sgd"), budgets=(0.5,), models=("mlp",), seeds=(0,),
                    base=BASE)


def _metrics(out: Path) -> dict[str, tuple]:
    with sqlite3.connect(out / "results.db") as db:
        rows = db.execute("SELECT key, status, result FROM runs").fetchall()
    assert all(status == "done" for _, status, _ in rows)
    return {key: (r["test_acc"], r["cost"], [h["train_loss"] for h in r["history"]])
            for key, _, result in rows for r in [json.loads(result)]}


def test_submitit_jobs_give_the_local_results(tmp_path, monkeypatch):
    pytest.importorskip("submitit", reason="submitit is not installed "
                                           "(pip install 'swiftsampler[cluster]')")
    # the jobs are fresh interpreters: they must import this source tree
    paths = [str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    counts = run_comparison(_grid(), tmp_path / "jobs", jobs=2, executor="submitit")
    assert counts == {"done": 2}
    assert list((tmp_path / "jobs" / "submitit").iterdir())  # the jobs' files
    run_comparison(_grid(), tmp_path / "here", jobs=1)
    assert _metrics(tmp_path / "jobs") == _metrics(tmp_path / "here")


def test_an_unknown_executor_is_refused():
    with pytest.raises(ConfigError, match="--executor: unknown executor 'ray'"):
        run_comparison(_grid(), "/nonexistent/never-made", executor="ray")
