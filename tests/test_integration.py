"""The drop-in path: a user's own loop over a standard DataLoader, on the same core as the engine."""

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from swiftsampler.config import RunConfig
from swiftsampler.data import create_dataset, prepare_data
from swiftsampler.engine import Trainer
from swiftsampler.errors import ConfigError
from swiftsampler.integration import IndexedDataset, SamplingSession
from swiftsampler.models import create_model
from swiftsampler.optimizers import build_optimizer
from swiftsampler.samplers import SAMPLERS, list_samplers
from swiftsampler.schedules import LRSchedule
from swiftsampler.seeding import derive_seed
from swiftsampler.tasks import token_cross_entropy as per_sample_ce

from .conftest import sampler_test_params


def toy():
    data = create_dataset("synthetic", num_samples=800, num_classes=4, dim=16)
    return data, TensorDataset(data.train_x, data.train_y)


def small_model(seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))


def train_own_loop(session, loader, model, optimizer, schedule=None):
    """A loop written like the engine's: plain batches, or score -> select -> train the kept."""
    while not session.exhausted:
        for indices, x, y in loader:
            if session.exhausted:
                break
            if schedule is not None:
                for group in optimizer.param_groups:
                    group["lr"] = schedule(session.progress)
            if session.selecting:
                with torch.no_grad():
                    logits = model(x)
                batches = session.select(indices, x, y, per_sample_ce(logits, y), logits)
            else:
                batches = [indices]
            for batch in batches:
                if session.exhausted:
                    break
                inputs, targets = (x, y) if batch is indices else (batch.inputs, batch.targets)
                if schedule is not None:
                    for group in optimizer.param_groups:
                        group["lr"] = schedule(session.progress)
                logits = model(inputs)
                loss = session.loss(batch, per_sample_ce(logits, targets), logits, targets)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()


def test_indexed_dataset_carries_indices():
    ds = IndexedDataset(TensorDataset(torch.arange(5.0), torch.arange(5)))
    assert ds[3][0] == 3 and ds[3][1].item() == 3.0
    assert IndexedDataset([10, 20])[1] == (1, 20)


@pytest.mark.parametrize("name", ["p-sgd", "selective-backprop"])
def test_a_loop_written_like_the_engines_gets_the_engines_plans_and_selections(name):
    cfg = RunConfig().replace(dataset="synthetic", model="mlp", width=32, epochs=3, budget=0.5,
                              batch_size=32, sampler=name)
    engine = Trainer(cfg).train()
    data = prepare_data(cfg.data, cfg.data_seed)
    with torch.random.fork_rng():
        torch.manual_seed(derive_seed(cfg.seed, "torch"))
        model = create_model("mlp", data.num_classes, data.input_shape, width=32)
    session = SamplingSession(name, num_samples=data.train_y.shape[0], budget=0.5, epochs=3,
                              batch_size=32, seed=cfg.seed)
    loader = DataLoader(IndexedDataset(TensorDataset(data.train_x, data.train_y)),
                        batch_sampler=session.batch_sampler)
    train_own_loop(session, loader, model, build_optimizer(model, cfg.optim),
                   LRSchedule(cfg.optim.lr))
    ours, theirs = session.core, engine.core
    assert ours.meter.summary() == theirs.meter.summary()
    assert torch.equal(ours.stats.seen, theirs.stats.seen)  # the same samples were drawn and kept
    assert torch.equal(ours.stats.loss.nan_to_num(-1), theirs.stats.loss.nan_to_num(-1))
    for a, b in zip(model.state_dict().values(), engine.model.state_dict().values()):
        assert torch.equal(a, b)


def test_selective_backprop_back_propagates_only_what_it_keeps():
    _, train_set = toy()
    counted = {}
    steps = {}
    for name in ("uniform", "selective-backprop"):
        model = small_model()
        backward_samples: list[int] = []

        def count(module, grad_in, grad_out, seen=backward_samples):
            seen.append(grad_out[0].shape[0])

        model[1].register_full_backward_hook(count)  # the ReLU: every back-propagated sample
        session = SamplingSession(name, num_samples=len(train_set), budget=0.3, epochs=4,
                                  batch_size=32, seed=0)
        loader = DataLoader(IndexedDataset(train_set), batch_sampler=session.batch_sampler)
        train_own_loop(session, loader, model, torch.optim.SGD(model.parameters(), lr=0.1))
        counted[name] = sum(backward_samples)
        assert counted[name] == session.meter.backward_samples
        steps[name] = (session.meter.iterations, session.core.epoch)
        assert steps[name][0] == len(backward_samples)
    assert counted["selective-backprop"] == pytest.approx(counted["uniform"], rel=0.05)
    # full batches from the queue: as many steps as uniform, plus at most one short batch an epoch
    assert steps["uniform"][0] <= steps["selective-backprop"][0] <= sum(steps["selective-backprop"])


