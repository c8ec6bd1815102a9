"""The drop-in path: a standard DataLoader (with worker processes) and one call per batch."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from swiftsampler.data import create_dataset
from swiftsampler.integration import IndexedDataset, SamplingSession
from swiftsampler.samplers import list_samplers


def toy():
    data = create_dataset("synthetic", num_samples=800, num_classes=4, dim=16)
    return data, TensorDataset(data.train_x, data.train_y)


def test_indexed_dataset_carries_indices():
    ds = IndexedDataset(TensorDataset(torch.arange(5.0), torch.arange(5)))
    assert ds[3][0] == 3 and ds[3][1].item() == 3.0
    assert IndexedDataset([10, 20])[1] == (1, 20)


@pytest.mark.parametrize("workers", [0, 2])
def test_own_loop_with_dataloader_workers_trains_and_attributes_indices(workers):
    data, train_set = toy()
    session = SamplingSession("p-sgd", num_samples=len(train_set), budget=0.5, epochs=6,
                              batch_size=32, seed=0)
    loader = DataLoader(IndexedDataset(train_set), batch_sampler=session.batch_sampler,
                        num_workers=workers)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(),
                                    torch.nn.Linear(32, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    epochs = 0
    while not session.exhausted:
        epochs += 1
        for indices, x, y in loader:
            assert torch.equal(x, data.train_x[indices]) and torch.equal(y, data.train_y[indices])
            logits = model(x)
            losses = F.cross_entropy(logits, y, reduction="none")
            loss = session.loss(indices, losses, logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    assert epochs == 6
    assert session.meter.backward_samples == 6 * round(0.5 * len(train_set))
    assert bool(session.stats.seen_mask.all())
    with torch.no_grad():
        acc = (model(data.test_x).argmax(1) == data.test_y).float().mean().item()
    assert acc > 0.85


@pytest.mark.parametrize("name", list_samplers())
def test_loss_call_works_for_every_sampler(name):
    _, train_set = toy()
    session = SamplingSession(name, num_samples=len(train_set), budget=0.5, epochs=1,
                              batch_size=16, seed=1)
    loader = DataLoader(IndexedDataset(train_set), batch_sampler=session.batch_sampler)
    weight = torch.zeros(16, 4, requires_grad=True)
    indices, x, y = next(iter(loader))
    assert len(indices) == session.loader_batch_size
    logits = x @ weight
    loss = session.loss(indices, F.cross_entropy(logits, y, reduction="none"), logits, y)
    loss.backward()
    assert loss.dim() == 0 and bool(torch.isfinite(loss)) and weight.grad is not None
    assert session.meter.forward_samples == len(indices)


def test_session_state_round_trip():
    _, train_set = toy()
    make = lambda: SamplingSession("infobatch", num_samples=len(train_set), budget=0.5,  # noqa
                                   epochs=3, batch_size=32, seed=2)
    a = make()
    for batch in a.batch_sampler:
        idx = torch.tensor(batch)
        logits = torch.randn(len(batch), 4, generator=torch.Generator().manual_seed(len(batch)))
        a.loss(idx, F.cross_entropy(logits, train_set.tensors[1][idx], reduction="none"), logits,
               train_set.tensors[1][idx])
    b = make()
    b.load_state_dict(a.state_dict())
    assert list(a.batch_sampler) == list(b.batch_sampler)
