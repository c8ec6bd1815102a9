"""Per-sample statistics, recorded from the training forward pass (no extra passes).

One tensor per statistic, length ``N``, on the training device, indexed by dataset index. They are the
features that samplers score samples by: the last loss and its EMA, the running mean and variance of the
true-class probability (Active Bias, Chang et al. 2017; p-SGD / c-SGD of Arazo et al. 2021), the
renormed entropy ``E^r`` (Swift Sampler, Yao et al. 2024), a gradient-norm proxy
``||softmax(z) - onehot(y)||_2`` (the bound on the logit gradient of cross-entropy, Katharopoulos &
Fleuret 2018), how often and when each sample was last seen.

Updates are vectorised scatters that never synchronise with the host. When an index appears several
times in one batch (sampling with replacement), its "last" statistics take the mean over those
occurrences and its counters add up. ``credit`` (default 1) weights each occurrence, for augmentations
that mix several samples into one input: each source index is credited with its mixing weight.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["FEATURES", "SampleStats", "features", "grad_norm_proxy", "probability_margin", "renormed_entropy",
           "true_class_prob"]


def per_sequence(feature: Callable[[Tensor, Tensor], Tensor]) -> Callable[[Tensor, Tensor], Tensor]:
    """Lift a per-sample feature of (B, C) logits to sequences: logits (B, T, C) with targets (B, T)
    give the mean over the T positions (a sequence is one sample, e.g. in language modelling). The
    feature may return (B,) or (B, F)."""

    @functools.wraps(feature)
    def lifted(logits: Tensor, targets: Tensor) -> Tensor:
        if logits.dim() == 2:
            return feature(logits, targets)
        b = logits.shape[0]
        flat = feature(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        return flat.view(b, -1, *flat.shape[1:]).mean(dim=1)

    return lifted


#: The columns of :func:`features`, in order.
FEATURES = ("entropy", "grad_norm", "margin", "p")


@per_sequence
def features(logits: Tensor, targets: Tensor) -> Tensor:
    """The four per-sample features of :data:`FEATURES` from one softmax and one masked
    log-softmax: renormed entropy, gradient-norm proxy, probability margin and true-class
    probability (the formulas are in the docstrings of the four functions below, which each take a
    column of this). logits (B, C) or (B, T, C), targets (B,) or (B, T) -> (B, 4) float32."""
    z = logits.float()
    y = targets.unsqueeze(1)
    p = z.softmax(dim=1)
    p_true = p.gather(1, y)
    grad_norm = p.scatter(1, y, p_true - 1.0).norm(dim=1, keepdim=True)  # ||p - onehot(y)||
    num_classes = z.shape[1]
    if num_classes <= 2:  # one other class: its renormed distribution has no entropy
        entropy = torch.zeros_like(p_true)
        p_other = p.scatter(1, y, float("-inf")).amax(dim=1, keepdim=True)
    else:
        log_q = z.scatter(1, y, float("-inf")).log_softmax(dim=1)  # log p_j - log(1 - p_y), j != y
        q = log_q.exp()
        entropy = (-(q * log_q.masked_fill(q == 0, 0.0)).sum(dim=1, keepdim=True)
                   / math.log(num_classes - 1)).clamp_(0.0, 1.0)
        p_other = q.amax(dim=1, keepdim=True) * (1.0 - p_true)  # max_{j != y} p_j = (1 - p_y) max q
    return torch.cat([entropy, grad_norm, p_true - p_other, p_true], dim=1)


def true_class_prob(logits: Tensor, targets: Tensor) -> Tensor:
    """``p_y = softmax(z)_y`` per sample. logits (B, C), targets (B,) -> (B,)."""
    return features(logits, targets)[:, FEATURES.index("p")]


def renormed_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Renormed entropy ``E^r`` (Yao et al., NeurIPS 2024), in [0, 1].

    Remove the labelled class from the softmax, renormalise the rest, take its entropy and divide by
    ``log(C - 1)``: ``q_j = p_j / (1 - p_y)`` for ``j != y``, ``E^r = -sum_j q_j log q_j / log(C - 1)``.
    A confidently wrong prediction (mass on one other class) gives ``E^r ~ 0``; mass spread evenly
    over the other classes gives 1. With two classes there is one other class and ``E^r = 0``.
    logits (B, C), targets (B,) -> (B,).
    """
    return features(logits, targets)[:, FEATURES.index("entropy")]


def probability_margin(logits: Tensor, targets: Tensor) -> Tensor:
    """``p_y - max_{j != y} p_j`` per sample, in [-1, 1]; negative when the prediction is wrong.
    (B, C), (B,) -> (B,)."""
    return features(logits, targets)[:, FEATURES.index("margin")]


def grad_norm_proxy(logits: Tensor, targets: Tensor) -> Tensor:
    """``||softmax(z) - onehot(y)||_2``: the norm of d(cross-entropy)/d(logits). (B, C) -> (B,)."""
    return features(logits, targets)[:, FEATURES.index("grad_norm")]


