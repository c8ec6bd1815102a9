"""The Swift Sampler search: a bilevel optimisation of the sampler's ~10 parameters.

Outer loop (Bayesian optimisation, Optuna): propose knot values ``theta`` in the family's box.
Inner loop (fast local-minimum approximation, Yao et al. 2024): from a *shared initialisation* — the
model after a uniform warm-up over the first ``init_fraction`` of the budget, computed once — train
for ``inner_epochs`` epochs of the budget with the candidate sampler, with the rest of the LR schedule
compressed into them (``inner_schedule="compressed"``; ``"continue"`` keeps the schedule as it is),
then score the model on the validation split carved from the training data (never the test split).
The first trial is the uniform sampler (all knots equal), so the search never returns something worse
than uniform on its own objective. ``--storage`` puts the study in a journal file or a database: a
stopped search resumes and several workers share one study (:mod:`.study`: ``--n-trials`` is the
study's, each trial is seeded by its number, a killed worker's trial is re-queued).

The shared initialisation is cached in ``DIR/init.pt`` (a checkpoint: tensors and plain values, read
with ``weights_only=True``). Workers sharing ``DIR`` that start together each train it, and the first
to finish publishes it (an exclusive create); the others load that one and use it, so every trial of
the study starts from the same model.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import RunConfig
from ..data import PreparedData, prepare_data
from ..data.files import describe_exception
from ..engine import Trainer, load_checkpoint, save_checkpoint
from ..engine.checkpoint import config_difference
from ..errors import ConfigError
from ..samplers import SwiftSampler
from .config import SEARCH_ALGOS, SearchConfig
from .sampler_search import save_search, search_sampler
from .study import open_storage

INIT_NAME = "init.pt"
_INIT_PARTS = ("config", "init_fraction", "state", "cost")


class SwiftSearch:
    """Runs the search for one :class:`RunConfig` (its sampler setting is ignored).

    Args:
        cfg: the training settings (dataset, model, noise, budget, ...).
        search: the search settings.
        out_dir: where the shared initialisation, the card, the trials table and the plots go.
        data: already prepared data (must match ``cfg.data``).
    """

    def __init__(self, cfg: RunConfig, search: SearchConfig, out_dir: str | Path, *,
                 data: PreparedData | None = None) -> None:
        self.cfg = cfg.replace(sampler="uniform", sampler_params={}, sampler_card=None)
        self.search = search
        self.family = search.family()
        self.out = Path(out_dir)
        self._data = data
        self.init_state: dict[str, Any] | None = None
        self.init_cost: dict[str, float] = {}
        self._progress = False

    @property
    def data(self) -> PreparedData:
        """The prepared data, generated on first use (after the storage is checked)."""
        if self._data is None:
            self._data = prepare_data(self.cfg.data, self.cfg.data_seed)
        return self._data

    # ---------------------------------------------------------------- inner loop
    def shared_init(self, progress: bool = False) -> dict[str, Any]:
        """Train uniformly for the warm-up fraction of the budget, once; cached in ``init.pt``.

        An ``init.pt`` made with other settings is recomputed and replaced; one that cannot be read
        safely (it would run code, is truncated, or is not a training state for these settings) is a
        one-line ConfigError.
        """
        if self.init_state is None:
            path = self.out / INIT_NAME
            existed = path.exists()
            saved = self._load_init(path) if existed else None
            if saved is None:
                saved = self._train_init(progress)
                try:
                    save_checkpoint(path, saved, overwrite=existed)
                except FileExistsError:  # another worker published its initialisation first
                    saved = self._load_init(path) or saved
            self.init_state, self.init_cost = saved["state"], saved["cost"]
        return self.init_state

    def _train_init(self, progress: bool) -> dict[str, Any]:
        trainer = Trainer(self.cfg, data=self.data, progress=progress).train(
            until=self.search.init_fraction)
        meter = trainer.core.meter
        cost = {"wall_s": trainer.wall_s, "backward_samples": meter.backward_samples,
                "forward_samples": meter.forward_samples}
        return {"config": self.cfg.to_dict(), "init_fraction": self.search.init_fraction,
                "state": trainer.state_dict(), "cost": cost}

    def _load_init(self, path: Path) -> dict[str, Any] | None:
        """The saved initialisation, or None if it was made with other settings."""
        label = "shared initialisation"
        try:
            saved = load_checkpoint(path, what=label, required=())
        except ConfigError as exc:
            raise ConfigError(f"{exc}; delete it to recompute it") from None
        missing = [part for part in _INIT_PARTS if part not in saved]
        if missing:
            raise ConfigError(f"{label} {str(path)!r} lacks {', '.join(missing)}; delete it to "
                              "recompute it")
        if (not isinstance(saved["config"], dict)
                or config_difference(saved["config"], self.cfg.to_dict()) is not None
                or saved["init_fraction"] != self.search.init_fraction):
            return None
        try:  # every part of a training state, with the shapes of this model
            Trainer(self.cfg, data=self.data).load_state_dict(copy.deepcopy(saved["state"]))
        except Exception as exc:  # anything wrong in a file we did not write ourselves
            raise ConfigError(f"{label} {str(path)!r} is not a training state for these settings "
                              f"({describe_exception(exc)}); delete it to recompute it") from None
        return saved

    def evaluate(self, theta: list[float]) -> dict[str, float]:
        """The objective of ``theta`` (the family's knot values): see :meth:`fine_tune`."""
        search = self.search
        return self.fine_tune(SwiftSampler(self.data.train_y.shape[0], params=theta,
                                           features=search.features, transform=search.transform,
                                           n_knots=search.n_knots, combine=search.combine,
                                           floor=search.floor, warmup=0.0))

    def fine_tune(self, sampler: SwiftSampler) -> dict[str, float]:
        """The search's inner loop: fine-tune from the shared initialisation with ``sampler`` for
        ``inner_epochs`` epochs of the budget and score the model on the validation split."""
        state = self.shared_init(progress=self._progress)
        trainer = Trainer(self.cfg, data=self.data, sampler=sampler)
        trainer.load_state_dict(copy.deepcopy(state), sampler=False)
        start = trainer.core.meter.backward_samples
        t0 = time.perf_counter()
        p0 = self.search.init_fraction
        p1 = min(1.0, p0 + self.search.inner_epochs / self.cfg.budget.epochs)
        schedule = trainer.schedule
        if self.search.inner_schedule == "compressed":
            # The rest of the LR schedule, [p0, 1], squeezed into the inner window [p0, p1]: the
            # learning rate anneals as at the end of training, so the fine-tune ends near a local
            # minimum under the candidate sampler (our reading of the approximated local minimum).
            full = trainer.schedule
            schedule = lambda p: full(p0 + (p - p0) * (1 - p0) / (p1 - p0))  # noqa: E731
        trainer.train(until=p1, schedule=schedule)
        val = trainer.evaluate("val")
        return {"val_acc": val.acc, "val_loss": val.loss, "wall_s": time.perf_counter() - t0,
                "backward_samples": trainer.core.meter.backward_samples - start}

    # ---------------------------------------------------------------- outer loop
    def run(self, *, resume: bool = False, progress: bool = False,
            on_trial: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Run (or continue, or join as another worker) the study; write the card, the trials table
        and the plots. The storage and a resumed study's settings are checked before any training."""
        if resume and self.search.storage is None:
            raise ConfigError("--resume: needs --storage (the journal file or database URL of the "
                              "study to continue)")
        if self.cfg.data.val_ratio <= 0:
            raise ConfigError("--val-ratio must be > 0: the search scores samplers on the "
                              "validation split")
        open_storage(self.search.storage, self.search.heartbeat)  # checked before the data
        t_start = time.perf_counter()
        self._progress = progress
        cfg = self.cfg
        result = search_sampler(
            self.fine_tune, self.data.train_y.shape[0], search=self.search, seed=cfg.seed,
            settings=cfg.to_dict(), resume=resume, progress=progress, on_trial=on_trial,
            provenance={"dataset": cfg.data.dataset, "task": self.data.task, "model": cfg.model.model,
                        "noise": cfg.data.noise, "noise_type": cfg.data.noise_type,
                        "budget": cfg.budget.budget, "epochs": cfg.budget.epochs, "seed": cfg.seed})
        wall_s = time.perf_counter() - t_start
        cost = {"wall_s": wall_s, "init_wall_s": self.init_cost.get("wall_s"),
                "trials_wall_s": sum(t.get("wall_s", 0.0) for t in result.trials),
                "init_backward_samples": self.init_cost.get("backward_samples"),
                "trials_backward_samples": sum(t.get("backward_samples", 0) for t in result.trials)}
        card = dataclasses.replace(result.card, provenance={**result.card.provenance, "cost": cost})
        result = dataclasses.replace(result, card=card, wall_s=wall_s)
        save_search(result, self.out)
        return {"card": card, "trials": result.trials, "wall_s": wall_s,
                "best_value": result.best_value, "uniform_value": result.uniform_value}


__all__ = ["INIT_NAME", "SEARCH_ALGOS", "SearchConfig", "SwiftSearch"]
