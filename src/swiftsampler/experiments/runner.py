"""Run a comparison grid, in parallel worker processes, into the results store."""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import multiprocessing
import sys
from pathlib import Path
from typing import Any

from ..config import RunConfig, from_dict
from ..errors import SwiftSamplerError
from .grid import GridSpec
from .store import ResultStore


def train_one(config: dict[str, Any]) -> tuple[str, Any]:
    """Train one run in this process; ``("done", result)`` or ``("failed", one-line reason)``."""
    from ..engine import train

    try:
        return "done", train(from_dict(config))
    except SwiftSamplerError as exc:
        return "failed", str(exc)
    except Exception as exc:  # a crash in one run must not stop the comparison
        return "failed", f"{type(exc).__name__}: {exc}"


def _search_card(cfg: RunConfig, folder: Path, n_trials: int, progress: bool) -> str:
    """The sampler card for ``cfg``'s cell, searched once (with the grid's first seed) and reused."""
    from ..search.runner import SearchConfig, SwiftSearch

    card = folder / "sampler.json"
    if not card.exists():
        SwiftSearch(cfg, SearchConfig(n_trials=n_trials), folder).run(progress=progress)
    return str(card)


def run_comparison(grid: GridSpec, out: str | Path, *, jobs: int = 1, progress: bool = False,
                   search_trials: int = 30) -> dict[str, int]:
    """Run every run of ``grid`` not yet done in ``out/results.db``; return the status counts."""
    out = Path(out)
    with ResultStore(out / "results.db") as store:
        runs = grid.runs()
        store.sync(runs)
        by_key = {key: (spec, cfg) for key, spec, cfg in runs}
        todo = store.todo(list(by_key))
        if todo:
            configs = _prepare(grid, out, by_key, todo, search_trials, progress)
            _execute(store, configs, jobs, progress)
        return store.counts()


def _prepare(grid: GridSpec, out: Path, by_key: dict[str, tuple[dict[str, Any], RunConfig]],
             todo: list[str], search_trials: int, progress: bool) -> dict[str, dict[str, Any]]:
    """Generate each dataset once, search the cards of swift cells, return the run configs."""
    from ..data import prepare_data

    distinct = {repr(dataclasses.asdict(by_key[k][1].data)): by_key[k][1].data for k in todo}
    for data_cfg in distinct.values():  # generate and cache each dataset once
        prepare_data(data_cfg, 0)
    configs: dict[str, dict[str, Any]] = {}
    for key in todo:
        spec, cfg = by_key[key]
        if spec["sampler"] == "swift" and cfg.sampler.sampler_card is None:
            cell = f"{spec['model']}_noise{spec['noise']:g}_{spec['augment']}_b{spec['budget']:g}"
            card = _search_card(cfg.replace(seed=grid.seeds[0]), out / "cards" / cell,
                                search_trials, progress)
            cfg = cfg.replace(sampler_card=card)
        configs[key] = cfg.to_dict()
    return configs


def _execute(store: ResultStore, configs: dict[str, dict[str, Any]], jobs: int,
             progress: bool) -> None:
    """Train every config, ``jobs`` at a time, recording each outcome as it arrives."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(configs), disable=not progress, unit=" runs", dynamic_ncols=True,
               file=sys.stderr)
    try:
        if jobs <= 1:
            for key, config in configs.items():
                store.running(key)
                _record(store, key, *train_one(config), bar)
        else:
            context = multiprocessing.get_context("spawn")
            with cf.ProcessPoolExecutor(jobs, mp_context=context) as pool:
                futures = {}
                for key, config in configs.items():
                    store.running(key)
                    futures[pool.submit(train_one, config)] = key
                for future in cf.as_completed(futures):
                    _record(store, futures[future], *future.result(), bar)
    finally:
        bar.close()


def _record(store: ResultStore, key: str, status: str, payload: Any, bar: Any) -> None:
    if status == "done":
        store.done(key, payload)
    else:
        store.failed(key, payload)
        bar.write(f"run failed: {key}: {payload}")
    bar.update(1)