@pytest.mark.parametrize("name", list_samplers())
@pytest.mark.parametrize("budget", [0.3, 1.0])
def test_len_of_the_batch_sampler_is_the_batches_it_yields(name, budget):
    _, train_set = toy()
    session = SamplingSession(name, num_samples=len(train_set), budget=budget, epochs=3,
                              batch_size=48, seed=1, **sampler_test_params(name))
    loader = DataLoader(IndexedDataset(train_set), batch_sampler=session.batch_sampler)
    model = small_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    while not session.exhausted:
        expected, yielded = len(loader), 0
        for indices, x, y in loader:
            yielded += 1
            if session.selecting:
                with torch.no_grad():
                    logits = model(x)
                kept = session.select(indices, x, y, per_sample_ce(logits, y), logits)
            else:
                kept = [indices]
            for batch in kept:
                inputs, targets = (x, y) if batch is indices else (batch.inputs, batch.targets)
                logits = model(inputs)
                session.loss(batch, per_sample_ce(logits, targets), logits, targets).backward()
                optimizer.step()
                optimizer.zero_grad()
        if not (session.selecting and session.exhausted):  # a selecting epoch ends with the budget
            assert yielded == expected
    if not SAMPLERS.get(name).factory.needs_scores:
        assert session.meter.backward_samples == 3 * round(budget * len(train_set))


@pytest.mark.parametrize("name", ["p-sgd", "infobatch", "selective-backprop"])
def test_the_budget_spent_does_not_depend_on_the_dataloader_workers(name):
    _, train_set = toy()
    spent = []
    for workers in (0, 2):
        session = SamplingSession(name, num_samples=len(train_set), budget=0.5, epochs=3,
                                  batch_size=32, seed=3)
        loader = DataLoader(IndexedDataset(train_set), batch_sampler=session.batch_sampler,
                            num_workers=workers)
        model = small_model()
        train_own_loop(session, loader, model, torch.optim.SGD(model.parameters(), lr=0.1))
        spent.append((session.meter.state_dict(), session.core.epoch))
    assert spent[0] == spent[1]
    assert spent[0][0]["backward_samples"] <= 3 * 400 + 32


def test_for_epoch_in_range_epochs_spends_exactly_the_budget():
    _, train_set = toy()
    session = SamplingSession("p-sgd", num_samples=len(train_set), budget=0.3, epochs=5,
                              batch_size=32, seed=0)
    loader = DataLoader(IndexedDataset(train_set), batch_sampler=session.batch_sampler)
    model = small_model()
    assert session.epochs == 5
    for _ in range(session.epochs):
        for indices, x, y in loader:
            logits = model(x)
            session.loss(indices, per_sample_ce(logits, y), logits, y).backward()
    assert session.exhausted and session.meter.backward_samples == 5 * round(0.3 * len(train_set))


def test_gradient_accumulation_counts_optimiser_steps():
    _, train_set = toy()
    session = SamplingSession("uniform", num_samples=len(train_set), budget=1.0, epochs=1,
                              batch_size=20, accumulation=4, seed=0)
    loader = DataLoader(IndexedDataset(train_set), batch_sampler=session.batch_sampler)
    micro = 0
    for indices, x, y in loader:
        logits = small_model()(x)
        session.loss(indices, per_sample_ce(logits, y), logits, y)
        micro += 1
    assert micro == 30 and session.meter.iterations == 7  # 30 micro-batches, 4 per step
    assert session.meter.backward_samples == 600


def test_mixed_batches_credit_each_source_with_its_share():
    _, train_set = toy()
    session = SamplingSession("uniform", num_samples=len(train_set), budget=1.0, epochs=1,
                              batch_size=4, seed=0)
    indices = torch.tensor([10, 11, 12, 13])
    x, y = train_set.tensors[0][indices], train_set.tensors[1][indices]
    sources = torch.tensor([[0, 1], [1, 0], [2, 3], [3, 2]])
    shares = torch.tensor([[0.7, 0.3], [0.7, 0.3], [0.6, 0.4], [0.6, 0.4]])
    mixed = shares[:, :1] * x[sources[:, 0]] + shares[:, 1:] * x[sources[:, 1]]
    logits = small_model()(mixed)
    parts = torch.stack([per_sample_ce(logits, y[sources[:, k]]) for k in range(2)], dim=1)
    loss = session.loss(indices, parts, logits, y, sources=sources, shares=shares)
    assert loss.item() == pytest.approx((shares * parts).sum(1).mean().item(), rel=1e-6)
    assert torch.allclose(session.stats.seen[10:14], torch.tensor([1.0, 1.0, 1.0, 1.0]))
    expected_12 = (0.6 * parts[2, 0] + 0.4 * parts[3, 1]) / 1.0  # its label on outputs 2 and 3
    assert session.stats.loss[12].item() == pytest.approx(expected_12.item(), rel=1e-5)


