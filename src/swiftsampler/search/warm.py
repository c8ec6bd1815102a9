"""Trials enqueued before the search proposes its own: reference samplers and warm starts.

* **Reference samplers** (``search.references``), after the uniform sampler (:mod:`.study`):
  ``drop-loss`` keeps every knot of every feature at the top of the box but the last ``loss`` knot,
  which is at the bottom: under the ``cdf`` transform the probability falls linearly to zero over
  the highest-loss ``1/S`` of the samples (a soft "drop the highest losses", the classic rule against
  label noise). A family without the ``loss`` feature has no such reference.
* **Warm start** (``search.warm_start``): a sampler card (``sampler.json``) searched in a related
  setting (another model, another noise level), or the directory of such a search: its card's
  parameters are enqueued, and from a directory also the :data:`WARM_TOP` best trials of its
  ``trials.json``. The card must belong to the same family (features and knots); values are clipped
  to this family's box. Enqueued trials are evaluated like any other (they count in ``n_trials``)
  and give the GP good points from the start.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigError
from ..samplers import SamplerCard
from .config import OBJECTIVES, SearchConfig

__all__ = ["WARM_TOP", "reference_params", "warm_start_params"]

#: How many of a warm-start search's best trials are enqueued besides its card.
WARM_TOP = 4


def reference_params(search: SearchConfig) -> list[tuple[str, dict[str, float]]]:
    """``(name, params)`` of the reference samplers of ``search`` that its family can express."""
    family = search.family()
    out = []
    if "drop-loss" in search.references and "loss" in family.features:
        params = dict.fromkeys(family.param_names, family.high)
        params[f"loss_{family.n_knots - 1}"] = family.low
        out.append(("drop-loss", params))
    return out


def warm_start_params(search: SearchConfig) -> list[tuple[str, dict[str, float]]]:
    """The references, then the warm start's parameters (the card first), without repeats."""
    enqueued = reference_params(search)
    if search.warm_start is not None:
        enqueued += [("warm-start", params) for params in _warm(search, Path(search.warm_start))]
    unique, seen = [], set()
    for origin, params in enqueued:
        key = tuple(round(params[name], 12) for name in sorted(params))
        if key not in seen:
            seen.add(key)
            unique.append((origin, params))
    return unique


def _warm(search: SearchConfig, path: Path) -> list[dict[str, float]]:
    family = search.family()
    card_path = path / "sampler.json" if path.is_dir() else path
    if not card_path.is_file():
        raise ConfigError(f"--warm-start: no sampler card at {str(card_path)!r} (give a card or the "
                          "directory of a search)")
    try:
        card = SamplerCard.load(card_path)
    except ConfigError as exc:
        raise ConfigError(f"--warm-start: {exc}") from None
    theirs = card.family_obj()
    if (theirs.features, theirs.n_knots) != (family.features, family.n_knots):
        raise ConfigError(f"--warm-start: the card's family ({','.join(theirs.features)}, "
                          f"{theirs.n_knots} knots) is not this search's "
                          f"({','.join(family.features)}, {family.n_knots} knots)")
    names = family.param_names
    rows = [dict(zip(names, card.params))]
    trials_path = path / "trials.json"
    if path.is_dir() and trials_path.is_file():
        rows += _best_trials(trials_path, names, card.provenance.get("objective", "val_acc"))
    return [{name: min(family.high, max(family.low, float(row[name]))) for name in names}
            for row in rows]


def _best_trials(path: Path, names: list[str], objective: str) -> list[dict[str, float]]:
    try:
        trials = json.loads(path.read_text(encoding="utf-8"))["trials"]
        complete = [t for t in trials if t.get("state", "complete") == "complete"
                    and all(isinstance(t.get(n), (int, float)) for n in names)
                    and isinstance(t.get(objective), (int, float))]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"--warm-start: {str(path)!r} is not a trials table of a search "
                          f"({type(exc).__name__})") from None
    complete.sort(key=lambda t: t[objective] if OBJECTIVES.get(objective) == "minimize"
                  else -t[objective])  # the best first
    return [{n: t[n] for n in names} for t in complete[:WARM_TOP]]
