"""The Swift Sampler search as a library function over any objective (Yao, Li & Xiao, NeurIPS 2024).

The outer loop is Bayesian optimisation (Optuna) of a :class:`~swiftsampler.samplers.SamplerFamily`'s
~10 knot values; the inner loop is the caller's: a function that fine-tunes *their* model from *their*
shared initialisation with the candidate sampler and returns a validation score (higher is better).
``swiftsampler search`` is one caller (its objective is the library's engine, :mod:`.runner`); a user
with their own model and loop is another::

    def objective(sampler):                      # a SwiftSampler with the candidate's parameters
        model.load_state_dict(init)              # the shared initialisation, taken once
        session = SamplingSession(sampler, num_samples=n, budget=1.0, epochs=1, ...)
        ... fine-tune with the session's batches ...
        return validation_accuracy(model)

    result = search_sampler(objective, num_samples=n, search=SearchConfig(n_trials=20))
    result.card.save("sampler.json")

The first trial is always the uniform sampler (all knots equal), so the search never returns a
sampler worse than uniform on its own objective; storages, resuming and many workers on one study
work as for the CLI (:mod:`.study`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from ..errors import ConfigError
from ..files import write_csv, write_json
from ..samplers import SamplerCard, SwiftSampler
from .config import SearchConfig
from .study import UNIFORM_ATTR, open_study, run_trials, study_settings

__all__ = ["Objective", "SearchResult", "save_search", "search_sampler"]

#: ``objective(sampler)``: a score (higher is better), or a mapping holding the score under the
#: objective's name plus other numbers to keep with the trial (e.g. ``val_loss``, ``wall_s``).
Objective = Callable[[SwiftSampler], "float | Mapping[str, float]"]


@dataclass(frozen=True)
class SearchResult:
    """What a search found: the card of the best trial and every complete trial."""

    card: SamplerCard
    trials: list[dict[str, Any]] = field(repr=False)
    best_value: float
    uniform_value: float | None
    wall_s: float
    search_algo: str


def search_sampler(objective: Objective, num_samples: int, *, search: SearchConfig | None = None,
                   seed: int = 0, objective_name: str = "val_acc",
                   settings: Mapping[str, Any] | None = None, resume: bool = False,
                   progress: bool = False, provenance: Mapping[str, Any] | None = None,
                   on_trial: Callable[[dict[str, Any]], None] | None = None) -> SearchResult:
    """Search the sampler family of ``search`` for the parameters that maximise ``objective``.

    Args:
        objective: called once per trial with a :class:`SwiftSampler` (the candidate's parameters,
            no warm-up: the caller's shared initialisation is the warm-up).
        num_samples: the training-set size N the samplers are built for.
        search: the family, the trial count, the Optuna algorithm and storage (default settings
            when None: 30 GP trials over 2 features x 5 knots, in memory).
        seed: seed of the trials' proposals (trial ``k`` is seeded from it and ``k``).
        objective_name: the key of the score when ``objective`` returns a mapping, and the name
            the card records.
        settings: what defines the objective (the training settings), stored in the study; a
            resumed study made with other settings is refused with the first difference.
        resume: continue (or join) the study in ``search.storage``.
        progress: show a progress bar of the trials.
        provenance: recorded in the card (dataset, model, ...), next to the search's own entries.
        on_trial: called after each trial this process runs, with ``trial`` (its number),
            ``best`` (the study's best value so far, this trial included) and its metrics.

    Returns:
        The best card (its provenance holds the objective, its value, the uniform trial's value,
        the trial count and the search settings) and the complete trials, in trial order.
    """
    from tqdm.auto import tqdm

    search = search or SearchConfig()
    if resume and search.storage is None:
        raise ConfigError("--resume: needs --storage (the journal file or database URL of the "
                          "study to continue)")
    t_start = time.perf_counter()
    family = search.family()
    names = family.param_names
    study = open_study(search, study_settings(search, dict(settings or {})),
                       dict(zip(names, family.uniform_params())), seed, resume=resume)
    bar = tqdm(total=search.n_trials, disable=not progress, unit=" trials", dynamic_ncols=True,
               leave=False)

    def trial_objective(trial: optuna.Trial) -> float:
        theta = [trial.suggest_float(name, family.low, family.high) for name in names]
        sampler = SwiftSampler(num_samples, params=theta, features=search.features,
                               transform=search.transform, n_knots=search.n_knots,
                               combine=search.combine, floor=search.floor, warmup=0.0)
        scores = objective(sampler)
        metrics = dict(scores) if isinstance(scores, Mapping) else {objective_name: scores}
        if objective_name not in metrics:
            raise ConfigError(f"the search objective returned {sorted(metrics)}, not "
                              f"{objective_name!r}")
        for key, value in metrics.items():
            trial.set_user_attr(key, value if isinstance(value, int) else float(value))
        value = float(metrics[objective_name])
        if on_trial is not None:
            done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            best = max([value, *(t.value for t in done)])
            on_trial({"trial": trial.number, "best": best, **metrics})
        return value

    run_trials(study, trial_objective, search.n_trials,
               on_change=lambda complete: bar.update(min(complete, bar.total) - bar.n))
    bar.close()
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    best = max(complete, key=lambda t: t.value)
    uniform = next((t.value for t in complete if t.user_attrs.get(UNIFORM_ATTR)), None)
    card = SamplerCard.create(family, [best.params[name] for name in names],
                              transform=search.transform, provenance={
                                  **dict(provenance or {}), "objective": objective_name,
                                  "value": best.value, "uniform_value": uniform,
                                  "trials": len(complete), "best_trial": best.number,
                                  "search": search.to_dict()})
    trials = [{"trial": t.number, objective_name: t.value,
               "best_so_far": max(c.value for c in complete if c.number <= t.number),
               **{k: v for k, v in t.user_attrs.items() if k not in (objective_name,)
                  and isinstance(v, (int, float)) and not isinstance(v, bool)},
               **t.params} for t in complete]
    return SearchResult(card=card, trials=trials, best_value=best.value, uniform_value=uniform,
                        wall_s=time.perf_counter() - t_start, search_algo=search.search_algo)


def save_search(result: SearchResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``sampler.json`` (the card), ``trials.json`` and ``trials.csv`` into ``out_dir``."""
    out = Path(out_dir)
    paths = {"card": result.card.save(out / "sampler.json"),
             "trials_json": write_json(out / "trials.json", {"search_algo": result.search_algo,
                                                             "trials": result.trials})}
    header = list(dict.fromkeys(key for row in result.trials for key in row))
    paths["trials"] = write_csv(out / "trials.csv", header,
                                ([row.get(k) for k in header] for row in result.trials))
    return paths
