"""The sampling core: one object that owns a sampler and everything sampling needs, for any loop.

The engine's training loop and the drop-in API for a user's own loop
(:class:`~swiftsampler.integration.SamplingSession`) are two clients of :class:`SamplingCore`, so the
same seed and sampler give them the same plans and the same selections. Per epoch a client does::

    if core.scoring_pass_due():                      # some samplers refresh every statistic first
        for each batch of the training set: core.score(indices, losses, logits, targets)
    plan = core.plan_epoch()                         # the epoch's indices, sized to the budget left
    if not core.selecting:                           # sample-then-batch
        for each batch of plan.indices:
            forward; part losses (B, K)              # K > 1 under a mixing augmentation
            core.record(indices, logits, targets, part_losses, sources, shares)
            loss = core.loss(logits, part_losses, shares, core.weights_of(indices)[sources])
            backward; step; core.charge_step(B)
    else:                                            # batch-then-sample
        for each candidate batch of plan.indices:
            with no_grad: forward; losses
            for kept in core.select(candidates, losses, logits):   # queued into full batches
                forward and backward the kept samples only; core.charge_step(len(kept))

:meth:`SamplingCore.loss` applies the sampler's loss rules (REED's targets, MentorNet's and the
small-loss rule's weights); a look-ahead sampler (L2RW) also wants :meth:`SamplingCore.lookahead_weights`
on a clean batch before each step, passed to ``loss`` as extra weights.

The core charges exactly what the client does: a scoring pass of ``n`` samples costs ``n`` forward
samples; a training batch of ``n`` costs ``n`` forward and ``n`` backward samples. Optimiser steps are
counted once per ``accumulation`` micro-batches. Every random draw comes from the core's own
``plan`` and ``select`` generators, derived from the seed.

Data-parallel (a ``context`` with ``W > 1`` ranks, :mod:`swiftsampler.distributed`): every rank
holds the same statistics and generators, so every rank makes the same plan; :meth:`plan_epoch`
fits it to the global budget and returns this rank's strided shard (``plan[r::W]``). ``batch_size``
is the global batch: each rank trains ``batch_size / W`` samples a step. :meth:`record` gathers the
batch's per-sample measures from every rank (one ``all_gather`` of 7 numbers a sample per step) and
folds them in plan order on every rank, so the statistics stay identical. :meth:`score` keeps a
scoring pass's rows and gathers them once, when the next epoch is planned. The meter charges every
rank's samples (the budget, the progress and the LR schedule are global).

Batch-then-sample under DDP decides globally and trains locally: each rank scores its shard of the
candidate batch (``C / W`` candidates, ``C`` rounded up to a multiple of ``W``); :meth:`select`
all-gathers the candidates' indices, losses, targets and logits (one collective), so every rank
records the same statistics and runs the sampler's selection on the single-process candidate batch
with the same generator: the same samples are kept on every rank. The kept samples' inputs are then
gathered from the ranks that scored them (:func:`~swiftsampler.distributed.all_gather_taken`, one
collective), the one global queue fills batches of ``batch_size`` and rank ``r`` trains
``batch[r::W]``. A plan's last partial batch is cut to a multiple of ``W`` (at least 2 a rank).
Look-ahead samplers (L2RW) and time budgets are single-process only (a look-ahead step is the
whole batch's; the ranks' clocks differ).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..budget import Budget, CostMeter
from ..data.loader import Batch
from ..distributed import SINGLE, DistributedContext, all_gather_rows, all_gather_taken
from ..samplers import BatchScores, EpochInfo, EpochPlan, Sampler
from ..seeding import make_generator
from ..stats import SampleStats
from .lookahead import batch_size_of, lookahead_gradient
from .queue import SelectionQueue, map_tensors, take

__all__ = ["SamplingCore", "weighted_objective"]


def weighted_objective(part_losses: Tensor, shares: Tensor | None = None,
                       weights: Tensor | None = None) -> Tensor:
    """The scalar to back-propagate for a (possibly mixed) batch::

        L = (1 / B) sum_i sum_k W[i, k] w[i, k] l[i, k]

    with ``l`` the part losses (B, K) (the loss of output ``i`` against the label of its ``k``-th
    source), ``W`` the mixing shares (rows sum to 1; None: one part per output) and ``w`` the sample
    weights of each part's source (B, K), or (B,) without mixing (None: all ones)."""
    if part_losses.dim() == 1:
        part_losses = part_losses.unsqueeze(1)
    if weights is not None and weights.dim() == 1:
        weights = weights.unsqueeze(1)
    factor = shares if weights is None else weights if shares is None else shares * weights
    if factor is None and part_losses.shape[1] == 1:  # the plain mean (the same bits, one op)
        return part_losses.mean()
    terms = part_losses if factor is None else factor * part_losses
    return terms.sum(dim=1).mean()


