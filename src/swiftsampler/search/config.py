"""Settings of the Swift Sampler search (``swiftsampler search``, :func:`search_sampler`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ConfigError
from ..samplers import SamplerFamily
from ..samplers._swift import TRANSFORMS

SEARCH_ALGOS = ("gp", "tpe", "random")
INNER_SCHEDULES = ("compressed", "continue")
#: Optuna pruners of the multi-fidelity inner loop (built in :func:`.study.make_pruner`).
PRUNERS = ("none", "median", "successive-halving", "hyperband")
#: Reference samplers enqueued after the uniform one (:mod:`.warm`).
REFERENCES = ("drop-loss",)
#: What a search can optimise, on the validation split, and which way (Optuna's study direction);
#: ``auto`` is the task's model-selection metric (:attr:`swiftsampler.tasks.Task.model_selection`).
OBJECTIVES = {"val_acc": "maximize", "val_loss": "minimize"}


@dataclass(frozen=True)
class SearchConfig:
    """Settings of ``swiftsampler search`` (the training settings are a :class:`RunConfig`).

    The speed-ups of a swift search (issue 18; their defaults are measured in
    docs/swift_sampler.md): ``train_subset`` and ``val_subset`` are the stratified fractions of the
    training and validation rows the inner loop uses (:mod:`.subset`); ``rungs`` is how many
    equally spaced validation scores an inner loop reports, and ``pruner`` the Optuna pruner that
    stops poor candidates on them (``none``, ``median``, ``successive-halving``, ``hyperband``);
    ``final_val_subset`` is the fraction of the validation rows that a trial which ran to its end
    is scored on (its value for the GP and the choice of the card: all of them by default, so the
    rungs are cheap and the final choice is not left to the subset's sampling error);
    ``trial_eval_batch`` caps the batch of a trial's validation passes (they score the same
    whatever the batch; on CPU, batches of 128 score cnn2d images ~40% faster than the training
    default of 1,024, measured by ``bench/eval_batch.py``);
    ``references`` are reference samplers tried after the uniform one and ``warm_start`` a card or
    search directory of a related setting whose parameters are tried first (:mod:`.warm`); ``jobs``
    is the number of processes running trials at once (:mod:`.parallel`). ``objective`` is what a
    trial scores (:data:`OBJECTIVES`): the validation accuracy, maximised, or the validation loss,
    minimised; ``auto``, the default, takes the task's (accuracy for classification, the loss in
    nats per token for language models, whose next-token accuracy misses most of what the loss
    measures).
    """

    n_trials: int = 20
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
    heartbeat: int = 60
    pruner: str = "successive-halving"
    rungs: int = 3
    train_subset: float = 1.0
    val_subset: float = 0.3
    final_val_subset: float = 1.0
    trial_eval_batch: int = 128
    jobs: int = 1
    warm_start: str | None = None
    references: tuple[str, ...] = REFERENCES
    objective: str = "auto"

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
        if not isinstance(self.heartbeat, int) or self.heartbeat < 1:
            raise ConfigError(f"--heartbeat: must be a positive number of seconds, got {self.heartbeat!r}")
        if not 0 < self.init_fraction < 1:
            raise ConfigError(f"--init-fraction: must be in (0, 1), got {self.init_fraction!r}")
        if self.pruner not in PRUNERS:
            raise ConfigError(f"--pruner: must be one of {', '.join(PRUNERS)}, got {self.pruner!r}")
        if not isinstance(self.rungs, int) or not 1 <= self.rungs <= 100:
            raise ConfigError(f"--rungs: must be an integer in [1, 100], got {self.rungs!r}")
        for flag, value in (("--train-subset", self.train_subset), ("--val-subset", self.val_subset),
                            ("--final-val-subset", self.final_val_subset)):
            if not 0 < value <= 1:
                raise ConfigError(f"{flag}: must be in (0, 1], got {value!r}")
        if (isinstance(self.trial_eval_batch, bool) or not isinstance(self.trial_eval_batch, int)
                or self.trial_eval_batch < 1):
            raise ConfigError(f"--trial-eval-batch: must be a positive integer, "
                              f"got {self.trial_eval_batch!r}")
        if not isinstance(self.jobs, int) or not 1 <= self.jobs <= 256:
            raise ConfigError(f"--jobs: must be an integer in [1, 256], got {self.jobs!r}")
        if self.objective != "auto" and self.objective not in OBJECTIVES:
            raise ConfigError(f"--objective: must be auto or one of {', '.join(OBJECTIVES)}, "
                              f"got {self.objective!r}")
        unknown = [r for r in self.references if r not in REFERENCES]
        if unknown:
            raise ConfigError(f"--references: unknown reference sampler {unknown[0]!r} "
                              f"(known: {', '.join(REFERENCES)})")
        TRANSFORMS.get(self.transform)
        try:
            self.family()  # validates features, knots, combine, floor
        except ConfigError as exc:  # the family names its parameters; the CLI names its flags
            message = str(exc)
            name = next((n for n in ("n_knots", "combine", "floor") if message.startswith(n)), None)
            if name is None:
                raise
            raise ConfigError(f"--{name.replace('_', '-')}: {message[len(name):].strip()}") from None

    @property
    def objective_name(self) -> str:
        """The objective's metric (``auto`` read as ``val_acc``; :class:`SwiftSearch` resolves
        ``auto`` by its task before searching)."""
        return "val_acc" if self.objective == "auto" else self.objective

    @property
    def direction(self) -> str:
        """``maximize`` or ``minimize``: how the study treats the objective."""
        return OBJECTIVES[self.objective_name]

    def family(self) -> SamplerFamily:
        return SamplerFamily(features=tuple(self.features), n_knots=self.n_knots,
                             combine=self.combine, floor=self.floor)

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON values (what a card records), without the storage's address."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()
                if k != "storage"}

    @property
    def subset(self) -> bool:
        """Whether the inner loop runs on a subset of the training or validation data."""
        return self.train_subset < 1 or self.val_subset < 1
