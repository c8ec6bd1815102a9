"""The engine: budget accounting, determinism, exact resume, NaN handling, end-to-end accuracy."""

import random

import numpy as np
import pytest
import torch

from swiftsampler.config import RunConfig
from swiftsampler.engine import train
from swiftsampler.errors import ConfigError, TrainingError

from .conftest import stopped_then_resumed, without_times

SMALL = dict(dataset="synthetic", model="mlp", width=32, epochs=4, batch_size=32, lr=0.05,
             progress=None)


def small_config(**changes):
    base = {k: v for k, v in SMALL.items() if k != "progress"}
    return RunConfig().replace(**{**base, **changes})


metrics = without_times


def test_backward_cost_scales_with_the_budget_and_iterations_follow():
    full = train(small_config(budget=1.0))
    part = train(small_config(budget=0.3))
    ratio = part["cost"]["backward_samples"] / full["cost"]["backward_samples"]
    assert ratio == pytest.approx(0.3, rel=0.01)
    n = full["data"]["num_train"]
    assert full["cost"]["backward_samples"] == 4 * n
    assert part["cost"]["backward_samples"] == 4 * round(0.3 * n)
    assert full["cost"]["forward_samples"] == full["cost"]["backward_samples"]
    assert part["cost"]["iterations"] < 0.35 * full["cost"]["iterations"]
    assert full["epochs"] == part["epochs"] == 4
    assert [r["epoch"] for r in part["history"]] == [1, 2, 3, 4]
    assert part["history"][-1]["progress"] == 1.0


def test_compute_unit_gives_the_same_schedule_for_uniform():
    a = train(small_config(budget=0.5))
    b = train(small_config(budget=0.5, budget_unit="compute"))
    assert b["cost"]["budget_units_total"] == 3 * a["cost"]["budget_units_total"]
    assert metrics(a)[0] == metrics(b)[0]


def test_same_seed_same_metrics_and_global_rng_untouched():
    torch.manual_seed(123)
    random.seed(1)
    np.random.seed(2)
    before = (torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy())
    a = train(small_config(seed=4))
    after = (torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy())
    assert torch.equal(before[0], after[0]) and before[1] == after[1]
    assert np.array_equal(before[2], after[2])
    b = train(small_config(seed=4))
    c = train(small_config(seed=5))
    assert metrics(a) == metrics(b)
    assert metrics(a) != metrics(c)


def test_resume_after_a_stop_gives_the_uninterrupted_metrics(tmp_path):
    cfg = small_config(budget=0.5, epochs=5, checkpoint_every=1, noise=0.2)
    full = train(cfg)
    resumed = stopped_then_resumed(cfg, tmp_path)
    assert metrics(resumed) == metrics(full)
    assert resumed["noise"] == full["noise"]


def test_resume_refuses_a_different_config_and_a_missing_checkpoint(tmp_path):
    cfg = small_config(epochs=2, checkpoint_every=1)
    train(cfg, out_dir=tmp_path)
    with pytest.raises(ConfigError, match="budget.budget: 1.0 != 0.5"):
        train(cfg.replace(budget=0.5), out_dir=tmp_path, resume=True)
    with pytest.raises(ConfigError, match="no checkpoint"):
        train(cfg, out_dir=tmp_path / "elsewhere", resume=True)


def test_nan_loss_is_a_training_error():
    with pytest.raises(TrainingError, match="loss became nan"):
        train(small_config(lr=900.0, epochs=2))


def test_noise_report_counts_the_mislabelled_samples_drawn():
    result = train(small_config(noise=0.4, budget=1.0, epochs=2))
    noise = result["noise"]
    assert noise["rate"] == pytest.approx(0.4, abs=0.01)
    # Uniform at budget 1 draws every sample once per epoch, so the mass equals the noise rate.
    assert noise["sampling_mass_on_noisy"] == pytest.approx(noise["rate"], abs=1e-9)
    assert "noise" not in train(small_config(epochs=1))


def test_learns_the_synthetic_task():
    result = train(small_config(epochs=6))
    assert result["test_acc"] > 0.9
    assert result["history"][-1]["train_loss"] < result["history"][0]["train_loss"]


def test_a_setting_missing_from_a_saved_config_counts_as_its_default():
    from swiftsampler.config import RunConfig
    from swiftsampler.engine.checkpoint import config_difference

    current = RunConfig().to_dict()
    older = {k: v for k, v in current.items() if k != "precision"}  # written before --precision
    assert config_difference(older, current) is None
    assert config_difference(older, RunConfig().replace(precision="bf16").to_dict()) == \
        "precision: 'fp32' != 'bf16'"
