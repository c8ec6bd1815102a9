"""Typed, validated run configuration: defaults < TOML file (``--config``) < command-line flags.

Each concern is one frozen dataclass; every field carries its help text in ``metadata`` so that the CLI
(``swiftsampler train --help``) and the docs are generated from one place. Field names are unique across
groups, so each one maps to exactly one flag (``batch_size`` -> ``--batch-size``) and, in a TOML file, to
the key of the same name in its group's table (``[optim] batch_size = 128``) or at the top level.

Validation happens in ``__post_init__`` and raises :class:`~swiftsampler.errors.ConfigError` with a
message that names the flag.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


#: Largest accepted peak learning rate: anything above is a typo (and overflows float32 updates).
MAX_LR = 1000.0


def opt(default: Any, help: str, **meta: Any) -> Any:
    """A dataclass field with a default and help text (``meta`` may hold ``metavar``, ``choices``)."""
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **meta})
    return field(default=default, metadata={"help": help, **meta})


def flag(name: str) -> str:
    """The command-line flag of a field; a ``*_params`` dict is given one ``--*-param`` at a time."""
    if name.endswith("_params"):
        name = name[: -len("s")]
    return "--" + name.replace("_", "-")


def _check(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{flag(name)}: {message}")


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


@dataclass(frozen=True)
class DataConfig:
    """Which data, how it is split, and what label noise is injected."""

    dataset: str = opt("mnist1d", "dataset name (see `swiftsampler list`)", metavar="NAME")
    data_dir: str | None = opt(None, "directory of a file-backed dataset (textfile: the text file "
                                     "itself)", metavar="PATH")
    dataset_params: dict[str, Any] = opt(
        {}, "dataset parameter, repeatable: --dataset-param image_size=84 (see `swiftsampler list "
        "--verbose`)", metavar="KEY=VALUE"
    )
    num_samples: int | None = opt(
        None, "size of a generated dataset (train+test); default: the dataset's own", metavar="N"
    )
    val_ratio: float = opt(0.1, "fraction of the training set held out for validation (stratified)")
    noise: float = opt(0.0, "label-noise rate injected into the training split, in [0, 1)", metavar="R")
    noise_type: str = opt("symmetric", "label-noise model", choices=("symmetric", "asymmetric"))
    noisy_val: bool = opt(False, "also corrupt the validation labels (default: a clean held-out set)")
    drop_noisy: bool = opt(False, "oracle baseline: train only on the samples whose label the "
                                  "noise left intact")
    data_seed: int | None = opt(
        None, "seed of the split and the noise (default: --seed)", metavar="K"
    )
    shots: int = opt(0, "few-shot training: keep at most K training samples per class, drawn with "
                        "the data seed (0: all)", metavar="K")
    workers: int = opt(2, "DataLoader worker processes decoding file-streamed inputs (image "
                          "folders; 0: decode in the main process)", metavar="N")

    def __post_init__(self) -> None:
        _check(bool(self.dataset), "dataset", "must not be empty")
        _check(
            self.num_samples is None or (isinstance(self.num_samples, int) and self.num_samples > 0),
            "num_samples", f"must be a positive integer, got {self.num_samples!r}",
        )
        _check(_finite(self.val_ratio) and 0 <= self.val_ratio < 1, "val_ratio",
               f"must be in [0, 1), got {self.val_ratio!r}")
        _check(_finite(self.noise) and 0 <= self.noise < 1, "noise",
               f"must be in [0, 1), got {self.noise!r}")
        _check(self.noise_type in ("symmetric", "asymmetric"), "noise_type",
               f"must be symmetric or asymmetric, got {self.noise_type!r}")
        for name in ("shots", "workers"):
            value = getattr(self, name)
            _check(isinstance(value, int) and not isinstance(value, bool) and value >= 0, name,
                   f"must be a non-negative integer, got {value!r}")
        _check(not {"data_dir", "num_samples"} & set(self.dataset_params), "dataset_params",
               "data_dir and num_samples have their own flags (--data-dir, --num-samples)")


@dataclass(frozen=True)
class ModelConfig:
    """Which network is trained."""

    model: str = opt("cnn1d", "model name (see `swiftsampler list`)", metavar="NAME")
    width: int | None = opt(None, "base width (channels or hidden units); default: the model's own",
                            metavar="W")
    task_params: dict[str, Any] = opt(
        {}, "parameter of the dataset's task, repeatable: --task-param margin=0.3 (verification: "
        "embedding_dim, scale, margin, folds)", metavar="KEY=VALUE"
    )

    def __post_init__(self) -> None:
        _check(bool(self.model), "model", "must not be empty")
        _check(self.width is None or (isinstance(self.width, int) and self.width > 0), "width",
               f"must be a positive integer, got {self.width!r}")


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser, batch size and learning-rate schedule (a function of budget progress)."""

    optimizer: str = opt("sgd", "optimiser (see `swiftsampler list`)", metavar="NAME")
    lr: float = opt(0.05, "peak learning rate")
    momentum: float = opt(0.9, "SGD momentum")
    nesterov: bool = opt(True, "Nesterov momentum")
    weight_decay: float = opt(5e-4, "L2 weight decay")
    batch_size: int = opt(128, "training batch size (samples per backward pass)")
    eval_batch_size: int = opt(1024, "batch size for evaluation")
    schedule: str = opt("linear", "LR schedule over budget progress", metavar="NAME")
    warmup: float = opt(0.0, "fraction of the budget spent warming the LR up linearly from 0")
    milestones: list[float] = opt([0.5, 0.75], "progress points where the step schedule decays",
                                  metavar="P,P")
    gamma: float = opt(0.1, "decay factor of the step schedule")

    def __post_init__(self) -> None:
        _check(_finite(self.lr) and 0 < self.lr <= MAX_LR, "lr",
               f"must be in (0, {MAX_LR:g}], got {self.lr!r}")
        _check(_finite(self.momentum) and 0 <= self.momentum < 1, "momentum",
               f"must be in [0, 1), got {self.momentum!r}")
        _check(_finite(self.weight_decay) and self.weight_decay >= 0, "weight_decay",
               f"must be >= 0, got {self.weight_decay!r}")
        for name in ("batch_size", "eval_batch_size"):
            value = getattr(self, name)
            _check(isinstance(value, int) and value > 0, name,
                   f"must be a positive integer, got {value!r}")
        _check(_finite(self.warmup) and 0 <= self.warmup < 1, "warmup",
               f"must be in [0, 1), got {self.warmup!r}")
        _check(all(_finite(m) and 0 < m < 1 for m in self.milestones), "milestones",
               f"must lie in (0, 1), got {self.milestones!r}")
        _check(_finite(self.gamma) and 0 < self.gamma <= 1, "gamma",
               f"must be in (0, 1], got {self.gamma!r}")


