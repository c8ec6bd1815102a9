"""Budget arithmetic: samples per epoch, total units, progress, and compute-unit charging."""

import pytest

from swiftsampler.budget import Budget, CostMeter


def test_samples_per_epoch_and_total_backward_units():
    b = Budget(fraction=0.3, epochs=20, num_train=18000)
    assert b.samples_per_epoch == 5400
    assert b.total_units == 20 * 5400
    full = Budget(fraction=1.0, epochs=20, num_train=18000)
    assert b.total_units / full.total_units == pytest.approx(0.3)


def test_samples_per_epoch_rounds_and_is_at_least_one():
    assert Budget(0.25, 1, 10).samples_per_epoch == 2  # round(2.5) -> 2 (banker's rounding)
    assert Budget(0.35, 1, 10).samples_per_epoch == 4  # round(3.5) -> 4
    assert Budget(0.01, 1, 10).samples_per_epoch == 1


def test_compute_unit_counts_forward_once_and_backward_twice():
    b = Budget(0.5, 2, 100, unit="compute")
    assert b.total_units == 2 * 50 * 3
    assert b.units(forward=10, backward=4) == 10 + 8
    assert Budget(0.5, 2, 100).units(forward=10, backward=4) == 4


def test_meter_progress_and_exhaustion():
    meter = CostMeter(Budget(0.5, 2, 100))  # 100 backward samples in all
    meter.charge(forward=30, backward=30)
    assert meter.progress == pytest.approx(0.3)
    assert not meter.exhausted
    meter.charge(forward=120, backward=70)  # scoring passes cost nothing in backward units
    assert meter.exhausted and meter.progress == 1.0
    assert (meter.iterations, meter.forward_samples, meter.backward_samples) == (2, 150, 100)


def test_meter_state_round_trip():
    a = CostMeter(Budget(0.5, 2, 100, unit="compute"))
    a.charge(forward=64, backward=32)
    b = CostMeter(Budget(0.5, 2, 100, unit="compute"))
    b.load_state_dict(a.state_dict())
    assert b.summary() == a.summary()
    assert b.spent == 64 + 64


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_budget_fraction_out_of_range(fraction):
    with pytest.raises(ValueError):
        Budget(fraction, 1, 10)


def test_time_budget_progress_is_elapsed_over_budget():
    from swiftsampler.budget import Budget, CostMeter

    meter = CostMeter(Budget(0.5, 10, 100, time_budget_s=8.0))
    meter.charge(forward=1000, backward=1000)  # far beyond the sample budget: it does not count
    assert meter.total == 8.0 and not meter.exhausted
    meter.load_state_dict({**meter.state_dict(), "elapsed_s": 2.0})
    assert meter.progress == pytest.approx(0.25) and meter.position == pytest.approx(2.0)
    meter.load_state_dict({**meter.state_dict(), "elapsed_s": 8.0})
    assert meter.progress == 1.0 and meter.exhausted
    assert meter.summary()["time_budget_s"] == 8.0
    with pytest.raises(ValueError, match="time budget"):
        Budget(0.5, 10, 100, time_budget_s=0.0)


def test_clock_counts_only_between_start_and_stop():
    import time

    from swiftsampler.budget import Budget, CostMeter

    meter = CostMeter(Budget(1.0, 1, 10, time_budget_s=100.0))
    meter.start_clock()
    time.sleep(0.05)
    meter.stop_clock()
    stopped = meter.elapsed_s
    time.sleep(0.05)
    assert meter.elapsed_s == stopped >= 0.05
    assert meter.state_dict()["elapsed_s"] == stopped


def test_time_budget_run_trains_until_the_clock_runs_out(tmp_path):
    import json

    from swiftsampler.cli import main

    out = tmp_path / "run"
    assert main(["train", "--dataset", "synthetic", "--model", "mlp", "--epochs", "2",
                 "--time-budget", "1.0", "--progress", "off", "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    cost = result["cost"]
    assert cost["time_budget_s"] == 1.0 and cost["training_loop_s"] >= 1.0
    # the sample budget (2 epochs) would have stopped it long before: the clock decides
    assert result["epochs"] > 2 and cost["backward_samples"] > 2 * result["data"]["num_train"]
    assert result["history"][-1]["progress"] == 1.0 and result["history"][-1]["lr"] == 0.0
    assert result["test_acc"] > 0.8
