"""A run's numbers depend on its config and seed only, not on how it was launched: ``train`` in this
process, ``compare --jobs 1`` and ``compare --jobs 2`` (spawned worker processes) agree exactly."""

import json
import sqlite3

import torch

from swiftsampler.config import RunConfig
from swiftsampler.engine import train
from swiftsampler.experiments import GridSpec, run_comparison

# cnn1d on MNIST-1D: a model whose convolutions round differently with 1 and 2 threads.
BASE = RunConfig().replace(dataset="mnist1d", num_samples=1500, model="cnn1d", width=16, epochs=2)


def numbers(result):
    return result["test_acc"], [(r["train_loss"], r["val_loss"]) for r in result["history"]]


def stored(out):
    with sqlite3.connect(out / "results.db") as db:
        rows = db.execute("SELECT spec, result FROM runs WHERE status = 'done'").fetchall()
    return {json.loads(spec)["seed"]: numbers(json.loads(result)) for spec, result in rows}


def test_the_thread_count_is_part_of_the_config_and_restored_after_a_run():
    before = torch.get_num_threads()
    one, two = train(BASE.replace(threads=1)), train(BASE.replace(threads=2))
    assert torch.get_num_threads() == before
    assert one["config"]["threads"] == 1 and one["environment"]["threads"] == 1
    assert numbers(one) != numbers(two)  # so the agreement below is not an accident


def test_train_and_compare_at_any_jobs_give_identical_numbers(tmp_path):
    grid = GridSpec(samplers=("uniform",), models=("cnn1d",), seeds=(0, 1), base=BASE)
    direct = {seed: numbers(train(BASE.replace(seed=seed))) for seed in (0, 1)}
    for jobs in (1, 2):
        run_comparison(grid, tmp_path / f"jobs{jobs}", jobs=jobs)
        assert stored(tmp_path / f"jobs{jobs}") == direct, f"compare --jobs {jobs} differs"
