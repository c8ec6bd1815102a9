"""Device loader and the uniform sampler: coverage, batching and determinism."""

import torch

from swiftsampler.data.loader import DeviceLoader, batch_slices
from swiftsampler.samplers import EpochInfo, create_sampler
from swiftsampler.stats import SampleStats


def test_batch_slices_cover_everything_once_and_never_leave_a_batch_of_one():
    for n in range(1, 40):
        for bs in (1, 4, 7):
            slices = batch_slices(n, bs)
            covered = [i for s in slices for i in range(s.start, s.stop)]
            assert covered == list(range(n))
            if bs > 1 and n > 1:
                assert all(s.stop - s.start >= 2 for s in slices)
    assert [s.stop - s.start for s in batch_slices(10, 4)] == [4, 4, 2]
    assert [s.stop - s.start for s in batch_slices(9, 4)] == [4, 5]


def test_uniform_at_budget_one_visits_each_index_once_per_epoch():
    n = 103
    sampler = create_sampler("uniform", n)
    loader = DeviceLoader(torch.arange(n, dtype=torch.float32).unsqueeze(1), torch.arange(n))
    gen = torch.Generator().manual_seed(0)
    orders = []
    for epoch in range(3):
        plan = sampler.plan_epoch(SampleStats(n), gen, EpochInfo(epoch, 0.0, n))
        seen = torch.cat([b.indices for b in loader.batches(plan.indices, 16)])
        assert sorted(seen.tolist()) == list(range(n))
        for b in loader.batches(plan.indices, 16):  # inputs and targets follow the indices
            assert torch.equal(b.inputs.squeeze(1).long(), b.indices)
            assert torch.equal(b.targets, b.indices)
        orders.append(seen)
    assert not torch.equal(orders[0], orders[1])  # reshuffled every epoch


def test_uniform_below_budget_draws_distinct_subsets_that_cover_the_data_over_epochs():
    n, k = 1000, 300
    sampler = create_sampler("uniform", n)
    gen = torch.Generator().manual_seed(1)
    counts = torch.zeros(n)
    for epoch in range(20):
        idx = sampler.plan_epoch(SampleStats(n), gen, EpochInfo(epoch, 0.0, k)).indices
        assert idx.shape == (k,) and idx.unique().numel() == k
        counts += torch.bincount(idx, minlength=n)
    # Each sample is used b E = 6 times on average; with 20 epochs nearly all are seen.
    assert counts.mean().item() == 6.0
    assert (counts > 0).float().mean().item() > 0.99


def test_uniform_plan_is_a_function_of_the_generator_state():
    sampler = create_sampler("uniform", 50)
    info = EpochInfo(0, 0.0, 20)
    a = sampler.plan_epoch(SampleStats(50), torch.Generator().manual_seed(5), info).indices
    b = sampler.plan_epoch(SampleStats(50), torch.Generator().manual_seed(5), info).indices
    c = sampler.plan_epoch(SampleStats(50), torch.Generator().manual_seed(6), info).indices
    assert torch.equal(a, b) and not torch.equal(a, c)
