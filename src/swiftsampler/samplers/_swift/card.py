"""The sampler card: a searched Swift Sampler as a small, versioned JSON file.

A card holds everything needed to rebuild the sampler on any model (the parameters are reused as they
are; features and transform are recomputed with the target model, our reading of the paper's
transfer [I])::

    {
      "schema": "swiftsampler.sampler-card/1",
      "features": ["loss", "entropy"],
      "transform": "cgf",
      "family": {"features": ["loss", "entropy"], "n_knots": 5, "combine": "product",
                 "low": 0.0, "high": 1.0, "floor": 0.0},
      "params": [0.5, ...],                      # SamplerFamily.param_names order
      "provenance": {"dataset": ..., "model": ..., "objective": ..., "value": ..., "trials": ...,
                     "cost": ..., "created": ..., "swiftsampler": "0.1.0"}
    }

``probabilities(stats)`` runs the whole map: features -> transform (the cgf mass is the gradient-norm
proxy, NaN -> 0) -> family probabilities. Every problem with a card (missing or unreadable file, invalid
JSON, wrong schema, unknown names, wrong number of parameters, non-finite or out-of-box parameters) is a
:class:`~swiftsampler.errors.ConfigError` with one line saying what is wrong.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ...errors import ConfigError
from ...files import write_json
from ...stats import SampleStats
from .family import SamplerFamily
from .features import FEATURES, feature_matrix
from .transforms import TRANSFORMS, apply_transform

__all__ = ["CARD_SCHEMA", "SamplerCard", "load_card", "transformed_features"]

#: Schema identifier (and version) of sampler cards this code reads and writes.
CARD_SCHEMA = "swiftsampler.sampler-card/1"


_NUMBER = (int, float)

#: Types of the provenance entries this code reads or writes; ``None`` is accepted for each (not
#: recorded) and other entries are kept as they are.
PROVENANCE_TYPES: dict[str, type | tuple[type, ...]] = {
    "dataset": str, "task": str, "model": str, "noise": _NUMBER, "noise_type": str, "budget": _NUMBER,
    "epochs": int, "seed": int, "objective": str, "value": _NUMBER, "uniform_value": _NUMBER,
    "trials": int, "best_trial": int, "search": dict, "cost": dict, "created": str,
    "swiftsampler": str, "pruned": int,
}

#: Types of the search settings recorded in ``provenance["search"]``.
SEARCH_TYPES: dict[str, type | tuple[type, ...]] = {
    "n_trials": int, "search_algo": str, "inner_epochs": _NUMBER, "inner_schedule": str,
    "init_fraction": _NUMBER, "features": list, "transform": str, "n_knots": int, "combine": str,
    "floor": _NUMBER, "study_name": str, "startup_trials": int, "pruner": str, "rungs": int,
    "train_subset": _NUMBER, "val_subset": _NUMBER, "final_val_subset": _NUMBER,
    "trial_eval_batch": int, "jobs": int,
    "warm_start": str, "references": list,
}

#: Types of the search's cost recorded in ``provenance["cost"]`` (seconds; ``full_runs`` is the
#: search's wall time over the wall time of one uniform training run of the same setting).
COST_TYPES: dict[str, type | tuple[type, ...]] = {
    "wall_s": _NUMBER, "init_wall_s": _NUMBER, "trials_wall_s": _NUMBER, "full_run_s": _NUMBER,
    "full_runs": _NUMBER, "full_run_source": str, "propose_s": _NUMBER, "build_s": _NUMBER,
    "eval_s": _NUMBER,
}


#: The setting a card is searched in, compared when it is used elsewhere (:meth:`SamplerCard.
#: setting_differences`).
SETTING_KEYS = ("dataset", "task", "model", "noise", "noise_type", "budget")


def _check_types(entries: Mapping[str, Any], types: dict[str, type | tuple[type, ...]],
                 where: str) -> None:
    """Every known entry of ``entries`` is ``None`` or of its type (a bool is neither)."""
    names = {str: "a string", int: "an integer", dict: "a table", list: "a list"}
    for key, expected in types.items():
        value = entries.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, expected):
            wanted = "a number" if expected == _NUMBER else names[expected]  # type: ignore[index]
            raise ConfigError(f"{where}.{key} must be {wanted}, got {value!r}")


def transformed_features(stats: SampleStats, features: Sequence[str], transform: str) -> Tensor:
    """Features of every sample mapped to [0, 1]: ``(N, K)`` float64, unseen samples at 0.5.

    The transform is fitted on the current statistics; the cgf mass is ``stats.grad_norm`` (NaN -> 0).
    Compute this once per refresh and call :meth:`SamplerFamily.probabilities` for each ``theta``.
    """
    raw = feature_matrix(stats, features)
    mass = torch.nan_to_num(stats.grad_norm.to(torch.float64), nan=0.0)
    return apply_transform(raw, transform, mass)


@dataclass(frozen=True, kw_only=True)
class SamplerCard:
    """A searched sampler: feature names, transform, family, parameters, and where they came from.

    Construct it with keywords (or :meth:`create` from a :class:`SamplerFamily`); every field is
    validated on construction and a bad value raises :class:`ConfigError`.
    """

    schema: str = CARD_SCHEMA
    features: tuple[str, ...]
    transform: str
    family: dict[str, Any]
    params: list[float]
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.schema != CARD_SCHEMA:
            raise ConfigError(f"unsupported sampler card schema {self.schema!r} (expected {CARD_SCHEMA!r})")
        if isinstance(self.features, str) or not isinstance(self.features, Sequence):
            raise ConfigError(f"card features must be a list of names, got {self.features!r}")
        object.__setattr__(self, "features", tuple(self.features))
        for name in self.features:
            FEATURES.get(name)  # ConfigError naming the known features
        if not isinstance(self.transform, str):
            raise ConfigError(f"card transform must be a name, got {self.transform!r}")
        TRANSFORMS.get(self.transform)
        family = SamplerFamily.from_dict(self.family)  # validates the feature names too
        object.__setattr__(self, "family", family.to_dict())
        if self.features != family.features:
            raise ConfigError(f"card features {list(self.features)} differ from the family's "
                              f"{list(family.features)}")
        if isinstance(self.params, (str, bytes)) or not isinstance(self.params, Sequence):
            raise ConfigError(f"card params must be a list of numbers, got {self.params!r}")
        for value in self.params:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"card params must be numbers, got {value!r}")
        family.check_params([float(v) for v in self.params])
        object.__setattr__(self, "params", [float(v) for v in self.params])
        if not isinstance(self.provenance, Mapping):
            raise ConfigError(f"card provenance must be a mapping, got {type(self.provenance).__name__}")
        _check_types(self.provenance, PROVENANCE_TYPES, "card provenance")
        _check_types(self.provenance.get("search") or {}, SEARCH_TYPES, "card provenance.search")
        _check_types(self.provenance.get("cost") or {}, COST_TYPES, "card provenance.cost")
        init_fraction = (self.provenance.get("search") or {}).get("init_fraction")
        if init_fraction is not None and not 0 < init_fraction < 1:
            raise ConfigError(f"card provenance.search.init_fraction must be in (0, 1), "
                              f"got {init_fraction!r}")
        object.__setattr__(self, "provenance", dict(self.provenance))

    @property
    def init_fraction(self) -> float | None:
        """The budget fraction of the search's shared initialisation (None if not recorded)."""
        value = (self.provenance.get("search") or {}).get("init_fraction")
        return None if value is None else float(value)

    @classmethod
    def create(cls, family: SamplerFamily, params: Sequence[float] | Tensor, *, transform: str = "cgf",
               provenance: Mapping[str, Any] | None = None) -> SamplerCard:
        """A card for ``family`` with ``params``; ``provenance`` gains ``created`` (UTC, ISO 8601) and
        ``swiftsampler`` (the package version) unless it already has them."""
        from ... import __version__

        prov = dict(provenance or {})
        prov.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
        prov.setdefault("swiftsampler", __version__)
        if isinstance(params, Tensor):
            params = params.detach().cpu().reshape(-1).tolist()
        return cls(features=family.features, transform=transform, family=family.to_dict(),
                   params=list(params), provenance=prov)

    def setting_differences(self, setting: Mapping[str, Any]) -> list[str]:
        """What differs between where the card was searched (its provenance) and ``setting``
        (the same keys: dataset, task, model, noise, noise_type, budget), as ``key: card -> here``
        strings; keys the card does not record are not compared."""
        differences = []
        for key in SETTING_KEYS:
            searched, here = self.provenance.get(key), setting.get(key)
            if searched is not None and here is not None and searched != here:
                differences.append(f"{key} {searched} -> {here}")
        return differences

    def family_obj(self) -> SamplerFamily:
        """The :class:`SamplerFamily` this card's parameters belong to."""
        return SamplerFamily.from_dict(self.family)

    def probabilities(self, stats: SampleStats) -> Tensor:
        """Sampling probabilities (N,) float64 of every sample under this card, on the stats' device."""
        u = transformed_features(stats, self.features, self.transform)
        return self.family_obj().probabilities(u, self.params)

    def knots(self) -> dict[str, dict[str, list[float]]]:
        """The parameters as a reader sees them: per feature, its knots' positions on [0, 1] of
        the transformed feature (``at``) and their values (``values``)."""
        family = self.family_obj()
        n = family.n_knots
        at = [j / (n - 1) for j in range(n)]
        return {feature: {"at": at, "values": self.params[k * n:(k + 1) * n]}
                for k, feature in enumerate(family.features)}

    def to_dict(self) -> dict[str, Any]:
        """The card as JSON: ``knots`` repeats ``params`` feature by feature, for readers."""
        return {"schema": self.schema, "features": list(self.features), "transform": self.transform,
                "family": dict(self.family), "params": list(self.params), "knots": self.knots(),
                "provenance": dict(self.provenance)}

    def save(self, path: str | Path) -> Path:
        """Write the card as JSON, atomically; provenance must be JSON-serialisable."""
        try:
            return write_json(path, self.to_dict())
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"sampler card cannot be written as JSON: {exc}") from None

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "sampler card") -> SamplerCard:
        """Build a card from parsed JSON; every problem is one :class:`ConfigError` line naming ``source``."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
        if "schema" not in data:
            raise ConfigError(f"{source}: missing 'schema' (expected {CARD_SCHEMA!r})")
        if data["schema"] != CARD_SCHEMA:
            raise ConfigError(f"{source}: unsupported schema {data['schema']!r} (expected {CARD_SCHEMA!r})")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names) - {"knots"})
        if unknown:
            raise ConfigError(f"{source}: unknown key {unknown[0]!r}; a card has: {', '.join(names)}")
        missing = [n for n in ("features", "transform", "family", "params") if n not in data]
        if missing:
            raise ConfigError(f"{source}: missing {missing[0]!r}")
        fields = {k: v for k, v in data.items() if k != "knots"}
        try:
            card = cls(**fields)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        if "knots" in data and data["knots"] != card.knots():
            raise ConfigError(f"{source}: 'knots' and 'params' disagree (edit params, or both)")
        return card

    @classmethod
    def load(cls, path: str | Path) -> SamplerCard:
        """Read and validate a card written by :meth:`save`."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"sampler card {path} not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"sampler card {path} cannot be read: {exc}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"sampler card {path} is not valid JSON: {exc.msg} "
                              f"(line {exc.lineno}, column {exc.colno})") from None
        return cls.from_dict(data, source=f"sampler card {path}")


def load_card(path: str | Path) -> SamplerCard:
    """Shorthand for :meth:`SamplerCard.load`."""
    return SamplerCard.load(path)
