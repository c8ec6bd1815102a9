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


class Sampler:
    """Base class of all samplers: a uniform random permutation with no state.

    Subclasses override :meth:`plan_epoch` and, for batch-then-sample methods, set
    ``needs_scores = True`` and override :meth:`select`. Constructors take ``num_samples`` (the
    training-set size N) first, then keyword-only parameters, validated eagerly.
    """

    needs_scores: ClassVar[bool] = False

    def __init__(self, num_samples: int) -> None:
        if not isinstance(num_samples, int) or num_samples <= 0:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
        self.num_samples = num_samples

    def plan_epoch(self, stats: SampleStats, generator: torch.Generator,
                   info: EpochInfo) -> EpochPlan:
        """The indices of one epoch: ``info.n_samples`` distinct indices in random order."""
        perm = torch.randperm(self.num_samples, generator=generator, device=generator.device)
        return EpochPlan(perm[: info.n_samples])

    def wants_scoring_pass(self, info: EpochInfo) -> bool:
        """Whether the engine should forward the whole training set (no grad, charged to the
        budget) to refresh the statistics before this epoch's plan. Default: never."""
        return False

    def candidate_batch_size(self, batch_size: int) -> int:
        """Candidates scored per step by a batch-then-sample method (default: one batch)."""
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
        return EpochPlan(torch.randperm(self.num_samples, generator=generator,
                                        device=generator.device))


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