@dataclass(frozen=True)
class BudgetConfig:
    """How much training: a fraction ``budget`` of the reference schedule of ``epochs`` full epochs."""

    epochs: int = opt(20, "epochs of the full (budget 1.0) reference schedule", metavar="E")
    budget: float = opt(1.0, "fraction of the reference schedule to spend, in (0, 1]", metavar="B")
    budget_unit: str = opt(
        "backward", "what the budget limits: backward samples, or compute (forward=1, backward=2)",
        choices=("backward", "compute"),
    )
    time_budget: float | None = opt(
        None, "wall-clock budget: seconds of training loop; replaces the sample budget and drives "
        "the LR schedule by elapsed time (not reproducible from the seed)", metavar="SECONDS")

    def __post_init__(self) -> None:
        _check(self.time_budget is None or (_finite(self.time_budget) and self.time_budget > 0),
               "time_budget", f"must be a positive number of seconds, got {self.time_budget!r}")
        _check(isinstance(self.epochs, int) and self.epochs > 0, "epochs",
               f"must be a positive integer, got {self.epochs!r}")
        _check(_finite(self.budget) and 0 < self.budget <= 1, "budget",
               f"must be in (0, 1], got {self.budget!r}")
        _check(self.budget_unit in ("backward", "compute"), "budget_unit",
               f"must be backward or compute, got {self.budget_unit!r}")


