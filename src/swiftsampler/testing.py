"""A conformance suite for samplers: check your own sampler against the protocol with one subclass.

::

    from swiftsampler.testing import SamplerConformance

    class TestHardestFirst(SamplerConformance):
        name = "hardest-first"            # a registered name ...
        params = {}                       # ... and its parameters (or override make_sampler)
        random = False                    # its plans do not depend on the seed

Run it with pytest (the package's own samplers run it in ``tests/test_sampler_conformance.py``).
It checks what the engine and the drop-in API rely on (the protocol of
:class:`swiftsampler.samplers.Sampler`):

* plans are 1-D int64 indices in ``[0, N)`` on the generator's device, with finite non-negative
  weights of the same shape when there are weights; a sample-then-batch plan has ``info.n_samples``
  indices (batch-then-sample plans cover the candidates); a selection keeps valid positions;
* the same seed gives the same plans and selections; another seed gives other ones (unless the
  subclass says ``random = False``);
* the sampler never touches the global torch RNG;
* ``state_dict`` / ``load_state_dict`` round-trips (the next plan after a reload equals the next plan
  without one), and the state holds only tensors and plain values (checkpoints load it with
  ``torch.load(weights_only=True)``);
* a short budgeted run through the engine spends exactly what it is charged;
* loss rules are well formed: ``part_losses`` keeps the (B, K) shape and stays finite, and
  ``loss_weights`` / ``lookahead_weights`` give finite non-negative (B,) weights (or None).
"""

from __future__ import annotations

import io
from typing import Any, ClassVar

import torch

from .budget import Budget
from .data.loader import Batch
from .samplers import BatchScores, EpochInfo, Sampler, create_sampler
from .sampling import SamplingCore
from .stats import SampleStats

__all__ = ["SamplerConformance"]


