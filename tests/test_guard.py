"""The learned sampler's online guard: a card that hurts falls back to uniform sampling, a card that
helps is kept, both branches are charged to the budget, and the decision is recorded, resumable and
can be turned off."""

import logging

import pytest

from swiftsampler.config import RunConfig
from swiftsampler.engine import Trainer, train
from swiftsampler.errors import ConfigError
from swiftsampler.samplers import create_sampler

from .conftest import stopped_then_resumed, without_times

#: Knot values over the loss cdf (five knots), flat over the renormed entropy: HIGH draws almost only
#: the highest-loss samples (under 40% label noise: the mislabelled ones), LOW avoids them.
HIGH = [0.0, 0.0, 0.0, 0.05, 1.0] + [1.0] * 5
LOW = [1.0, 1.0, 1.0, 0.3, 0.0] + [1.0] * 5


def _cfg(params, **changes):
    settings = dict(dataset="synthetic", model="mlp", width=32, epochs=10, batch_size=32,
                    noise=0.4, val_ratio=0.2, sampler="swift",
                    sampler_params={"params": params, "warmup": 0.2, "guard_window": 0.1})
    return RunConfig().replace(**{**settings, **changes})


@pytest.fixture(scope="module")
def hurting():
    trainer = Trainer(_cfg(HIGH)).train()
    return trainer, trainer.result()


def test_a_card_that_hurts_loses_the_check_and_the_run_samples_uniformly(hurting):
    trainer, result = hurting
    guard = result["guard"]
    assert guard["decision"] == "uniform"
    assert guard["card_score"] < guard["uniform_score"]
    assert guard["progress"] == pytest.approx(0.2, abs=0.02)
    assert guard["until"] == pytest.approx(guard["progress"] + 0.1)
    assert trainer.core.sampler.mode == "uniform"
    # uniform after the guard: the epochs' samples are mislabelled at about the noise rate
    unguarded = train(_cfg(HIGH, sampler_params={"params": HIGH, "warmup": 0.2, "guard": False}))
    assert "guard" not in unguarded
    assert result["noise"]["sampling_mass_on_noisy"] < unguarded["noise"]["sampling_mass_on_noisy"] - 0.1
    assert result["test_acc"] > unguarded["test_acc"]


def test_both_branches_are_charged_and_the_budget_still_holds(hurting):
    _, result = hurting
    cost, guard = result["cost"], result["guard"]
    window = 0.1 * cost["reference_backward_samples"]
    assert guard["extra_backward_samples"] == pytest.approx(window, abs=32)  # the losing branch
    # all the work counts, both branches included, and it ends where the budget ends
    assert cost["reference_backward_samples"] <= cost["backward_samples"] < (
        cost["reference_backward_samples"] + 32)


def test_a_card_that_helps_is_kept(caplog):
    with caplog.at_level(logging.WARNING, logger="swiftsampler"):
        result = train(_cfg(LOW, sampler_params={"params": LOW, "warmup": 0.2, "guard_window": 0.2,
                                                 "guard_margin": 0.0}))
    assert result["guard"]["decision"] == "card"
    assert result["guard"]["card_score"] >= result["guard"]["uniform_score"]
    assert "lost to uniform" not in caplog.text


def test_a_losing_card_warns_in_one_line(caplog):
    with caplog.at_level(logging.WARNING, logger="swiftsampler"):
        train(_cfg(HIGH, epochs=5))
    lines = [r.getMessage() for r in caplog.records if "lost to uniform" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0]


def test_the_guard_is_deterministic_and_resumes_exactly(tmp_path):
    cfg = _cfg(HIGH, epochs=6, checkpoint_every=1)
    whole = train(cfg)
    again = train(cfg)
    assert without_times(again) == without_times(whole)
    resumed = stopped_then_resumed(cfg, tmp_path / "run", stop_epoch=3)  # after the guard
    assert without_times(resumed) == without_times(whole)
    assert {k: v for k, v in resumed["guard"].items() if k != "wall_s"} == \
        {k: v for k, v in whole["guard"].items() if k != "wall_s"}


def test_the_margin_keeps_a_card_that_trails_by_less():
    result = train(_cfg(HIGH, epochs=5,
                        sampler_params={"params": HIGH, "warmup": 0.2, "guard_window": 0.1,
                                        "guard_margin": 1.0, "guard_score": "accuracy",
                                        "guard_blend": 0.0}))
    assert result["guard"]["decision"] == "card"  # a margin of 1.0 (accuracy) keeps any card


def test_blend_hedges_between_the_card_and_uniform_where_the_check_cannot_tell():
    params = {"params": HIGH, "warmup": 0.2, "guard_window": 0.1, "guard_margin": 1.0,
              "guard_score": "accuracy"}
    blended = train(_cfg(HIGH, epochs=5, sampler_params={**params, "guard_blend": 0.5}))
    assert blended["guard"]["decision"] == "blend"  # any accuracy is within a margin of 1.0
    kept = train(_cfg(HIGH, epochs=5, sampler_params={**params, "guard_blend": 0.0}))
    assert kept["guard"]["decision"] == "card"
    # HIGH draws mostly the mislabelled samples; blended half-way toward uniform, fewer of them
    card_share = kept["noise"]["sampling_mass_on_noisy"]
    blend_share = blended["noise"]["sampling_mass_on_noisy"]
    assert 0.45 < blend_share < card_share - 0.1


def test_a_time_budget_skips_the_check_and_says_so():
    result = train(_cfg(LOW, epochs=3, time_budget=2.0))
    assert result["guard"] == {"decision": "card", "skipped": "not checked under a time budget"}


def test_the_loss_score_compares_minus_the_validation_loss():
    trainer = Trainer(_cfg(HIGH, epochs=5, sampler_params={
        "params": HIGH, "warmup": 0.2, "guard_window": 0.1, "guard_score": "loss"})).train()
    guard = trainer.result()["guard"]
    assert guard["score"] == "loss"
    assert guard["card_score"] < 0 and guard["uniform_score"] < 0  # minus a cross-entropy
    assert guard["decision"] == "uniform"  # the high-loss card memorises the wrong labels
    # the winner's branch is the run's state: its validation loss is the uniform score
    assert guard["uniform_score"] == pytest.approx(-trainer.history[1]["val_loss"], rel=1e-6)


@pytest.mark.parametrize("params", [{"guard_window": 0.0}, {"guard_window": 0.6},
                                    {"guard_margin": -0.1}, {"guard": "yes"},
                                    {"guard_score": "f1"}, {"guard_blend": 1.0}])
def test_guard_settings_out_of_range_are_errors(params):
    with pytest.raises((ValueError, ConfigError)):
        create_sampler("swift", 10, params=LOW, **params)
