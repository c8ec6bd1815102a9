"""Your own training loop with p-SGD (Arazo et al., BMVC 2021) at 30% of the budget.

    python examples/own_loop_psgd.py

A standard DataLoader with two worker processes, a linear-to-zero learning rate that follows the
budget, and one session call per batch that records the statistics and returns the loss.
"""

import torch
from torch.utils.data import DataLoader, TensorDataset

from swiftsampler.data import create_dataset
from swiftsampler.integration import IndexedDataset, SamplingSession
from swiftsampler.schedules import LRSchedule
from swiftsampler.tasks import token_cross_entropy as per_sample_loss


def main() -> None:
    data = create_dataset("synthetic", num_samples=4000)  # any map-style dataset works
    train_set = TensorDataset(data.train_x, data.train_y)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    schedule = LRSchedule(peak=0.1)  # a function of budget progress: linear to zero

    session = SamplingSession("p-sgd", num_samples=len(train_set), budget=0.3, epochs=10,
                              batch_size=64, seed=0)
    loader = DataLoader(IndexedDataset(train_set), batch_sampler=session.batch_sampler,
                        num_workers=2)
    for _ in range(session.epochs):  # 10 epochs of 30% of the data each
        for indices, x, y in loader:
            for group in optimizer.param_groups:
                group["lr"] = schedule(session.progress)
            logits = model(x)
            loss = session.loss(indices, per_sample_loss(logits, y), logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    with torch.no_grad():
        accuracy = (model(data.test_x).argmax(1) == data.test_y).float().mean().item()
    meter = session.meter
    print(f"test accuracy {accuracy:.3f}; spent {meter.backward_samples:,} backward samples "
          f"({meter.backward_samples / (10 * len(train_set)):.0%} of full training) in "
          f"{meter.iterations} steps")


if __name__ == "__main__":
    main()
