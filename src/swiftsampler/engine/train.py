"""The training loop: one function, top to bottom.

::

    data, model, optimiser, sampler, stats, budget   <- built from the RunConfig
    while the budget is not spent:
        plan = sampler.plan_epoch(stats, generator, info)           # <plan_epoch>
        for indices, x, y, w in plan, batch_size at a time:
            lr = peak * schedule(progress)                           # progress = spent / budget
            logits = model(x); losses = cross_entropy(logits, y)     # per sample
            stats.record(indices, logits, y, losses)                 # features for free
            loss = mean(w * losses); backward; step; charge the cost
        evaluate on the validation split; log; checkpoint            # <epoch_end>
    evaluate on the test split; return the result

The loop never synchronises with the device except at the end of an epoch (logging point).
Determinism: every random stream is a ``torch.Generator`` derived from ``cfg.seed``; model
initialisation and any stochastic layer run under a forked global RNG, so the caller's global random
state is the same after ``train`` as before it. The intra-op thread count, which decides the order of
floating-point sums, is ``cfg.threads`` whatever process launches the run.
"""

from __future__ import annotations

import math
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import __version__
from ..augment import AugmentContext, Compose, Mixed, create_augmentation
from ..budget import Budget, CostMeter
from ..config import RunConfig
from ..data import PreparedData, prepare_data
from ..data.files import describe_exception
from ..data.loader import Batch, DeviceLoader, StreamingLoader, make_loader
from ..errors import ConfigError, TrainingError
from ..optimizers import build_optimizer
from ..samplers import BatchScores, EpochInfo, Sampler, create_sampler
from ..schedules import LRSchedule
from ..seeding import derive_seed, make_generator
from ..stats import SampleStats
from ..tasks import Evaluation, Task, create_task
from .checkpoint import CHECKPOINT_NAME, config_difference, load_checkpoint, save_checkpoint
from .memory import build_if_it_fits
from .threads import intra_op_threads

