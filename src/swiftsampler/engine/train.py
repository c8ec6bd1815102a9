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

Data-parallel (``torchrun``, a ``context`` of ``W`` ranks; :mod:`swiftsampler.distributed`): every
rank builds the same model, data and core; the core gives each rank its strided shard of the one
plan and keeps the statistics identical (one all-gather a step); ``--batch-size`` is global
(``B / W`` a rank) and DDP averages the gradients, so a step is the single-process step on the same
``B`` samples. The epoch's tallies are summed over the ranks (one all-reduce an epoch); evaluation
is sharded alike and its sums all-reduced (the verification test, which needs every embedding, runs
whole on every rank); only rank 0 calls back, shows progress and writes checkpoints. A
batch-then-sample epoch scores each rank's share of a candidate batch, and the core selects on the
gathered scores and hands each rank its share of every kept batch.
"""

from __future__ import annotations

import copy
import logging
import math
import os
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
from ..distributed import (
    SINGLE,
    DistributedContext,
    all_reduce_sum,
    broadcast_buffers,
    context_from_environment,
    gather_states,
    leave,
)
from ..errors import ConfigError, TrainingError
from ..optimizers import build_optimizer
from ..samplers import SAMPLERS, Sampler, create_sampler
from ..sampling import SamplingCore
from ..schedules import LRSchedule
from ..seeding import derive_seed, make_generator
from ..tasks import Evaluation, create_task
from .checkpoint import CHECKPOINT_NAME, config_difference, load_checkpoint, save_checkpoint
from .fast_path import FastModel
from .guard import run_guard
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
    weight_noisy: torch.Tensor = field(init=False)  # loss weight on mislabelled samples
    weight_total: torch.Tensor = field(init=False)
    trained: int = 0
    scored: int = 0

    def __post_init__(self) -> None:
        self.loss_sum = torch.zeros((), device=self.device)
        self.correct = torch.zeros((), device=self.device)
        self.noisy = torch.zeros((), device=self.device, dtype=torch.long)
        self.weight_noisy = torch.zeros((), device=self.device)
        self.weight_total = torch.zeros((), device=self.device)


def check_data_parallel(cfg: RunConfig, context: DistributedContext) -> None:
    """What a data-parallel run cannot do, found before any data is loaded."""
    if not context.active:
        return
    world = context.world_size
    factory = SAMPLERS.get(cfg.sampler.sampler).factory
    if getattr(factory, "needs_lookahead", False):
        raise ConfigError(f"--sampler {cfg.sampler.sampler}: look-ahead samplers are "
                          f"single-process only (not under torchrun with {world} processes)")
    if cfg.budget.time_budget is not None:
        raise ConfigError("--time-budget: single-process only (the processes' clocks differ)")
    if cfg.optim.batch_size % world:
        raise ConfigError(f"--batch-size: {cfg.optim.batch_size} is the global batch and must be "
                          f"a multiple of the {world} processes")
    here = int(os.environ.get("LOCAL_WORLD_SIZE", world))  # the ranks on this machine
    if resolve_device(cfg.device).type == "cuda" and torch.cuda.device_count() < here:
        raise ConfigError(f"--nproc: {here} processes on this machine need {here} GPUs (one a "
                          f"rank), it has {torch.cuda.device_count()}")


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
        context: the data-parallel ranks (default: one process); only rank 0 calls back,
            shows progress and checkpoints.
    """

    def __init__(self, cfg: RunConfig, *, data: PreparedData | None = None,
                 sampler: Sampler | None = None, out_dir: str | Path | None = None,
                 progress: bool = False, callbacks: Sequence[EpochCallback] = (),
                 context: DistributedContext = SINGLE) -> None:
        t_start = time.perf_counter()
        self.cfg, self.context = cfg, context
        check_data_parallel(cfg, context)
        device = resolve_device(cfg.device)
        if context.active and device.type == "cuda":
            device = torch.device("cuda", context.local_rank)
        self.device = device
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
        if sampler.needs_lookahead and len(self.loaders.val) == 0:
            raise ConfigError(f"--sampler {cfg.sampler.sampler}: its clean batches come from the "
                              "validation split; set --val-ratio above 0")
        self.augment = create_augmentation(cfg.augment.augment, _augment_context(self.data),
                                           cfg.augment.augment_params)
        self.checkpoint_path = Path(out_dir) / CHECKPOINT_NAME if out_dir is not None else None
        main = context.is_main
        self.progress, self.callbacks = progress and main, list(callbacks) if main else []
        self._cuda = [device] if device.type == "cuda" else []
        with intra_op_threads(cfg.threads), torch.random.fork_rng(devices=self._cuda):
            torch.manual_seed(derive_seed(cfg.seed, "torch"))
            self.model: nn.Module = build_if_it_fits(
                lambda: self.task.build_model(cfg.model.model, self.data, cfg.model.width), device,
                f"--model {cfg.model.model} --width {cfg.model.width or 'default'}")
            self.optimizer = build_optimizer(self.model, cfg.optim)
            self.fast = FastModel(self.model, device, precision=cfg.precision,
                                  compile=cfg.compile, channels_last=cfg.channels_last)
            self._rng = self._global_rng()
        self.forward: nn.Module = self.fast  # the training forward: the DDP wrapper averages gradients
        if context.active:
            self.forward = nn.parallel.DistributedDataParallel(
                self.fast, device_ids=[device.index] if device.type == "cuda" else None)
        self.core = SamplingCore(sampler, budget, batch_size=cfg.optim.batch_size, seed=cfg.seed,
                                 device=device, context=context)
        # One augmentation stream a rank (rank 0's is the single-process stream).
        self.augment_generator = make_generator(
            cfg.seed, "augment" if context.rank == 0 else f"augment/rank{context.rank}")
        self._clean_generator: torch.Generator | None = None  # L2RW's clean batches (made on use)
        self.history: list[dict[str, Any]] = []
        self.guard_record: dict[str, Any] | None = None  # what the learned sampler's guard decided
        self._guarding = False  # inside the guard's branches
        self._validate = True  # the validation passes at the epochs' ends (train(validate=))
        self.noisy_drawn = self.trained = 0
        self._any_noisy = bool(self.data.train_noisy.any())  # once: skip the noise tallies on clean data
        self._identity: dict[int, Mixed] = {}  # the unmixed batch's sources and shares, per batch size
        self.weight_noisy = self.weight_total = 0.0  # loss weight on mislabelled samples / all
        self.train_s = 0.0
        self._bar: Any = None  # the progress bar while train() runs
        self.wall_s = time.perf_counter() - t_start

    # ---------------------------------------------------------------- state
    def _global_rng(self) -> dict[str, Any]:
        """The (forked) global torch RNG state the run's stochastic layers use."""
        return {"cpu": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}

    def state_dict(self) -> dict[str, Any]:
        """Everything to continue the run exactly: tensors and plain values only. Under DDP a
        collective (every rank's augmentation stream is kept); the rest is the same on all ranks."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "core": self.core.state_dict(),
                "augment_generator": self.augment_generator.get_state(), "rng": self._rng,
                "clean_generator": (None if self._clean_generator is None
                                    else self._clean_generator.get_state()),
                "history": self.history, "noisy_drawn": self.noisy_drawn, "train_s": self.train_s,
                "noise_tally": [self.trained, self.weight_noisy, self.weight_total],
                "grad_scaler": self.fast.scaler_state(), "guard": self.guard_record,
                **({"world_size": self.context.world_size, "augment_generators": gather_states(
                    self.augment_generator.get_state(), self.context)}
                   if self.context.active else {})}

    def load_state_dict(self, state: dict[str, Any], *, sampler: bool = True) -> None:
        """Restore a run; ``sampler=False`` keeps this run's own sampler (and its empty state)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        world = int(state.get("world_size", 1))
        if world != self.context.world_size:
            raise ValueError(f"the run was made with {world} process(es), this one has "
                             f"{self.context.world_size}")
        self.core.load_state_dict(state["core"], sampler=sampler)
        self.augment_generator.set_state(state["augment_generators"][self.context.rank]
                                         if self.context.active else state["augment_generator"])
        self._rng = state["rng"]
        if state.get("clean_generator") is not None:
            self._clean_generator = make_generator(self.cfg.seed, "clean", self.device)
            self._clean_generator.set_state(state["clean_generator"])
        self.history = list(state["history"])
        self.noisy_drawn, self.train_s = int(state["noisy_drawn"]), float(state["train_s"])
        trained, self.weight_noisy, self.weight_total = state.get("noise_tally", [0, 0.0, 0.0])
        self.trained = int(trained)
        self.fast.load_scaler_state(state.get("grad_scaler"))
        self.guard_record = state.get("guard")

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of the whole state, taken inside :meth:`train` (the live RNG state included),
        for :meth:`restore` to return to (the guard's paired branches)."""
        self._rng = self._global_rng()
        return copy.deepcopy(self.state_dict())

    def restore(self, state: dict[str, Any]) -> None:
        """Go back to a :meth:`snapshot` inside :meth:`train`, the live RNG state included."""
        self.load_state_dict(copy.deepcopy(state))
        torch.set_rng_state(self._rng["cpu"])
        if self._rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(self._rng["cuda"])

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
              within_epoch: bool = False, validate: bool = True) -> Trainer:
        """Train until the budget is spent, or until ``progress >= until`` at an epoch's end.

        ``schedule`` maps budget progress to the learning rate (default: the config's schedule).
        ``within_epoch`` stops at the first step where ``progress >= until`` and ends the epoch
        there (evaluated and logged as any epoch; the next call plans a new one): the search's
        intermediate reports inside one inner epoch. ``validate=False`` skips the validation
        passes at the epochs' ends (their ``val_*`` are None): a search trial finally scored on
        other rows.
        """
        schedule = schedule or self.schedule
        self._validate = validate
        t_start = time.perf_counter()
        with intra_op_threads(self.cfg.threads), torch.random.fork_rng(devices=self._cuda):
            torch.set_rng_state(self._rng["cpu"])
            if self._rng["cuda"] is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(self._rng["cuda"])
            bar = self._bar = self._progress_bar()
            self._train_loop(until, schedule, within_epoch)
            bar.close()
            self._rng = self._global_rng()
        self.wall_s += time.perf_counter() - t_start
        return self

    def _train_loop(self, until: float, schedule: Schedule, within_epoch: bool) -> None:
        """The epochs of :meth:`train` (inside its thread and RNG context): plan, fetch, step."""
        core, meter, loader = self.core, self.core.meter, self.loaders.train
        eval_batch_size, bar = self.cfg.optim.eval_batch_size, self._bar

        def done() -> bool:  # plain Python numbers: no device sync
            return meter.exhausted or (within_epoch and meter.progress >= until)

        while not meter.exhausted and meter.progress < until:
            if core.sampler.guard_due(meter.progress):  # 0. a learned sampler checked (guard.py)
                self._guard(schedule)
                continue
            t_epoch = time.perf_counter()
            meter.start_clock()  # a time budget counts the training loop only
            tally = EpochTally(self.device)
            self.model.train()
            if core.scoring_pass_due():  # 1. every statistic refreshed, charged
                for batch in self._scoring_batches(eval_batch_size):
                    self._charged(tally, core.score, batch.indices, *self._scores(batch),
                                  batch.targets)
            plan = core.plan_epoch()  # 2. the epoch's plan, sized to the budget left
            if not core.selecting:  # 3a. sample-then-batch
                for batch in loader.batches(plan.indices, core.local_batch_size):
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

    def _guard(self, schedule: Schedule) -> None:
        """The learned sampler's online check against uniform sampling (:mod:`.guard`); skipped,
        and recorded as skipped, under a time budget or data parallelism."""
        sampler = self.core.sampler
        skip = ("a time budget" if self.core.meter.budget.time_budget_s is not None
                else "data-parallel training" if self.context.active else None)
        if skip is not None:
            sampler.guard_checked = True
            self.guard_record = {"decision": "card", "skipped": f"not checked under {skip}"}
            return
        first = len(self.history)
        self._guarding = True
        try:
            self.guard_record = run_guard(
                self, lambda until: self._train_loop(until, schedule, within_epoch=True))
        finally:
            self._guarding = False
        for record in self.history[first:]:  # the winning branch's epochs
            self._after_epoch(record)
        record = self.guard_record
        if record["decision"] == "uniform":
            logging.getLogger("swiftsampler").warning(
                "the sampler card lost to uniform sampling on the validation split (%s score %.4f "
                "against %.4f after %.0f%% of the budget); the run samples uniformly from here",
                record["score"], record["card_score"], record["uniform_score"],
                100 * record["until"])

    def _scoring_batches(self, batch_size: int) -> Iterator[Batch]:
        """A scoring pass's batches: every training sample, in order (under DDP this rank's
        ``arange(N)[r::W]``; the core gathers the pass)."""
        return self.loaders.train.batches(self.core.scoring_shard(), batch_size)

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
        lr = schedule(core.progress)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        mixed = (self.augment(batch.inputs, self.augment_generator) if self.augment
                 else self._unmixed(batch.inputs))
        extra = self._lookahead(batch, mixed, lr) if core.sampler.needs_lookahead else None
        outputs = self.forward(mixed.inputs)
        part_losses = task.part_losses(outputs, batch.targets, mixed)  # (B, K)
        # the mixing's sources and shares (None when nothing is mixed: each output is its sample)
        sources, shares = (mixed.sources, mixed.weights) if mixed.mixes else (None, None)
        if record:
            core.record(batch.indices, task.logits(outputs), batch.targets, part_losses, sources, shares)
        weights = (batch.weights if batch.weights is None or sources is None
                   else batch.weights[sources])
        objective = core.loss(task.logits(outputs), part_losses, shares, weights, extra)
        self.optimizer.zero_grad(set_to_none=True)
        self.fast.step(objective, self.optimizer)
        n = batch.indices.shape[0]
        before = core.meter.position
        core.charge_step(n)
        bar.update(core.meter.position - before)
        tally.trained += n
        if sources is None:  # each output is its sample
            dominant = None
            tally.loss_sum += part_losses.detach().sum()
        else:  # each output counts as the sample with the largest share
            dominant = sources.gather(1, shares.argmax(1, keepdim=True)).squeeze(1)
            tally.loss_sum += (shares * part_losses).detach().sum()
        targets = batch.targets if dominant is None else batch.targets[dominant]
        tally.correct += task.correct(outputs.detach(), targets).sum()
        w = core.last_weights  # the loss weights of the step, per output (None: all ones)
        if w is not None:
            w = w.detach()
            w = (shares * w).sum(dim=1) if w.dim() == 2 else w
        tally.weight_total += n if w is None else w.sum()
        if not self._any_noisy:  # clean labels: nothing mislabelled to count
            return
        noisy = self.data.train_noisy[batch.indices]
        tally.noisy += noisy.sum()
        if dominant is not None:
            noisy = noisy[dominant]
        # how much of the loss the mislabelled samples carry
        tally.weight_noisy += noisy.sum() if w is None else (w * noisy.float()).sum()

    def _unmixed(self, inputs: torch.Tensor) -> Mixed:
        """``Mixed.identity(inputs)``, its sources and shares made once per batch size."""
        made = self._identity.get(inputs.shape[0])
        if made is None:
            made = self._identity[inputs.shape[0]] = Mixed.identity(inputs)
        return Mixed(inputs, made.sources, made.weights)

    def _lookahead(self, batch: Batch, mixed: Mixed, lr: float) -> torch.Tensor:
        """A look-ahead sampler's weights (B,) for ``batch``, from a clean batch of the validation
        split drawn with the ``clean`` stream (the core charges the extra passes)."""
        task, core = self.task, self.core
        n_val = len(self.loaders.val)
        if self._clean_generator is None:
            self._clean_generator = make_generator(self.cfg.seed, "clean", self.device)
        picks = torch.randint(n_val, (core.sampler.clean_batch_size,), device=self.device,
                              generator=self._clean_generator)
        clean = next(iter(self.loaders.val.batches(picks, picks.shape[0])))
        return core.lookahead_weights(
            self.model,
            lambda out: (mixed.weights * task.part_losses(out, batch.targets, mixed)).sum(dim=1),
            lambda out: task.losses(out, clean.targets).mean(),
            mixed.inputs, clean.inputs, lr)

    @torch.no_grad()
    def _scores(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """A scoring forward pass (eval mode, no grad): the batch's per-sample losses and logits."""
        self.model.eval()
        outputs = self.fast(batch.inputs)
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
        if self.context.active:  # the epoch of all ranks: one all-reduce
            totals = all_reduce_sum(torch.stack([
                tally.loss_sum.double(), tally.correct.double(), tally.noisy.double(),
                torch.tensor(float(tally.trained), dtype=torch.float64, device=self.device),
                torch.tensor(float(tally.scored), dtype=torch.float64, device=self.device)]),
                self.context).tolist()  # sync: logging point
            tally.loss_sum, tally.correct = torch.tensor(totals[0]), torch.tensor(totals[1])
            tally.noisy = torch.tensor(int(totals[2]))
            tally.trained, tally.scored = int(totals[3]), int(totals[4])
        trained = max(tally.trained, 1)
        train_loss = tally.loss_sum.item() / trained  # sync: logging point
        if not math.isfinite(train_loss):
            bar.close()
            raise TrainingError(
                f"the training loss became {train_loss} in epoch {core.epoch}; "
                f"try a smaller --lr (now {self.cfg.optim.lr})")
        self.noisy_drawn += int(tally.noisy.item())  # sync: logging point
        self.trained += tally.trained
        self.weight_noisy += float(tally.weight_noisy.item())  # sync: logging point
        self.weight_total += float(tally.weight_total.item())  # sync: logging point
        self.train_s += time.perf_counter() - t_epoch
        val = self.evaluate("val") if self._validate else None
        record = {
            "epoch": core.epoch, "train_loss": train_loss,
            "train_acc": tally.correct.item() / trained,  # sync: logging point
            "val_loss": None if val is None else finite_or_none(val.loss),
            "val_acc": None if val is None else finite_or_none(val.acc),
            **({} if val is None else {f"val_{key}": finite_or_none(value)
                                       for key, value in val.extra.items()}),
            "lr": schedule(meter.progress), "progress": meter.progress,
            "samples": tally.trained, "scored": tally.scored, "iterations": meter.iterations,
            "forward_samples": meter.forward_samples, "backward_samples": meter.backward_samples,
            "time_s": self.train_s,
        }
        self.history.append(record)
        bar.set_postfix(epoch=core.epoch, loss=f"{train_loss:.3f}",
                        val_acc="-" if record["val_acc"] is None else f"{record['val_acc']:.3f}")
        if not self._guarding:  # the guard's branches save and report only the winner's epochs
            self._after_epoch(record)

    def _after_epoch(self, record: dict[str, Any]) -> None:
        """Checkpoint (every ``checkpoint_every`` epochs and at the end) and call the callbacks."""
        core, meter = self.core, self.core.meter
        every = self.cfg.checkpoint_every
        if self.checkpoint_path is not None and every > 0 and (
                core.epoch % every == 0 or meter.exhausted):
            self._rng = self._global_rng()
            state = self.state_dict()  # a collective under DDP: every rank takes part
            if self.context.is_main:
                save_checkpoint(self.checkpoint_path, {"config": self.cfg.to_dict(),
                                                       "state": state})
        for callback in self.callbacks:
            callback(record)

    # ---------------------------------------------------------------- scores
    def evaluate(self, split: str = "val", *,
                 loader: DeviceLoader | StreamingLoader | None = None) -> Evaluation:
        """The task's scores on ``val`` or ``test`` (e.g. verification accuracy on test pairs).

        ``loader``: score these rows as that split instead of the trainer's own (the search scores
        a trial trained on a subset on the full validation split)."""
        if split not in ("val", "test"):
            raise ValueError(f"split must be val or test, got {split!r}")
        batch_size, context = self.cfg.optim.eval_batch_size, self.context
        if context.active:  # rank 0's BatchNorm statistics on every rank (DDP broadcasts them
            broadcast_buffers(self.model, context)  # before a forward, not after the last one)
        sharded = context.active and (split == "val" or self.task.shardable_test)
        loader = getattr(self.loaders, split) if loader is None else loader
        indices = torch.arange(len(loader), device=self.device)
        if sharded:  # this rank's arange(n)[r::W], the sums all-reduced
            indices = indices[context.rank::context.world_size]
        batches = loader.batches(indices, batch_size)
        reduce = (lambda totals: all_reduce_sum(totals, context)) if sharded else None
        with intra_op_threads(self.cfg.threads):
            if split == "val":
                return self.task.evaluate(self.fast, batches, reduce)
            return self.task.test(self.fast, self.data, batches, reduce)

    def result(self) -> dict[str, Any]:
        """Evaluate on the test split and return the content of ``result.json``."""
        t_test = time.perf_counter()
        test = self.evaluate("test")
        test_s = time.perf_counter() - t_test
        self.wall_s += test_s
        result = build_result(self.cfg, self.core, self.data, self.history, test,
                            noisy_drawn=self.noisy_drawn, device=self.device,
                            trained=self.trained, weight_on_noisy=(
                                self.weight_noisy / self.weight_total if self.weight_total > 0
                                else None),
                            times={"wall_s": self.wall_s, "train_s": self.train_s,
                                   "data_s": self.data_s, "test_s": test_s})
        if self.guard_record is not None:
            result["guard"] = self.guard_record
        return result


def train(cfg: RunConfig, *, out_dir: str | Path | None = None, resume: bool = False,
          progress: bool = False, callbacks: Sequence[EpochCallback] = (),
          data: PreparedData | None = None, sampler: Sampler | None = None,
          context: DistributedContext | None = None) -> dict[str, Any]:
    """Train one model as ``cfg`` says and return the result (the content of ``result.json``).

    Args:
        cfg: the resolved run configuration.
        out_dir: where checkpoints go (``cfg.checkpoint_every`` > 0) and where ``resume`` looks.
        resume: continue from ``out_dir/checkpoint.pt``; the result equals an uninterrupted run's.
        progress: show a progress bar on stderr.
        callbacks: called with each epoch's history record, after evaluation and checkpointing.
        data: already prepared data (skips :func:`prepare_data`; must match ``cfg.data``).
        sampler: a sampler object to use instead of ``cfg.sampler``.
        context: the data-parallel ranks; default: this process's ``torchrun`` rank (joining the
            process group, and leaving it at the end), or one process. Every rank returns the
            result; only rank 0 calls back and checkpoints.

    Raises:
        ConfigError: unknown names, bad parameters, a missing or mismatched checkpoint.
        TrainingError: the training loss stopped being finite.
    """
    if resume and out_dir is None:
        raise ConfigError("--resume needs --out (the directory holding the checkpoint)")
    joined = context is None
    if context is None:
        context = context_from_environment(resolve_device(cfg.device))
    try:
        trainer = Trainer(cfg, data=data, sampler=sampler, out_dir=out_dir, progress=progress,
                          callbacks=callbacks, context=context)
        if resume:
            trainer.resume()
        return trainer.train().result()
    finally:
        if joined:
            leave(context)
