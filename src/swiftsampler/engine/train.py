"""The training engine: one loop over a :class:`~swiftsampler.sampling.SamplingCore`.

::

    data, model, optimiser, augmentation, core (sampler, stats, meter)   <- built from the RunConfig
    while the budget is not spent:
        if core.scoring_pass_due(): score every training sample          # 1. fresh statistics
        plan = core.plan_epoch()                                         # 2. sized to the budget left
        sample-then-batch: for each batch of the plan:                   # 3a.
            step(batch): lr = peak * schedule(progress); augment; forward; part losses;
                         core.record(...) (features for free); weighted loss; backward; step; charge
        batch-then-sample: for each candidate batch of the plan:         # 3b.
            scoring forward (no grad); for each full batch core.select(...) keeps: step(batch)
        evaluate on the validation split; log; checkpoint; call back     # 4. the epoch's end
    evaluate on the test split; return the result (:mod:`.result`)

The loop never synchronises with the device except at the end of an epoch (the logging point; the
marked ``sync`` lines). Determinism: every random stream is a ``torch.Generator`` derived from
``cfg.seed``; model initialisation and any stochastic layer run under a forked global RNG, so the
caller's global random state is the same after ``train`` as before it. The intra-op thread count,
which decides the order of floating-point sums, is ``cfg.threads`` whatever process launches the run.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..augment import AugmentContext, Mixed, create_augmentation
from ..budget import Budget
from ..config import RunConfig
from ..data import PreparedData, prepare_data
from ..data.files import describe_exception
from ..data.loader import Batch, DeviceLoader, StreamingLoader, make_loader
from ..errors import ConfigError, TrainingError
from ..optimizers import build_optimizer
from ..samplers import Sampler, create_sampler
from ..sampling import SamplingCore
from ..schedules import LRSchedule
from ..seeding import derive_seed, make_generator
from ..tasks import Evaluation, create_task
from .checkpoint import CHECKPOINT_NAME, config_difference, load_checkpoint, save_checkpoint
from .memory import build_if_it_fits
from .result import build_result, finite_or_none
from .threads import intra_op_threads

EpochCallback = Callable[[dict[str, Any]], None]
Schedule = Callable[[float], float]


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when available, else CPU; an unavailable device is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device: unknown device {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device: {name!r} requested but CUDA is not available")
    return device


@dataclass
class Loaders:
    """Batches of the three splits: device-resident slices, or files decoded by DataLoader workers."""

    train: DeviceLoader | StreamingLoader
    val: DeviceLoader | StreamingLoader
    test: DeviceLoader | StreamingLoader
    device: torch.device

    @staticmethod
    def build(data: PreparedData, device: torch.device, workers: int) -> Loaders:
        """One loader per split, each keeping its workers (if any) for the whole run."""
        return Loaders(*(make_loader(x, y, device, workers=workers, persistent=True)
                         for x, y in ((data.train_x, data.train_y), (data.val_x, data.val_y),
                                      (data.test_x, data.test_y))), device=device)

    def all_batches(self, split: str, batch_size: int) -> Iterator[Batch]:
        """Every sample of ``split`` in order, ``batch_size`` at a time."""
        loader = getattr(self, split)
        return loader.batches(torch.arange(len(loader), device=self.device), batch_size)


@dataclass
class EpochTally:
    """What one epoch did, kept on the device until the epoch's end (no host sync per step)."""

    device: torch.device
    loss_sum: torch.Tensor = field(init=False)
    correct: torch.Tensor = field(init=False)
    noisy: torch.Tensor = field(init=False)
    trained: int = 0
    scored: int = 0

    def __post_init__(self) -> None:
        self.loss_sum = torch.zeros((), device=self.device)
        self.correct = torch.zeros((), device=self.device)
        self.noisy = torch.zeros((), device=self.device, dtype=torch.long)


