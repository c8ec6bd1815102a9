"""What the bench scripts that fill the docs share: a compare report's tables for a docs page, and
committed copies of results stores (so hours of runs survive a fresh checkout without ``runs/``)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from swiftsampler.files import write_json


def snapshot(store: Path, copy: Path) -> None:
    """Copy the results store ``store`` to ``copy`` with SQLite's online backup (a consistent copy
    while other processes write), through a temporary file and a rename."""
    partial = copy.with_suffix(".db.partial")
    partial.unlink(missing_ok=True)
    source, target = sqlite3.connect(store), sqlite3.connect(partial)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        source.close()
        target.close()
    partial.replace(copy)


def restore(copy: Path, store: Path) -> None:
    """Start ``store`` from the committed copy when there is no store yet (a fresh checkout)."""
    if copy.exists() and not store.exists():
        store.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(copy, store)
        print(f"started {store} from {copy}", flush=True)


def tables(report: Path) -> str:
    """The report without its title, links and plot section (its headings one level down)."""
    lines = report.read_text().splitlines()
    keep = [line for line in lines[1:] if not line.startswith(("![", "## Plots"))]
    return "\n".join(keep).strip().replace("\n## ", "\n#### ")


def cached(path: Path, compute: Callable[[], Any]) -> Any:
    """The JSON at ``path`` if a run of the bench wrote it already, else ``compute()`` written there
    (atomically): a killed bench re-run skips its finished steps."""
    if path.exists():
        return json.loads(path.read_text())
    value = compute()
    write_json(path, value)
    return value
