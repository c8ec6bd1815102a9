"""Use any sampler from your own training loop, with a standard ``torch.utils.data.DataLoader``.

Two pieces, no monkey-patching and no global RNG:

* :class:`IndexedDataset` wraps a map-style dataset so that each item carries its index:
  ``(index, *item)``. Indices travel with the batch through the ``DataLoader``, also with
  ``num_workers > 0``.
* :class:`SamplingSession` owns a sampler, the per-sample statistics and the budget.
  ``session.batch_sampler`` is a ``torch.utils.data.Sampler[list[int]]`` to pass as the
  ``DataLoader``'s ``batch_sampler``; each ``iter()`` plans one epoch. ``session.loss(indices,
  per_sample_loss, logits, targets)`` records the statistics and returns the scalar to back-propagate
  (the plan's weights applied; for batch-then-sample methods, the selection made on this batch).

Example::

    session = SamplingSession("p-sgd", num_samples=len(train_set), budget=0.3, epochs=20,
                              batch_size=128, seed=0)
    loader = DataLoader(IndexedDataset(train_set), batch_sampler=session.batch_sampler)
    while not session.exhausted:
        for indices, x, y in loader:
            logits = model(x)
            losses = F.cross_entropy(logits, y, reduction="none")
            loss = session.loss(indices, losses, logits, y)
            optimizer.zero_grad(); loss.backward(); optimizer.step()
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset
from torch.utils.data import Sampler as TorchSampler

from .budget import Budget, CostMeter
from .samplers import BatchScores, EpochInfo, create_sampler
from .seeding import make_generator
from .stats import SampleStats

__all__ = ["IndexedDataset", "SamplingSession"]


class IndexedDataset(Dataset):
    """``dataset[i] -> (i, *dataset[i])`` (a non-tuple item becomes ``(i, item)``)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        item = self.dataset[index]
        return (index, *item) if isinstance(item, tuple) else (index, item)


class _EpochBatchSampler(TorchSampler[list[int]]):
    """Each ``iter()`` asks the session for a new epoch plan and yields it in batches."""

    def __init__(self, session: SamplingSession) -> None:
        self.session = session

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.session._plan_batches()

    def __len__(self) -> int:
        return self.session._batches_per_epoch()


class SamplingSession:
    """A sampler, its statistics and a budget, for a training loop you write yourself.

    Args:
        sampler: a registered sampler name (see :func:`swiftsampler.samplers.list_samplers`).
        num_samples: the training-set size N.
        budget: the fraction b of the reference schedule.
        epochs: epochs E of the reference schedule (with ``budget`` it sets the cost budget).
        batch_size: samples per optimiser step.
        seed: seed of the plan and selection streams.
        device: where the statistics live (that of the losses you pass in).
        **params: the sampler's parameters.
    """

    def __init__(self, sampler: str, *, num_samples: int, budget: float = 1.0, epochs: int = 1,
                 batch_size: int = 128, seed: int = 0, device: torch.device | str = "cpu",
                 budget_unit: str = "backward", **params: Any) -> None:
        self.sampler = create_sampler(sampler, num_samples, budget=budget, **params)
        self.stats = SampleStats(num_samples, device)
        self.meter = CostMeter(Budget(budget, epochs, num_samples, budget_unit))
        self.batch_size = batch_size
        self.epoch = 0
        self._plan_generator = make_generator(seed, "plan")
        self._select_generator = make_generator(seed, "select", device)
        self._weights = torch.ones(num_samples, device=device)
        self.batch_sampler = _EpochBatchSampler(self)

    @property
    def progress(self) -> float:
        """Fraction of the budget spent, in [0, 1]: feed it to your LR schedule."""
        return self.meter.progress

    @property
    def exhausted(self) -> bool:
        return self.meter.exhausted

    @property
    def loader_batch_size(self) -> int:
        """Samples per loader batch: the candidates of a batch-then-sample method, else a batch."""
        if self.sampler.needs_scores:
            return self.sampler.candidate_batch_size(self.batch_size)
        return self.batch_size

    def _batches_per_epoch(self) -> int:
        n = (self.sampler.num_samples if self.sampler.needs_scores
             else self.meter.budget.samples_per_epoch)
        return -(-n // self.loader_batch_size)

    def _plan_batches(self) -> Iterator[list[int]]:
        info = EpochInfo(self.epoch, self.meter.progress, self.meter.budget.samples_per_epoch)
        plan = self.sampler.plan_epoch(self.stats, self._plan_generator, info)
        self.epoch += 1
        self._weights.fill_(1.0)
        if plan.weights is not None:
            self._weights[plan.indices.to(self._weights.device)] = plan.weights.to(
                self._weights.device)
        size = self.loader_batch_size
        indices = plan.indices.tolist()
        for start in range(0, len(indices), size):
            if self.meter.exhausted:
                return
            yield indices[start:start + size]

    def loss(self, indices: Tensor, per_sample_loss: Tensor, logits: Tensor,
             targets: Tensor) -> Tensor:
        """Record the batch's statistics, charge its cost, return the loss to back-propagate.

        Args:
            indices: (B,) dataset indices of the batch (from :class:`IndexedDataset`).
            per_sample_loss: (B,) losses with ``reduction="none"``, attached to the graph.
            logits: (B, C) model outputs.
            targets: (B,) labels.

        For batch-then-sample samplers the returned loss is the weighted mean over the samples
        this call selects; note that autograd then still runs the backward pass over the whole
        batch, so for real savings score with ``torch.no_grad()`` and re-forward the kept samples.
        """
        device = self.stats.device
        indices = indices.to(device)
        losses = per_sample_loss.to(device)
        self.stats.record(indices, logits.to(device), targets.to(device), losses.detach(),
                          step=self.meter.iterations)
        n = indices.shape[0]
        if self.sampler.needs_scores:
            sel = self.sampler.select(indices, BatchScores(losses.detach(), logits.detach(),
                                                           targets.to(device)),
                                      self._select_generator)
            picked = losses[sel.keep]
            weights = self._weights[indices[sel.keep]]
            if sel.weights is not None:
                weights = weights * sel.weights
            kept = sel.keep.shape[0]
            self.meter.charge(forward=n, backward=kept)
            return (weights * picked).sum() / max(kept, 1)  # 0 (with a graph) if none is kept
        self.meter.charge(forward=n, backward=n)
        return (self._weights[indices] * losses).mean()

    def state_dict(self) -> dict[str, Any]:
        return {"sampler": self.sampler.state_dict(), "stats": self.stats.state_dict(),
                "meter": self.meter.state_dict(), "epoch": self.epoch,
                "plan_generator": self._plan_generator.get_state(),
                "select_generator": self._select_generator.get_state(),
                "weights": self._weights.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state["sampler"])
        self.stats.load_state_dict(state["stats"])
        self.meter.load_state_dict(state["meter"])
        self.epoch = state["epoch"]
        self._plan_generator.set_state(state["plan_generator"])
        self._select_generator.set_state(state["select_generator"])
        self._weights.copy_(state["weights"])
