"""Your own data-parallel training loop with p-SGD at 30% of the budget, two processes on the CPU.

    torchrun --nproc_per_node 2 examples/own_loop_ddp.py

The loop of ``examples/own_loop_psgd.py`` under ``torchrun``: the session sees the process group
and shards the one plan every rank makes (the batch sampler is this rank's ``DistributedSampler``,
``set_epoch`` included); ``batch_size`` is the global batch, DDP averages the gradients, and
``session.loss`` all-gathers the per-sample statistics, so they are the same on every rank.
"""

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset

from swiftsampler.data import create_dataset
from swiftsampler.integration import IndexedDataset, SamplingSession
from swiftsampler.schedules import LRSchedule
from swiftsampler.tasks import token_cross_entropy as per_sample_loss


def main() -> None:
    dist.init_process_group("gloo")  # "nccl" on GPUs
    data = create_dataset("synthetic", num_samples=4000)  # any map-style dataset works
    train_set = TensorDataset(data.train_x, data.train_y)
    torch.manual_seed(0)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    net = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))
    model = DistributedDataParallel(net)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    schedule = LRSchedule(peak=0.1)  # a function of the global budget progress

    session = SamplingSession("p-sgd", num_samples=len(train_set), budget=0.3, epochs=10,
                              batch_size=64, seed=0)  # 64 in all: 32 a rank
    loader = DataLoader(IndexedDataset(train_set), batch_sampler=session.batch_sampler)
    for epoch in range(session.epochs):
        session.batch_sampler.set_epoch(epoch)
        for indices, x, y in loader:
            for group in optimizer.param_groups:
                group["lr"] = schedule(session.progress)
            logits = model(x)
            loss = session.loss(indices, per_sample_loss(logits, y), logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    checksum = torch.stack([session.stats.loss.nan_to_num().sum(), session.stats.seen.sum()])
    sums = [torch.empty_like(checksum) for _ in range(dist.get_world_size())]
    dist.all_gather(sums, checksum)
    if dist.get_rank() == 0:
        with torch.no_grad():
            accuracy = (net(data.test_x).argmax(1) == data.test_y).float().mean().item()
        meter = session.meter
        same = all(torch.equal(sums[0], other) for other in sums)
        print(f"test accuracy {accuracy:.3f}; spent {meter.backward_samples:,} backward samples "
              f"on {dist.get_world_size()} ranks in {meter.iterations} steps; statistics the same "
              f"on every rank: {same}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
