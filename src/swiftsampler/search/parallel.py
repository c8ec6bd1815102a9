"""``--jobs N``: N processes run the trials of one study at once (its storage is the only thing
they share; each process has its own ``--threads`` intra-op threads).

The calling process creates the study (a journal file ``DIR/study.journal`` when no ``--storage``
was given) and trains the shared initialisation; then it starts ``N - 1`` worker processes
(``spawn``: a fresh interpreter, no forked torch state) that join the study, load ``DIR/init.pt``
and run trials until the study has its ``n_trials`` (:func:`.study.run_trials`), as it does itself.
Trial ``k`` is seeded by its number, so with a proposal that does not depend on the other trials'
results (``--search-algo random``) and no pruner, the trials are the same as with one job; with the
GP or a pruner a trial's proposal or fate depends on which trials have finished by then.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..config import RunConfig
from .config import SearchConfig

__all__ = ["JOURNAL_NAME", "Workers", "run_workers", "shared_storage"]

#: The journal file of a ``--jobs`` search without ``--storage``.
JOURNAL_NAME = "study.journal"


def shared_storage(out: Path, resume: bool) -> str:
    """The journal file ``out/study.journal``; a fresh search (no ``--resume``) starts it anew, as an
    in-memory study would be."""
    path = out / JOURNAL_NAME
    if not resume:
        path.unlink(missing_ok=True)
    return str(path)


@dataclass
class Workers:
    """The started worker processes."""

    processes: list[Any]

    def join(self) -> None:
        """Wait for every worker (each ends when the study has its trials)."""
        for process in self.processes:
            process.join()


def run_workers(cfg: RunConfig, search: SearchConfig, out: Path, count: int) -> Workers:
    """Start ``count`` worker processes on the study of ``search.storage``."""
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_work, args=(cfg, replace(search, jobs=1), str(out)),
                                 name=f"swiftsampler-search-{k + 1}", daemon=True)
                 for k in range(count)]
    for process in processes:
        process.start()
    return Workers(processes)


def _work(cfg: RunConfig, search: SearchConfig, out: str) -> None:
    """One worker: join the study and run trials (its results are in the storage)."""
    from .runner import SwiftSearch
    from .sampler_search import search_sampler

    runner = SwiftSearch(cfg, search, out)
    search_sampler(runner.fine_tune, runner.inner_size, search=search, seed=cfg.seed,
                   settings=cfg.to_dict(), resume=True)
