"""The sampler protocol, the sampler registry, and the plan/selection records they exchange.

A sampler decides which training samples are visited and with which loss weights. The engine calls it at
two points (see :func:`swiftsampler.engine.train`)::

    for each epoch:
        plan = sampler.plan_epoch(stats, generator, info)      # <plan_epoch>: which indices, in order
        for batch in plan (batch_size at a time):
            if sampler.needs_scores:                           # <select>: batch-then-sample methods
                scores = forward pass of the candidates (charged to the budget)
                selection = sampler.select(indices, scores, generator)
            loss = mean(weights * per-sample loss); step; stats.record(...)

Sample-then-batch methods (uniform, p-SGD, InfoBatch, swift) only implement ``plan_epoch``;
batch-then-sample methods (selective backprop, UIS, ordered SGD) also set ``needs_scores = True`` and
implement ``select``. Every sampler keeps its mutable state in plain tensors/numbers exposed through
``state_dict`` / ``load_state_dict`` so that a run resumes exactly. All randomness comes from the
``generator`` argument: a sampler never touches the global RNG.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from ..registry import Registry
from ..stats import SampleStats


@dataclass(frozen=True)
class EpochInfo:
    """What a sampler knows about the epoch it plans.

    Attributes:
        epoch: 0-based epoch number.
        progress: fraction of the budget spent so far, in [0, 1].
        n_samples: samples to plan for this epoch, ``round(budget * N)``.
    """

    epoch: int
    progress: float
    n_samples: int


@dataclass(frozen=True)
class EpochPlan:
    """Indices to visit this epoch, in order, with optional per-sample loss weights.

    Attributes:
        indices: (n,) int64 dataset indices; may repeat for samplers that draw with replacement.
        weights: (n,) float loss weights, or None for all ones.
    """

    indices: Tensor
    weights: Tensor | None = None

    def __post_init__(self) -> None:
        if self.indices.dim() != 1:
            raise ValueError(f"plan indices must be 1-D, got shape {tuple(self.indices.shape)}")
        if self.weights is not None and self.weights.shape != self.indices.shape:
            raise ValueError("plan weights must have the same shape as the indices")


@dataclass(frozen=True)
class BatchScores:
    """What the scoring forward pass of a candidate batch gives a batch-then-sample method.

    Attributes:
        losses: (B,) per-sample losses (the task's: cross-entropy, a sequence's mean token
            cross-entropy, the ArcFace margin loss).
        logits: (B, C) logits, or (B, T, C) for token sequences.
        targets: (B,) labels, or (B, T) next tokens.
    """

    losses: Tensor
    logits: Tensor
    targets: Tensor


@dataclass(frozen=True)
class Selection:
    """Which candidates of a batch are back-propagated, and their loss weights.

    Attributes:
        keep: (k,) int64 positions into the candidate batch (may repeat).
        weights: (k,) float loss weights, or None for all ones.
    """

    keep: Tensor
    weights: Tensor | None = None


def uniform_plan(num_samples: int, generator: torch.Generator, n: int) -> EpochPlan:
    """``n`` distinct indices of ``range(num_samples)`` in uniformly random order (the first ``n`` of
    a random permutation): uniform sampling's epoch, and every sampler's warm-up."""
    perm = torch.randperm(num_samples, generator=generator, device=generator.device)
    return EpochPlan(perm[:n])


class Sampler(abc.ABC):
    """Base of all samplers: one required hook, :meth:`plan_epoch`; the rest are optional.

    * :meth:`plan_epoch` — which indices this epoch, in which order, with which loss weights.
    * Batch-then-sample methods set ``needs_scores = True`` (or derive from :class:`BatchSelector`)
      and implement :meth:`select`; :meth:`candidate_batch_size` sets how many candidates are
      scored per training batch, :meth:`selects` may switch selection off for an epoch (the batch is
      then trained as it is and shown to :meth:`observe`).
    * :meth:`wants_scoring_pass` asks for a charged forward pass over the training set before an
      epoch (fresh statistics for every sample).
    * Loss rules (the label-noise baselines, :mod:`._noise`): :meth:`part_losses` changes each
      sample's loss (REED's bootstrapped targets), :meth:`loss_weights` weights each sample from its
      loss (MentorNet, the small-loss rule), and ``needs_lookahead = True`` with
      :meth:`lookahead_weights` weights each sample from a look-ahead step on a clean batch (L2RW).
      The sampling core applies them for the engine and the drop-in API alike.
    * :meth:`state_dict` / :meth:`load_state_dict` for any mutable state, so a run resumes exactly.

    Constructors take ``num_samples`` (the training-set size N) first, then keyword-only
    parameters, validated eagerly (ValueError naming the parameter). All randomness comes from the
    ``generator`` arguments: a sampler never touches the global RNG. A new sampler can be checked
    against the protocol with :class:`swiftsampler.testing.SamplerConformance`.
    """

    needs_scores: ClassVar[bool] = False
    #: Whether each training batch needs a look-ahead step on a clean batch (:meth:`lookahead_weights`).
    needs_lookahead: ClassVar[bool] = False
    #: Clean (validation) samples per look-ahead step, for ``needs_lookahead`` samplers.
    clean_batch_size: int = 0

    def __init__(self, num_samples: int) -> None:
        if not isinstance(num_samples, int) or num_samples <= 0:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
        self.num_samples = num_samples

    @abc.abstractmethod
    def plan_epoch(self, stats: SampleStats, generator: torch.Generator,
                   info: EpochInfo) -> EpochPlan:
        """The indices of one epoch (``info.n_samples`` of them for sample-then-batch methods;
        batch-then-sample methods plan the candidates, usually all N)."""

    def wants_scoring_pass(self, info: EpochInfo) -> bool:
        """Whether every statistic should be refreshed by a forward pass over the training set (no
        grad, charged to the budget) before this epoch's plan. Default: never."""
        return False

    def selects(self, info: EpochInfo) -> bool:
        """Whether this epoch scores candidate batches and trains only the selection (for
        ``needs_scores`` samplers; default: every epoch)."""
        return self.needs_scores

    def candidate_batch_size(self, batch_size: int) -> int:
        """Candidates scored per training batch by a batch-then-sample method (default: one batch)."""
        return batch_size

    def select(self, indices: Tensor, scores: BatchScores, generator: torch.Generator
               ) -> Selection:
        """Choose the candidates to back-propagate (batch-then-sample methods only).

        Args:
            indices: (B,) dataset indices of the candidates.
            scores: their losses, logits and labels from the scoring pass.
            generator: the selection stream, on the scores' device.
        """
        raise NotImplementedError(f"{type(self).__name__} does not select within batches")

    def observe(self, indices: Tensor, scores: BatchScores) -> None:
        """See a training batch's scores in an epoch where :meth:`selects` is False. Default: no-op."""
        del indices, scores

    def part_losses(self, logits: Tensor, part_losses: Tensor) -> Tensor:
        """The per-sample losses to train on, from the task's (B, K) part losses (attached to the
        graph) and the logits (B, C) or (B, T, C). Default: unchanged."""
        del logits
        return part_losses

    def loss_weights(self, losses: Tensor, progress: float) -> Tensor | None:
        """Per-sample loss weights (B,) from the batch's detached losses (B,) at budget progress
        ``progress`` (None: all ones). Called once per training batch; may update state."""
        del losses, progress
        return None

    def lookahead_weights(self, clean_gradient: Tensor) -> Tensor:
        """Per-sample weights (B,) from ``d L_clean / d eps`` (B,), the gradient of the clean batch's
        loss after one look-ahead step with respect to each sample's loss weight
        (:func:`swiftsampler.sampling.lookahead_gradient`); ``needs_lookahead`` samplers only."""
        raise NotImplementedError(f"{type(self).__name__} does not weight by a look-ahead step")

    def guard_due(self, progress: float) -> bool:
        """Whether the engine should now check this sampler against uniform sampling on the
        validation split (:mod:`swiftsampler.engine.guard`; the learned sampler's guard). Default:
        never."""
        del progress
        return False

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        del state

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_samples={self.num_samples})"


