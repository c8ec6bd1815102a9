"""The results store of a comparison: one SQLite file, one row per run.

Re-running a comparison skips the runs that are done; runs left ``running`` by a killed comparison and
runs that ``failed`` are run again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from ..config import RunConfig
from ..engine.checkpoint import config_difference
from ..errors import ConfigError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  key TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  config TEXT NOT NULL,
  status TEXT NOT NULL,
  result TEXT,
  error TEXT,
  updated REAL
)"""


class ResultStore:
    """``DIR/results.db``; a single writer (the comparison's main process)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=60)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(SCHEMA)
            self.db.commit()
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{self.path} is not a results database: {exc}") from None

    def sync(self, runs: list[tuple[str, dict[str, Any], RunConfig]]) -> None:
        """Add the runs not yet in the store; refuse a store made with other fixed settings."""
        stored = dict(self.db.execute("SELECT key, config FROM runs"))
        for key, spec, cfg in runs:
            if key in stored:
                diff = config_difference(json.loads(stored[key]), cfg.to_dict())
                if diff is not None:
                    raise ConfigError(f"{self.path.parent} holds results made with other settings "
                                      f"({diff}); use another --out")
                continue
            self.db.execute("INSERT INTO runs VALUES (?, ?, ?, 'pending', NULL, NULL, ?)",
                            (key, json.dumps(spec), json.dumps(cfg.to_dict()), time.time()))
        self.db.commit()

    def todo(self, keys: list[str]) -> list[str]:
        """Of ``keys``, those not done (pending, failed, or left running by a killed comparison)."""
        done = {k for (k,) in self.db.execute("SELECT key FROM runs WHERE status = 'done'")}
        return [k for k in keys if k not in done]

    def _set(self, key: str, status: str, result: Any = None, error: str | None = None) -> None:
        self.db.execute("UPDATE runs SET status = ?, result = ?, error = ?, updated = ? WHERE key = ?",
                        (status, None if result is None else json.dumps(result), error, time.time(),
                         key))
        self.db.commit()

    def running(self, key: str) -> None:
        self._set(key, "running")

    def done(self, key: str, result: dict[str, Any]) -> None:
        self._set(key, "done", result=result)

    def failed(self, key: str, error: str) -> None:
        self._set(key, "failed", error=error)

    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, COUNT(*) FROM runs GROUP BY status"))

    def status(self, key: str) -> str | None:
        row = self.db.execute("SELECT status FROM runs WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close, leaving a plain database file (no WAL side files for readers to trip on)."""
        self.db.execute("PRAGMA journal_mode=DELETE")
        self.db.close()
