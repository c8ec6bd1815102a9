"""The Swift Sampler search: a bilevel optimisation of the sampler's ~10 parameters.

Outer loop (Bayesian optimisation, Optuna): propose knot values ``theta`` in the family's box.
Inner loop (fast local-minimum approximation, Yao et al. 2024): from a *shared initialisation* — the
model after a uniform warm-up over the first ``init_fraction`` of the budget, computed once — train
for ``inner_epochs`` epochs of the budget with the candidate sampler, with the rest of the LR schedule
compressed into them (``inner_schedule="compressed"``; ``"continue"`` keeps the schedule as it is),
then score the model on the validation split carved from the training data (never the test split).
The first trial is the uniform sampler (all knots equal), so the search never returns something worse
than uniform on its own objective. ``--storage`` puts the study in a journal file or a database: a
stopped search resumes and several workers share one study.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ..config import RunConfig
from ..data import PreparedData, prepare_data
from ..engine import Trainer
from ..errors import ConfigError
from ..files import write_atomic, write_json
from ..samplers import SwiftSampler
from .card import SamplerCard
from .family import SamplerFamily
from .transforms import TRANSFORMS

SEARCH_ALGOS = ("gp", "tpe", "random")
INNER_SCHEDULES = ("compressed", "continue")


@dataclass(frozen=True)
class SearchConfig:
    """Settings of ``swiftsampler search`` (the training settings are a :class:`RunConfig`)."""

    n_trials: int = 30
    search_algo: str = "gp"
    inner_epochs: float = 1.0
    inner_schedule: str = "compressed"
    init_fraction: float = 0.2
    features: tuple[str, ...] = ("loss", "entropy")
    transform: str = "cdf"
    n_knots: int = 5
    combine: str = "product"
    floor: float = 0.0
    storage: str | None = None
    study_name: str = "swiftsampler"
    startup_trials: int = 10

    def __post_init__(self) -> None:
        if not isinstance(self.n_trials, int) or self.n_trials < 1:
            raise ConfigError(f"--n-trials: must be a positive integer, got {self.n_trials!r}")
        if self.search_algo not in SEARCH_ALGOS:
            raise ConfigError(f"--search-algo: must be one of {', '.join(SEARCH_ALGOS)}, "
                              f"got {self.search_algo!r}")
        if not 0 < self.inner_epochs <= 1000:
            raise ConfigError(f"--inner-epochs: must be positive, got {self.inner_epochs!r}")
        if self.inner_schedule not in INNER_SCHEDULES:
            raise ConfigError(f"--inner-schedule: must be one of {', '.join(INNER_SCHEDULES)}, "
                              f"got {self.inner_schedule!r}")
        if not 0 < self.init_fraction < 1:
            raise ConfigError(f"--init-fraction: must be in (0, 1), got {self.init_fraction!r}")
        TRANSFORMS.get(self.transform)
        self.family()  # validates features, knots, combine, floor

    def family(self) -> SamplerFamily:
        return SamplerFamily(features=tuple(self.features), n_knots=self.n_knots,
                             combine=self.combine, floor=self.floor)


def make_study(search: SearchConfig, seed: int, *, resume: bool) -> Any:
    """An Optuna study maximising the validation accuracy, with the chosen sampler and storage."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samplers: dict[str, Callable[[], Any]] = {
        "gp": lambda: optuna.samplers.GPSampler(seed=seed, n_startup_trials=search.startup_trials,
                                                deterministic_objective=False),
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed,
                                                  n_startup_trials=search.startup_trials),
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
    }
    storage = _storage(search.storage)
    try:
        return optuna.create_study(study_name=search.study_name, storage=storage,
                                   sampler=samplers[search.search_algo](), direction="maximize",
                                   load_if_exists=resume)
    except optuna.exceptions.DuplicatedStudyError:
        raise ConfigError(f"--storage already holds a study {search.study_name!r}; "
                          "use --resume to continue it or --study-name for a new one") from None


