"""InfoBatch (Qin et al., ICLR 2024) in your own loop, with a step-based LR scheduler and a progress bar.

    python examples/own_loop_infobatch_scheduler.py

InfoBatch prunes part of the well-learned samples each epoch, so epochs have different lengths. The
batch sampler plans each epoch when the loader asks for its length, so ``len(loader)`` is the true
number of batches of the coming epoch: a per-epoch step scheduler built from it ends exactly at the
epoch's last batch, and a tqdm bar's total is right. As in InfoBatch's own recipe the loop runs a fixed
number of epochs, and pruning saves the iterations.
"""

import math

import torch
from torch.utils.data import DataLoader, TensorDataset
from tqdm import tqdm

from swiftsampler.data import create_dataset
from swiftsampler.integration import IndexedDataset, SamplingSession
from swiftsampler.tasks import token_cross_entropy as per_sample_loss


def main() -> None:
    data = create_dataset("synthetic", num_samples=4000)
    train_set = TensorDataset(data.train_x, data.train_y)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    session = SamplingSession("infobatch", num_samples=len(train_set), budget=1.0, epochs=8,
                              batch_size=64, seed=0, prune_ratio=0.5)
    loader = DataLoader(IndexedDataset(train_set), batch_sampler=session.batch_sampler)
    lengths = []
    for epoch in range(8):
        steps = len(loader)  # the true length of this epoch's plan
        peak = 0.1 * 0.5 * (1 + math.cos(math.pi * epoch / 8))  # cosine over the epochs
        scheduler = torch.optim.lr_scheduler.LambdaLR(  # and a linear decay within each epoch
            optimizer, lambda step, steps=steps, peak=peak: peak / 0.1 * (1 - step / steps))
        done = 0
        for indices, x, y in tqdm(loader, desc=f"epoch {epoch + 1}", leave=False, disable=None):
            logits = model(x)
            loss = session.loss(indices, per_sample_loss(logits, y), logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            done += 1
        lengths.append((steps, done))

    with torch.no_grad():
        accuracy = (model(data.test_x).argmax(1) == data.test_y).float().mean().item()
    print(f"test accuracy {accuracy:.3f}; batches per epoch (len, yielded): {lengths}; "
          f"{session.meter.iterations} steps where full epochs take {8 * math.ceil(3000 / 64)}")


if __name__ == "__main__":
    main()
