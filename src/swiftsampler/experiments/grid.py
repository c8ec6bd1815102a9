"""A comparison grid: samplers x budgets x augmentations x noise levels x models x seeds."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, fields
from typing import Any

from ..config import RunConfig
from ..errors import ConfigError

AXES = ("models", "noises", "augments", "samplers", "budgets", "seeds")

#: Names of the sampler axis that are not samplers, with the settings they stand for. ``oracle`` is
#: uniform sampling on the correctly labelled training samples only (``--drop-noisy``): it knows which
#: labels are wrong, which no method does, so reports mark it as an oracle.
SAMPLER_ALIASES: dict[str, dict[str, Any]] = {"oracle": {"sampler": "uniform", "drop_noisy": True}}


@dataclass(frozen=True)
class GridSpec:
    """The axes of a comparison and the settings held fixed (``base``)."""

    samplers: tuple[str, ...] = ("uniform",)
    budgets: tuple[float, ...] = (1.0,)
    augments: tuple[str, ...] = ("none",)
    noises: tuple[float, ...] = (0.0,)
    models: tuple[str, ...] = ("cnn1d",)
    seeds: tuple[int, ...] = (0, 1, 2)
    base: RunConfig = field(default_factory=RunConfig)
    #: the sampler card of the ``swift`` cells (None: each cell's card is searched)
    card: str | None = None

    def __post_init__(self) -> None:
        for axis in AXES:
            values = getattr(self, axis)
            if not values:
                raise ConfigError(f"--{axis}: give at least one value")
            if len(set(values)) != len(values):
                raise ConfigError(f"--{axis}: repeated value in {list(values)}")
            seen: dict[str, Any] = {}
            for value in values:  # distinct values that one run key cannot tell apart
                label = axis_label(axis, value)
                if label in seen:
                    raise ConfigError(f"--{axis}: {seen[label]!r} and {value!r} give the same run "
                                      f"key ({label}); give values that differ in their first six "
                                      f"significant digits")
                seen[label] = value

    def runs(self) -> list[tuple[str, dict[str, Any], RunConfig]]:
        """Every run as ``(key, spec, config)``; configs are validated here (bad values fail early)."""
        out = []
        for model, noise, augment, sampler, budget, seed in itertools.product(
                *(getattr(self, axis) for axis in AXES)):
            spec = {"model": model, "noise": noise, "augment": augment, "sampler": sampler,
                    "budget": budget, "seed": seed}
            card = {"sampler_card": self.card} if sampler == "swift" and self.card else {}
            cfg = self.base.replace(model=model, noise=noise, augment=augment.split("+"),
                                    budget=budget, seed=seed, **card,
                                    **SAMPLER_ALIASES.get(sampler, {"sampler": sampler}))
            out.append((run_key(spec), spec, cfg))
        return out

    def replace(self, **changes: Any) -> GridSpec:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ConfigError(f"unknown grid setting {sorted(unknown)[0]!r}")
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return GridSpec(**{**values, **changes})


#: The axis of each field of a run's spec.
SPEC_AXES = {"model": "models", "noise": "noises", "augment": "augments", "sampler": "samplers",
             "budget": "budgets", "seed": "seeds"}


def axis_label(axis: str, value: Any) -> str:
    """How a value of ``axis`` is written in a run key: numbers with ``:g`` (six significant digits)."""
    return f"{value:g}" if axis in ("noises", "budgets") else str(value)


def run_key(spec: dict[str, Any]) -> str:
    """A readable, canonical id of one run."""
    label = {name: axis_label(axis, spec[name]) for name, axis in SPEC_AXES.items()}
    return (f"{label['model']}|noise={label['noise']}|augment={label['augment']}|"
            f"{label['sampler']}|budget={label['budget']}|seed={label['seed']}")


def parse_axis(axis: str, text: str | list[Any]) -> tuple[Any, ...]:
    """A comma-separated flag value (or a TOML list) as a typed tuple for ``axis``."""
    items = text.split(",") if isinstance(text, str) else list(text)
    items = [str(i).strip() if isinstance(i, str) else i for i in items]
    convert = {"budgets": float, "noises": float, "seeds": int}.get(axis, str)
    try:
        return tuple(convert(i) for i in items if i != "")
    except (TypeError, ValueError):
        raise ConfigError(f"--{axis}: cannot read {text!r}") from None