@dataclass(frozen=True)
class SamplerConfig:
    """Which samples are trained on, and with which weights."""

    sampler: str = opt("uniform", "sampler name (see `swiftsampler list`)", metavar="NAME")
    sampler_params: dict[str, Any] = opt(
        {}, "sampler parameter, repeatable: --sampler-param beta=2", metavar="KEY=VALUE"
    )
    sampler_card: str | None = opt(
        None, "sampler card (sampler.json from `swiftsampler search`) for --sampler swift",
        metavar="PATH",
    )

    def __post_init__(self) -> None:
        _check(bool(self.sampler), "sampler", "must not be empty")
        for key, owner in (("budget", "--budget"), ("card", "--sampler-card")):
            _check(key not in self.sampler_params, "sampler_params",
                   f"{key!r} is set by {owner}, not as a sampler parameter")
        _check(self.sampler_card is None or self.sampler == "swift", "sampler_card",
               f"is only for --sampler swift, not {self.sampler!r}")


@dataclass(frozen=True)
class AugmentConfig:
    """Data augmentation, applied to training batches only (never during evaluation)."""

    augment: list[str] = opt(["none"], "augmentations applied in order, comma-separated "
                             "(see `swiftsampler list`)", metavar="NAME[,NAME]")
    augment_params: dict[str, Any] = opt(
        {}, "augmentation parameter, repeatable: --augment-param mixup.alpha=1.0",
        metavar="NAME.KEY=VALUE",
    )

    def __post_init__(self) -> None:
        _check(len(self.augment) > 0 and all(self.augment), "augment",
               "give at least one name (none for no augmentation)")
        _check(len(set(self.augment)) == len(self.augment), "augment",
               f"each augmentation at most once, got {self.augment!r}")


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one training run (``swiftsampler train``)."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = opt(0, "seed of model init, data order and sampling", metavar="K")
    device: str = opt("auto", "device: auto (cuda if available), cpu, cuda, cuda:1, ...")
    checkpoint_every: int = opt(0, "save a checkpoint every K epochs (0: never)", metavar="K")
    threads: int = opt(
        1, "intra-op CPU threads torch uses while the run builds, trains and evaluates (set "
        "process-wide for that time, then restored); the numerics depend on it, so it is part of "
        "the config: the same value gives the same result in train, compare at any --jobs and "
        "search", metavar="N")
    precision: str = opt("fp32", "arithmetic of forward passes: fp32, or bf16 / fp16 autocast (losses "
                         "and statistics stay float32; fp16 adds a gradient scaler)",
                         choices=("fp32", "bf16", "fp16"))
    compile: bool = opt(False, "run the model through torch.compile")
    channels_last: bool = opt(False, "store 2-D convolutional models and image batches channels-last")

    def __post_init__(self) -> None:
        _check(isinstance(self.seed, int) and self.seed >= 0, "seed",
               f"must be a non-negative integer, got {self.seed!r}")
        _check(isinstance(self.threads, int) and not isinstance(self.threads, bool)
               and self.threads > 0, "threads", f"must be a positive integer, got {self.threads!r}")
        _check(isinstance(self.checkpoint_every, int) and self.checkpoint_every >= 0,
               "checkpoint_every", f"must be a non-negative integer, got {self.checkpoint_every!r}")

    @property
    def data_seed(self) -> int:
        return self.seed if self.data.data_seed is None else self.data.data_seed

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with ``changes``: flat field names (``budget=0.3``) or group names."""
        return from_flat(self, changes)


GROUPS: dict[str, type] = {
    "data": DataConfig, "model": ModelConfig, "optim": OptimConfig,
    "budget": BudgetConfig, "sampler": SamplerConfig, "augment": AugmentConfig,
}


def leaf_fields(cls: type = RunConfig) -> list[tuple[str | None, dataclasses.Field]]:
    """All settable fields as ``(group or None, field)``; group fields first, top-level last."""
    out: list[tuple[str | None, dataclasses.Field]] = []
    for f in fields(cls):
        if f.name in GROUPS:
            out.extend((f.name, g) for g in fields(GROUPS[f.name]))
        else:
            out.append((None, f))
    return out


_FIELD_GROUP: dict[str, str | None] = {f.name: g for g, f in leaf_fields()}
assert len(_FIELD_GROUP) == len(leaf_fields()), "config field names must be unique across groups"


def config_flags(cfg: RunConfig, exclude: tuple[str, ...] = ()) -> list[str]:
    """The command-line flags that give ``cfg`` from the defaults (each setting that differs)."""
    defaults = RunConfig()
    flags: list[str] = []
    for group, f in leaf_fields():
        if f.name in exclude:
            continue
        value = getattr(getattr(cfg, group) if group else cfg, f.name)
        if value == getattr(getattr(defaults, group) if group else defaults, f.name):
            continue
        if f.type == "bool":
            flags.append(flag(f.name) if value else "--no-" + flag(f.name)[2:])
        elif isinstance(value, dict):
            for key, item in value.items():
                flags += [flag(f.name), f"{key}={item}"]
        else:
            flags += [flag(f.name), ",".join(map(str, value)) if isinstance(value, list) else str(value)]
    return flags


def from_flat(base: RunConfig, values: dict[str, Any]) -> RunConfig:
    """Apply ``{field_name: value}`` (flat names, e.g. from the CLI) on top of ``base``."""
    per_group: dict[str | None, dict[str, Any]] = {}
    for name, value in values.items():
        if name not in _FIELD_GROUP:
            raise ConfigError(f"unknown setting {name!r}")
        per_group.setdefault(_FIELD_GROUP[name], {})[name] = value
    changes: dict[str, Any] = dict(per_group.pop(None, {}))
    for group, group_values in per_group.items():
        assert group is not None
        changes[group] = dataclasses.replace(getattr(base, group), **group_values)
    try:
        return dataclasses.replace(base, **changes)
    except TypeError as exc:  # pragma: no cover - guarded by the name check above
        raise ConfigError(str(exc)) from None


def from_dict(data: dict[str, Any], base: RunConfig | None = None) -> RunConfig:
    """Build a config from a nested dict (TOML layout or ``RunConfig.to_dict()``), type-checked."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in GROUPS and isinstance(value, dict):
            for sub, sub_value in value.items():
                if _FIELD_GROUP.get(sub) != key:
                    raise ConfigError(f"unknown setting {sub!r} in [{key}]")
                flat[sub] = sub_value
        elif key in _FIELD_GROUP:
            flat[key] = value
        else:
            raise ConfigError(f"unknown setting {key!r}")
    types = {f.name: f.type for _, f in leaf_fields()}
    for name, value in flat.items():
        flat[name] = coerce(name, types[name], value)
    return from_flat(base or RunConfig(), flat)