def test_a_scoring_pass_is_asked_for_fed_and_charged_or_the_epoch_is_refused():
    _, train_set = toy()
    n = len(train_set)
    session = SamplingSession("online-batch-selection", num_samples=n, budget=0.5, epochs=3,
                              batch_size=50, seed=0, rescore_every=1)
    loader = DataLoader(IndexedDataset(train_set), batch_sampler=session.batch_sampler)
    model = small_model()

    def one_epoch():
        for indices, x, y in loader:
            logits = model(x)
            session.loss(indices, per_sample_ce(logits, y), logits, y)

    one_epoch()
    assert session.scoring_pass_due()
    with pytest.raises(ConfigError, match="wants a scoring pass before epoch 2"):
        one_epoch()
    with torch.no_grad():
        everything = torch.arange(n)
        logits = model(train_set.tensors[0])
        session.score(everything, per_sample_ce(logits, train_set.tensors[1]), logits,
                      train_set.tensors[1])
    one_epoch()
    assert session.meter.forward_samples == session.meter.backward_samples + n


def test_a_selecting_sampler_refuses_a_plain_loss_call():
    _, train_set = toy()
    session = SamplingSession("selective-backprop", num_samples=len(train_set), budget=0.5,
                              batch_size=16, seed=1)
    indices, x, y = next(iter(DataLoader(IndexedDataset(train_set),
                                         batch_sampler=session.batch_sampler)))
    assert len(indices) == 16 and session.selecting
    logits = small_model()(x)
    with pytest.raises(ConfigError, match="score the candidates with session.select"):
        session.loss(indices, per_sample_ce(logits, y), logits, y)


class _DictSet(Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"features": self.x[i], "label": self.y[i]}


def test_dict_batches_are_queued_and_sliced_whole():
    data, _ = toy()
    session = SamplingSession("ordered-sgd", num_samples=data.train_y.shape[0], budget=0.5,
                              batch_size=16, seed=0)
    loader = DataLoader(IndexedDataset(_DictSet(data.train_x, data.train_y)),
                        batch_sampler=session.batch_sampler)
    model = small_model()
    indices, batch = next(iter(loader))
    with torch.no_grad():
        logits = model(batch["features"])
    kept = session.select(indices, batch, batch["label"], per_sample_ce(logits, batch["label"]),
                          logits)
    assert len(kept) == 1 and kept[0].indices.shape[0] == 16
    assert torch.equal(kept[0].inputs["features"], data.train_x[kept[0].indices])
    assert torch.equal(kept[0].targets, data.train_y[kept[0].indices])


def test_session_state_round_trip():
    _, train_set = toy()
    make = lambda: SamplingSession("infobatch", num_samples=len(train_set), budget=0.5,  # noqa
                                   epochs=3, batch_size=32, seed=2)
    a = make()
    for batch in a.batch_sampler:
        idx = torch.tensor(batch)
        logits = torch.randn(len(batch), 4, generator=torch.Generator().manual_seed(len(batch)))
        a.loss(idx, per_sample_ce(logits, train_set.tensors[1][idx]), logits,
               train_set.tensors[1][idx])
    b = make()
    b.load_state_dict(a.state_dict())
    assert list(a.batch_sampler) == list(b.batch_sampler)


def test_weighted_objective_by_hand_and_the_plain_mean_bit_for_bit():
    from swiftsampler.sampling.core import weighted_objective

    part = torch.tensor([[1.0, 3.0], [2.0, 6.0]])
    shares = torch.tensor([[0.5, 0.5], [0.25, 0.75]])
    weights = torch.tensor([[2.0, 1.0], [1.0, 0.0]])
    # (1/B) sum_i sum_k W w l = ((0.5*2*1 + 0.5*1*3) + (0.25*1*2 + 0))/2
    assert weighted_objective(part, shares, weights).item() == pytest.approx((2.5 + 0.5) / 2)
    assert weighted_objective(part, shares).item() == pytest.approx((2.0 + 5.0) / 2)
    losses = torch.rand(257, 1, generator=torch.Generator().manual_seed(0)) * 7
    assert torch.equal(weighted_objective(losses), losses.sum(dim=1).mean())  # the one-op path
    assert torch.equal(weighted_objective(losses[:, 0]), losses.sum(dim=1).mean())
