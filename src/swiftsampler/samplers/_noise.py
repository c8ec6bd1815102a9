"""Label-noise baselines as loss rules over uniform sampling: REED, MentorNet-PD, small-loss, L2RW.

Each visits the samples as uniform sampling does (a fresh random subset of ``round(b N)`` per epoch)
and changes how a training batch's loss is formed, through the optional hooks of
:class:`~swiftsampler.samplers.Sampler` that the sampling core applies for the engine and the
drop-in API alike. Which reading of each paper and released code they follow, and where they deviate:
docs/noise_baselines.md.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor

from ..stats import SampleStats
from ._base import SAMPLERS, EpochInfo, EpochPlan, Sampler, uniform_plan
from ._checks import check_int, check_range


class _UniformVisits(Sampler):
    """Uniform sampling's epochs; subclasses add a loss rule."""

    def plan_epoch(self, stats: SampleStats, generator: torch.Generator,
                   info: EpochInfo) -> EpochPlan:
        return uniform_plan(self.num_samples, generator, info.n_samples)


def bootstrap_losses(logits: Tensor, part_losses: Tensor, beta: float, *, hard: bool) -> Tensor:
    """Reed et al.'s bootstrapped cross-entropy from the plain part losses (B, K).

    With ``p = softmax(logits)`` the target is ``beta * onehot(y) + (1 - beta) * p`` (soft) or
    ``beta * onehot(y) + (1 - beta) * onehot(argmax p)`` (hard), so the loss is::

        soft:  beta * CE(y) + (1 - beta) * H(p)                 H(p) = -sum_c p_c log p_c
        hard:  beta * CE(y) + (1 - beta) * (-log max_c p_c)

    Gradients flow through ``p`` in both terms, as in the paper's objective. For token sequences
    (logits (B, T, C)) the extra term is averaged over the tokens, as the task's loss is.
    """
    log_p = torch.log_softmax(logits.float(), dim=-1)
    extra = -(log_p.exp() * log_p).sum(-1) if not hard else -log_p.max(dim=-1).values
    if extra.dim() > 1:
        extra = extra.flatten(1).mean(dim=1)
    return beta * part_losses + (1.0 - beta) * extra.unsqueeze(1).to(part_losses.dtype)


@SAMPLERS.register("reed-soft")
class ReedSoftSampler(_UniformVisits):
    """Soft bootstrapping (Reed et al., "Training Deep Neural Networks on Noisy Labels with
    Bootstrapping", ICLR workshop 2015): the target mixes the label with the prediction.

    Loss ``beta * CE(y) + (1 - beta) * H(p)`` (:func:`bootstrap_losses`), over uniform sampling.

    Args:
        beta: weight of the given label, in [0, 1] (1: plain cross-entropy). Default 0.95, the paper's.
    """

    hard: ClassVar[bool] = False

    def __init__(self, num_samples: int, *, beta: float = 0.95) -> None:
        super().__init__(num_samples)
        self.beta = check_range("beta", beta, 0.0, 1.0)

    def part_losses(self, logits: Tensor, part_losses: Tensor) -> Tensor:
        return bootstrap_losses(logits, part_losses, self.beta, hard=self.hard)


@SAMPLERS.register("reed-hard")
class ReedHardSampler(ReedSoftSampler):
    """Hard bootstrapping (Reed et al. 2015): the target mixes the label with the predicted class.

    Loss ``beta * CE(y) + (1 - beta) * CE(argmax p)`` (:func:`bootstrap_losses`), over uniform sampling.

    Args:
        beta: weight of the given label, in [0, 1]. Default 0.8, the paper's.
    """

    hard: ClassVar[bool] = True

    def __init__(self, num_samples: int, *, beta: float = 0.8) -> None:
        super().__init__(num_samples, beta=beta)


