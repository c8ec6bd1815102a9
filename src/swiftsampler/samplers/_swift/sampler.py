"""The learned Swift Sampler (Yao, Li & Xiao, NeurIPS 2024) as a sampler of the registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ...errors import ConfigError
from ...stats import SampleStats
from .._base import SAMPLERS, EpochInfo, EpochPlan, Sampler, uniform_plan
from .._checks import check_range
from .._draw import draw_with_replacement
from .card import SamplerCard, load_card, transformed_features
from .family import SamplerFamily

REFRESH = ("stats", "scoring-pass")
#: What the guard can compare (scored by ``swiftsampler.engine.guard.GUARD_SCORES``).
GUARD_SCORE_NAMES = ("accuracy", "loss")
DEFAULT_WARMUP = 0.2


@SAMPLERS.register("swift")
class SwiftSampler(Sampler):
    """Swift Sampler: ``P_i = tau_theta(T(f(x_i)))``, a 10-parameter function of per-sample features.

    Features ``f`` (loss and renormed entropy by default) are mapped to [0, 1] by a transform ``T``
    (``cdf``: mid-rank empirical CDF; ``cgf``: cumulative gradient mass; ``none``) fitted on the
    training set each epoch, then through one
    piecewise-linear function per feature with knot values ``theta`` in a box (which bounds the
    Lipschitz constant), combined by product (or sum) and normalised (:mod:`swiftsampler.swift`).

    The first ``warmup`` of the budget is uniform (the features need a trained model); after that each
    epoch draws its ``round(b N)`` samples *with replacement* from ``P``, unweighted. Features come from
    the statistics recorded in training (``refresh="stats"``), or from a forward pass over the whole
    training set before every epoch, charged to the budget (``refresh="scoring-pass"``).

    The guard (``guard=True``, the default; engine runs only) checks the card where it is used: when
    the warm-up ends, the engine trains ``guard_window`` of the budget twice from the same state, once
    with the card and once uniformly, scores both on the validation split (minus the loss, by
    default) and keeps the card only if its score is at least the uniform one minus
    ``guard_margin``; otherwise the rest of the run samples uniformly. A card kept by less than the
    margin (the check cannot tell) is blended toward uniform sampling (``guard_blend``). Both
    branches are charged to the budget (the losing one is the guard's cost), and the run continues
    from the winner's state (:mod:`swiftsampler.engine.guard`).

    Args:
        card: path of a sampler card (``swiftsampler search`` writes one); gives everything below
            except ``warmup`` and ``refresh``.
        params: the knot values, in ``SamplerFamily.param_names`` order (instead of a card).
        features, transform, n_knots, combine, floor: the sampler family (instead of a card).
        warmup: fraction of the budget sampled uniformly first; default: the card's search
            ``init_fraction`` (where its shared initialisation was taken), else 0.2.
        refresh: where the features come from, ``stats`` or ``scoring-pass``.
        guard: check the card against uniform sampling once the warm-up ends (see above).
        guard_window: fraction of the budget each branch of the check trains, in (0, 0.5]
            (default 0.025).
        guard_margin: how far the card's score may trail uniform sampling's and still be kept, in
            the score's unit (nats for ``loss``, a fraction for ``accuracy``; default 0.02 nats).
        guard_score: what the check compares on the validation split: ``loss`` (minus the mean
            loss, the default: continuous, so a short window separates the branches) or
            ``accuracy`` (minus the loss for tasks without one).
        guard_blend: the hedge where the check cannot tell the card from uniform sampling (the
            card's score within ``guard_margin`` of uniform's, either side): the rest of the run
            samples from ``(1 - guard_blend) P + guard_blend / N``, the card blended toward uniform
            (default 0.5; 0 keeps the card whole there). The defaults were chosen on the
            transfer table of docs/swift_sampler.md.
    """

    def __init__(self, num_samples: int, *, card: str | None = None,
                 params: Sequence[float] | None = None,
                 features: Sequence[str] = ("loss", "entropy"), transform: str = "cdf",
                 n_knots: int = 5, combine: str = "product", floor: float = 0.0,
                 warmup: float | None = None, refresh: str = "stats", guard: bool = True,
                 guard_window: float = 0.025, guard_margin: float = 0.02,
                 guard_score: str = "loss", guard_blend: float = 0.5) -> None:
        super().__init__(num_samples)
        if card is not None:
            if params is not None:
                raise ConfigError("give either a sampler card or params, not both")
            self.card = load_card(card)
        elif params is None:
            raise ConfigError("the swift sampler needs a sampler card (--sampler-card PATH, written "
                              "by swiftsampler search) or its parameters (params=[...])")
        else:
            family = SamplerFamily(features=tuple(features), n_knots=n_knots, combine=combine,
                                   floor=floor)
            self.card = SamplerCard.create(family, list(params), transform=transform)
        self.family = self.card.family_obj()
        self.theta = torch.tensor(self.card.params, dtype=torch.float64)
        if warmup is None:
            warmup = self.card.init_fraction if self.card.init_fraction is not None else DEFAULT_WARMUP
        self.warmup = check_range("warmup", warmup, 0.0, 1.0, high_open=True)
        if refresh not in REFRESH:
            raise ValueError(f"refresh must be one of {', '.join(REFRESH)}, got {refresh!r}")
        self.refresh = refresh
        if not isinstance(guard, bool):
            raise ValueError(f"guard must be true or false, got {guard!r}")
        self.guard = guard
        self.guard_window = check_range("guard_window", guard_window, 0.0, 0.5, low_open=True)
        self.guard_margin = check_range("guard_margin", guard_margin, 0.0, 1.0)
        if guard_score not in GUARD_SCORE_NAMES:
            raise ValueError(f"guard_score must be one of {', '.join(GUARD_SCORE_NAMES)}, got "
                             f"{guard_score!r}")
        self.guard_score = guard_score
        self.guard_blend = check_range("guard_blend", guard_blend, 0.0, 1.0, high_open=True)
        #: ``"card"``, ``"blend"`` or ``"uniform"``: what the epochs after the warm-up sample with
        #: (the guard's decision; a branch of the guard's check sets it for its window).
        self.mode = "card"
        self.guard_checked = False

    def guard_due(self, progress: float) -> bool:
        """Whether the guard's check should run now (once, when the warm-up has ended)."""
        return self.guard and not self.guard_checked and progress >= self.warmup

    def state_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "guard_checked": self.guard_checked}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mode = str(state.get("mode", "card"))
        self.guard_checked = bool(state.get("guard_checked", False))

    def probabilities(self, stats: SampleStats) -> torch.Tensor:
        """The sampling distribution over the training set given the current statistics. (N,)"""
        u = transformed_features(stats, self.card.features, self.card.transform)
        return self.family.probabilities(u, self.theta.to(u.device))

    def wants_scoring_pass(self, info: EpochInfo) -> bool:
        return self.refresh == "scoring-pass" and info.progress >= self.warmup

    def plan_epoch(self, stats: SampleStats, generator: torch.Generator,
                   info: EpochInfo) -> EpochPlan:
        if (info.progress < self.warmup or self.mode == "uniform"
                or not bool(stats.seen_mask.any())):
            return uniform_plan(self.num_samples, generator, info.n_samples)
        p = self.probabilities(stats).to(generator.device)
        if self.mode == "blend":
            p = (1 - self.guard_blend) * p + self.guard_blend / p.numel()
        return EpochPlan(draw_with_replacement(p, info.n_samples, generator))
