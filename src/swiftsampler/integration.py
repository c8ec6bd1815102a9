"""Use any sampler from your own training loop, with a standard ``torch.utils.data.DataLoader``.

A thin adapter over the same :class:`~swiftsampler.sampling.SamplingCore` the engine uses, so the same
seed gives the same plans and selections in your loop as in ``swiftsampler train``. No monkey-patching,
no global RNG:

* :class:`IndexedDataset` wraps a map-style dataset so that each item carries its index:
  ``(index, *item)`` (a dict item: ``(index, item)``). Indices travel with the batch through the
  ``DataLoader``, also with ``num_workers > 0``.
* :class:`SamplingSession` owns the core. ``session.batch_sampler`` is the ``DataLoader``'s
  ``batch_sampler``: each ``iter()`` plans one epoch, sized to the budget left, and ``len()`` is the
  true number of batches of that epoch, so tqdm totals and step-based LR schedulers are right and the
  budget spent does not depend on how many workers prefetch.

Sample-then-batch samplers (uniform, p-SGD, c-SGD, InfoBatch, RS2, online batch selection, swift)::

    session = SamplingSession("p-sgd", num_samples=len(train_set), budget=0.3, epochs=20, seed=0)
    loader = DataLoader(IndexedDataset(train_set), batch_sampler=session.batch_sampler)
    for epoch in range(session.epochs):
        for indices, x, y in loader:
            logits = model(x)
            loss = session.loss(indices, F.cross_entropy(logits, y, reduction="none"), logits, y)
            optimizer.zero_grad(); loss.backward(); optimizer.step()

Batch-then-sample samplers (selective backprop, ordered SGD, UIS when its gate is open) score each
candidate batch without gradients and back-propagate only what they keep, queued into full batches::

    while not session.exhausted:
        for indices, x, y in loader:
            if session.exhausted:
                break
            with torch.no_grad():
                logits = model(x)
                losses = F.cross_entropy(logits, y, reduction="none")
            for batch in session.select(indices, x, y, losses, logits):
                logits = model(batch.inputs)
                loss = session.loss(batch, F.cross_entropy(logits, batch.targets, reduction="none"),
                                    logits)
                optimizer.zero_grad(); loss.backward(); optimizer.step()

The label-noise baselines (``reed-soft``, ``reed-hard``, ``mentornet``, ``small-loss``) need nothing
more: ``session.loss`` applies their loss rules. ``l2rw`` also wants its look-ahead weights before each
step, from a clean batch you hold out (:meth:`SamplingSession.lookahead_weights`), passed to
``session.loss(..., weights=w)``.

Under ``torchrun`` (a process group already joined, e.g. for ``DistributedDataParallel``) the
session is data-parallel: every rank makes the same plan and its batch sampler yields this rank's
strided shard (like ``DistributedSampler``; ``set_epoch`` is accepted), ``batch_size`` is the global
batch (``batch_size / W`` a rank), :meth:`SamplingSession.loss` all-gathers the batch's per-sample
statistics so they stay the same on every rank, and the budget counts every rank's samples
(``examples/own_loop_ddp.py``). Batch-then-sample samplers work there too: :meth:`SamplingSession.select`
gathers every rank's candidate scores, every rank keeps the same samples (the single-process
selection) and gets its share ``batch[r::W]`` of each kept batch, inputs included (gathered from the
rank that scored them).

``session.selecting`` says which of the two an epoch is (UIS switches between them). Samplers that
want a fresh forward pass over the whole training set before an epoch (``rescore_every`` of online
batch selection, ``refresh="scoring-pass"`` of swift) say so with :meth:`SamplingSession.scoring_pass_due`;
feed that pass to :meth:`SamplingSession.score`, or iterating the next epoch stops with one line.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Sampler as TorchSampler

from .budget import Budget
from .data.indexed import IndexedDataset
from .data.loader import Batch, batch_slices
from .distributed import DistributedContext, current_context
from .errors import ConfigError
from .samplers import EpochPlan, Sampler, create_sampler
from .sampling import SamplingCore

__all__ = ["EpochBatchSampler", "IndexedDataset", "SamplingSession"]


class EpochBatchSampler(TorchSampler[list[int]]):
    """The ``DataLoader``'s batch sampler: each ``iter()`` is one planned epoch, ``len()`` its true
    number of batches (the candidate batches of a selecting epoch)."""

    def __init__(self, session: SamplingSession) -> None:
        self.session = session

    def __iter__(self) -> Iterator[list[int]]:
        return self.session._iterate_epoch()

    def __len__(self) -> int:
        return self.session._epoch_length()

    def set_epoch(self, epoch: int) -> None:
        """``DistributedSampler.set_epoch`` for loops written for it. The plan already changes
        every epoch (it comes from the plan stream and the statistics, the same on every rank), so
        this only checks that ``epoch`` (counted from 0) is the one the next ``iter()`` plans."""
        core = self.session.core
        upcoming = core.epoch - (self.session._next_plan is not None)
        if epoch != upcoming:
            raise ConfigError(f"set_epoch({epoch}): the next epoch to plan is {upcoming} (a session "
                              "plans its epochs in order and cannot skip or repeat one)")


class SamplingSession:
    """A sampler, its statistics and a budget, for a training loop you write yourself.

    Args:
        sampler: a registered sampler name (see ``swiftsampler list``), or a :class:`Sampler`.
        num_samples: the training-set size N.
        budget: the fraction b of the reference schedule.
        epochs: epochs E of the reference schedule (with ``budget`` it sets the cost budget).
        batch_size: samples per loader batch (a micro-batch under gradient accumulation).
        accumulation: micro-batches per optimiser step (steps are counted once per this many).
        seed: seed of the plan and selection streams.
        device: where the statistics live (that of the losses you pass in).
        budget_unit: ``backward`` (samples back-propagated) or ``compute`` (forward 1, backward 2).
        context: the data-parallel ranks (default: those of the process group the caller has
            joined, else one process); ``batch_size`` is then the global batch.
        **params: the sampler's parameters (with a name).
    """

    def __init__(self, sampler: str | Sampler, *, num_samples: int, budget: float = 1.0,
                 epochs: int = 1, batch_size: int = 128, accumulation: int = 1, seed: int = 0,
                 device: torch.device | str = "cpu", budget_unit: str = "backward",
                 context: DistributedContext | None = None, **params: Any) -> None:
        if isinstance(sampler, str):
            sampler = create_sampler(sampler, num_samples, budget=budget, **params)
        elif params:
            raise ConfigError("sampler parameters go with a sampler name, not a sampler object")
        try:
            plan_budget = Budget(budget, epochs, num_samples, budget_unit)
            self.core = SamplingCore(sampler, plan_budget, batch_size=batch_size, seed=seed,
                                     device=device, accumulation=accumulation,
                                     context=current_context() if context is None else context)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.batch_sampler = EpochBatchSampler(self)
        self._next_plan: EpochPlan | None = None  # planned by len() before the epoch is iterated
        self._current_length: int | None = None  # batches of the epoch being iterated

    # ---------------------------------------------------------------- where the run stands
    @property
    def sampler(self) -> Sampler:
        return self.core.sampler

    @property
    def stats(self) -> Any:
        """The per-sample statistics (:class:`~swiftsampler.stats.SampleStats`)."""
        return self.core.stats

    @property
    def meter(self) -> Any:
        """What was spent (:class:`~swiftsampler.budget.CostMeter`)."""
        return self.core.meter

    @property
    def progress(self) -> float:
        """Fraction of the budget spent, in [0, 1]: feed it to your LR schedule."""
        return self.core.progress

    @property
    def exhausted(self) -> bool:
        return self.core.exhausted

    @property
    def epochs(self) -> int:
        """Epochs that spend the budget when every epoch has its full size, ``round(b N)`` samples:
        exact for ``for epoch in range(session.epochs)`` loops with uniform, p-SGD, c-SGD, RS2,
        online batch selection and swift. InfoBatch prunes (shorter epochs) and batch-then-sample
        methods keep a random share: loop ``while not session.exhausted`` with those."""
        budget, spent = self.core.budget, self.core.meter.spent
        per_epoch = budget.units(budget.samples_per_epoch, budget.samples_per_epoch)
        return self.core.epoch + math.ceil(max(0, budget.total_units - spent) / per_epoch)

    @property
    def selecting(self) -> bool:
        """Whether the epoch being iterated scores candidates and trains what :meth:`select` keeps."""
        return self.core.selecting

    def scoring_pass_due(self) -> bool:
        """Whether the sampler wants a forward pass over the whole training set, fed to
        :meth:`score`, before the next epoch (charged as forward samples)."""
        return self.core.scoring_pass_due()

    # ---------------------------------------------------------------- epochs
    def _plan(self) -> EpochPlan:
        if self._next_plan is None:
            if self.core.scoring_pass_due() and self.core.scored_since_plan < self.sampler.num_samples:
                raise ConfigError(
                    f"sampler {type(self.sampler).__name__} wants a scoring pass before epoch "
                    f"{self.core.epoch + 1}: forward the whole training set without gradients and "
                    "pass it to session.score(...) first (session.scoring_pass_due() says when), or "
                    "turn the option off")
            self._next_plan = self.core.plan_epoch()
        return self._next_plan

    def _epoch_length(self) -> int:
        if self._current_length is not None:
            return self._current_length
        plan = self._plan()
        return len(batch_slices(plan.indices.numel(), self.core.candidate_batch_size()))

    def _iterate_epoch(self) -> Iterator[list[int]]:
        plan, self._next_plan = self._plan(), None
        indices = plan.indices.tolist()
        slices = batch_slices(len(indices), self.core.candidate_batch_size())
        self._current_length = len(slices)
        try:
            for sl in slices:
                if self.core.selecting and self.core.exhausted:
                    return  # a selecting epoch ends when the budget does
                yield indices[sl]
        finally:
            self._current_length = None

    # ---------------------------------------------------------------- training
    def loss(self, batch: Tensor | Batch, losses: Tensor, logits: Tensor,
             targets: Tensor | None = None, *, sources: Tensor | None = None,
             shares: Tensor | None = None, weights: Tensor | None = None) -> Tensor:
        """Charge a training batch and return the loss to back-propagate.

        Args:
            batch: the batch's dataset indices (B,) (from :class:`IndexedDataset`), or a batch
                returned by :meth:`select` (its indices, targets and weights are used).
            losses: per-sample losses (B,) with ``reduction="none"``, attached to the graph; under a
                mixing augmentation the part losses (B, K): output ``i`` against the label of its
                ``k``-th source.
            logits: the model outputs (B, C) (or (B, T, C)).
            targets: labels (B,) (not needed with a batch from :meth:`select`).
            sources, shares: (B, K) positions in the batch of the samples mixed into each output and
                their shares (rows sum to 1), for mixup, CutMix, RICAP: each source is credited with
                its share in the statistics.
            weights: extra per-output weights (B,), e.g. from :meth:`lookahead_weights` (L2RW).

        Returns:
            ``(1/B) sum_i sum_k shares[i,k] w[sources[i,k]] losses[i,k]`` with ``w`` the sample
            weights of the plan (InfoBatch's rescaling) or of the selection (UIS), times the
            sampler's loss rule (REED's targets replace ``losses``; MentorNet's and the small-loss
            rule's weights multiply ``w``) and ``weights``.
        """
        extra = weights
        core = self.core
        device = core.device
        if isinstance(batch, Batch):  # kept by select(): statistics came from the scoring pass
            indices, targets, weights = batch.indices.to(device), batch.targets, batch.weights
        else:
            if core.selecting:
                raise ConfigError(
                    f"sampler {type(self.sampler).__name__} selects within batches this epoch: score "
                    "the candidates with session.select(...) and train the batches it returns")
            if targets is None:
                raise ConfigError("session.loss(indices, losses, logits, targets): targets missing")
            indices = batch.to(device)
            core.record(indices, logits, targets, losses, sources, shares)
            weights = core.weights_of(indices)
        if weights is not None and sources is not None:
            weights = weights[sources.to(weights.device)]
        core.charge_step(indices.shape[0])
        return core.loss(logits, losses, shares,
                         None if weights is None else weights.to(losses.device), extra)

    def lookahead_weights(self, model: torch.nn.Module, losses_of: Any, clean_loss_of: Any,
                          inputs: Any, clean_inputs: Any, lr: float) -> Tensor:
        """Per-sample weights (B,) of a look-ahead sampler (L2RW) for the next training batch; pass
        them to :meth:`loss` as ``weights``. Charges the extra passes (``B + M`` forward and backward
        samples for a clean batch of ``M``)::

            w = session.lookahead_weights(
                model, lambda out: F.cross_entropy(out, y, reduction="none"),
                lambda out: F.cross_entropy(out, clean_y), x, clean_x, lr=current_lr)
            logits = model(x)
            loss = session.loss(indices, F.cross_entropy(logits, y, reduction="none"), logits, y,
                                weights=w)

        Args:
            model: your network (called functionally; not changed).
            losses_of: outputs of ``inputs`` -> per-sample losses (B,).
            clean_loss_of: outputs of ``clean_inputs`` -> their mean loss (a scalar).
            inputs: the training batch; clean_inputs: a clean batch (e.g. from a held-out split,
                ``session.sampler.clean_batch_size`` samples).
            lr: the learning rate of the coming step.
        """
        if not self.sampler.needs_lookahead:
            raise ConfigError(f"sampler {type(self.sampler).__name__} does not weight by a "
                              "look-ahead step")
        return self.core.lookahead_weights(model, losses_of, clean_loss_of, inputs, clean_inputs,
                                           lr)

    def select(self, indices: Tensor, inputs: Any, targets: Tensor, losses: Tensor,
               logits: Tensor) -> list[Batch]:
        """Score a candidate batch (computed under ``torch.no_grad()``) and return the batches to
        train: the kept samples, queued into full batches of ``batch_size`` (none, one, or at the
        end of the epoch the rest). Charges the candidates as forward samples.

        Args:
            indices: (B,) dataset indices of the candidates.
            inputs: their inputs, a tensor or a dict/list/tuple of tensors (sliced along dim 0).
            targets: (B,) labels.
            losses: (B,) per-sample losses of the scoring pass.
            logits: the scoring pass's outputs.
        """
        if not self.core.selecting:
            raise ConfigError(f"sampler {type(self.sampler).__name__} does not select this epoch "
                              "(session.selecting is False): train the batch with session.loss(...)")
        if self.core.exhausted:
            return []  # prefetched candidates after the budget is spent: not scored, not charged
        candidates = Batch(indices.to(self.core.device), inputs, targets.to(self.core.device))
        return self.core.select(candidates, losses, logits)

    def scoring_shard(self) -> Tensor:
        """The indices a scoring pass feeds to :meth:`score` on this process: ``arange(N)``, or
        under torchrun this rank's ``arange(N)[r::W]`` (the session gathers the ranks' passes)."""
        return self.core.scoring_shard()

    def score(self, indices: Tensor, losses: Tensor, logits: Tensor, targets: Tensor) -> None:
        """Record a scoring pass (forward without gradients) of these samples; charged as forward
        samples. Feed a whole pass over the training set (:meth:`scoring_shard`) when
        :meth:`scoring_pass_due` says so."""
        self.core.score(indices, losses, logits, targets)

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Everything to continue exactly, at an epoch's end."""
        return {"core": self.core.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.core.load_state_dict(state["core"])
        self._next_plan = None
