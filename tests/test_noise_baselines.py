"""The label-noise baselines (REED, MentorNet-PD, the small-loss rule, L2RW): their formulas against
hand-computed values, L2RW's look-ahead on a toy problem and its charged passes, and runs through the
engine, the CLI, compare (with the oracle) and the drop-in API."""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from swiftsampler.budget import Budget
from swiftsampler.samplers import create_sampler
from swiftsampler.samplers._noise import bootstrap_losses, forget_rate, small_loss_weights
from swiftsampler.sampling import SamplingCore, lookahead_gradient

# ------------------------------------------------------------------------------------------ REED
# logits (0, ln 3): p = (1/4, 3/4); label 0: CE = ln 4; H(p) = -(1/4 ln 1/4 + 3/4 ln 3/4);
# argmax 1: -log p_1 = ln 4/3.
LOGITS = torch.tensor([[0.0, math.log(3.0)]])
CE = math.log(4.0)
ENTROPY = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))


def test_reed_soft_target_is_label_and_prediction_mixed():
    part = F.cross_entropy(LOGITS, torch.tensor([0]), reduction="none").unsqueeze(1)
    loss = bootstrap_losses(LOGITS, part, 0.95, hard=False)
    assert loss.item() == pytest.approx(0.95 * CE + 0.05 * ENTROPY, abs=1e-6)  # 1.345097
    assert loss.item() == pytest.approx(1.345097, abs=1e-5)
    # the same as cross-entropy against the soft target beta * onehot + (1 - beta) * p
    target = 0.95 * torch.tensor([[1.0, 0.0]]) + 0.05 * torch.tensor([[0.25, 0.75]])
    assert loss.item() == pytest.approx(-(target * LOGITS.log_softmax(1)).sum().item(), abs=1e-6)


def test_reed_hard_target_is_label_and_predicted_class_mixed():
    part = F.cross_entropy(LOGITS, torch.tensor([0]), reduction="none").unsqueeze(1)
    loss = bootstrap_losses(LOGITS, part, 0.8, hard=True)
    assert loss.item() == pytest.approx(0.8 * CE + 0.2 * math.log(4 / 3), abs=1e-6)  # 1.166580
    assert loss.item() == pytest.approx(1.166580, abs=1e-5)


def test_reed_defaults_and_beta_one_is_cross_entropy():
    assert create_sampler("reed-soft", 10).beta == 0.95
    assert create_sampler("reed-hard", 10).beta == 0.8
    part = torch.tensor([[CE]])
    assert create_sampler("reed-soft", 10, beta=1.0).part_losses(LOGITS, part).item() == \
        pytest.approx(CE)


# ------------------------------------------------------------------------------------- MentorNet
def test_mentornet_weights_are_losses_below_the_moving_percentile():
    sampler = create_sampler("mentornet", 10, percentile=0.5, decay=0.9, burn_in=0.1)
    losses = torch.arange(1, 11, dtype=torch.float32) / 10  # 0.1 .. 1.0, median 0.55
    assert sampler.loss_weights(losses, progress=0.05) is None  # burn-in: all ones
    assert sampler.threshold.item() == pytest.approx(0.55)  # tracked during the burn-in
    w = sampler.loss_weights(losses + 1.0, progress=0.5)  # median 1.55
    threshold = 0.9 * 0.55 + 0.1 * 1.55  # = 0.65: the moving average lags behind
    assert sampler.threshold.item() == pytest.approx(threshold)
    assert torch.equal(w, (losses + 1.0 < threshold).float())  # none is below: all weights 0
    w = sampler.loss_weights(losses, progress=0.6)  # threshold 0.9 * 0.65 + 0.1 * 0.55 = 0.64
    assert sampler.threshold.item() == pytest.approx(0.64)
    assert w.tolist() == [1.0] * 6 + [0.0] * 4


def test_mentornet_threshold_survives_a_state_round_trip():
    a = create_sampler("mentornet", 10)
    a.loss_weights(torch.rand(16, generator=torch.Generator().manual_seed(0)), 0.5)
    b = create_sampler("mentornet", 10)
    b.load_state_dict(a.state_dict())
    losses = torch.rand(16, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.loss_weights(losses, 0.5), b.loss_weights(losses, 0.5))


# ------------------------------------------------------------------------------------ small loss
def test_small_loss_forget_rate_ramps_to_its_final_value():
    assert [forget_rate(p, 0.4, 0.2) for p in (0.0, 0.1, 0.2, 0.7, 1.0)] == \
        pytest.approx([0.0, 0.2, 0.4, 0.4, 0.4])
    assert forget_rate(0.0, 0.4, 0.0) == 0.4


