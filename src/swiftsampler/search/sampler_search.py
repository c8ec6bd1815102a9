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
sampler worse than uniform on its own objective; the reference samplers (:mod:`.warm`: drop the
highest losses) and a warm start's parameters follow it. Storages, resuming and many workers on one
study work as for the CLI (:mod:`.study`).

**Multi-fidelity**: an objective with a second parameter, ``objective(sampler, report)``, calls
``report(score, step, metrics=None)`` at steps ``1..search.rungs`` of its inner loop; the study's pruner
(``search.pruner``) may then stop the trial (``report`` raises :class:`optuna.TrialPruned`, which
the objective lets through). A stopped trial counts as one of ``n_trials`` and is kept in the
trials table with its last reported score and ``pruned_at``; the uniform trial is never stopped
(it is the floor and the reference of the cost).

**Overhead** kept with every trial: ``propose_s`` (the Optuna sampler's proposal: fitting the GP
and optimising the acquisition function) and the objective's own numbers.
"""

from __future__ import annotations

import inspect
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
from .study import ORIGIN_ATTR, PRUNED_ATTR, UNIFORM_ATTR, finished, open_study, run_trials, study_settings
from .warm import warm_start_params

__all__ = ["Objective", "SearchResult", "save_search", "search_sampler"]

#: ``objective(sampler)`` or ``objective(sampler, report)``: a score (higher is better), or a mapping
#: holding the score under the objective's name plus other numbers to keep with the trial (e.g.
#: ``val_loss``, ``wall_s``); ``report(score, step)`` is the multi-fidelity hook (module docstring).
Objective = Callable[..., "float | Mapping[str, float]"]
#: ``report(score, step, metrics=None)``: an intermediate score (and numbers to keep with the trial
#: if it stops there); raises :class:`optuna.TrialPruned` to stop.
Report = Callable[..., None]


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
                   seed: int = 0, objective_name: str | None = None,
                   settings: Mapping[str, Any] | None = None, resume: bool = False,
                   progress: bool = False, provenance: Mapping[str, Any] | None = None,
                   on_trial: Callable[[dict[str, Any]], None] | None = None) -> SearchResult:
    """Search the sampler family of ``search`` for the parameters that maximise ``objective`` (or
    minimise it, for a ``search.objective`` that is minimised: ``val_loss``).

    Args:
        objective: called once per trial with a :class:`SwiftSampler` (the candidate's parameters,
            no warm-up: the caller's shared initialisation is the warm-up).
        num_samples: the training-set size N the samplers are built for.
        search: the family, the trial count, the Optuna algorithm and storage (default settings
            when None: 20 GP trials over 2 features x 5 knots, in memory).
        seed: seed of the trials' proposals (trial ``k`` is seeded from it and ``k``).
        objective_name: the key of the score when ``objective`` returns a mapping, and the name
            the card records (default: ``search.objective``, ``val_acc`` for ``auto``); the study
            goes ``search.direction``.
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
    objective_name = objective_name or search.objective_name
    better = max if search.direction == "maximize" else min
    if resume and search.storage is None:
        raise ConfigError("--resume: needs --storage (the journal file or database URL of the "
                          "study to continue)")
    t_start = time.perf_counter()
    family = search.family()
    names = family.param_names
    enqueue = warm_start_params(search)
    study = open_study(search, study_settings(search, dict(settings or {})),
                       dict(zip(names, family.uniform_params())), seed, resume=resume,
                       enqueue=enqueue)
    reports = _takes_report(objective)
    bar = tqdm(total=search.n_trials, disable=not progress, unit=" trials", dynamic_ncols=True,
               leave=False)

    def trial_objective(trial: optuna.Trial) -> float:
        t0 = time.perf_counter()  # the first suggestion runs the sampler's proposal (GP fit)
        theta = [trial.suggest_float(name, family.low, family.high) for name in names]
        trial.set_user_attr("propose_s", time.perf_counter() - t0)
        sampler = SwiftSampler(num_samples, params=theta, features=search.features,
                               transform=search.transform, n_knots=search.n_knots,
                               combine=search.combine, floor=search.floor, warmup=0.0,
                               guard=False)  # a trial is the check itself
        floor = bool(trial.user_attrs.get(UNIFORM_ATTR))

        def report(score: float, step: int, metrics: Mapping[str, float] | None = None) -> None:
            trial.report(float(score), step)
            trial.set_user_attr(objective_name, float(score))
            for key, number in (metrics or {}).items():  # kept if the trial stops here
                trial.set_user_attr(key, number if isinstance(number, int) else float(number))
            if not floor and trial.should_prune():
                trial.set_user_attr(PRUNED_ATTR, step)
                if on_trial is not None:
                    kept = {objective_name: float(score), **dict(metrics or {})}
                    on_trial({"trial": trial.number, "best": best_so_far(None),
                              "pruned_at": step, **kept})
                raise optuna.TrialPruned(f"pruned at step {step} of {search.rungs}")

        t1 = time.perf_counter()
        try:
            scores = objective(sampler, report) if reports else objective(sampler)
        finally:  # a stopped trial's time counts too
            trial.set_user_attr("trial_s", time.perf_counter() - t1)
        metrics = dict(scores) if isinstance(scores, Mapping) else {objective_name: scores}
        if objective_name not in metrics:
            raise ConfigError(f"the search objective returned {sorted(metrics)}, not "
                              f"{objective_name!r}")
        for key, value in metrics.items():
            trial.set_user_attr(key, value if isinstance(value, int) else float(value))
        value = float(metrics[objective_name])
        if on_trial is not None:
            on_trial({"trial": trial.number, "best": best_so_far(value), **metrics})
        return value

    def best_so_far(value: float | None) -> float | None:
        """The study's best complete value, this trial's ``value`` included (None: it has none)."""
        done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        values = [v for v in (value, *(t.value for t in done)) if v is not None]
        return better(values) if values else None

    run_trials(study, trial_objective, search.n_trials,
               on_change=lambda complete: bar.update(min(complete, bar.total) - bar.n))
    bar.close()
    done = sorted((t for t in study.get_trials(deepcopy=False) if finished(t)), key=lambda t: t.number)
    complete = [t for t in done if t.state == optuna.trial.TrialState.COMPLETE]
    best = better(complete, key=lambda t: t.value)
    uniform = next((t.value for t in complete if t.user_attrs.get(UNIFORM_ATTR)), None)
    card = SamplerCard.create(family, [best.params[name] for name in names],
                              transform=search.transform, provenance={
                                  **dict(provenance or {}), "objective": objective_name,
                                  "value": best.value, "uniform_value": uniform,
                                  "trials": len(done), "pruned": len(done) - len(complete),
                                  "best_trial": best.number, "search": search.to_dict()})
    trials = [_trial_row(t, complete, objective_name, better) for t in done]
    return SearchResult(card=card, trials=trials, best_value=best.value, uniform_value=uniform,
                        wall_s=time.perf_counter() - t_start, search_algo=search.search_algo)


def _takes_report(objective: Objective) -> bool:
    """Whether ``objective`` takes a second positional argument (the ``report`` hook)."""
    try:
        params = list(inspect.signature(objective).parameters.values())
    except (TypeError, ValueError):  # a builtin or C callable: the one-argument form
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def _trial_row(trial: optuna.trial.FrozenTrial, complete: list[optuna.trial.FrozenTrial],
               objective_name: str, better: Callable[..., float]) -> dict[str, Any]:
    """One row of the trials table: a stopped trial holds its last reported score and
    ``pruned_at``; ``best_so_far`` counts complete trials only."""
    value = trial.value if trial.value is not None else trial.user_attrs.get(objective_name)
    earlier = [c.value for c in complete if c.number <= trial.number]
    return {"trial": trial.number, objective_name: value,
            "best_so_far": better(earlier) if earlier else None,
            "state": "pruned" if trial.state == optuna.trial.TrialState.PRUNED else "complete",
            "origin": trial.user_attrs.get(ORIGIN_ATTR, "search"),
            **{k: v for k, v in trial.user_attrs.items() if k not in (objective_name,)
               and isinstance(v, (int, float)) and not isinstance(v, bool)},
            **trial.params}


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