@SAMPLERS.register("mentornet")
class MentorNetSampler(_UniformVisits):
    """MentorNet with a predefined curriculum (MentorNet-PD; Jiang et al., "MentorNet: Learning
    Data-Driven Curriculum for Very Deep Neural Networks on Corrupted Labels", ICML 2018).

    Per training batch, the threshold ``lambda`` follows the ``percentile``-th percentile of the batch's
    losses as a moving average, ``lambda <- decay * lambda + (1 - decay) * q_p(losses)`` (as
    ``loss_moving_avg`` in google/mentornet), and a sample's weight is ``v_i = 1[l_i < lambda]`` (the
    self-paced curriculum the predefined MentorNet encodes). During the burn-in (the first
    ``burn_in`` of the budget) every weight is 1 while ``lambda`` is tracked. The loss is
    ``(1/B) sum_i v_i l_i``, as the released code's ``sum(v * loss) / batch_size`` (not renormalised).

    Args:
        percentile: the loss percentile ``p`` in (0, 1] the threshold tracks (default 0.7).
        decay: the moving average's decay in [0, 1) (default 0.9, the released code's).
        burn_in: fraction of the budget with all weights 1, in [0, 1) (default 0.2).
    """

    def __init__(self, num_samples: int, *, percentile: float = 0.7, decay: float = 0.9,
                 burn_in: float = 0.2) -> None:
        super().__init__(num_samples)
        self.percentile = check_range("percentile", percentile, 0.0, 1.0, low_open=True)
        self.decay = check_range("decay", decay, 0.0, 1.0, high_open=True)
        self.burn_in = check_range("burn_in", burn_in, 0.0, 1.0, high_open=True)
        self.threshold: Tensor | None = None  # () moving percentile, on the losses' device

    def loss_weights(self, losses: Tensor, progress: float) -> Tensor | None:
        q = torch.quantile(losses.detach().float(), self.percentile)
        self.threshold = q if self.threshold is None else (
            self.decay * self.threshold + (1.0 - self.decay) * q)
        if progress < self.burn_in:
            return None
        return (losses.detach() < self.threshold).to(losses.dtype)

    def state_dict(self) -> dict[str, Any]:
        return {"threshold": None if self.threshold is None else self.threshold.cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.threshold = state["threshold"]


def forget_rate(progress: float, rate: float, ramp: float) -> float:
    """Co-teaching's schedule ``tau(t) = rate * min(t / T_k, 1)``, with ``t / T_k`` as budget
    progress over ``ramp`` (``ramp = 0``: ``rate`` from the start)."""
    return rate if ramp <= 0 else rate * min(progress / ramp, 1.0)


def small_loss_weights(losses: Tensor, tau: float) -> Tensor:
    """Weights (B,) keeping the ``floor((1 - tau) B)`` smallest losses (at least one; Co-teaching's
    ``num_remember``), each ``B / kept`` (so the loss is the mean over the kept samples, as
    Co-teaching's), the others 0."""
    b = losses.shape[0]
    kept = max(1, math.floor((1.0 - tau) * b + 1e-9))  # 1e-9: (1 - 0.4) * 10 is 6, not 5.999
    order = torch.argsort(losses.detach(), stable=True)
    weights = torch.zeros_like(losses, dtype=torch.float32)
    weights[order[:kept]] = b / kept
    return weights


@SAMPLERS.register("small-loss")
class SmallLossSampler(_UniformVisits):
    """The small-loss rule of Co-teaching (Han et al., "Co-teaching: Robust Training of Deep Neural
    Networks with Extremely Noisy Labels", NeurIPS 2018), with one network.

    Each training batch keeps its ``1 - tau(t)`` fraction of smallest losses and averages the loss over
    them; ``tau(t) = forget_rate * min(t / T_k, 1)`` with ``t / T_k`` the budget progress over
    ``ramp`` (:func:`forget_rate`, :func:`small_loss_weights`). Co-teaching proper trains two networks
    that pick each other's small-loss samples (twice the cost); this is the single-network rule it rests
    on, at the cost of uniform sampling (the dropped samples are forwarded and back-propagated with
    weight 0).

    Args:
        forget_rate: the final ``tau`` in [0, 1) (Co-teaching sets it to the noise rate; default 0.2).
        ramp: budget fraction over which ``tau`` grows linearly from 0, in [0, 1] (default 0.2;
            Co-teaching's ``T_k = 10`` of 200 epochs is 0.05).
    """

    def __init__(self, num_samples: int, *, forget_rate: float = 0.2, ramp: float = 0.2) -> None:
        super().__init__(num_samples)
        self.forget_rate = check_range("forget_rate", forget_rate, 0.0, 1.0, high_open=True)
        self.ramp = check_range("ramp", ramp, 0.0, 1.0)

    def loss_weights(self, losses: Tensor, progress: float) -> Tensor | None:
        tau = forget_rate(progress, self.forget_rate, self.ramp)
        return None if tau == 0 else small_loss_weights(losses, tau)


@SAMPLERS.register("l2rw")
class L2RWSampler(_UniformVisits):
    """Learning to reweight examples (Ren et al., "Learning to Reweight Examples for Robust Deep
    Learning", ICML 2018).

    Before each training step, a look-ahead SGD step on the batch with per-sample perturbations ``eps``
    and a clean batch of ``clean_batch_size`` validation samples give ``g = d L_clean / d eps``
    (:func:`swiftsampler.sampling.lookahead_gradient`); the weights are ``w_i = max(-g_i, 0)``,
    normalised to sum to 1 over the batch (scaled by ``B`` here, since the objective is a mean), and 0
    for the whole batch when no sample helps. The clean batch's forward and backward passes and the
    look-ahead's are charged to the budget, so at equal budget L2RW takes fewer steps.

    Args:
        clean_batch_size: validation samples per look-ahead step (default 100, as Ren et al.'s
            clean batches).
    """

    needs_lookahead: ClassVar[bool] = True

    def __init__(self, num_samples: int, *, clean_batch_size: int = 100) -> None:
        super().__init__(num_samples)
        self.clean_batch_size = check_int("clean_batch_size", clean_batch_size, 1)

    def lookahead_weights(self, clean_gradient: Tensor) -> Tensor:
        w = (-clean_gradient).clamp(min=0)
        total = w.sum()
        # no host sync: an all-zero batch stays all zero (0 / 1)
        return w * (w.shape[0] / torch.where(total > 0, total, torch.ones_like(total)))
