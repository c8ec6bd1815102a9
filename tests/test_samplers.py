"""Every sampler: probabilities and weights against their formulas on crafted statistics,
statistical properties with fixed seeds, determinism and state round-trips."""

import math

import pytest
import torch

from swiftsampler.config import RunConfig
from swiftsampler.errors import ConfigError
from swiftsampler.samplers import (
    SAMPLERS,
    BatchScores,
    EpochInfo,
    create_sampler,
    list_samplers,
)
from swiftsampler.samplers._online_batch_selection import rank_probabilities
from swiftsampler.samplers._selective_backprop import beta_for_budget, expected_keep_rate
from swiftsampler.samplers._uis import variance_reduction
from swiftsampler.stats import SampleStats

from .conftest import sampler_test_params


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def crafted_stats(p_true, losses=None):
    """Stats where sample i was seen once with true-class probability p_true[i] (NaN: unseen)."""
    n = len(p_true)
    stats = SampleStats(n)
    seen = [i for i, p in enumerate(p_true) if not math.isnan(p)]
    idx = torch.tensor(seen)
    p = torch.tensor([p_true[i] for i in seen])
    logits = torch.stack([torch.log(p), torch.log1p(-p)], dim=1)  # class 0 has probability p
    loss = -torch.log(p) if losses is None else torch.tensor([losses[i] for i in seen])
    stats.record(idx, logits, torch.zeros(len(seen), dtype=torch.long), loss, step=0)
    return stats


# ---------------------------------------------------------------- over the registry
# (plans valid and seeded, state round trips: tests/test_sampler_conformance.py)
def run_epochs(name, n=60, epochs=3, seed=0, stats=None, budget=0.5):
    sampler = create_sampler(name, n, budget=budget, **sampler_test_params(name))
    stats = stats or crafted_stats([0.1 + 0.8 * i / n for i in range(n)])
    g = gen(seed)
    plans = [sampler.plan_epoch(stats, g, EpochInfo(e, e / epochs, round(budget * n)))
             for e in range(epochs)]
    return sampler, plans


def test_sample_then_batch_samplers_plan_the_budget_and_selectors_plan_everything():
    for name in list_samplers():
        _, plans = run_epochs(name, n=50, budget=0.4, epochs=1)
        expected = 50 if SAMPLERS.get(name).factory.needs_scores else 20
        assert plans[0].indices.numel() == expected, name


def test_bad_parameters_are_config_errors_naming_the_parameter():
    with pytest.raises(ConfigError, match="prune_ratio must be in"):
        create_sampler("infobatch", 10, prune_ratio=1.0)
    with pytest.raises(ConfigError, match="has no parameter 'betta'"):
        create_sampler("selective-backprop", 10, betta=2)
    with pytest.raises(ConfigError, match="'budget' is set by --budget"):
        RunConfig().replace(sampler="ordered-sgd", sampler_params={"budget": 0.5})
    with pytest.raises(ConfigError, match="presample must be in"):
        create_sampler("uis", 10, presample=0.5)


# ---------------------------------------------------------------- p-SGD / c-SGD
def test_psgd_probabilities_follow_the_formula_with_unseen_at_max_difficulty():
    stats = crafted_stats([0.9, 0.5, 0.2, float("nan")])
    d = torch.tensor([0.1, 0.5, 0.8, 0.8], dtype=torch.float64)  # unseen -> max difficulty
    expected = (d + d.mean()) / (d + d.mean()).sum()
    p = create_sampler("p-sgd", 4).probabilities(stats)
    assert torch.allclose(p, expected, atol=1e-6)


def test_csgd_probabilities_follow_the_formula():
    stats = crafted_stats([0.9, 0.5, 0.2, float("nan")])
    d = torch.tensor([0.1, 0.5, 0.8, 0.8], dtype=torch.float64)
    s = d * (1 - d)
    expected = (s + s.mean()) / (s + s.mean()).sum()
    assert torch.allclose(create_sampler("c-sgd", 4).probabilities(stats), expected, atol=1e-6)
    assert torch.allclose(create_sampler("c-sgd", 4, epsilon=0.0).probabilities(stats),
                          s / s.sum(), atol=1e-6)


