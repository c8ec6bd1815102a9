"""Selective backprop (Jiang et al. 2019) in your own loop, saving the backward passes it promises.

    python examples/own_loop_selective_backprop.py

Each candidate batch is scored without gradients; the session keeps each candidate with probability
``percentile(loss)^beta`` (beta set from the budget) and queues the kept ones into full batches; only
those are forwarded again and back-propagated. A backward hook counts the samples that really reach
``backward``: they equal what the session charged, and the loop takes about as many optimiser steps as
uniform sampling at the same budget.
"""

import torch
from torch.utils.data import DataLoader, TensorDataset

from swiftsampler.data import create_dataset
from swiftsampler.integration import IndexedDataset, SamplingSession
from swiftsampler.tasks import token_cross_entropy as per_sample_loss


def main() -> None:
    data = create_dataset("synthetic", num_samples=4000)
    train_set = TensorDataset(data.train_x, data.train_y)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    back_propagated = []
    model[1].register_full_backward_hook(
        lambda module, grad_in, grad_out: back_propagated.append(grad_out[0].shape[0]))

    session = SamplingSession("selective-backprop", num_samples=len(train_set), budget=0.3,
                              epochs=10, batch_size=64, seed=0)
    loader = DataLoader(IndexedDataset(train_set), batch_sampler=session.batch_sampler)
    while not session.exhausted:
        for indices, x, y in loader:
            if session.exhausted:
                break
            with torch.no_grad():  # 1. score the candidates: no graph, no backward
                logits = model(x)
                losses = per_sample_loss(logits, y)
            for batch in session.select(indices, x, y, losses, logits):  # 2. the kept, in full batches
                logits = model(batch.inputs)  # 3. forward and backward only those
                loss = session.loss(batch, per_sample_loss(logits, batch.targets), logits)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

    with torch.no_grad():
        accuracy = (model(data.test_x).argmax(1) == data.test_y).float().mean().item()
    meter = session.meter
    print(f"test accuracy {accuracy:.3f}; back-propagated {sum(back_propagated):,} samples "
          f"(charged {meter.backward_samples:,}), forwarded {meter.forward_samples:,}, "
          f"{meter.iterations} optimiser steps (uniform at this budget: "
          f"{10 * round(0.3 * len(train_set)) // 64})")


if __name__ == "__main__":
    main()