class BatchSelector(Sampler):
    """Base of batch-then-sample methods: each epoch is a random permutation of all N samples,
    cut into candidate batches that are scored by a forward pass and then filtered by
    :meth:`select`. The budget, not the epoch count, ends the run."""

    needs_scores: ClassVar[bool] = True

    def plan_epoch(self, stats: SampleStats, generator: torch.Generator,
                   info: EpochInfo) -> EpochPlan:
        return uniform_plan(self.num_samples, generator, self.num_samples)

    @abc.abstractmethod
    def select(self, indices: Tensor, scores: BatchScores, generator: torch.Generator
               ) -> Selection:
        """Choose the candidates to back-propagate (see :meth:`Sampler.select`)."""


SAMPLERS: Registry[Sampler] = Registry("sampler", internal={
    "num_samples": "the training-set size", "budget": "set by --budget",
    "card": "set by --sampler-card"})


def create_sampler(name: str, num_samples: int, /, *, budget: float = 1.0, card: str | None = None,
                   **params: Any) -> Sampler:
    """Build the sampler registered as ``name`` for a training set of ``num_samples`` samples.

    ``params`` are the user's (``--sampler-param``); ``budget`` (the run's budget fraction) is passed
    to samplers whose defaults depend on it, ``card`` (``--sampler-card``) to the swift sampler.
    Unknown names and parameters raise :class:`~swiftsampler.errors.ConfigError`, and so do the
    internal ones given as user parameters and out-of-range values, with the parameter's name.
    """
    import inspect

    from ..errors import ConfigError

    SAMPLERS.check_user_params(name, params)
    accepted = inspect.signature(SAMPLERS.get(name).factory).parameters
    if "budget" in accepted:
        params = {**params, "budget": budget}
    if card is not None:
        if "card" not in accepted:
            raise ConfigError(f"--sampler-card: sampler {name!r} does not take a card")
        params = {**params, "card": card}
    try:
        return SAMPLERS.create(name, num_samples, **params)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"sampler {name!r}: {exc}") from None


def list_samplers() -> list[str]:
    return SAMPLERS.names()