class SampleStats:
    """Per-sample statistics of a training set of ``num_samples`` samples on ``device``.

    Attributes (all shape ``(N,)``; the last values and the sums are column views of two
    ``(N, 4)`` and ``(N, 3)`` tables, so one index operation folds a batch into each):
        loss: last cross-entropy loss (NaN until seen).
        loss_ema: exponential moving average of the loss, ``ema <- d ema + (1 - d) loss``.
        p_sum, p_sq_sum: credit-weighted sums of ``p_y`` and ``p_y^2`` over all visits.
        entropy: last renormed entropy ``E^r``.
        grad_norm: last gradient-norm proxy.
        margin: last probability margin ``p_y - max_{j != y} p_j``.
        seen: credit-weighted number of visits (float).
        last_step: optimiser step of the last visit (-1 until seen).
    """

    _FIELDS = ("loss", "loss_ema", "p_sum", "p_sq_sum", "entropy", "grad_norm", "margin", "seen",
               "last_step")
    #: the columns of :meth:`measure`, in order
    MEASURES = ("loss", *FEATURES)
    #: the statistics kept as columns of the two tables: the last values (the first four columns of
    #: :meth:`measure`) and the credit-weighted sums
    _LAST = MEASURES[:4]
    _SUMS = ("p_sum", "p_sq_sum", "seen")

    def __init__(self, num_samples: int, device: torch.device | str = "cpu", *,
                 ema_decay: float = 0.9) -> None:
        if not 0 <= ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")
        self.num_samples = num_samples
        self.ema_decay = ema_decay
        # One (N, 4) table for the four "last" statistics and one (N, 3) for the three sums, so that
        # folding a batch is one index operation per table, not one per statistic; the named
        # attributes are column views of them (see _bind).
        self._last = torch.full((num_samples, len(self._LAST)), float("nan"), device=device)
        self._sums = torch.zeros(num_samples, len(self._SUMS), device=device)
        self.loss_ema = torch.full((num_samples,), float("nan"), device=device)
        self.last_step = torch.full((num_samples,), -1, dtype=torch.long, device=device)
        self._scratch = torch.zeros(num_samples, device=device)
        self._bind()

    def _bind(self) -> None:
        for column, name in enumerate(self._LAST):
            setattr(self, name, self._last[:, column])
        for column, name in enumerate(self._SUMS):
            setattr(self, name, self._sums[:, column])

    @property
    def device(self) -> torch.device:
        return self.loss.device

    @property
    def p_mean(self) -> Tensor:
        """Mean true-class probability over all visits (NaN until seen)."""
        return self.p_sum / self.seen

    @property
    def p_var(self) -> Tensor:
        """Variance of the true-class probability over all visits (NaN until seen)."""
        mean = self.p_mean
        return (self.p_sq_sum / self.seen - mean * mean).clamp_min(0.0)

    @property
    def seen_mask(self) -> Tensor:
        return self.seen > 0

    def to(self, device: torch.device | str) -> SampleStats:
        for name in ("_last", "_sums", "loss_ema", "last_step", "_scratch"):
            setattr(self, name, getattr(self, name).to(device))
        self._bind()
        return self

    @torch.no_grad()
    def record(self, indices: Tensor, logits: Tensor, targets: Tensor, losses: Tensor, step: int,
               credit: Tensor | None = None) -> None:
        """Fold one batch into the statistics.

        Args:
            indices: dataset indices (B,), int64, may repeat.
            logits: model outputs (B, C) from the training forward pass, or (B, T, C) for
                sequences (features are then means over the T positions).
            targets: labels (B,) (or (B, T)) the losses were computed against.
            losses: per-sample losses (B,).
            step: the optimiser step this batch is used for.
            credit: optional weight per occurrence (B,), e.g. a mixing weight; default 1.
        """
        self.fold(indices, self.measure(logits, targets, losses), step, credit)

    @staticmethod
    def measure(logits: Tensor, targets: Tensor, losses: Tensor) -> Tensor:
        """The per-occurrence values :meth:`fold` needs, (B, 5) float32 in the order of
        :attr:`MEASURES`: loss, renormed entropy, gradient-norm proxy, probability margin and the
        true-class probability. Small enough to all-gather across data-parallel ranks (5 numbers a
        sample, whatever the number of classes or positions)."""
        return torch.cat([losses.detach().float().unsqueeze(1), features(logits.detach(), targets)],
                         dim=1)

    def fold(self, indices: Tensor, measures: Tensor, step: int,
             credit: Tensor | None = None) -> None:
        """Fold one batch's :meth:`measure` rows into the statistics (what :meth:`record` does after
        measuring; the engine folds rows gathered from every rank under DDP)."""
        losses, p = measures[:, 0], measures[:, 4]
        w = torch.ones_like(losses) if credit is None else credit.detach().float()
        # Each occurrence's share of its index's total credit in this batch (1 without repeats), so that
        # the "last" statistics become the credit-weighted mean over occurrences. All updates touch
        # only the B batch positions: O(B) work, no host sync.
        total = self._scratch.index_fill_(0, indices, 0.0).index_add_(0, indices, w)
        share = w / total[indices].clamp_min(1e-12)
        last = share.unsqueeze(1) * measures[:, :len(self._LAST)]
        self._last.index_fill_(0, indices, 0.0).index_add_(0, indices, last)
        self._sums.index_add_(0, indices, torch.stack([w * p, w * p * p, w], dim=1))
        old, loss = self.loss_ema[indices], self.loss[indices]
        d = self.ema_decay
        self.loss_ema.index_put_((indices,), torch.where(old.isnan(), loss, d * old + (1 - d) * loss))
        self.last_step.index_fill_(0, indices, step)

    def state_dict(self) -> dict[str, Tensor]:
        return {name: getattr(self, name).clone() for name in self._FIELDS}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        for name in self._FIELDS:
            getattr(self, name).copy_(state[name])
