"""Search a Swift Sampler card (Yao et al., NeurIPS 2024) for a model and a loop of your own.

    python examples/search_own_model.py

The data has 40% of its training labels flipped. A shared initialisation is trained once with
uniform sampling; each candidate sampler then fine-tunes a copy of it for one epoch in the same loop
a user would write, and is scored on a clean validation split. ``search_sampler`` runs the Bayesian
optimisation (Optuna) over the family's 10 knot values, the uniform sampler first, and returns the
best card, which ``swiftsampler train --sampler swift --sampler-card`` or a session can use.
"""

import copy
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from swiftsampler.data import create_dataset
from swiftsampler.data.noise import inject_label_noise
from swiftsampler.integration import IndexedDataset, SamplingSession
from swiftsampler.search import SearchConfig, search_sampler
from swiftsampler.tasks import token_cross_entropy as per_sample_loss


class TwoLayerNet(torch.nn.Module):
    """The model of this example: anything that maps inputs to logits works."""

    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(),
                                        torch.nn.Linear(64, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def train_epochs(model, session, loader, epochs, lr=0.1):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for _ in range(epochs):
        for indices, x, y in loader:
            for group in optimizer.param_groups:
                group["lr"] = lr * (1 - session.progress)
            logits = model(x)
            loss = session.loss(indices, per_sample_loss(logits, y), logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def main() -> None:
    t_start = time.perf_counter()
    data = create_dataset("synthetic", num_samples=3000, separation=2.0)
    clean_y = data.train_y
    noisy_y, noisy = inject_label_noise(clean_y, 0.4, "symmetric", data.num_classes,
                                        torch.Generator().manual_seed(0))
    n_val = 300  # a clean validation split carved from the training part
    train_set = TensorDataset(data.train_x[n_val:], noisy_y[n_val:])
    val_x, val_y = data.train_x[:n_val], clean_y[:n_val]
    n = len(train_set)

    def accuracy(model, x, y):
        with torch.no_grad():
            return (model(x).argmax(1) == y).float().mean().item()

    torch.manual_seed(0)
    model = TwoLayerNet()
    warmup = SamplingSession("uniform", num_samples=n, budget=1.0, epochs=3, batch_size=64, seed=0)
    train_epochs(model, warmup, DataLoader(IndexedDataset(train_set),
                                           batch_sampler=warmup.batch_sampler), 3)
    init = copy.deepcopy(model.state_dict())  # the shared initialisation

    def objective(sampler):  # one candidate: fine-tune the shared initialisation, score on val
        session = SamplingSession(sampler, num_samples=n, budget=1.0, epochs=2, batch_size=64,
                                  seed=0)
        session.stats.load_state_dict(warmup.stats.state_dict())  # the features at the init
        candidate = TwoLayerNet()
        candidate.load_state_dict(init)
        train_epochs(candidate, session, DataLoader(IndexedDataset(train_set),
                                                    batch_sampler=session.batch_sampler), 2)
        return accuracy(candidate, val_x, val_y)

    result = search_sampler(objective, num_samples=n,
                            search=SearchConfig(n_trials=12, startup_trials=6), seed=0,
                            provenance={"dataset": "synthetic (40% noise)", "model": "TwoLayerNet"})
    print(f"uniform {result.uniform_value:.3f} -> best card {result.best_value:.3f} (validation "
          f"accuracy) after {len(result.trials)} trials in {time.perf_counter() - t_start:.1f} s")
    print("card parameters:", [round(p, 3) for p in result.card.params])
    print(f"noisy share of the training set: {noisy[n_val:].float().mean().item():.2f}")


if __name__ == "__main__":
    main()