def _warn_if_card_elsewhere(sampler: Sampler, cfg: RunConfig, task: str) -> None:
    """One warning line when a sampler card is used in another setting than it was searched in
    (a warning, not an error: reusing a card elsewhere is the point of a card, but it can hurt)."""
    card = getattr(sampler, "card", None)
    if card is None or not card.provenance:
        return
    here = {"dataset": cfg.data.dataset, "task": task, "model": cfg.model.model,
            "noise": cfg.data.noise, "noise_type": cfg.data.noise_type, "budget": cfg.budget.budget}
    if cfg.data.noise == 0 or card.provenance.get("noise") == 0:
        del here["noise_type"]  # without noise on one side, its kind does not matter
    differences = card.setting_differences(here)
    if differences:
        logging.getLogger("swiftsampler").warning(
            "the sampler card was searched in another setting (%s): check that it helps here",
            ", ".join(differences))


def _augment_context(data: PreparedData) -> AugmentContext:
    """The data kind and per-channel input range the augmentations need."""
    if data.streamed:  # lazy inputs know their range without decoding everything
        return AugmentContext(data.kind, *data.train_x.value_range())
    return AugmentContext.from_inputs(data.kind, data.train_x)


class Trainer:
    """One training run built from a :class:`RunConfig`; :meth:`train` may be called repeatedly.

    ``Trainer(cfg).train()`` runs the whole budget. ``train(until=p)`` stops at the first epoch
    boundary where the budget progress reaches ``p``, so a run can be paused, saved with
    :meth:`state_dict` and continued, possibly with another sampler and another schedule (what the
    Swift Sampler search does from its shared initialisation). The global RNG is never touched: the
    run keeps its own torch RNG state and swaps it in only while it creates the model or trains.

    Args:
        cfg: the resolved run configuration.
        data: already prepared data (skips :func:`prepare_data`; must match ``cfg.data``).
        sampler: a sampler object to use instead of ``cfg.sampler`` (e.g. a learned one).
        out_dir: where checkpoints go (``cfg.checkpoint_every`` > 0).
        progress: show a progress bar on stderr.
        callbacks: called with each epoch's history record, after evaluation and checkpointing.
    """

    def __init__(self, cfg: RunConfig, *, data: PreparedData | None = None,
                 sampler: Sampler | None = None, out_dir: str | Path | None = None,
                 progress: bool = False, callbacks: Sequence[EpochCallback] = ()) -> None:
        t_start = time.perf_counter()
        self.cfg = cfg
        self.device = device = resolve_device(cfg.device)
        self.schedule = LRSchedule(cfg.optim.lr, cfg.optim.schedule, cfg.optim.warmup,
                                   tuple(cfg.optim.milestones), cfg.optim.gamma)
        with intra_op_threads(cfg.threads):
            prepared = data if data is not None else prepare_data(cfg.data, cfg.data_seed)
            self.data = prepared.to(device)
        self.data_s = time.perf_counter() - t_start
        n_train = self.data.train_y.shape[0]
        budget = Budget(cfg.budget.budget, cfg.budget.epochs, n_train, cfg.budget.budget_unit,
                        cfg.budget.time_budget)
        if sampler is None:
            sampler = create_sampler(cfg.sampler.sampler, n_train, budget=cfg.budget.budget,
                                     card=cfg.sampler.sampler_card, **cfg.sampler.sampler_params)
        _warn_if_card_elsewhere(sampler, cfg, self.data.task)
        self.task = create_task(self.data.task, cfg.model.task_params)
        self.loaders = Loaders.build(self.data, device, cfg.data.workers)
        self.augment = create_augmentation(cfg.augment.augment, _augment_context(self.data),
                                           cfg.augment.augment_params)
        self.checkpoint_path = Path(out_dir) / CHECKPOINT_NAME if out_dir is not None else None
        self.progress, self.callbacks = progress, list(callbacks)
        self._cuda = [device] if device.type == "cuda" else []
        with intra_op_threads(cfg.threads), torch.random.fork_rng(devices=self._cuda):
            torch.manual_seed(derive_seed(cfg.seed, "torch"))
            self.model: nn.Module = build_if_it_fits(
                lambda: self.task.build_model(cfg.model.model, self.data, cfg.model.width), device,
                f"--model {cfg.model.model} --width {cfg.model.width or 'default'}")
            self.optimizer = build_optimizer(self.model, cfg.optim)
            self._rng = self._global_rng()
        self.core = SamplingCore(sampler, budget, batch_size=cfg.optim.batch_size, seed=cfg.seed,
                                 device=device)
        self.augment_generator = make_generator(cfg.seed, "augment")
        self.history: list[dict[str, Any]] = []
        self.noisy_drawn = 0
        self.train_s = 0.0
        self._bar: Any = None  # the progress bar while train() runs
        self.wall_s = time.perf_counter() - t_start

    # ---------------------------------------------------------------- state
    def _global_rng(self) -> dict[str, Any]:
        """The (forked) global torch RNG state the run's stochastic layers use."""
        return {"cpu": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}

    def state_dict(self) -> dict[str, Any]:
        """Everything to continue the run exactly: tensors and plain values only."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "core": self.core.state_dict(),
                "augment_generator": self.augment_generator.get_state(), "rng": self._rng,
                "history": self.history, "noisy_drawn": self.noisy_drawn, "train_s": self.train_s}

    def load_state_dict(self, state: dict[str, Any], *, sampler: bool = True) -> None:
        """Restore a run; ``sampler=False`` keeps this run's own sampler (and its empty state)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.core.load_state_dict(state["core"], sampler=sampler)
        self.augment_generator.set_state(state["augment_generator"])
        self._rng = state["rng"]
        self.history = list(state["history"])
        self.noisy_drawn, self.train_s = int(state["noisy_drawn"]), float(state["train_s"])

    def resume(self, path: str | Path | None = None) -> None:
        """Load the checkpoint at ``path`` (default: the run's checkpoint) if its config matches."""
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None:
            raise ConfigError("--resume needs --out (the directory holding the checkpoint)")
        if not path.is_file():
            raise ConfigError(f"--resume: no checkpoint at {str(path)!r} "
                              "(was --checkpoint-every set?)")
        saved = load_checkpoint(path)
        diff = config_difference(saved["config"], self.cfg.to_dict())
        if diff is not None:
            raise ConfigError(f"--resume: the checkpoint was made with another config ({diff})")
        try:
            self.load_state_dict(saved["state"])
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as exc:
            raise ConfigError(f"--resume: checkpoint {str(path)!r} does not fit this run "
                              f"({describe_exception(exc)[:300]})") from None

    # ---------------------------------------------------------------- the loop
    def train(self, until: float = 1.0, *, schedule: Schedule | None = None,
              within_epoch: bool = False) -> Trainer:
        """Train until the budget is spent, or until ``progress >= until`` at an epoch's end.

        ``schedule`` maps budget progress to the learning rate (default: the config's schedule).
        ``within_epoch`` stops at the first step where ``progress >= until`` and ends the epoch
        there (evaluated and logged as any epoch; the next call plans a new one): the search's
        intermediate reports inside one inner epoch.
        """
        schedule = schedule or self.schedule
        t_start = time.perf_counter()
        core, meter, loader = self.core, self.core.meter, self.loaders.train
        batch_size, eval_batch_size = self.cfg.optim.batch_size, self.cfg.optim.eval_batch_size
        with intra_op_threads(self.cfg.threads), torch.random.fork_rng(devices=self._cuda):
            torch.set_rng_state(self._rng["cpu"])
            if self._rng["cuda"] is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(self._rng["cuda"])
            bar = self._bar = self._progress_bar()

            def done() -> bool:  # plain Python numbers: no device sync
                return meter.exhausted or (within_epoch and meter.progress >= until)

            while not meter.exhausted and meter.progress < until:
                t_epoch = time.perf_counter()
                meter.start_clock()  # a time budget counts the training loop only
                tally = EpochTally(self.device)
                self.model.train()
                if core.scoring_pass_due():  # 1. every statistic refreshed, charged
                    for batch in self.loaders.all_batches("train", eval_batch_size):
                        self._charged(tally, core.score, batch.indices, *self._scores(batch),
                                      batch.targets)
                plan = core.plan_epoch()  # 2. the epoch's plan, sized to the budget left
                if not core.selecting:  # 3a. sample-then-batch
                    for batch in loader.batches(plan.indices, batch_size):
                        if done():
                            break
                        self._step(batch._replace(weights=core.weights_of(batch.indices)),
                                   tally, schedule, bar, record=True)
                else:  # 3b. batch-then-sample: score candidates, train the selection
                    for candidates in loader.batches(plan.indices, core.candidate_batch_size()):
                        if done():
                            break
                        losses, logits = self._scores(candidates)
                        kept = self._charged(tally, core.select, candidates, losses, logits)
                        for batch in kept:
                            if done():
                                break
                            self._step(batch, tally, schedule, bar, record=False)
                if meter.budget.time_budget_s is not None and self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)  # count queued kernels in the time
                meter.stop_clock()
                self._end_epoch(tally, t_epoch, schedule, bar)  # 4.
            bar.close()
            self._rng = self._global_rng()
        self.wall_s += time.perf_counter() - t_start
        return self

    def _progress_bar(self) -> Any:
        from tqdm.auto import tqdm

        meter = self.core.meter
        timed = meter.budget.time_budget_s is not None
        unit = " s" if timed else " units" if meter.budget.unit == "compute" else " samples"
        return tqdm(total=meter.total, initial=meter.position, disable=not self.progress,
                    unit=unit, unit_scale=not timed, dynamic_ncols=True, leave=False,
                    file=sys.stderr, bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f}{unit} "
                    "[{elapsed}<{remaining}{postfix}]" if timed else None)

    def _step(self, batch: Batch, tally: EpochTally, schedule: Schedule, bar: Any, *,
              record: bool) -> None:
        """One optimiser step: augment, forward, part losses, (record,) weighted loss, backward.

        With a mixing augmentation, output ``i`` mixes sources ``S[i, k]`` with shares ``W[i, k]``:
        its loss is ``sum_k W[i, k] w[S[i, k]] l(output_i, y[S[i, k]])`` (``w``: the batch's sample
        weights, ``l``: the task's per-sample loss); each source is credited with its share in the
        statistics (:meth:`SamplingCore.record`).
        """
        core, task = self.core, self.task
        for group in self.optimizer.param_groups:
            group["lr"] = schedule(core.progress)
        mixed = (self.augment(batch.inputs, self.augment_generator) if self.augment
                 else Mixed.identity(batch.inputs))
        outputs = self.model(mixed.inputs)
        part_losses = task.part_losses(outputs, batch.targets, mixed)  # (B, K)
        if record:
            core.record(batch.indices, task.logits(outputs), batch.targets, part_losses,
                        mixed.sources, mixed.weights)
        weights = None if batch.weights is None else batch.weights[mixed.sources]
        objective = core.objective(part_losses, mixed.weights, weights)
        self.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        self.optimizer.step()
        n = batch.indices.shape[0]
        before = core.meter.position
        core.charge_step(n)
        bar.update(core.meter.position - before)
        dominant = mixed.sources.gather(1, mixed.weights.argmax(1, keepdim=True)).squeeze(1)
        tally.loss_sum += (mixed.weights * part_losses).sum(dim=1).detach().sum()
        tally.correct += task.correct(outputs.detach(), batch.targets[dominant]).sum()
        tally.noisy += self.data.train_noisy[batch.indices].sum()
        tally.trained += n

    @torch.no_grad()
    def _scores(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """A scoring forward pass (eval mode, no grad): the batch's per-sample losses and logits."""
        self.model.eval()
        outputs = self.model(batch.inputs)
        self.model.train()
        return self.task.losses(outputs, batch.targets), self.task.logits(outputs)

    def _charged(self, tally: EpochTally, score: Callable[..., Any], batch: Any, *args: Any) -> Any:
        """``score(batch, *args)`` (the core records and charges a scoring pass), with the progress
        bar and the epoch's scored count following."""
        before = self.core.meter.position
        out = score(batch, *args)
        self._bar.update(self.core.meter.position - before)
        tally.scored += (batch.indices if isinstance(batch, Batch) else batch).shape[0]
        return out

    def _end_epoch(self, tally: EpochTally, t_epoch: float, schedule: Schedule, bar: Any) -> None:
        """The only host syncs of an epoch: evaluate, log, checkpoint, call back."""
        core, meter = self.core, self.core.meter
        trained = max(tally.trained, 1)
        train_loss = tally.loss_sum.item() / trained  # sync: logging point
        if not math.isfinite(train_loss):
            bar.close()
            raise TrainingError(
                f"the training loss became {train_loss} in epoch {core.epoch}; "
                f"try a smaller --lr (now {self.cfg.optim.lr})")
        self.noisy_drawn += int(tally.noisy.item())  # sync: logging point
        self.train_s += time.perf_counter() - t_epoch
        val = self.evaluate("val")
        record = {
            "epoch": core.epoch, "train_loss": train_loss,
            "train_acc": tally.correct.item() / trained,  # sync: logging point
            "val_loss": finite_or_none(val.loss), "val_acc": finite_or_none(val.acc),
            **{f"val_{key}": finite_or_none(value) for key, value in val.extra.items()},
            "lr": schedule(meter.progress), "progress": meter.progress,
            "samples": tally.trained, "scored": tally.scored, "iterations": meter.iterations,
            "forward_samples": meter.forward_samples, "backward_samples": meter.backward_samples,
            "time_s": self.train_s,
        }
        self.history.append(record)
        bar.set_postfix(epoch=core.epoch, loss=f"{train_loss:.3f}",
                        val_acc="-" if record["val_acc"] is None else f"{val.acc:.3f}")
        every = self.cfg.checkpoint_every
        if self.checkpoint_path is not None and every > 0 and (
                core.epoch % every == 0 or meter.exhausted):
            self._rng = self._global_rng()
            save_checkpoint(self.checkpoint_path, {"config": self.cfg.to_dict(),
                                                   "state": self.state_dict()})
        for callback in self.callbacks:
            callback(record)

    # ---------------------------------------------------------------- scores
    def evaluate(self, split: str = "val") -> Evaluation:
        """The task's scores on ``val`` or ``test`` (e.g. verification accuracy on test pairs)."""
        if split not in ("val", "test"):
            raise ValueError(f"split must be val or test, got {split!r}")
        batch_size = self.cfg.optim.eval_batch_size
        with intra_op_threads(self.cfg.threads):
            if split == "val":
                return self.task.evaluate(self.model, self.loaders.all_batches("val", batch_size))
            return self.task.test(self.model, self.data,
                                  self.loaders.all_batches("test", batch_size))

    def result(self) -> dict[str, Any]:
        """Evaluate on the test split and return the content of ``result.json``."""
        t_test = time.perf_counter()
        test = self.evaluate("test")
        test_s = time.perf_counter() - t_test
        self.wall_s += test_s
        return build_result(self.cfg, self.core, self.data, self.history, test,
                            noisy_drawn=self.noisy_drawn, device=self.device,
                            times={"wall_s": self.wall_s, "train_s": self.train_s,
                                   "data_s": self.data_s, "test_s": test_s})


def train(cfg: RunConfig, *, out_dir: str | Path | None = None, resume: bool = False,
          progress: bool = False, callbacks: Sequence[EpochCallback] = (),
          data: PreparedData | None = None, sampler: Sampler | None = None) -> dict[str, Any]:
    """Train one model as ``cfg`` says and return the result (the content of ``result.json``).

    Args:
        cfg: the resolved run configuration.
        out_dir: where checkpoints go (``cfg.checkpoint_every`` > 0) and where ``resume`` looks.
        resume: continue from ``out_dir/checkpoint.pt``; the result equals an uninterrupted run's.
        progress: show a progress bar on stderr.
        callbacks: called with each epoch's history record, after evaluation and checkpointing.
        data: already prepared data (skips :func:`prepare_data`; must match ``cfg.data``).
        sampler: a sampler object to use instead of ``cfg.sampler``.

    Raises:
        ConfigError: unknown names, bad parameters, a missing or mismatched checkpoint.
        TrainingError: the training loss stopped being finite.
    """
    if resume and out_dir is None:
        raise ConfigError("--resume needs --out (the directory holding the checkpoint)")
    trainer = Trainer(cfg, data=data, sampler=sampler, out_dir=out_dir, progress=progress,
                      callbacks=callbacks)
    if resume:
        trainer.resume()
    return trainer.train().result()
