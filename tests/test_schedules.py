"""LR schedules: endpoints, monotonicity, warm-up, and the registry."""

import math

import pytest

from swiftsampler.errors import ConfigError
from swiftsampler.schedules import SCHEDULES, LRSchedule


def test_linear_goes_from_peak_to_zero():
    s = LRSchedule(0.1, "linear")
    assert s(0.0) == pytest.approx(0.1)
    assert s(0.5) == pytest.approx(0.05)
    assert s(1.0) == pytest.approx(0.0)


def test_cosine_endpoints_and_midpoint():
    s = LRSchedule(2.0, "cosine")
    assert s(0.0) == pytest.approx(2.0)
    assert s(0.5) == pytest.approx(1.0)
    assert s(1.0) == pytest.approx(0.0, abs=1e-12)


def test_step_decays_at_milestones():
    s = LRSchedule(1.0, "step", milestones=(0.5, 0.75), gamma=0.1)
    assert s(0.49) == pytest.approx(1.0)
    assert s(0.5) == pytest.approx(0.1)
    assert s(0.8) == pytest.approx(0.01)


def test_onecycle_rises_to_peak_then_falls_to_zero():
    s = LRSchedule(1.0, "onecycle")
    assert s(0.0) == pytest.approx(0.04)
    assert s(0.3) == pytest.approx(1.0)
    assert s(0.15) < s(0.3) and s(0.65) < s(0.3)
    assert s(1.0) == pytest.approx(0.0)


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_every_schedule_is_bounded_by_the_peak_and_ends_low(name):
    s = LRSchedule(0.5, name)
    values = [s(i / 100) for i in range(101)]
    assert all(0 <= v <= 0.5 + 1e-12 for v in values)
    assert values[-1] <= values[0] or math.isclose(values[-1], values[0])


def test_warmup_ramps_linearly_then_runs_the_schedule_over_the_rest():
    s = LRSchedule(1.0, "linear", warmup=0.2)
    assert s(0.0) == 0.0
    assert s(0.1) == pytest.approx(0.5)
    assert s(0.2) == pytest.approx(1.0)
    assert s(0.6) == pytest.approx(0.5)  # halfway through the remaining 80%
    assert s(1.0) == pytest.approx(0.0)


def test_progress_is_clamped():
    s = LRSchedule(1.0, "linear")
    assert s(-1.0) == 1.0 and s(2.0) == 0.0


def test_unknown_schedule_names_the_choices():
    with pytest.raises(ConfigError, match="unknown LR schedule 'cosin'.*did you mean 'cosine'"):
        LRSchedule(0.1, "cosin")