EpochCallback = Callable[[dict[str, Any]], None]


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
class RunState:
    """The stateful pieces of a run (everything else is derived from the config)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    sampler: Sampler
    stats: SampleStats
    meter: CostMeter
    plan_generator: torch.Generator
    select_generator: torch.Generator
    augment_generator: torch.Generator
    epoch: int = 0
    history: list[dict[str, Any]] | None = None
    noisy_drawn: int = 0
    train_s: float = 0.0

    def rng_state(self) -> dict[str, Any]:
        """The (forked) global torch RNG state the run's stochastic layers use."""
        return {"cpu": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}

    @staticmethod
    def set_rng_state(rng: dict[str, Any]) -> None:
        torch.set_rng_state(rng["cpu"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])

    def state_dict(self, rng: dict[str, Any]) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "sampler": self.sampler.state_dict(), "stats": self.stats.state_dict(),
            "meter": self.meter.state_dict(),
            "plan_generator": self.plan_generator.get_state(),
            "select_generator": self.select_generator.get_state(),
            "augment_generator": self.augment_generator.get_state(),
            "rng": rng,
            "epoch": self.epoch, "history": self.history, "noisy_drawn": self.noisy_drawn,
            "train_s": self.train_s,
        }

    def load_state_dict(self, state: dict[str, Any], *, sampler: bool = True) -> dict[str, Any]:
        """Restore everything (the sampler's state only if ``sampler``); returns the RNG state."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if sampler:
            self.sampler.load_state_dict(state["sampler"])
        self.stats.load_state_dict(state["stats"])
        self.meter.load_state_dict(state["meter"])
        self.plan_generator.set_state(state["plan_generator"])
        self.select_generator.set_state(state["select_generator"])
        self.augment_generator.set_state(state["augment_generator"])
        self.epoch = state["epoch"]
        self.history = list(state["history"])
        self.noisy_drawn = state["noisy_drawn"]
        self.train_s = state["train_s"]
        return state["rng"]


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


def _augment_context(data: PreparedData) -> AugmentContext:
    """The data kind and per-channel input range the augmentations need."""
    if data.streamed:  # lazy inputs know their range without decoding everything
        return AugmentContext(data.kind, *data.train_x.value_range())
    return AugmentContext.from_inputs(data.kind, data.train_x)


class Trainer:
    """One training run built from a :class:`RunConfig`; :meth:`train` may be called repeatedly.

    ``Trainer(cfg).train()`` runs the whole budget. ``train(until=p)`` stops at the first epoch
    boundary where the budget progress reaches ``p``, so a run can be paused, saved with
    :meth:`state_dict` and continued, possibly with another sampler (what the Swift Sampler search
    does from its shared initialisation). The global RNG is never touched: the run keeps its own
    torch RNG state and swaps it in only while it creates the model or trains. Likewise torch's
    intra-op thread count is ``cfg.threads`` while the run prepares data, builds, trains and evaluates,
    and the caller's count is restored after each (process-wide meanwhile; see :mod:`.threads`).

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
            self.data = (data if data is not None else prepare_data(cfg.data, cfg.data_seed)).to(device)
        self.data_s = time.perf_counter() - t_start
        n_train = self.data.train_y.shape[0]
        self.budget = Budget(cfg.budget.budget, cfg.budget.epochs, n_train, cfg.budget.budget_unit,
                             cfg.budget.time_budget)
        if sampler is None:
            sampler = create_sampler(cfg.sampler.sampler, n_train, budget=cfg.budget.budget,
                                     card=cfg.sampler.sampler_card, **cfg.sampler.sampler_params)
        self.task = create_task(self.data.task, cfg.model.task_params)
        self.loaders = Loaders.build(self.data, device, cfg.data.workers)
        self.augment = create_augmentation(cfg.augment.augment, _augment_context(self.data),
                                           cfg.augment.augment_params)
        self.checkpoint_path = Path(out_dir) / CHECKPOINT_NAME if out_dir is not None else None
        self.progress, self.callbacks = progress, list(callbacks)
        self._cuda = [device] if device.type == "cuda" else []
        with intra_op_threads(cfg.threads), torch.random.fork_rng(devices=self._cuda):
            torch.manual_seed(derive_seed(cfg.seed, "torch"))
            model = build_if_it_fits(
                lambda: self.task.build_model(cfg.model.model, self.data, cfg.model.width), device,
                f"--model {cfg.model.model} --width {cfg.model.width or 'default'}")
            self.state = RunState(
                model=model, optimizer=build_optimizer(model, cfg.optim), sampler=sampler,
                stats=SampleStats(n_train, device), meter=CostMeter(self.budget),
                plan_generator=make_generator(cfg.seed, "plan", device),
                select_generator=make_generator(cfg.seed, "select", device),
                augment_generator=make_generator(cfg.seed, "augment"), history=[],
            )
            self._rng = self.state.rng_state()
        self.wall_s = time.perf_counter() - t_start

    @property
    def model(self) -> nn.Module:
        return self.state.model

    @property
    def progress_fraction(self) -> float:
        return self.state.meter.progress

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

    def state_dict(self) -> dict[str, Any]:
        return self.state.state_dict(self._rng)

    def load_state_dict(self, state: dict[str, Any], *, sampler: bool = True) -> None:
        """Restore a run; ``sampler=False`` keeps this run's own sampler (and its empty state)."""
        self._rng = self.state.load_state_dict(state, sampler=sampler)

    def train(self, until: float = 1.0) -> Trainer:
        """Train until the budget is spent, or until ``progress >= until`` at an epoch's end."""
        t_start = time.perf_counter()
        with intra_op_threads(self.cfg.threads), torch.random.fork_rng(devices=self._cuda):
            self.state.set_rng_state(self._rng)
            _run_epochs(self.state, self.cfg, self.task, self.loaders, self.data.train_noisy,
                        self.schedule, self.augment, self.progress, self.callbacks,
                        self.checkpoint_path, until)
            self._rng = self.state.rng_state()
        self.wall_s += time.perf_counter() - t_start
        return self

    def evaluation(self, split: str = "val") -> Evaluation:
        """The task's scores on ``val`` or ``test`` (e.g. verification accuracy on test pairs)."""
        batch_size = self.cfg.optim.eval_batch_size
        if split not in ("val", "test"):
            raise ValueError(f"split must be val or test, got {split!r}")
        with intra_op_threads(self.cfg.threads):
            if split == "val":
                return self.task.evaluate(self.model, self.loaders.all_batches("val", batch_size))
            return self.task.test(self.model, self.data,
                                  self.loaders.all_batches("test", batch_size))

    def evaluate(self, split: str = "val") -> tuple[float, float]:
        """``(loss, accuracy)`` on ``val`` or ``test``."""
        scores = self.evaluation(split)
        return scores.loss, scores.acc

    def result(self) -> dict[str, Any]:
        """Evaluate on the test split and return the content of ``result.json``."""
        t_test = time.perf_counter()
        test = self.evaluation("test")
        test_s = time.perf_counter() - t_test
        self.wall_s += test_s
        with intra_op_threads(self.cfg.threads):  # environment.threads: the count the run used
            return _result(self.cfg, self.state, self.data, self.budget, self.device, test,
                           wall_s=self.wall_s, data_s=self.data_s, test_s=test_s)


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


