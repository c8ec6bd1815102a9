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

**Speed-ups** (issue 18, each measured in docs/swift_sampler.md): the inner loop runs on a
stratified subset of the training and validation rows (``train_subset``, ``val_subset``:
:mod:`.subset`); it reports the validation score at ``rungs`` equally spaced points of the inner
window and the study's pruner stops poor candidates early (:mod:`.study`); a trial that is not
stopped is scored at its end on ``final_val_subset`` of the validation rows (all by default;
its last rung then skips the subset's pass, which nothing would read), its validation passes in
batches of at most ``trial_eval_batch`` rows;
reference samplers and a warm start are enqueued (:mod:`.warm`); ``jobs`` worker processes share
the study (:mod:`.parallel`).

**Cost in full-run units**: the search's wall time divided by the wall time of one uniform training
run of the same setting. Unless the caller measured that run (``full_run_s``), it is estimated from
the shared initialisation, which *is* that run's first ``init_fraction`` (less its validation
passes, which the search skips): ``full_run_s = init_wall_s / init_fraction``.

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

import torch

from ..config import RunConfig
from ..data import PreparedData, prepare_data
from ..data.files import describe_exception
from ..data.loader import make_loader
from ..data.prepare import dataset_task
from ..engine import Trainer, load_checkpoint, save_checkpoint
from ..engine.checkpoint import config_difference
from ..errors import ConfigError
from ..samplers import SwiftSampler
from ..tasks import TASKS
from .config import SEARCH_ALGOS, SearchConfig
from .parallel import run_workers, shared_storage
from .sampler_search import Report, save_search, search_sampler
from .study import open_storage, open_study, study_settings
from .subset import final_val_rows, subset_data, subset_state
from .warm import warm_start_params

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
        #: the trials' training settings: the validation passes in batches of at most
        #: ``trial_eval_batch`` rows (the scores are the same; the speed is not)
        self.trial_cfg = self.cfg.replace(eval_batch_size=min(cfg.optim.eval_batch_size,
                                                              search.trial_eval_batch))
        if search.objective == "auto":  # the task's model-selection metric
            task = TASKS.get(dataset_task(cfg.data.dataset)).factory
            search = dataclasses.replace(search, objective=task.model_selection)
        self.search = search  # its objective resolved
        self.family = search.family()
        self.out = Path(out_dir)
        self._data = data
        self._inner: tuple[PreparedData, Any] | None = None
        self._final_loader: Any = None
        self.init_state: dict[str, Any] | None = None
        self.init_cost: dict[str, float] = {}
        self._progress = False

    @property
    def data(self) -> PreparedData:
        """The prepared data, generated on first use (after the storage is checked)."""
        if self._data is None:
            self._data = prepare_data(self.cfg.data, self.cfg.data_seed)
        return self._data

    @property
    def inner_data(self) -> tuple[PreparedData, Any]:
        """The inner loop's data and its training rows in :attr:`data` (None: all of them)."""
        if self._inner is None:
            search = self.search
            if search.subset:
                self._inner = subset_data(self.data, search.train_subset, search.val_subset,
                                          self.cfg.data_seed)
            else:
                self._inner = (self.data, None)
        return self._inner

    @property
    def inner_size(self) -> int:
        """The number of training rows of the inner loop (what its samplers are built for)."""
        return int(self.inner_data[0].train_y.shape[0])

    def final_loader(self, device: Any) -> Any:
        """The loader of the validation rows a complete trial is finally scored on, or None when
        they are the inner loop's own (``final_val_subset == val_subset``)."""
        if self.search.final_val_subset == self.search.val_subset:
            return None
        if self._final_loader is None or self._final_loader[0] != device:
            final = final_val_rows(self.data, self.search.final_val_subset, self.cfg.data_seed)
            inputs = final.val_x  # on the trainer's device; file-streamed inputs stay as they are
            inputs = inputs.to(device) if isinstance(inputs, torch.Tensor) else inputs
            self._final_loader = (device, make_loader(inputs, final.val_y.to(device), device))
        return self._final_loader[1]

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
        # no validation passes: nothing reads the warm-up's scores (the same training state)
        trainer = Trainer(self.cfg, data=self.data, progress=progress).train(
            until=self.search.init_fraction, validate=False)
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
        return self.fine_tune(SwiftSampler(self.inner_size, params=theta,
                                           features=search.features, transform=search.transform,
                                           n_knots=search.n_knots, combine=search.combine,
                                           floor=search.floor, warmup=0.0, guard=False))

    def fine_tune(self, sampler: SwiftSampler, report: Report | None = None) -> dict[str, float]:
        """The search's inner loop: fine-tune from the shared initialisation with ``sampler`` for
        ``inner_epochs`` epochs of the budget (on the inner subset) and score the model on the
        (inner) validation split, reporting the score at ``rungs`` points to ``report``.

        Besides the scores it returns its overhead: ``build_s`` (building the trainer and loading
        the shared initialisation) and ``eval_s`` (the validation passes)."""
        state = self.shared_init(progress=self._progress)
        t0 = time.perf_counter()
        data, rows = self.inner_data
        trainer = Trainer(self.trial_cfg, data=data, sampler=sampler)
        state = copy.deepcopy(state)
        if rows is not None:
            state = subset_state(state, rows, self.data.train_y.shape[0])
        trainer.load_state_dict(state, sampler=False)
        build_s = time.perf_counter() - t0
        start = trainer.core.meter.backward_samples
        train_s0, wall_s0 = trainer.train_s, trainer.wall_s
        p0 = trainer.core.meter.progress  # where the shared initialisation ended (an epoch end)
        p1 = min(1.0, p0 + self.search.inner_epochs / self.cfg.budget.epochs)
        schedule = trainer.schedule
        if self.search.inner_schedule == "compressed":
            # The rest of the LR schedule, [p0, 1], squeezed into the inner window [p0, p1]: the
            # learning rate anneals as at the end of training, so the fine-tune ends near a local
            # minimum under the candidate sampler (our reading of the approximated local minimum).
            full = trainer.schedule
            schedule = lambda p: full(p0 + (p - p0) * (1 - p0) / (p1 - p0))  # noqa: E731
        rungs = self.search.rungs
        loader = self.final_loader(trainer.device)  # None: the last rung's score is the trial's
        final_eval_s = 0.0

        def metrics() -> dict[str, float]:
            last = trainer.history[-1]  # the validation pass at the end of the last inner epoch
            return {"val_acc": last["val_acc"], "val_loss": last["val_loss"],
                    "wall_s": time.perf_counter() - t0, "build_s": build_s,
                    "eval_s": (trainer.wall_s - wall_s0) - (trainer.train_s - train_s0) + final_eval_s,
                    "backward_samples": trainer.core.meter.backward_samples - start}

        for step in range(1, rungs + 1):
            trainer.train(until=p0 + (p1 - p0) * step / rungs, schedule=schedule, within_epoch=True,
                          validate=step < rungs or loader is None)
            if report is not None and step < rungs:  # may stop the trial (pruned)
                report(trainer.history[-1][self.search.objective_name], step, metrics())
        if loader is None:
            return metrics()
        t_final = time.perf_counter()
        final = trainer.evaluate("val", loader=loader)
        final_eval_s = time.perf_counter() - t_final
        return {**metrics(), "val_acc": final.acc, "val_loss": final.loss}

    # ---------------------------------------------------------------- outer loop
    def run(self, *, resume: bool = False, progress: bool = False,
            on_trial: Callable[[dict[str, Any]], None] | None = None,
            full_run_s: float | None = None) -> dict[str, Any]:
        """Run (or continue, or join as another worker) the study; write the card, the trials table
        and the plots. The storage and a resumed study's settings are checked before any training.

        ``full_run_s``: the measured wall time of one uniform training run of this setting (the
        unit of the cost); estimated from the shared initialisation when None."""
        if resume and self.search.storage is None:
            raise ConfigError("--resume: needs --storage (the journal file or database URL of the "
                              "study to continue)")
        if self.cfg.data.val_ratio <= 0:
            raise ConfigError("--val-ratio must be > 0: the search scores samplers on the "
                              "validation split")
        open_storage(self.search.storage, self.search.heartbeat)  # checked before the data
        warm_start_params(self.search)  # a bad --warm-start is found before any training too
        t_start = time.perf_counter()
        self._progress = progress
        cfg = self.cfg
        workers = None
        if self.search.jobs > 1:  # the study in a shared storage, created here, joined by workers
            if self.search.storage is None:
                self.search = dataclasses.replace(self.search,
                                                  storage=shared_storage(self.out, resume))
            self.shared_init(progress=progress)  # trained once, before the workers load it
            family = self.family
            open_study(self.search, study_settings(self.search, cfg.to_dict()),
                       dict(zip(family.param_names, family.uniform_params())), cfg.seed,
                       resume=resume, enqueue=warm_start_params(self.search))
            workers = run_workers(self.cfg, self.search, self.out, self.search.jobs - 1)
            resume = True
        try:
            result = search_sampler(
                self.fine_tune, self.inner_size, search=self.search, seed=cfg.seed,
                settings=cfg.to_dict(), resume=resume, progress=progress, on_trial=on_trial,
                provenance={"dataset": cfg.data.dataset, "task": self.data.task,
                            "model": cfg.model.model, "noise": cfg.data.noise,
                            "noise_type": cfg.data.noise_type, "budget": cfg.budget.budget,
                            "epochs": cfg.budget.epochs,
                            "seed": cfg.seed})
        finally:
            if workers is not None:
                workers.join()
        wall_s = time.perf_counter() - t_start
        init_s = self.init_cost.get("wall_s")
        if full_run_s is None and init_s is not None:
            full_run_s = init_s / self.search.init_fraction
            source = "estimated from the shared initialisation"
        else:
            source = "measured"
        cost = {"wall_s": wall_s, "init_wall_s": init_s,
                "trials_wall_s": sum(t.get("trial_s", 0.0) for t in result.trials),
                **{key: sum(t.get(key, 0.0) for t in result.trials)
                   for key in ("propose_s", "build_s", "eval_s")},
                "full_run_s": full_run_s,
                "full_runs": None if not full_run_s else wall_s / full_run_s,
                "full_run_source": source,
                "init_backward_samples": self.init_cost.get("backward_samples"),
                "trials_backward_samples": sum(t.get("backward_samples", 0) for t in result.trials)}
        card = dataclasses.replace(result.card, provenance={**result.card.provenance, "cost": cost})
        result = dataclasses.replace(result, card=card, wall_s=wall_s)
        save_search(result, self.out)
        return {"card": card, "trials": result.trials, "wall_s": wall_s,
                "best_value": result.best_value, "uniform_value": result.uniform_value}


__all__ = ["INIT_NAME", "SEARCH_ALGOS", "SearchConfig", "SwiftSearch"]
