"""Data-parallel training with real gloo processes: two ranks under ``torchrun`` on the CPU.

One ``torchrun`` job (:mod:`tests.ddp_worker`, about 10 s on 2 cores) gives every rank's plans,
statistics, weights and results; one ``swiftsampler train --nproc 2`` checks the command line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from swiftsampler.distributed import SINGLE, DistributedContext, all_gather_rows
from swiftsampler.engine import train

from .conftest import without_times
from .ddp_worker import SELECTORS, N, core_epochs, mixed_config, run_config, select_epochs, selective_config

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    """The test's environment with the source tree and the tests importable, one thread a rank."""
    paths = [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return {**env, "PYTHONPATH": os.pathsep.join(p for p in paths if p), "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """What each of two gloo ranks saw (``tests/ddp_worker.py``)."""
    out = tmp_path_factory.mktemp("ddp")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", str(ROOT / "tests" / "ddp_worker.py"), str(out)],
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]


def test_shards_are_strided_equal_and_leave_out_the_tail():
    items = torch.arange(11)
    shards = [DistributedContext(rank=r, world_size=3).shard(items) for r in range(3)]
    assert [s.tolist() for s in shards] == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    assert torch.equal(SINGLE.shard(items), items)
    rows = torch.arange(6.0).reshape(3, 2)
    assert all_gather_rows(rows, SINGLE) is rows


def test_plan_shards_are_disjoint_and_interleave_into_the_single_process_plan(ranks):
    single = core_epochs()
    for epoch, plan in enumerate(single["plans"]):
        zero, one = (rank["core"]["plans"][epoch] for rank in ranks)
        assert zero.numel() == one.numel() == N // 2
        assert not set(zero.tolist()) & set(one.tolist())
        assert torch.equal(torch.stack([zero, one], dim=1).flatten(), plan)
    # p-SGD follows the statistics: the later plans are not the first one again
    assert not torch.equal(single["plans"][2], single["plans"][0])
    assert ranks[0]["core"]["meter"] == ranks[1]["core"]["meter"] == single["meter"]


def test_statistics_are_the_same_on_every_rank_and_as_in_one_process(ranks):
    single = core_epochs()
    for epoch, expected in enumerate(single["stats"]):
        for rank in ranks:
            for name, value in expected.items():
                assert torch.equal(rank["core"]["stats"][epoch][name].nan_to_num(-7),
                                   value.nan_to_num(-7)), (epoch, name)
    assert ranks[0]["core"]["stats"][0]["seen"].sum() == N  # every sample folded once an epoch


def test_trained_ranks_agree_and_match_one_process(ranks):
    zero, one = ranks
    for name, value in zero["stats"].items():
        assert torch.equal(value.nan_to_num(-7), one["stats"][name].nan_to_num(-7)), name
    assert all(torch.equal(a, b) for a, b in zip(zero["weights"], one["weights"]))
    assert without_times(zero["result"]) == without_times(one["result"])
    alone = train(run_config())
    for key in ("forward_samples", "backward_samples", "budget_units_spent"):
        assert zero["result"]["cost"][key] == alone["cost"][key]
    # the same samples a step; only the last batch of an epoch differs (16 + 1 is one batch of 17
    # a rank, while one process trains 32 + 2 as two batches), and float sums run in another order
    assert [h["samples"] for h in zero["result"]["history"]] == [h["samples"]
                                                                 for h in alone["history"]]
    assert zero["result"]["history"][0]["train_loss"] == pytest.approx(
        alone["history"][0]["train_loss"], abs=1e-3)
    assert zero["result"]["test_acc"] == pytest.approx(alone["test_acc"], abs=0.05)
    assert zero["result"]["test_acc"] > 0.8


def test_sharded_evaluation_equals_scoring_the_whole_split(ranks):
    for rank in ranks:
        accuracy, loss = rank["whole_test"]
        assert rank["result"]["test_acc"] == accuracy  # counts of 0/1: exact
        assert rank["result"]["test_loss"] == pytest.approx(loss, rel=1e-6)


def test_scoring_passes_and_mixing_credit_stay_in_step_across_ranks(ranks):
    zero, one = (rank["mixed"] for rank in ranks)
    for name, value in zero["stats"].items():
        assert torch.equal(value.nan_to_num(-7), one["stats"][name].nan_to_num(-7)), name
    alone = train(mixed_config())
    for key in ("forward_samples", "backward_samples"):  # scoring passes of N, charged once
        assert zero["result"]["cost"][key] == alone["cost"][key]
    assert [h["scored"] for h in zero["result"]["history"]] == [h["scored"]
                                                                for h in alone["history"]]
    # every output's shares sum to 1 and every scored sample counts 1: the same total credit
    seen = zero["stats"]["seen"].sum().item()
    assert seen == pytest.approx(alone["cost"]["forward_samples"], rel=1e-6)


def test_resume_under_ddp_gives_the_uninterrupted_result(ranks):
    for rank in ranks:
        assert rank["stopped_epochs"] == 2
        assert without_times(rank["resumed"]) == without_times(rank["result"])


def _interleaved(zero: list[dict], one: list[dict]) -> list[dict]:
    """The global batches of two ranks' strided shares (``batch[r::2]``)."""
    return [{key: None if a[key] is None else torch.stack([a[key], b[key]], dim=1).flatten(0, 1)
             for key in a} for a, b in zip(zero, one)]


@pytest.mark.parametrize("name", sorted(SELECTORS))
def test_batch_then_sample_ranks_train_strided_shares_of_the_single_process_batches(ranks, name):
    """Selection is global (gathered scores, one generator), training local: rank r trains
    batch[r::2] of each batch one process trains, with the inputs of those samples."""
    single = select_epochs(name)["trained"]
    zero, one = (rank["select"][name]["trained"] for rank in ranks)
    assert len(zero) == len(one) > 4
    table = torch.randn(N, 5, generator=torch.Generator().manual_seed(0))
    for batch in zero + one:
        assert torch.equal(batch["rows"], table[batch["indices"]])  # each sample's own inputs
        assert torch.equal(batch["index"].long(), batch["indices"])
    together = _interleaved(zero, one)
    if name == "selective-backprop":  # a random number kept: a plan's last batch is cut to even
        single = [{k: v if v is None else v[:v.shape[0] - v.shape[0] % 2] for k, v in b.items()}
                  for b in single if b["indices"].numel() >= 4]
        together, single = together[:10], single[:10]  # before the budgets' ends differ
    assert len(together) == len(single)
    for mine, alone in zip(together, single):
        for key, value in alone.items():
            assert (mine[key] is None) if value is None else torch.equal(mine[key], value), key
    if name == "uis":  # draws with replacement: some samples are trained twice in a batch
        assert any(b["indices"].unique().numel() < b["indices"].numel() for b in single)
        assert single[0]["weights"] is not None
    if name != "selective-backprop":  # every batch full: the same spend and statistics
        reference = select_epochs(name)
        for rank in ranks:
            seen = rank["select"][name]
            assert seen["meter"] == reference["meter"]
            for key, value in reference["stats"].items():
                assert torch.equal(seen["stats"][key].nan_to_num(-7), value.nan_to_num(-7)), key


def test_selective_backprop_under_ddp_spends_the_same_and_learns_alike(ranks):
    zero, one = (rank["selective"] for rank in ranks)
    assert without_times(zero) == without_times(one)
    alone = train(selective_config())
    for key in ("forward_samples", "backward_samples"):
        assert zero["cost"][key] == pytest.approx(alone["cost"][key], rel=0.02)
    assert zero["test_acc"] == pytest.approx(alone["test_acc"], abs=0.05)
    assert zero["test_acc"] > 0.8


def test_train_nproc_2_launches_torchrun_and_only_rank_0_writes(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "swiftsampler", "train", "--nproc", "2",
                           "--dataset", "synthetic", "--model", "mlp", "--width", "16",
                           "--epochs", "2", "--sampler", "rs2", "--checkpoint-every", "1",
                           "--progress", "off", "--out", str(out)],
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("swiftsampler train:") == 1  # one summary, rank 0's
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.csv",
                                                    "result.json"]
    result = json.loads((out / "result.json").read_text())
    assert result["cost"]["backward_samples"] == 2 * result["cost"]["samples_per_epoch"]
    assert result["test_acc"] > 0.5


def test_set_epoch_checks_the_epoch_the_session_plans_next():
    from swiftsampler.errors import ConfigError
    from swiftsampler.integration import SamplingSession

    session = SamplingSession("uniform", num_samples=40, epochs=3, batch_size=8, seed=0)
    sampler = session.batch_sampler
    sampler.set_epoch(0)
    assert len(sampler) == 5  # planned ahead by len(): still epoch 0
    sampler.set_epoch(0)
    first = [i for batch in sampler for i in batch]
    assert sorted(first) == list(range(40))
    sampler.set_epoch(1)
    with pytest.raises(ConfigError, match=r"set_epoch\(0\): the next epoch to plan is 1"):
        sampler.set_epoch(0)


def test_a_bad_input_found_by_the_ranks_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run([sys.executable, "-m", "swiftsampler", "train", "--nproc", "2",
                           "--dataset", "synthetic", "--model", "mlp", "--epochs", "2",
                           "--progress", "off", "--out", str(tmp_path / "run"), "--resume"],
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"swiftsampler train: error: --resume: no checkpoint at "
        f"'{tmp_path / 'run' / 'checkpoint.pt'}' (was --checkpoint-every set?)"]