def record_mixed(stats: SampleStats, indices: torch.Tensor, logits: torch.Tensor,
                 targets: torch.Tensor, part_losses: torch.Tensor, mixed: Mixed, step: int) -> None:
    """Credit each source index with its share: the statistics of sample ``indices[sources[i, k]]``
    record its own label's loss on output ``i``, weighted by ``weights[i, k]``."""
    k = mixed.sources.shape[1]
    if k == 1:  # no mixing (any target shape, e.g. token sequences)
        source = mixed.sources[:, 0]
        stats.record(indices[source], logits.detach(), targets[source], part_losses[:, 0].detach(),
                     step=step)
        return
    stats.record(indices[mixed.sources].flatten(), logits.detach().repeat_interleave(k, dim=0),
                 targets[mixed.sources].flatten(), part_losses.detach().flatten(), step=step,
                 credit=mixed.weights.flatten())


class _Stepper:
    """One optimiser step on a batch, with its bookkeeping (cost, stats, epoch tallies)."""

    def __init__(self, run: RunState, task: Task, schedule: LRSchedule, augment: Compose,
                 train_noisy: torch.Tensor, bar: Any) -> None:
        self.run, self.task, self.schedule, self.augment = run, task, schedule, augment
        self.train_noisy, self.bar = train_noisy, bar
        self.reset()

    def reset(self) -> None:
        device = self.train_noisy.device
        self.loss_sum = torch.zeros((), device=device)
        self.correct = torch.zeros((), device=device)
        self.noisy = torch.zeros((), device=device, dtype=torch.long)
        self.trained = 0
        self.scored = 0

    def charge(self, forward: int, backward: int, steps: int) -> None:
        meter = self.run.meter
        before = meter.position
        meter.charge(forward=forward, backward=backward, steps=steps)
        self.bar.update(meter.position - before)

    def step(self, batch: Batch, *, record: bool) -> None:
        """Augment, forward, per-sample loss, (record stats,) weighted mean, backward, step, charge.

        With a mixing augmentation, output ``i`` mixes sources ``S[i, k]`` with shares ``W[i, k]``:
        its loss is ``sum_k W[i, k] w[S[i, k]] l(output_i, y[S[i, k]])`` (``w``: the plan's sample
        weights, ``l``: the task's per-sample loss) and each source index is credited with its share
        in the statistics.
        """
        run, task = self.run, self.task
        lr = self.schedule(run.meter.progress)
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        if self.augment:
            mixed = self.augment(batch.inputs, run.augment_generator)
        else:
            mixed = Mixed.identity(batch.inputs)
        outputs = run.model(mixed.inputs)
        part_losses = task.part_losses(outputs, batch.targets, mixed)  # (B, K)
        losses = (mixed.weights * part_losses).sum(dim=1)  # (B,) per-sample losses
        if batch.weights is None:
            objective = losses.mean()
        else:  # each part weighted by its source's sample weight
            objective = (mixed.weights * batch.weights[mixed.sources] * part_losses).sum(1).mean()
        if record:
            record_mixed(run.stats, batch.indices, task.logits(outputs), batch.targets,
                         part_losses, mixed, step=run.meter.iterations)
        run.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        run.optimizer.step()
        n = batch.indices.shape[0]
        self.charge(forward=n, backward=n, steps=1)
        dominant = mixed.sources.gather(1, mixed.weights.argmax(1, keepdim=True)).squeeze(1)
        self.loss_sum += losses.detach().sum()
        self.correct += task.correct(outputs.detach(), batch.targets[dominant]).sum()
        self.noisy += self.train_noisy[batch.indices].sum()
        self.trained += n

    @torch.no_grad()
    def score(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Scoring forward pass (eval mode, no grad), recorded and charged as forward samples."""
        run, task = self.run, self.task
        run.model.eval()
        outputs = run.model(batch.inputs)
        run.model.train()
        losses, logits = task.losses(outputs, batch.targets), task.logits(outputs)
        run.stats.record(batch.indices, logits, batch.targets, losses, step=run.meter.iterations)
        self.charge(forward=batch.indices.shape[0], backward=0, steps=0)
        self.scored += batch.indices.shape[0]
        return losses, logits


class _Pending:
    """Selected samples queued until they fill a training batch (selective backprop's queue)."""

    def __init__(self) -> None:
        self.parts: list[Batch] = []

    def __len__(self) -> int:
        return sum(p.indices.shape[0] for p in self.parts)

    def push(self, batch: Batch) -> None:
        if batch.indices.shape[0] > 0:
            self.parts.append(batch)

    def pop(self, n: int) -> Batch:
        weights = None
        if any(p.weights is not None for p in self.parts):
            weights = torch.cat([torch.ones_like(p.indices, dtype=torch.float32)
                                 if p.weights is None else p.weights for p in self.parts])
        whole = Batch(*(torch.cat([getattr(p, f) for p in self.parts])
                        for f in ("indices", "inputs", "targets")), weights)
        head = Batch(*(t[:n] if t is not None else None for t in whole))
        rest = Batch(*(t[n:] if t is not None else None for t in whole))
        self.parts = [rest] if rest.indices.shape[0] else []
        return head


def _run_epochs(run: RunState, cfg: RunConfig, task: Task, loaders: Loaders,
                train_noisy: torch.Tensor, schedule: LRSchedule, augment: Compose, progress: bool,
                callbacks: Sequence[EpochCallback], checkpoint_path: Path | None, until: float = 1.0) -> None:
    from tqdm.auto import tqdm

    model, meter, sampler = run.model, run.meter, run.sampler
    budget, batch_size = meter.budget, cfg.optim.batch_size
    loader = loaders.train
    assert run.history is not None
    timed = budget.time_budget_s is not None
    unit = " s" if timed else " units" if budget.unit == "compute" else " samples"
    bar = tqdm(total=meter.total, initial=meter.position, disable=not progress, unit=unit,
               unit_scale=not timed, dynamic_ncols=True, leave=False, file=sys.stderr,
               bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f}{unit} [{elapsed}<{remaining}{postfix}]"
               if timed else None)
    stepper = _Stepper(run, task, schedule, augment, train_noisy, bar)
    while not meter.exhausted and meter.progress < until:
        t_epoch = time.perf_counter()
        meter.start_clock()  # a time budget counts the training loop only
        stepper.reset()
        model.train()
        info = EpochInfo(epoch=run.epoch, progress=meter.progress,
                         n_samples=budget.samples_per_epoch)
        if sampler.wants_scoring_pass(info):  # <scoring_pass>: refresh every statistic
            for batch in loaders.all_batches("train", cfg.optim.eval_batch_size):
                stepper.score(batch)
        plan = sampler.plan_epoch(run.stats, run.plan_generator, info)  # <plan_epoch>
        if not sampler.needs_scores:
            for batch in loader.batches(plan.indices, batch_size, plan.weights):
                if meter.exhausted:
                    break
                stepper.step(batch, record=True)
        else:  # batch-then-sample: score candidates, <select>, queue, train full batches
            pending = _Pending()
            for cand in loader.batches(plan.indices, sampler.candidate_batch_size(batch_size),
                                       plan.weights):
                if meter.exhausted:
                    break
                losses, logits = stepper.score(cand)
                sel = sampler.select(cand.indices, BatchScores(losses, logits, cand.targets),
                                     run.select_generator)
                weights = sel.weights
                if cand.weights is not None:
                    kept = cand.weights[sel.keep]
                    weights = kept if weights is None else kept * weights
                pending.push(Batch(cand.indices[sel.keep], cand.inputs[sel.keep],
                                   cand.targets[sel.keep], weights))
                while len(pending) >= batch_size and not meter.exhausted:
                    stepper.step(pending.pop(batch_size), record=False)
            if len(pending) >= 2 and not meter.exhausted:  # flush the queue at the epoch's end
                stepper.step(pending.pop(len(pending)), record=False)
        if timed and run.stats.device.type == "cuda":
            torch.cuda.synchronize(run.stats.device)  # count queued kernels in the elapsed time
        meter.stop_clock()
        _end_epoch(run, cfg, task, loaders, schedule, stepper, t_epoch, bar, checkpoint_path,
                   callbacks)
    bar.close()


def _end_epoch(run: RunState, cfg: RunConfig, task: Task, loaders: Loaders, schedule: LRSchedule,
               stepper: _Stepper, t_epoch: float, bar: Any, checkpoint_path: Path | None,
               callbacks: Sequence[EpochCallback]) -> None:
    """<epoch_end>: the only host syncs of an epoch; evaluate, log, checkpoint, call back."""
    meter, trained = run.meter, max(stepper.trained, 1)
    train_loss = stepper.loss_sum.item() / trained  # sync: logging point
    if not math.isfinite(train_loss):
        bar.close()
        raise TrainingError(
            f"the training loss became {train_loss} in epoch {run.epoch + 1}; "
            f"try a smaller --lr (now {cfg.optim.lr})")
    run.noisy_drawn += int(stepper.noisy.item())  # sync: logging point
    run.train_s += time.perf_counter() - t_epoch
    val = task.evaluate(run.model, loaders.all_batches("val", cfg.optim.eval_batch_size))
    val_loss, val_acc = val.loss, val.acc
    run.epoch += 1
    record = {
        "epoch": run.epoch, "train_loss": train_loss,
        "train_acc": stepper.correct.item() / trained,  # sync: logging point
        "val_loss": _nan_to_none(val_loss), "val_acc": _nan_to_none(val_acc),
        **{f"val_{key}": _nan_to_none(value) for key, value in val.extra.items()},
        "lr": schedule(meter.progress), "progress": meter.progress,
        "samples": stepper.trained, "scored": stepper.scored, "iterations": meter.iterations,
        "forward_samples": meter.forward_samples, "backward_samples": meter.backward_samples,
        "time_s": run.train_s,
    }
    assert run.history is not None
    run.history.append(record)
    bar.set_postfix(epoch=run.epoch, loss=f"{train_loss:.3f}",
                    val_acc="-" if record["val_acc"] is None else f"{val_acc:.3f}")
    if checkpoint_path is not None and cfg.checkpoint_every > 0 and (
            run.epoch % cfg.checkpoint_every == 0 or meter.exhausted):
        save_checkpoint(checkpoint_path, {"config": cfg.to_dict(),
                                          "state": run.state_dict(run.rng_state())})
    for callback in callbacks:
        callback(record)


def usage_summary(stats: SampleStats) -> dict[str, float]:
    """How the run spread its visits: fraction of samples visited, and the entropy (nats) of the
    visit-count distribution ``H(c) = -sum c_i log c_i`` with ``c = seen / sum(seen)`` (Arazo et al.'s
    measure of variety; its maximum is ``log N``)."""
    seen = stats.seen.double()
    total = seen.sum()
    c = seen / total.clamp_min(1e-12)
    entropy = -(c * c.clamp_min(1e-300).log()).sum()
    return {"visited_fraction": float((seen > 0).double().mean()), "entropy": float(entropy),
            "max_entropy": math.log(stats.num_samples), "visits": float(total)}


def _nan_to_none(value: float) -> float | None:
    """JSON has no NaN or infinity: a score that is not finite is written as null."""
    return value if math.isfinite(value) else None


def _result(cfg: RunConfig, run: RunState, data: PreparedData, budget: Budget,
            device: torch.device, test: Evaluation, *, wall_s: float, data_s: float,
            test_s: float) -> dict[str, Any]:
    """The content of ``result.json``; ``test_acc`` is the task's test accuracy (classification
    accuracy, next-token accuracy, verification accuracy), task extras are added as ``test_<key>``
    (e.g. ``test_ppl``) or, for dicts, under their own key (e.g. ``verification``)."""
    assert run.history is not None
    last = run.history[-1] if run.history else {}
    meter = run.meter
    result: dict[str, Any] = {
        "swiftsampler_version": __version__,
        "config": cfg.to_dict(),
        "task": data.task,
        "test_acc": test.acc,
        "test_loss": _nan_to_none(test.loss),
        "val_acc": last.get("val_acc"),
        "val_loss": last.get("val_loss"),
        "train_loss": last.get("train_loss"),
        "train_acc": last.get("train_acc"),
        "epochs": run.epoch,
        "wall_s": wall_s,
        "train_s": run.train_s,
        "data_s": data_s,
        "test_s": test_s,
        "cost": {
            **meter.summary(),
            "budget": budget.fraction,
            "samples_per_epoch": budget.samples_per_epoch,
            "reference_backward_samples": budget.epochs * budget.num_train,
        },
        "data": {
            "dataset": data.name, "num_train": int(data.train_y.shape[0]),
            "num_val": int(data.val_y.shape[0]), "num_test": int(data.test_y.shape[0]),
            "num_classes": data.num_classes, "input_shape": list(data.input_shape),
            "streamed": data.streamed, "token_unit": data.token_unit,
        },
        "usage": usage_summary(run.stats),
        "history": run.history,
        "environment": {
            "device": str(device), "torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "threads": cfg.threads,
        },
    }
    for key, value in test.extra.items():
        if isinstance(value, dict):
            result[key] = value
        else:
            result[f"test_{key}"] = _nan_to_none(value)
            result[f"val_{key}"] = last.get(f"val_{key}")
    if cfg.data.noise > 0:
        result["noise"] = {
            "rate": data.noise_rate,
            "type": cfg.data.noise_type,
            "num_noisy": int(data.train_noisy.sum()),
            "sampling_mass_on_noisy": run.noisy_drawn / max(meter.backward_samples, 1),
        }
    return result