class SamplingCore:
    """A sampler with its per-sample statistics, cost meter, random streams and selection queue.

    Args:
        sampler: the sampler (see :func:`swiftsampler.samplers.create_sampler`).
        budget: what the run may spend (:class:`~swiftsampler.budget.Budget`).
        batch_size: samples per training batch (the selection queue fills batches of this size).
        seed: seed of the ``plan`` and ``select`` streams.
        device: where the statistics live (that of the model's outputs).
        accumulation: micro-batches per optimiser step (gradient accumulation).
        context: the data-parallel ranks (default: one process); ``batch_size`` is then global.
    """

    def __init__(self, sampler: Sampler, budget: Budget, *, batch_size: int, seed: int,
                 device: torch.device | str = "cpu", accumulation: int = 1,
                 context: DistributedContext = SINGLE) -> None:
        if sampler.num_samples != budget.num_train:
            raise ValueError(f"the sampler is for {sampler.num_samples} samples, the budget for "
                             f"{budget.num_train}")
        if not isinstance(accumulation, int) or accumulation < 1:
            raise ValueError(f"accumulation must be a positive integer, got {accumulation!r}")
        if context.active:
            _check_data_parallel(sampler, budget, batch_size, context.world_size)
        self.context = context
        self.sampler, self.budget = sampler, budget
        self.batch_size, self.accumulation = batch_size, accumulation
        self.stats = SampleStats(budget.num_train, device)
        self.meter = CostMeter(budget)
        self.plan_generator = make_generator(seed, "plan", device)
        self.select_generator = make_generator(seed, "select", device)
        self.epoch = 0
        self._queue = SelectionQueue()
        self._weights: Tensor | None = None  # (N,) sample weights of the current epoch's plan
        self._selecting = False
        self._planned = self._candidates = 0  # candidates planned / scored this epoch
        self._scored = 0  # samples scored since the last plan (a full scoring pass: >= N)
        self._micro = 0  # micro-batches charged (optimiser steps = micro // accumulation)
        self.last_weights: Tensor | None = None  # the loss weights of the last :meth:`loss`
        self._pending: list[Tensor] = []  # a scoring pass's rows, gathered at the next plan (DDP)
        # whether the sampler weights samples by their loss (else the per-output losses are not made)
        self._loss_rule = type(sampler).loss_weights is not Sampler.loss_weights

    # ---------------------------------------------------------------- where the run stands
    @property
    def device(self) -> torch.device:
        return self.stats.device

    @property
    def progress(self) -> float:
        """Fraction of the budget spent, in [0, 1] (what the LR schedule follows)."""
        return self.meter.progress

    @property
    def exhausted(self) -> bool:
        return self.meter.exhausted

    @property
    def selecting(self) -> bool:
        """Whether the current epoch scores candidate batches and trains only what it selects."""
        return self._selecting

    @property
    def local_batch_size(self) -> int:
        """Samples per training batch on this rank (``batch_size / W``)."""
        return self.batch_size // self.context.world_size

    def next_epoch_info(self) -> EpochInfo:
        return EpochInfo(epoch=self.epoch, progress=self.meter.progress,
                         n_samples=self.budget.samples_per_epoch)

    # ---------------------------------------------------------------- epochs
    def scoring_pass_due(self) -> bool:
        """Whether the sampler wants every statistic refreshed (a charged forward pass over the
        training set, :meth:`score`) before the next epoch is planned."""
        return self.sampler.wants_scoring_pass(self.next_epoch_info())

    def plan_epoch(self) -> EpochPlan:
        """The next epoch's plan. A sample-then-batch epoch is cut to the budget left, so iterating
        it never overspends and its length is known before the first batch. Under DDP: this
        rank's shard of the one plan that every rank makes."""
        self._fold_pending()
        info = self.next_epoch_info()
        self._selecting = self.sampler.needs_scores and self.sampler.selects(info)
        plan = self.sampler.plan_epoch(self.stats, self.plan_generator, info)
        if not self._selecting:
            plan = self._fit_to_budget(plan)
        self._weights = None
        if plan.weights is not None:
            self._weights = torch.ones(self.budget.num_train, device=self.device)
            self._weights[plan.indices.to(self.device)] = plan.weights.to(self.device,
                                                                          torch.float32)
        self.epoch += 1
        self._candidates, self._scored = 0, 0
        self._queue.clear()
        if self.context.active:
            plan = EpochPlan(self.context.shard(plan.indices),
                             None if plan.weights is None else self.context.shard(plan.weights))
        self._planned = plan.indices.numel() * self.context.world_size  # the candidates of all ranks
        return plan

    def _fit_to_budget(self, plan: EpochPlan) -> EpochPlan:
        """``plan`` without the samples the budget cannot pay for (a time budget is open-ended)."""
        if self.budget.time_budget_s is not None:
            return plan
        per_sample = self.budget.units(1, 1)
        affordable = max(0, (self.budget.total_units - self.meter.spent) // per_sample)
        affordable -= affordable % self.context.world_size  # equal shards
        if plan.indices.numel() <= affordable:
            return plan
        return EpochPlan(plan.indices[:affordable],
                         None if plan.weights is None else plan.weights[:affordable])

    def weights_of(self, indices: Tensor) -> Tensor | None:
        """The plan's sample weights of ``indices`` (None: the plan has none, all ones)."""
        return None if self._weights is None else self._weights[indices]

    def candidate_batch_size(self) -> int:
        """Candidates per scored batch on this rank in a selecting epoch (under DDP the sampler's
        candidate batch rounded up to a multiple of ``W``, divided by ``W``); a training batch of
        this rank otherwise."""
        if not self._selecting:
            return self.local_batch_size
        world = self.context.world_size
        return -(-self.sampler.candidate_batch_size(self.batch_size) // world)

    # ---------------------------------------------------------------- scoring and selection
    def score(self, indices: Tensor, losses: Tensor, logits: Tensor, targets: Tensor) -> None:
        """A scoring forward pass (no gradient) of ``indices``: record their statistics and charge
        their forward samples. Under DDP a scoring pass scores this rank's ``arange(N)[r::W]``; its
        rows are gathered and folded (and charged) when the next epoch is planned."""
        indices = indices.to(self.device)
        if self.context.active:
            self._pending.append(_rows(indices, self.stats.measure(
                logits, targets.to(self.device), losses)))
            return
        self._record_scores(indices, losses.detach(), logits.detach(), targets.to(self.device))

    def _record_scores(self, indices: Tensor, losses: Tensor, logits: Tensor,
                       targets: Tensor) -> None:
        """Record scored samples (all of them, on this process) and charge their forward passes."""
        self.stats.record(indices, logits, targets, losses, step=self.meter.iterations)
        self.meter.charge(forward=indices.shape[0], backward=0, steps=0)
        self._scored += indices.shape[0]

    def _gather_scores(self, indices: Tensor, losses: Tensor, logits: Tensor,
                       targets: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Every rank's scored batch (equal sizes), interleaved into the single-process batch, in the
        order of the arguments: one all-gather of float64 rows (index, loss, targets, logits; exact
        for each)."""
        n = indices.shape[0]
        rows = torch.cat([indices.double().unsqueeze(1), losses.double().unsqueeze(1),
                          targets.reshape(n, -1).double(), logits.reshape(n, -1).double()], dim=1)
        rows = all_gather_rows(rows, self.context)
        width = targets[0].numel() if n else 1
        return (rows[:, 0].long(), rows[:, 1].to(losses.dtype),
                rows[:, 2 + width:].to(logits.dtype).reshape(-1, *logits.shape[1:]),
                rows[:, 2:2 + width].to(targets.dtype).reshape(-1, *targets.shape[1:]))

    def _fold_pending(self) -> None:
        """Gather a data-parallel scoring pass (every rank scored ``arange(N)[r::W]``), fold it
        and charge it: one collective per pass."""
        if not self._pending:  # every rank scores a shard of N >= W samples, or none does
            return
        rows = all_gather_rows(torch.cat(self._pending), self.context, total=self.budget.num_train)
        self._pending.clear()
        self._fold_rows(rows)

    def scoring_shard(self) -> Tensor:
        """The samples a scoring pass scores on this rank: ``arange(N)`` (``arange(N)[r::W]``
        under DDP, every sample once over the ranks)."""
        context = self.context
        return torch.arange(self.budget.num_train, device=self.device)[
            context.rank::context.world_size]

    @property
    def scored_since_plan(self) -> int:
        """Samples scored by :meth:`score` since the last plan (a scoring pass scores all N;
        under DDP: N once this rank has scored its :meth:`scoring_shard`)."""
        pending = sum(rows.shape[0] for rows in self._pending)
        if pending and pending >= self.scoring_shard().numel():
            return self.budget.num_train
        return self._scored

    def select(self, candidates: Batch, losses: Tensor, logits: Tensor) -> list[Batch]:
        """Score a candidate batch, let the sampler choose, queue what it keeps, and return the
        training batches that are full (``batch_size`` each; at the end of the plan also the rest,
        when it holds at least 2 samples), usually none or one. Each carries its loss weights (the
        plan's times the selection's), or None for all ones.

        Args:
            candidates: the candidate batch: indices, inputs (a tensor or a dict/list/tuple of
                them, sliced along the first dimension), targets.
            losses: (B,) per-sample losses of the scoring forward pass, without a graph.
            logits: the scoring pass's logits (B, C) (or (B, T, C)).
        """
        indices = candidates.indices.to(self.device)
        targets = candidates.targets.to(self.device)
        losses, logits = losses.detach().to(self.device), logits.detach().to(self.device)
        context = self.context
        if context.active:  # every rank decides on the single-process candidate batch
            indices, losses, logits, targets = self._gather_scores(indices, losses, logits, targets)
        self._record_scores(indices, losses, logits, targets)
        selection = self.sampler.select(indices, BatchScores(losses, logits, targets),
                                        self.select_generator)
        keep = selection.keep
        weights = selection.weights
        planned = self.weights_of(indices)
        if planned is not None:
            weights = planned[keep] if weights is None else planned[keep] * weights
        where = keep.to(_device_of(candidates.inputs, keep.device))
        inputs = map_tensors(lambda local: all_gather_taken(local, where, context),
                             candidates.inputs)
        self._queue.push(Batch(indices[keep], inputs, targets[keep], weights))
        self._candidates += indices.shape[0]
        ready = []
        while len(self._queue) >= self.batch_size:
            ready.append(self._queue.pop(self.batch_size))
        world = context.world_size
        rest = len(self._queue) - len(self._queue) % world
        if self._candidates >= self._planned and rest >= 2 * world:  # the end of the plan
            ready.append(self._queue.pop(rest))
        return [_shard_batch(batch, context) for batch in ready]

    # ---------------------------------------------------------------- training batches
    def record(self, indices: Tensor, logits: Tensor, targets: Tensor, part_losses: Tensor,
               sources: Tensor | None = None, shares: Tensor | None = None) -> None:
        """Record a training batch's statistics, from its forward pass (no extra pass).

        With a mixing augmentation, output ``i`` mixes the samples at positions ``sources[i, k]``
        of the batch with shares ``shares[i, k]``: sample ``indices[sources[i, k]]`` records the loss
        of its own label on output ``i`` (``part_losses[i, k]``), credited with its share (the rule
        of :mod:`swiftsampler.augment`). Without mixing pass (B,) losses and no sources.

        In an epoch where a batch-then-sample sampler does not select (UIS before its
        variance-reduction gate opens), the sampler also observes the batch's scores.
        """
        indices, targets = indices.to(self.device), targets.to(self.device)
        logits, part_losses = logits.detach(), part_losses.detach()
        if part_losses.dim() == 1:
            part_losses = part_losses.unsqueeze(1)
        step = self.meter.iterations
        k = part_losses.shape[1]
        if sources is not None and k == 1:  # one source an output: its own sample
            indices, targets, sources = indices[sources[:, 0]], targets[sources[:, 0]], None
        if self.context.active:  # every rank folds every rank's rows, in plan order
            if sources is None:
                rows = _rows(indices, self.stats.measure(logits, targets, part_losses[:, 0]))
            else:
                rows = _rows(indices[sources].flatten(), self.stats.measure(
                    logits.repeat_interleave(k, dim=0), targets[sources].flatten(),
                    part_losses.flatten()), shares.detach().flatten())
            self._fold_rows(all_gather_rows(rows, self.context), charge=False)
        elif sources is None:  # no mixing (any target shape, e.g. token sequences)
            self.stats.record(indices, logits, targets, part_losses[:, 0], step=step)
        else:
            self.stats.record(indices[sources].flatten(), logits.repeat_interleave(k, dim=0),
                              targets[sources].flatten(), part_losses.flatten(), step=step,
                              credit=shares.detach().flatten())
        if self.sampler.needs_scores and not self._selecting:
            first = slice(None) if sources is None else sources[:, 0]
            observed = (indices[first], part_losses[:, 0], logits, targets[first])
            if self.context.active:  # every rank observes every rank's batch
                observed = self._gather_scores(*observed)
            self.sampler.observe(observed[0], BatchScores(*observed[1:]))

    def _fold_rows(self, rows: Tensor, *, charge: bool = True) -> None:
        """Fold gathered :func:`_rows` into the statistics; ``charge``: as a scoring pass."""
        if rows.shape[0] == 0:
            return
        self.stats.fold(rows[:, 0].long(), rows[:, 1:6].float(), self.meter.iterations,
                        rows[:, 6].float())
        if charge:
            self.meter.charge(forward=rows.shape[0], backward=0, steps=0)
            self._scored += rows.shape[0]

    def objective(self, part_losses: Tensor, shares: Tensor | None = None,
                  weights: Tensor | None = None) -> Tensor:
        """:func:`weighted_objective` (the core holds no state for it; here for discoverability)."""
        return weighted_objective(part_losses, shares, weights)

    def loss(self, logits: Tensor, part_losses: Tensor, shares: Tensor | None = None,
             weights: Tensor | None = None, extra: Tensor | None = None) -> Tensor:
        """The sampler's loss rules, then :func:`weighted_objective`: the scalar to back-propagate.

        The sampler's :meth:`~swiftsampler.samplers.Sampler.part_losses` replaces the part losses
        (B, K); its :meth:`~swiftsampler.samplers.Sampler.loss_weights`, from each output's detached
        loss ``sum_k shares[i, k] l[i, k]``, and ``extra`` (B,) (e.g. :meth:`lookahead_weights`)
        multiply the plan's ``weights`` (B, K) or (B,).
        """
        sampler = self.sampler
        if part_losses.dim() == 1:
            part_losses = part_losses.unsqueeze(1)
        part_losses = sampler.part_losses(logits, part_losses)  # (B, K)
        rule = None
        if self._loss_rule:
            per_output = (part_losses if shares is None else shares * part_losses).sum(dim=1).detach()
            rule = sampler.loss_weights(per_output, self.progress)
        for factor in (rule, extra):
            if factor is None:
                continue
            factor = factor.to(part_losses.device)
            if weights is None:
                weights = factor
            else:
                weights = weights * (factor.unsqueeze(1) if weights.dim() == 2 else factor)
        self.last_weights = weights  # the batch's loss weights (B, K) or (B,), or None for ones
        return weighted_objective(part_losses, shares, weights)

    def lookahead_weights(self, model: torch.nn.Module, losses_of: Any, clean_loss_of: Any,
                          inputs: Any, clean_inputs: Any, lr: float) -> Tensor:
        """A look-ahead sampler's weights (B,) for a training batch, from one look-ahead step and a
        clean batch (:func:`~swiftsampler.sampling.lookahead.lookahead_gradient`, same arguments).
        Charges the extra passes: ``B + M`` forward and ``B + M`` backward samples, no step."""
        gradient = lookahead_gradient(model, losses_of, clean_loss_of, inputs, clean_inputs, lr)
        b, m = gradient.shape[0], batch_size_of(clean_inputs)
        self.meter.charge(forward=b + m, backward=b + m, steps=0)
        return self.sampler.lookahead_weights(gradient)

    def charge_step(self, samples: int) -> None:
        """Charge one training micro-batch of ``samples`` forwarded and back-propagated samples;
        every ``accumulation``-th micro-batch counts as an optimiser step. Under DDP ``samples`` is
        this rank's count and every rank trains as many: the meter charges ``W`` times it."""
        self._micro += 1
        samples *= self.context.world_size
        self.meter.charge(forward=samples, backward=samples,
                          steps=1 if self._micro % self.accumulation == 0 else 0)

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Everything to continue exactly (at an epoch's end; the selection queue is not kept)."""
        return {"sampler": self.sampler.state_dict(), "stats": self.stats.state_dict(),
                "meter": self.meter.state_dict(), "epoch": self.epoch, "micro": self._micro,
                "plan_generator": self.plan_generator.get_state(),
                "select_generator": self.select_generator.get_state(),
                "weights": None if self._weights is None else self._weights.cpu()}

    def load_state_dict(self, state: dict[str, Any], *, sampler: bool = True) -> None:
        """Restore a state; ``sampler=False`` keeps this core's sampler and its own state (a new
        sampler continuing from another's statistics, as the Swift Sampler search does)."""
        if sampler:
            self.sampler.load_state_dict(state["sampler"])
        self.stats.load_state_dict(state["stats"])
        self.meter.load_state_dict(state["meter"])
        self.epoch, self._micro = int(state["epoch"]), int(state["micro"])
        self.plan_generator.set_state(state["plan_generator"])
        self.select_generator.set_state(state["select_generator"])
        weights = state["weights"]
        self._weights = None if weights is None else weights.to(self.device)


def _rows(indices: Tensor, measures: Tensor, credit: Tensor | None = None) -> Tensor:
    """One float64 row a sample occurrence for the all-gather: index (exact below 2^53), the five
    :meth:`SampleStats.measure` columns and the credit (1 without mixing)."""
    credit = torch.ones(indices.shape[0], device=indices.device) if credit is None else credit
    return torch.cat([indices.double().unsqueeze(1), measures.double(),
                      credit.double().unsqueeze(1)], dim=1)


def _check_data_parallel(sampler: Sampler, budget: Budget, batch_size: int, world: int) -> None:
    """What data-parallel training needs: decisions every rank takes alike."""
    if sampler.needs_lookahead:
        raise ValueError(f"sampler {type(sampler).__name__} weighs examples by a look-ahead step of "
                         "the model, which is single-process only")
    if budget.time_budget_s is not None:
        raise ValueError("a time budget is single-process only (the ranks' clocks differ)")
    if batch_size % world:
        raise ValueError(f"the batch size {batch_size} is global under data parallelism and must "
                         f"be a multiple of the {world} processes")


def _shard_batch(batch: Batch, context: DistributedContext) -> Batch:
    """This rank's strided share ``batch[r::W]`` of a global training batch (a multiple of ``W``)."""
    if not context.active:
        return batch
    share = slice(context.rank, None, context.world_size)
    return Batch(batch.indices[share], take(batch.inputs, share), batch.targets[share],
                 None if batch.weights is None else batch.weights[share])


def _device_of(tree: Any, default: torch.device) -> torch.device:
    """The device of the first tensor in ``tree`` (where positions to take must live)."""
    if isinstance(tree, Tensor):
        return tree.device
    values = tree.values() if isinstance(tree, dict) else tree
    for value in values:
        return _device_of(value, default)
    return default