def load_toml(path: str | Path, base: RunConfig | None = None) -> RunConfig:
    """Read a TOML config file; any problem is a one-line :class:`ConfigError`."""
    return from_dict(read_toml(path), base)


def read_toml(path: str | Path) -> dict[str, Any]:
    """The tables of a TOML file; a missing, unreadable or invalid file is a ConfigError."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None


def coerce(name: str, annotation: str, value: Any) -> Any:
    """Check/convert a TOML or CLI value to the field's annotated type (annotations are strings)."""
    ann = annotation.replace(" ", "")
    optional = ann.endswith("|None")
    base_type = ann[: -len("|None")] if optional else ann
    if value is None or (optional and value == "none"):
        if optional:
            return None
        raise ConfigError(f"{flag(name)}: a value is required")
    try:
        if base_type == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
                return True
            if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if base_type == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if base_type == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if base_type == "str":
            if not isinstance(value, str):
                raise ValueError
            return value
        if base_type == "list[float]":
            items = value.split(",") if isinstance(value, str) else list(value)
            return [float(v) for v in items if str(v).strip() != ""]
        if base_type == "list[str]":
            items = value.split(",") if isinstance(value, str) else list(value)
            return [str(v).strip() for v in items if str(v).strip() != ""]
        if base_type == "dict[str,Any]":
            if not isinstance(value, dict):
                raise ValueError
            return dict(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{flag(name)}: expected {base_type}, got {value!r}") from None
    raise AssertionError(f"unsupported config type {annotation!r}")  # pragma: no cover