def _storage(spec: str | None) -> Any:
    """None (in memory), a database URL (``sqlite:///x.db``), or a journal file path."""
    if spec is None:
        return None
    if "://" in spec:
        return spec
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    Path(spec).parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(spec))


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
        self.data = data if data is not None else prepare_data(cfg.data, cfg.data_seed)
        self.init_state: dict[str, Any] | None = None
        self.init_cost: dict[str, float] = {}

    # ---------------------------------------------------------------- inner loop
    def shared_init(self, progress: bool = False) -> dict[str, Any]:
        """Train uniformly for the warm-up fraction of the budget, once; cached in ``init.pt``."""
        path = self.out / "init.pt"
        if self.init_state is None and path.exists():
            saved = torch.load(path, map_location="cpu", weights_only=False)
            same = (saved.get("config") == self.cfg.to_dict()
                    and saved.get("init_fraction") == self.search.init_fraction)
            if same:
                self.init_state, self.init_cost = saved["state"], saved["cost"]
        if self.init_state is None:
            trainer = Trainer(self.cfg, data=self.data, progress=progress).train(
                until=self.search.init_fraction)
            self.init_state = trainer.state_dict()
            meter = trainer.state.meter
            self.init_cost = {"wall_s": trainer.wall_s, "backward_samples": meter.backward_samples,
                              "forward_samples": meter.forward_samples}
            import io

            buffer = io.BytesIO()
            torch.save({"config": self.cfg.to_dict(), "init_fraction": self.search.init_fraction,
                        "state": self.init_state, "cost": self.init_cost}, buffer)
            write_atomic(path, lambda fh: fh.write(buffer.getvalue()))
        return self.init_state

    def evaluate(self, theta: list[float]) -> dict[str, float]:
        """The objective of ``theta``: validation accuracy after fine-tuning from the shared init."""
        state = self.shared_init()
        sampler = SwiftSampler(self.data.train_y.shape[0], params=theta,
                               features=self.search.features, transform=self.search.transform,
                               n_knots=self.search.n_knots, combine=self.search.combine,
                               floor=self.search.floor, warmup=0.0)
        trainer = Trainer(self.cfg, data=self.data, sampler=sampler)
        trainer.load_state_dict(copy.deepcopy(state), sampler=False)
        start = trainer.state.meter.backward_samples
        t0 = time.perf_counter()
        p0 = self.search.init_fraction
        p1 = min(1.0, p0 + self.search.inner_epochs / self.cfg.budget.epochs)
        if self.search.inner_schedule == "compressed":
            # The rest of the LR schedule, [p0, 1], squeezed into the inner window [p0, p1]: the
            # learning rate anneals as at the end of training, so the fine-tune ends near a local
            # minimum under the candidate sampler (our reading of the approximated local minimum).
            full = trainer.schedule
            trainer.schedule = lambda p: full(p0 + (p - p0) * (1 - p0) / (p1 - p0))
        trainer.train(until=p1)
        val_loss, val_acc = trainer.evaluate("val")
        return {"val_acc": val_acc, "val_loss": val_loss, "wall_s": time.perf_counter() - t0,
                "backward_samples": trainer.state.meter.backward_samples - start}

    # ---------------------------------------------------------------- outer loop
    def run(self, *, resume: bool = False, progress: bool = False) -> dict[str, Any]:
        """Run (or continue) the study; write the card, the trials table and the plots."""
        import optuna
        from tqdm.auto import tqdm

        if self.data.val_y.shape[0] == 0:
            raise ConfigError("--val-ratio must be > 0: the search scores samplers on the "
                              "validation split")
        t_start = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        self.shared_init(progress=progress)
        study = make_study(self.search, self.cfg.seed, resume=resume)
        names = self.family.param_names
        if not study.trials:  # the uniform sampler first: a floor for the search's own objective
            study.enqueue_trial(dict(zip(names, self.family.uniform_params())))
        done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
        remaining = max(0, self.search.n_trials - done)
        low, high = self.family.low, self.family.high
        bar = tqdm(total=self.search.n_trials, initial=done, disable=not progress, unit=" trials",
                   dynamic_ncols=True, leave=False)

        def objective(trial: Any) -> float:
            theta = [trial.suggest_float(name, low, high) for name in names]
            metrics = self.evaluate(theta)
            for key, value in metrics.items():
                trial.set_user_attr(key, value)
            return metrics["val_acc"]

        def tick(study: Any, trial: Any) -> None:
            bar.update(1)
            bar.set_postfix(best=f"{study.best_value:.4f}")

        study.optimize(objective, n_trials=remaining, callbacks=[tick], catch=())
        bar.close()
        return self.write_outputs(study, time.perf_counter() - t_start)

    def write_outputs(self, study: Any, wall_s: float) -> dict[str, Any]:
        import optuna

        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        best = max(complete, key=lambda t: t.value)
        theta = [best.params[name] for name in self.family.param_names]
        trial_cost = sum(t.user_attrs.get("wall_s", 0.0) for t in complete)
        uniform = complete[0].value if complete and complete[0].number == 0 else None
        cfg = self.cfg
        provenance = {
            "dataset": cfg.data.dataset, "model": cfg.model.model, "noise": cfg.data.noise,
            "noise_type": cfg.data.noise_type, "budget": cfg.budget.budget,
            "epochs": cfg.budget.epochs, "seed": cfg.seed,
            "objective": "val_acc", "value": best.value, "uniform_value": uniform,
            "trials": len(complete), "best_trial": best.number,
            "search": {k: (list(v) if isinstance(v, tuple) else v)
                       for k, v in asdict(self.search).items() if k != "storage"},
            "cost": {"wall_s": wall_s, "init_wall_s": self.init_cost.get("wall_s"),
                     "trials_wall_s": trial_cost,
                     "init_backward_samples": self.init_cost.get("backward_samples"),
                     "trials_backward_samples": sum(t.user_attrs.get("backward_samples", 0)
                                                    for t in complete)},
        }
        card = SamplerCard.create(self.family, theta, transform=self.search.transform,
                                  provenance=provenance)
        card.save(self.out / "sampler.json")
        rows = [{"trial": t.number, "val_acc": t.value,
                 "best_so_far": max(c.value for c in complete if c.number <= t.number),
                 **{k: t.user_attrs.get(k) for k in ("val_loss", "wall_s", "backward_samples")},
                 **t.params} for t in complete]
        write_json(self.out / "trials.json", {"search_algo": self.search.search_algo,
                                              "trials": rows})
        _write_csv(self.out / "trials.csv", rows)
        return {"card": card, "trials": rows, "wall_s": wall_s, "best_value": best.value,
                "uniform_value": uniform}


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["trial"])
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, lambda fh: fh.write(buffer.getvalue().encode()))


def search_config_dict(search: SearchConfig) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(search).items()}


__all__ = ["SEARCH_ALGOS", "SearchConfig", "SwiftSearch", "make_study", "search_config_dict"]