def test_small_loss_keeps_the_smallest_share_over_the_schedule():
    sampler = create_sampler("small-loss", 10, forget_rate=0.4, ramp=0.5)
    losses = torch.tensor([0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, 0.0])
    assert sampler.loss_weights(losses, 0.0) is None  # tau = 0: everything kept
    for progress, kept in ((0.25, 8), (0.5, 6), (1.0, 6)):  # tau = 0.2, then 0.4
        w = sampler.loss_weights(losses, progress)
        assert int((w > 0).sum()) == kept
        assert set(w.nonzero().squeeze(1).tolist()) == set(losses.argsort()[:kept].tolist())
        assert w[w > 0].tolist() == pytest.approx([10 / kept] * kept)  # the mean over the kept
        assert (w * losses).mean().item() == pytest.approx(losses.sort().values[:kept].mean().item())
    assert int((small_loss_weights(torch.rand(7), 0.5) > 0).sum()) == 3  # floor(0.5 * 7)


# ------------------------------------------------------------------------------------------ L2RW
def _toy():
    """y = w x with w = 0.5, squared loss; sample 0 (x=1, y=1) agrees with the clean sample
    (x=1, y=1): both gradients are 2 (w - 1) = -1; sample 1 (x=1, y=-1) opposes it: 2 (w + 1) = 3."""
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.5)
    x, y = torch.ones(2, 1), torch.tensor([1.0, -1.0])
    clean_x, clean_y = torch.ones(1, 1), torch.tensor([1.0])
    return (model, lambda out: (out.squeeze(1) - y) ** 2,
            lambda out: ((out.squeeze(1) - clean_y) ** 2).mean(), x, clean_x)


def test_l2rw_gradient_is_minus_lr_times_the_gradient_alignment():
    model, losses_of, clean_loss_of, x, clean_x = _toy()
    g = lookahead_gradient(model, losses_of, clean_loss_of, x, clean_x, lr=0.1)
    # d L_clean(w - lr sum eps_i dl_i) / d eps_i = -lr dL_clean . dl_i = -0.1 * (-1)(-1), -0.1 * 3 (-1)
    assert g.tolist() == pytest.approx([-0.1, 0.3], abs=1e-6)
    assert model.weight.item() == 0.5  # the model is not changed


def test_l2rw_gives_zero_weight_to_the_opposing_example_and_charges_its_passes():
    model, losses_of, clean_loss_of, x, clean_x = _toy()
    core = SamplingCore(create_sampler("l2rw", 4), Budget(1.0, 2, 4), batch_size=2, seed=0)
    w = core.lookahead_weights(model, losses_of, clean_loss_of, x, clean_x, lr=0.1)
    assert w.tolist() == pytest.approx([2.0, 0.0])  # normalised to sum 1, times B (a mean)
    meter = core.meter
    assert (meter.forward_samples, meter.backward_samples, meter.iterations) == (3, 3, 0)
    everyone_opposes = create_sampler("l2rw", 4).lookahead_weights(torch.tensor([0.2, 0.3]))
    assert everyone_opposes.tolist() == [0.0, 0.0]


def test_l2rw_look_ahead_leaves_batchnorm_statistics_alone():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 3, generator=g), torch.randint(0, 2, (8,), generator=g)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    grad = lookahead_gradient(model, lambda out: F.cross_entropy(out, y, reduction="none"),
                              lambda out: F.cross_entropy(out, y[:4]), x, x[:4], lr=0.1)
    assert grad.shape == (8,) and bool(torch.isfinite(grad).all())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# ---------------------------------------------------------------------- the core's loss rules
def test_core_loss_multiplies_rule_weights_into_the_plan_weights():
    core = SamplingCore(create_sampler("small-loss", 4, forget_rate=0.5, ramp=0.0),
                        Budget(1.0, 1, 4), batch_size=4, seed=0)
    part = torch.tensor([0.4, 0.1, 0.3, 0.2])
    loss = core.loss(torch.zeros(4, 3), part, weights=torch.tensor([1.0, 2.0, 1.0, 3.0]))
    # keeps 0.1 and 0.2 with weight 2 each, times their plan weights 2 and 3
    assert loss.item() == pytest.approx((0.1 * 2 * 2 + 0.2 * 2 * 3) / 4)
    assert core.last_weights.tolist() == [0.0, 4.0, 0.0, 6.0]


# ------------------------------------------------------------------------------- runs
NOISY = dict(dataset="mnist1d", num_samples=2000, model="cnn1d", width=16, epochs=5, noise=0.4,
             threads=1)