@pytest.mark.parametrize("name", ["p-sgd", "c-sgd"])
def test_active_bias_is_uniform_when_every_score_is_zero(name):
    stats = crafted_stats([1.0, 1.0, 1.0, 1.0])  # every sample predicted with certainty: d = 0
    sampler = create_sampler(name, 4, epsilon=0.0)
    assert torch.equal(sampler.probabilities(stats), torch.full((4,), 0.25, dtype=torch.float64))
    plan = sampler.plan_epoch(stats, gen(), EpochInfo(1, 0.5, 4))
    assert sorted(plan.indices.tolist()) == [0, 1, 2, 3]


def test_psgd_single_draw_frequencies_match_its_probabilities():
    stats = crafted_stats([0.95, 0.6, 0.3, 0.05])
    sampler = create_sampler("p-sgd", 4)
    g = gen(11)
    counts = torch.zeros(4)
    trials = 20_000
    for _ in range(trials):
        counts[sampler.plan_epoch(stats, g, EpochInfo(1, 0.1, 1)).indices] += 1
    assert torch.allclose(counts / trials, sampler.probabilities(stats).float(), atol=0.012)


def test_psgd_is_uniform_before_anything_is_seen_and_during_warmup():
    stats = SampleStats(10)
    plan = create_sampler("p-sgd", 10).plan_epoch(stats, gen(), EpochInfo(0, 0.0, 10))
    assert sorted(plan.indices.tolist()) == list(range(10))
    seen = crafted_stats([0.99] * 9 + [0.01])
    warm = create_sampler("p-sgd", 10, warmup_epochs=2)
    a = warm.plan_epoch(seen, gen(1), EpochInfo(1, 0.0, 5)).indices
    b = create_sampler("uniform", 10).plan_epoch(seen, gen(1), EpochInfo(1, 0.0, 5)).indices
    assert torch.equal(a, b)


# ---------------------------------------------------------------- selective backprop
def test_beta_matches_the_budget():
    assert beta_for_budget(0.25) == pytest.approx(3.0)
    assert beta_for_budget(1.0) == 0.0
    beta = beta_for_budget(0.3, floor=0.05)
    assert expected_keep_rate(beta, 0.05) == pytest.approx(0.3, abs=1e-9)
    with pytest.raises(ValueError):
        beta_for_budget(0.05, floor=0.1)


