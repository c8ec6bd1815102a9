"""The online guard of a learned sampler: a card is checked where it is used, and dropped when it loses.

A card is searched in one setting and reused in others; where it does not carry over it can cost
accuracy against plain uniform sampling. When a guarded sampler's warm-up ends
(:meth:`~swiftsampler.samplers.Sampler.guard_due`), the engine takes a paired look, in the spirit of
the search's own scoring (fine-tune from a shared state, score on the validation split; Yao et al.,
NeurIPS 2024):

1. save the run's whole state ``S`` at budget progress ``p``;
2. train to ``p + w`` (``w``: the sampler's ``guard_window``) sampling **uniformly**, score the model
   on the validation split: ``s_u``; keep that state ``U``;
3. restore ``S``, train to ``p + w`` with the **card**, score: ``s_c``;
4. keep the card if ``s_c >= s_u - margin``, and continue from the card's state; otherwise restore
   ``U`` and sample uniformly for the rest of the run. With a ``guard_blend`` above 0, a card kept
   with ``s_c < s_u + margin`` (the check cannot tell) is blended toward uniform sampling instead.

The score is the sampler's ``guard_score`` (:data:`GUARD_SCORES`): the validation accuracy (minus
the validation loss for tasks without one), or minus the validation loss. Both
branches are charged: the run continues with the winner's counts plus the loser's samples, steps and
passes, so the guard's cost comes out of the budget like any other work. ``result.json`` holds what
the guard saw and decided under ``guard``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from ..tasks import Evaluation

__all__ = ["GUARD_SCORES", "run_guard", "guard_score"]


def guard_score(evaluation: Evaluation) -> float:
    """The ``accuracy`` score: accuracy, or minus the loss where there is no accuracy."""
    return evaluation.acc if math.isfinite(evaluation.acc) else -evaluation.loss


#: What the guard compares on the validation split, by the name a sampler's ``guard_score`` gives:
#: higher is better; the margin is in the same unit (a fraction of accuracy, or nats).
GUARD_SCORES: dict[str, Callable[[Evaluation], float]] = {
    "accuracy": guard_score,
    "loss": lambda evaluation: -evaluation.loss,
}


def run_guard(trainer: Any, train_until: Callable[[float], None]) -> dict[str, Any]:
    """Run the paired check on ``trainer`` (a :class:`~swiftsampler.engine.Trainer` whose sampler's
    guard is due) and leave it in the winner's state; return the record for ``result.json``.

    ``train_until(p)`` trains the trainer until budget progress ``p`` (stopping inside an epoch)."""
    core = trainer.core
    sampler, meter = core.sampler, core.meter
    t0 = time.perf_counter()
    start = meter.progress
    until = min(1.0, start + sampler.guard_window)
    saved = trainer.snapshot()
    counts0 = meter.state_dict()

    def branch(mode: str) -> tuple[float, dict[str, float]]:
        sampler.mode, sampler.guard_checked = mode, True
        train_until(until)
        score = GUARD_SCORES[sampler.guard_score](trainer.evaluate("val"))
        spent: dict[str, float] = {k: meter.state_dict()[k] - counts0[k]
                                   for k in ("iterations", "forward_samples", "backward_samples")}
        spent["train_s"] = trainer.train_s - saved["train_s"]
        return score, spent

    uniform_score, uniform_spent = branch("uniform")
    uniform_state = trainer.snapshot()
    trainer.restore(saved)
    card_score, card_spent = branch("card")
    keep = card_score >= uniform_score - sampler.guard_margin
    if keep:
        loser = uniform_spent
    else:
        trainer.restore(uniform_state)
        loser = card_spent
    unsure = keep and sampler.guard_blend > 0 and card_score < uniform_score + sampler.guard_margin
    decision = "blend" if unsure else "card" if keep else "uniform"
    sampler.mode, sampler.guard_checked = decision, True
    meter.charge(forward=int(loser["forward_samples"]), backward=int(loser["backward_samples"]),
                 steps=int(loser["iterations"]))
    trainer.train_s += loser["train_s"]
    return {"progress": start, "until": until, "card_score": card_score,
            "uniform_score": uniform_score, "score": sampler.guard_score,
            "margin": sampler.guard_margin, "blend": sampler.guard_blend,
            "decision": decision,
            "extra_backward_samples": int(loser["backward_samples"]),
            "extra_forward_samples": int(loser["forward_samples"]),
            "wall_s": time.perf_counter() - t0}