@pytest.mark.parametrize("name", ["reed-soft", "reed-hard", "mentornet", "small-loss", "l2rw"])
def test_each_baseline_trains_through_the_engine(name):
    from swiftsampler.config import RunConfig
    from swiftsampler.engine import train

    result = train(RunConfig().replace(sampler=name, **NOISY))
    assert result["test_acc"] > 0.2  # ten classes, 40% noise, 5 short epochs: twice chance
    noise = result["noise"]
    assert noise["sampling_mass_on_noisy"] == pytest.approx(0.4, abs=0.03)  # uniform draws
    cost = result["cost"]
    if name == "l2rw":  # the look-ahead passes are charged: fewer steps for the same budget
        assert cost["forward_samples"] == cost["backward_samples"] >= cost["budget_units_total"]
        assert cost["iterations"] < 0.6 * cost["budget_units_total"] / 128
    if name in ("mentornet", "small-loss"):  # the rule puts less weight on mislabelled samples
        assert noise["loss_weight_on_noisy"] < noise["sampling_mass_on_noisy"] - 0.05


def test_small_loss_beats_uniform_at_40_percent_noise():
    from swiftsampler.config import RunConfig
    from swiftsampler.engine import train

    cfg = RunConfig().replace(**{**NOISY, "num_samples": 4000, "epochs": 10})
    uniform = train(cfg.replace(sampler="uniform"))["test_acc"]  # 62.5% when written
    small = train(cfg.replace(sampler="small-loss", sampler_params={"forget_rate": 0.4}))
    assert small["test_acc"] > uniform + 0.1  # 82.6%: it drops most mislabelled samples
    assert small["noise"]["loss_weight_on_noisy"] < 0.2


def test_l2rw_resumes_exactly(tmp_path):
    from swiftsampler.config import RunConfig

    from .conftest import stopped_then_resumed

    cfg = RunConfig().replace(sampler="l2rw", checkpoint_every=1,
                              **{**NOISY, "num_samples": 600, "epochs": 3})
    from swiftsampler.engine import train

    whole = train(cfg)
    resumed = stopped_then_resumed(cfg, tmp_path, stop_epoch=1)
    assert resumed["test_acc"] == whole["test_acc"]
    assert resumed["cost"] == whole["cost"]


def test_cli_train_and_compare_with_the_oracle(tmp_path, capsys):
    import json

    from swiftsampler.cli import main

    tiny = ["--dataset", "mnist1d", "--num-samples", "600", "--model", "mlp", "--width", "16",
            "--epochs", "2", "--progress", "off", "--threads", "1"]
    assert main(["train", *tiny, "--noise", "0.4", "--sampler", "reed-hard", "--sampler-param", "beta=0.7",
                 "--out", str(tmp_path / "t")]) in (0, None)
    result = json.loads((tmp_path / "t" / "result.json").read_text())
    assert result["config"]["sampler"]["sampler_params"] == {"beta": 0.7}
    assert main(["compare", *tiny, "--noises", "0.4", "--samplers", "uniform,mentornet,oracle",
                 "--seeds", "0", "--out", str(tmp_path / "c")]) in (0, None)
    report = (tmp_path / "c" / "report.md").read_text()
    assert "| oracle" in report and "oracle" in report.split("How to read")[1]
    oracle_row = next(line for line in report.splitlines() if "| oracle" in line)
    assert "**" not in oracle_row  # an oracle is never the best method
    assert "× uniform" in report


def test_drop_in_session_applies_the_rules():
    from swiftsampler.integration import SamplingSession

    g = torch.Generator().manual_seed(0)
    n = 64
    x, y = torch.randn(n, 5, generator=g), torch.randint(0, 3, (n,), generator=g)
    session = SamplingSession("reed-hard", num_samples=n, epochs=1, batch_size=16, seed=0)
    model = nn.Linear(5, 3)
    for indices in session.batch_sampler:
        idx = torch.tensor(indices)
        logits = model(x[idx])
        ce = F.cross_entropy(logits, y[idx], reduction="none")
        loss = session.loss(idx, ce, logits, y[idx])
        assert loss.item() == pytest.approx(bootstrap_losses(logits, ce.unsqueeze(1), 0.8,
                                                             hard=True).mean().item())
    session = SamplingSession("l2rw", num_samples=n, epochs=1, batch_size=16, seed=0)
    for indices in session.batch_sampler:
        idx = torch.tensor(indices)
        w = session.lookahead_weights(
            model, lambda out, i=idx: F.cross_entropy(out, y[i], reduction="none"),
            lambda out: F.cross_entropy(out, y[:8]), x[idx], x[:8], lr=0.1)
        logits = model(x[idx])
        session.loss(idx, F.cross_entropy(logits, y[idx], reduction="none"), logits, y[idx],
                     weights=w)
    assert session.meter.forward_samples == n + (n // 16) * (16 + 8)