class SamplerConformance:
    """Subclass with ``name`` (and ``params``) set, or override :meth:`make_sampler`."""

    name: ClassVar[str | None] = None
    params: ClassVar[dict[str, Any]] = {}
    num_samples: ClassVar[int] = 60
    budget: ClassVar[float] = 0.5
    #: Whether the plans depend on the generator (False for a deterministic sampler).
    random: ClassVar[bool] = True

    # ---------------------------------------------------------------- fixtures
    def make_sampler(self) -> Sampler:
        if self.name is None:
            raise NotImplementedError("set name (a registered sampler) or override make_sampler")
        return create_sampler(self.name, self.num_samples, budget=self.budget, **self.params)

    def make_stats(self, seed: int = 0) -> SampleStats:
        """Statistics where every sample was seen once, with random logits (4 classes)."""
        g = torch.Generator().manual_seed(seed)
        n = self.num_samples
        stats = SampleStats(n)
        logits = torch.randn(n, 4, generator=g) * 2
        targets = torch.randint(0, 4, (n,), generator=g)
        losses = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
        stats.record(torch.arange(n), logits, targets, losses, step=0)
        return stats

    def info(self, epoch: int = 1) -> EpochInfo:
        return EpochInfo(epoch=epoch, progress=min(0.9, 0.2 * epoch),
                         n_samples=max(1, round(self.budget * self.num_samples)))

    def plans(self, sampler: Sampler, seed: int, epochs: int = 3) -> list[torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        stats = self.make_stats()
        out = []
        for epoch in range(epochs):
            plan = sampler.plan_epoch(stats, g, self.info(epoch))
            out.append(plan.indices.clone())
            if plan.weights is not None:
                out.append(plan.weights.clone())
        return out

    # ---------------------------------------------------------------- the protocol
    def test_plans_are_valid_indices_and_weights(self) -> None:
        sampler = self.make_sampler()
        g = torch.Generator().manual_seed(0)
        for epoch in range(3):
            info = self.info(epoch)
            plan = sampler.plan_epoch(self.make_stats(), g, info)
            assert plan.indices.dim() == 1 and plan.indices.dtype == torch.int64
            assert plan.indices.device == g.device
            if plan.indices.numel():
                assert 0 <= int(plan.indices.min()) and int(plan.indices.max()) < self.num_samples
            if not sampler.needs_scores:
                assert plan.indices.numel() <= info.n_samples
            if plan.weights is not None:
                assert plan.weights.shape == plan.indices.shape
                assert bool(torch.isfinite(plan.weights).all()) and bool((plan.weights >= 0).all())

    def test_selection_keeps_valid_positions(self) -> None:
        sampler = self.make_sampler()
        if not sampler.needs_scores:
            return
        g = torch.Generator().manual_seed(1)
        b = sampler.candidate_batch_size(8)
        assert b >= 1
        logits = torch.randn(b, 4, generator=g)
        targets = torch.randint(0, 4, (b,), generator=g)
        losses = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
        selection = sampler.select(torch.arange(b), BatchScores(losses, logits, targets), g)
        keep = selection.keep
        assert keep.dim() == 1 and keep.dtype == torch.int64
        assert bool(((keep >= 0) & (keep < b)).all())
        if selection.weights is not None:
            assert selection.weights.shape == keep.shape
            assert bool(torch.isfinite(selection.weights).all())

    def test_the_same_seed_gives_the_same_plans(self) -> None:
        a, b = self.plans(self.make_sampler(), 5), self.plans(self.make_sampler(), 5)
        assert all(torch.equal(x, y) for x, y in zip(a, b))
        if self.random:
            c = self.plans(self.make_sampler(), 6)
            assert not all(torch.equal(x, y) for x, y in zip(a, c)), "the seed changes nothing"

    def test_the_global_rng_is_never_touched(self) -> None:
        before = torch.get_rng_state()
        self.plans(self.make_sampler(), 7)
        self.test_selection_keeps_valid_positions()
        assert torch.equal(before, torch.get_rng_state())

    def test_state_round_trip_continues_exactly(self) -> None:
        a = self.make_sampler()
        g = torch.Generator().manual_seed(8)
        stats = self.make_stats()
        a.plan_epoch(stats, g, self.info(0))
        state = a.state_dict()
        buffer = io.BytesIO()
        torch.save(state, buffer)
        buffer.seek(0)
        restored = torch.load(buffer, weights_only=True)  # plain values only
        b = self.make_sampler()
        b.load_state_dict(restored)
        ga, gb = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
        pa, pb = a.plan_epoch(stats, ga, self.info(1)), b.plan_epoch(stats, gb, self.info(1))
        assert torch.equal(pa.indices, pb.indices)

    def test_loss_rules_are_well_formed(self) -> None:
        sampler = self.make_sampler()
        g = torch.Generator().manual_seed(11)
        logits = torch.randn(8, 4, generator=g)
        targets = torch.randint(0, 4, (8,), generator=g)
        part = _losses(logits, targets).unsqueeze(1)  # (B, 1)
        changed = sampler.part_losses(logits, part)
        assert changed.shape == part.shape and bool(torch.isfinite(changed).all())
        for progress in (0.0, 0.5, 1.0):
            weights = sampler.loss_weights(part.squeeze(1), progress)
            if weights is not None:
                assert weights.shape == (8,)
                assert bool(torch.isfinite(weights).all()) and bool((weights >= 0).all())
        if sampler.needs_lookahead:
            assert sampler.clean_batch_size >= 1
            weights = sampler.lookahead_weights(torch.randn(8, generator=g))
            assert weights.shape == (8,)
            assert bool(torch.isfinite(weights).all()) and bool((weights >= 0).all())

    def test_a_budgeted_run_spends_what_it_is_charged(self) -> None:
        n, batch = self.num_samples, 8
        core = SamplingCore(self.make_sampler(), Budget(self.budget, 3, n), batch_size=batch,
                            seed=0)
        g = torch.Generator().manual_seed(10)
        features = torch.randn(n, 4, generator=g)
        targets = torch.randint(0, 4, (n,), generator=g)
        forwarded = backward = 0
        for _ in range(20):
            if core.exhausted:
                break
            if core.scoring_pass_due():
                core.score(torch.arange(n), _losses(features, targets), features, targets)
                forwarded += n
            plan = core.plan_epoch()
            size = core.candidate_batch_size()
            for start in range(0, plan.indices.numel(), size):
                if core.exhausted:
                    break
                idx = plan.indices[start:start + size]
                if core.selecting:
                    kept = core.select(Batch(idx, features[idx], targets[idx]),
                                       _losses(features[idx], targets[idx]), features[idx])
                    forwarded += idx.numel()
                    batches = [k.indices for k in kept]
                else:
                    core.record(idx, features[idx], targets[idx], _losses(features[idx], targets[idx]))
                    batches = [idx]
                for trained in batches:
                    if core.exhausted:
                        break
                    core.charge_step(trained.numel())
                    forwarded += trained.numel()
                    backward += trained.numel()
        assert core.meter.forward_samples == forwarded and core.meter.backward_samples == backward
        assert core.exhausted, "20 epochs did not spend the budget"
        overshoot = backward - core.budget.total_units
        assert overshoot < (batch if core.sampler.needs_scores else 1)  # a plan fits the budget


def _losses(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(logits, targets, reduction="none")
