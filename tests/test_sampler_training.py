"""Every registered sampler trains through the engine, pays for what it forwards, and resumes."""

import pytest

from swiftsampler.config import RunConfig
from swiftsampler.engine import train
from swiftsampler.samplers import SAMPLERS, list_samplers

from .conftest import sampler_test_params, stopped_then_resumed, without_times


def config(sampler, **changes):
    settings = dict(dataset="synthetic", model="mlp", width=32, epochs=4, batch_size=32,
                    sampler=sampler, budget=0.4, sampler_params=sampler_test_params(sampler))
    return RunConfig().replace(**{**settings, **changes})


@pytest.mark.parametrize("name", list_samplers())
def test_every_sampler_trains_and_is_charged(name):
    result = train(config(name))
    cost = result["cost"]
    n = result["data"]["num_train"]
    budget_samples = 4 * round(0.4 * n)
    # The budget is spent, overshooting by less than one batch (with a look-ahead sampler, less than
    # one step with its look-ahead: the batch and its clean batch, forward and backward).
    sampler = SAMPLERS.get(name).factory
    slack = 32 + (64 + 2 * 8 if sampler.needs_lookahead else 0)
    assert budget_samples <= cost["backward_samples"] < budget_samples + slack
    assert result["test_acc"] > 0.75, result["test_acc"]
    scored = sum(epoch["scored"] for epoch in result["history"])
    assert cost["forward_samples"] == cost["backward_samples"] + scored  # every forward charged
    if SAMPLERS.get(name).factory.needs_scores and name != "uis":  # uis: see the next test
        assert scored > 0
    elif name != "uis":
        assert scored == 0


def test_uis_scores_only_once_its_gate_is_open():
    closed = train(config("uis"))  # tau stays below its threshold on this easy task
    assert [epoch["scored"] for epoch in closed["history"]] == [0] * closed["epochs"]
    assert closed["cost"]["forward_samples"] == closed["cost"]["backward_samples"]
    opened = train(config("uis", sampler_params={"tau_th": 0.0}))  # on once tau > 0
    scored = [epoch["scored"] for epoch in opened["history"]]
    assert scored[0] == 0 and all(s > 0 for s in scored[1:]), scored  # epoch 0 estimates tau
    assert opened["cost"]["forward_samples"] > opened["cost"]["backward_samples"]


@pytest.mark.parametrize("name, params", [("selective-backprop", {}), ("uis", {"tau_th": 0.0})])
def test_scoring_passes_are_charged_in_compute_units(name, params):
    backward = train(config(name, sampler_params=params))
    compute = train(config(name, budget_unit="compute", sampler_params=params))
    c = compute["cost"]
    assert c["budget_units_spent"] == c["forward_samples"] + 2 * c["backward_samples"]
    # Paying for the scoring passes leaves fewer back-propagated samples.
    assert c["backward_samples"] < backward["cost"]["backward_samples"]


def test_rescoring_pass_is_charged():
    plain = train(config("online-batch-selection"))
    rescored = train(config("online-batch-selection", sampler_params={"rescore_every": 1}))
    n = plain["data"]["num_train"]
    extra = rescored["cost"]["forward_samples"] - rescored["cost"]["backward_samples"]
    assert extra == n * (rescored["epochs"] - 1)  # one full pass before every epoch but the first
    assert plain["cost"]["forward_samples"] == plain["cost"]["backward_samples"]


@pytest.mark.parametrize("name", ["selective-backprop", "rs2", "uis"])
def test_resume_with_sampler_state(tmp_path, name):
    cfg = config(name, checkpoint_every=1, epochs=5)
    assert without_times(stopped_then_resumed(cfg, tmp_path)) == without_times(train(cfg))