def test_keep_probability_is_percentile_to_the_beta():
    sb = create_sampler("selective-backprop", 100, beta=2.0, history=4)
    prob = sb.keep_probability(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    # history = the batch itself; fraction strictly below: 0, 1/4, 2/4, 3/4
    assert torch.allclose(prob, torch.tensor([0.0, 1 / 16, 4 / 16, 9 / 16]))
    floored = create_sampler("selective-backprop", 100, beta=2.0, history=4, floor=0.1)
    assert torch.allclose(floored.keep_probability(torch.tensor([1.0, 2.0, 3.0, 4.0])),
                          torch.tensor([0.1, 0.1, 0.25, 9 / 16]))


def test_selective_backprop_prefers_high_losses_and_keeps_about_the_budget():
    sb = create_sampler("selective-backprop", 10_000, budget=0.3)
    g, kept, total, kept_loss, all_loss = gen(12), 0, 0, 0.0, 0.0
    for step in range(200):
        losses = torch.rand(128, generator=gen(100 + step)) * 5
        sel = sb.select(torch.arange(128), BatchScores(losses, torch.zeros(128, 2),
                                                       torch.zeros(128, dtype=torch.long)), g)
        assert sel.weights is None
        kept += sel.keep.numel()
        total += 128
        kept_loss += losses[sel.keep].sum().item()
        all_loss += losses.sum().item()
    assert kept / total == pytest.approx(0.3, abs=0.02)
    assert kept_loss / kept > 1.3 * all_loss / total


# ---------------------------------------------------------------- UIS
def test_variance_reduction_hand_values():
    assert variance_reduction(torch.ones(4, dtype=torch.float64)).item() == pytest.approx(1.0)
    assert variance_reduction(torch.tensor([1.0, 0, 0, 0], dtype=torch.float64)).item() == \
        pytest.approx(2.0)


def test_uis_weights_are_unbiased():
    """E[mean_k w_k l_k] = mean over candidates of l, with w = 1 / (B_c p)."""
    n_cand = 48
    logits = torch.randn(n_cand, 5, generator=gen(13)) * 3
    targets = torch.randint(0, 5, (n_cand,), generator=gen(14))
    losses = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
    uis = create_sampler("uis", 1000, tau_th=0.0, momentum=0.0)  # importance sampling always on
    g, estimates = gen(15), []
    for _ in range(4000):
        sel = uis.select(torch.arange(n_cand), BatchScores(losses, logits, targets), g)
        assert sel.keep.numel() == n_cand // 3
        estimates.append((sel.weights * losses[sel.keep]).mean())
    estimates = torch.stack(estimates)
    assert uis.importance_on
    stderr = estimates.std() / math.sqrt(len(estimates))
    assert abs(estimates.mean() - losses.mean()) < 4 * stderr
    # and the draws prefer large gradient-norm bounds
    assert not torch.allclose(estimates, losses.mean().expand_as(estimates))


def test_uis_gate_stays_uniform_when_scores_are_flat():
    uis = create_sampler("uis", 1000)
    logits = torch.zeros(30, 3)  # identical scores -> tau = 1 < tau_th = 2
    sel = uis.select(torch.arange(30), BatchScores(torch.ones(30), logits,
                                                   torch.zeros(30, dtype=torch.long)), gen(16))
    assert not uis.importance_on
    assert torch.allclose(sel.weights, torch.ones(10))
    assert uis.candidate_batch_size(10) == 30


# ---------------------------------------------------------------- ordered SGD
def test_ordered_sgd_keeps_the_top_q_losses():
    osgd = create_sampler("ordered-sgd", 100, keep=0.25)
    assert osgd.candidate_batch_size(8) == 32
    losses = torch.rand(32, generator=gen(17))
    sel = osgd.select(torch.arange(32), BatchScores(losses, torch.zeros(32, 2),
                                                    torch.zeros(32, dtype=torch.long)), gen())
    assert sorted(sel.keep.tolist()) == sorted(losses.topk(8).indices.tolist())
    assert create_sampler("ordered-sgd", 100, budget=0.5).keep == 0.5


# ---------------------------------------------------------------- online batch selection
def test_rank_probabilities_hand_values_and_pressure_ratio():
    p = rank_probabilities(torch.tensor([0.5, 2.0, 1.0]), pressure=8.0)
    r = torch.tensor([2.0, 0.0, 1.0], dtype=torch.float64)  # rank 0 = largest loss
    w = torch.exp(-math.log(8.0) * r / 3)
    assert torch.allclose(p, w / w.sum())
    big = rank_probabilities(torch.arange(1000.0), pressure=100.0)
    assert (big.max() / big.min()).item() == pytest.approx(100.0 ** (999 / 1000), rel=1e-6)
    unseen_first = rank_probabilities(torch.tensor([1.0, float("nan"), 3.0]), 10.0)
    assert unseen_first.argmax().item() == 1


def test_online_batch_selection_ties_share_their_probability():
    equal = rank_probabilities(torch.full((4,), 2.0), pressure=100.0)
    assert torch.allclose(equal, torch.full((4,), 0.25, dtype=torch.float64))
    # ranks 0, 1.5, 1.5, 3 (the two equal losses share ranks 1 and 2): w = 100^(-rank / 4)
    p = rank_probabilities(torch.tensor([3.0, 2.0, 2.0, 0.0]), pressure=100.0)
    w = torch.tensor([1.0, 100 ** -0.375, 100 ** -0.375, 100 ** -0.75], dtype=torch.float64)
    assert torch.allclose(p, w / w.sum())


def test_online_batch_selection_draws_every_class_alike_before_any_loss_is_seen():
    n, classes = 10_000, 10  # a class-sorted dataset (image folders list classes in order)
    label = torch.arange(n) // (n // classes)
    plan = create_sampler("online-batch-selection", n).plan_epoch(
        SampleStats(n), gen(3), EpochInfo(0, 0.0, n))
    share = torch.bincount(label[plan.indices], minlength=classes) / n
    assert share.min() > 0.08 and share.max() < 0.12  # binomial sd 0.003: uniform, not 50:1


def test_online_batch_selection_rescoring_schedule():
    obs = create_sampler("online-batch-selection", 10, rescore_every=2)
    assert [obs.wants_scoring_pass(EpochInfo(e, 0.0, 5)) for e in range(5)] == \
        [False, False, True, False, True]
    assert create_sampler("online-batch-selection", 10, pressure=100, pressure_end=1) \
        .pressure_at(0.5) == pytest.approx(10.0)


# ---------------------------------------------------------------- InfoBatch
def test_infobatch_rescaling_keeps_the_expected_loss():
    n = 40
    losses = torch.linspace(0.1, 4.0, n)
    stats = crafted_stats([0.5] * n, losses=losses.tolist())
    ib = create_sampler("infobatch", n, prune_ratio=0.5)
    g, totals = gen(18), []
    for _ in range(3000):
        plan = ib.plan_epoch(stats, g, EpochInfo(0, 0.1, n))
        totals.append((plan.weights * losses[plan.indices]).sum())
        low = int((losses < losses.mean()).sum())
        assert plan.indices.numel() == n - round(0.5 * low)
    totals = torch.stack(totals)
    assert totals.mean().item() == pytest.approx(losses.sum().item(), rel=0.01)


def test_infobatch_anneals_to_the_full_unweighted_data():
    stats = crafted_stats([0.5] * 20, losses=list(range(20)))
    plan = create_sampler("infobatch", 20, anneal=0.8).plan_epoch(stats, gen(),
                                                                 EpochInfo(9, 0.85, 20))
    assert plan.weights is None and sorted(plan.indices.tolist()) == list(range(20))


# ---------------------------------------------------------------- RS2
def test_rs2_visits_every_sample_once_per_round():
    n, k = 50, 15  # k does not divide n: epochs straddle rounds
    rs2 = create_sampler("rs2", n)
    g = gen(19)
    visits = torch.cat([rs2.plan_epoch(SampleStats(n), g, EpochInfo(e, 0.0, k)).indices
                        for e in range(10)])  # 150 visits = 3 rounds
    for plan in visits.split(k):
        assert plan.unique().numel() == k
    assert torch.equal(torch.bincount(visits, minlength=n), torch.full((n,), 3))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_packed_sort_orders_float32_values_as_torch_sort(dtype):
    from swiftsampler.samplers._ranks import descending_mid_ranks
    from swiftsampler.samplers._sort import PACKED_SORT_MIN, sort_values

    g = gen(22)
    n = PACKED_SORT_MIN + 123  # the packed path
    values = torch.randn(n, generator=g).mul_(1e3).round_().div_(7)  # float32, many ties
    values[::5], values[1::9], values[2::17] = 0.0, -0.0, float("-inf")
    values[3::31] = torch.finfo(torch.float32).max
    values = values.to(dtype)
    ordered, order = sort_values(values)
    assert bool(torch.signbit(values[1])) and values[1] == 0  # the input is not changed (-0.0 kept)
    assert order.dtype == torch.int64 and torch.equal(torch.sort(order).values, torch.arange(n))
    assert torch.equal(ordered, torch.sort(values).values) and ordered.dtype == dtype
    assert torch.equal(values[order], ordered)  # -0.0 == 0.0
    # a rank through the packed sort equals the definition (mid-ranks of the ties), on a sample
    ranks, rows = descending_mid_ranks(values), torch.randint(0, n, (50,), generator=g)
    greater = (values.unsqueeze(0) > values[rows].unsqueeze(1)).sum(1)
    equal = (values.unsqueeze(0) == values[rows].unsqueeze(1)).sum(1)
    assert torch.equal(ranks[rows], greater + (equal - 1) / 2)
    # float64 values that are not float32 numbers: torch.sort, the same contract
    fine = values.double() + torch.rand(n, generator=g, dtype=torch.float64) * 1e-12
    ordered, order = sort_values(fine)
    assert torch.equal(ordered, torch.sort(fine).values) and torch.equal(fine[order], ordered)


def test_one_sort_ranks_equal_their_definitions_with_many_ties():
    from swiftsampler.samplers._ranks import descending_mid_ranks, mid_cumulative

    g = gen(21)
    values = torch.randint(0, 7, (300,), generator=g).double()  # 7 distinct values: many ties
    mass = torch.rand(300, generator=g, dtype=torch.float64)
    greater = (values.unsqueeze(0) > values.unsqueeze(1)).sum(1)
    equal = (values.unsqueeze(0) == values.unsqueeze(1)).sum(1)
    assert torch.equal(descending_mid_ranks(values), greater + (equal - 1) / 2)
    below = ((values.unsqueeze(0) < values.unsqueeze(1)) * mass).sum(1)
    tied = ((values.unsqueeze(0) == values.unsqueeze(1)) * mass).sum(1)
    assert torch.allclose(mid_cumulative(values, mass), (below + 0.5 * tied) / mass.sum())
