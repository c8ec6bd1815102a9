"""The results store of a comparison: one SQLite file, one row per run, shared by every comparison on it.

Several ``compare`` processes (and their workers) may run on one store at once: each run is *claimed*
by one of them in a write transaction (``BEGIN IMMEDIATE``: ``UPDATE ... WHERE status = 'pending'``),
so no run is trained twice. A comparison registers itself as an *owner* (host, pid, heartbeat); a run
left ``running`` by an owner that is gone (its process no longer exists on this host, it left, or its
heartbeat is older than :data:`STALE_S`) goes back to ``pending`` and is claimed again. Re-running a
comparison skips the runs that are done and retries the ones that failed.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..config import RunConfig
from ..engine.checkpoint import config_difference
from ..errors import ConfigError

#: Seconds between an owner's heartbeats, and the age after which a silent owner is presumed dead.
HEARTBEAT_S = 5.0
STALE_S = 60.0
#: Seconds a connection waits for another process's write transaction before giving up.
BUSY_TIMEOUT_S = 60.0

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS runs (
  key TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  config TEXT NOT NULL,
  status TEXT NOT NULL,
  result TEXT,
  error TEXT,
  updated REAL,
  owner TEXT,
  pid INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0
)""",
    """CREATE TABLE IF NOT EXISTS owners (
  owner TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  heartbeat REAL NOT NULL
)""",
)
#: Columns added after the first release: ``(name, declaration)``, added to older stores on open.
ADDED_COLUMNS = (("owner", "TEXT"), ("pid", "INTEGER"), ("attempts", "INTEGER NOT NULL DEFAULT 0"))


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (macOS): os.kill's answer holds
        return True


def _connect(path: Path) -> sqlite3.Connection:
    """Autocommit mode: every transaction is an explicit ``BEGIN IMMEDIATE`` (see :meth:`_write`)."""
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    return db


class ResultStore:
    """``DIR/results.db``; this object is one owner (a comparison process) among any number."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.owner = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:8]}"
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                self.db = self._open()
                return
            except sqlite3.OperationalError as exc:
                # Switching the journal mode while another process closes the store (back to a
                # plain file, see :meth:`close`) answers "locked" without SQLite's busy wait.
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise ConfigError(f"{self.path} is not a results database: {exc}") from None
                time.sleep(0.05)
            except sqlite3.DatabaseError as exc:
                raise ConfigError(f"{self.path} is not a results database: {exc}") from None

    def _open(self) -> sqlite3.Connection:
        """Connect and create or upgrade the schema."""
        db = _connect(self.path)
        try:
            db.execute("BEGIN IMMEDIATE")
            for statement in SCHEMA:
                db.execute(statement)
            columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
            for name, declaration in ADDED_COLUMNS:
                if name not in columns:
                    db.execute(f"ALTER TABLE runs ADD COLUMN {name} {declaration}")
            db.execute("COMMIT")
        except BaseException:
            db.close()
            raise
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding the database's write lock from its start."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ------------------------------------------------------------------ the grid
    def sync(self, runs: list[tuple[str, dict[str, Any], RunConfig]]) -> None:
        """Add the runs not yet in the store; refuse a store made with other fixed settings."""
        with self._write() as db:
            stored = dict(db.execute("SELECT key, config FROM runs"))
            for key, _, cfg in runs:
                if key in stored:
                    diff = config_difference(json.loads(stored[key]), cfg.to_dict())
                    if diff is not None:  # raising rolls the whole transaction back
                        raise ConfigError(f"{self.path.parent} holds results made with other settings "
                                          f"({diff}); use another --out")
            db.executemany("INSERT INTO runs (key, spec, config, status, updated) "
                           "VALUES (?, ?, ?, 'pending', ?)",
                           [(key, json.dumps(spec), json.dumps(cfg.to_dict()), time.time())
                            for key, spec, cfg in runs if key not in stored])

    def todo(self, keys: list[str]) -> list[str]:
        """Of ``keys``, those not done (pending, failed, running, or left running by a dead owner)."""
        done = {k for (k,) in self.db.execute("SELECT key FROM runs WHERE status = 'done'")}
        return [k for k in keys if k not in done]

    def retry_failed(self, keys: list[str]) -> None:
        """Put the failed runs among ``keys`` back to ``pending`` (a new comparison tries them again)."""
        with self._write() as db:
            db.executemany("UPDATE runs SET status = 'pending', error = NULL WHERE key = ? "
                           "AND status = 'failed'", [(k,) for k in keys])

    # ------------------------------------------------------------------ owners
    def join(self) -> None:
        """Register this process as an owner (its runs are not taken while it lives)."""
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO owners VALUES (?, ?, ?, ?)",
                       (self.owner, self.host, self.pid, time.time()))

    def leave(self) -> None:
        """Put this owner's unfinished runs back to ``pending`` and unregister it."""
        with self._write() as db:
            db.execute("UPDATE runs SET status = 'pending', owner = NULL, pid = NULL "
                       "WHERE owner = ? AND status = 'running'", (self.owner,))
            db.execute("DELETE FROM owners WHERE owner = ?", (self.owner,))

    @contextmanager
    def membership(self) -> Iterator[ResultStore]:
        """:meth:`join`, a heartbeat thread while the block runs, then :meth:`leave`."""
        self.join()
        beat = Heartbeat(self.path, self.owner)
        try:
            yield self
        finally:
            beat.stop()
            self.leave()

    def _release_orphans(self, db: sqlite3.Connection) -> None:
        """Inside a write transaction: forget dead owners and put their runs back to ``pending``."""
        now = time.time()
        dead = [(owner,) for owner, host, pid, beat in db.execute(
                    "SELECT owner, host, pid, heartbeat FROM owners")
                if now - beat > STALE_S or (host == self.host and not process_alive(pid))]
        db.executemany("DELETE FROM owners WHERE owner = ?", dead)
        db.execute("UPDATE runs SET status = 'pending', owner = NULL, pid = NULL "
                   "WHERE status = 'running' AND (owner IS NULL OR owner NOT IN "
                   "(SELECT owner FROM owners))")

    # ------------------------------------------------------------------ runs
    def claim(self, keys: list[str]) -> str | None:
        """Atomically take the first pending run of ``keys`` for this owner; ``None`` when none is
        left. Its ``pid`` is this process until :meth:`started` names the worker training it."""
        with self._write() as db:
            self._release_orphans(db)
            pending = {k for (k,) in db.execute("SELECT key FROM runs WHERE status = 'pending'")}
            for key in keys:
                if key not in pending:
                    continue
                taken = db.execute(
                    "UPDATE runs SET status = 'running', owner = ?, pid = ?, attempts = attempts + 1, "
                    "updated = ? WHERE key = ? AND status = 'pending'",
                    (self.owner, self.pid, time.time(), key)).rowcount
                if taken == 1:
                    return key
        return None

    def started(self, key: str, pid: int) -> None:
        """Record that process ``pid`` (a worker) trains this owner's run ``key``."""
        with self._write() as db:
            db.execute("UPDATE runs SET pid = ? WHERE key = ? AND owner = ?", (pid, key, self.owner))

    def _finish(self, key: str, status: str, result: Any = None, error: str | None = None) -> bool:
        """Record a run's outcome if this owner still holds it (it was not presumed dead and retaken)."""
        with self._write() as db:
            return db.execute(
                "UPDATE runs SET status = ?, result = ?, error = ?, updated = ? "
                "WHERE key = ? AND owner = ? AND status = 'running'",
                (status, None if result is None else json.dumps(result), error, time.time(), key,
                 self.owner)).rowcount == 1

    def done(self, key: str, result: dict[str, Any]) -> bool:
        return self._finish(key, "done", result=result)

    def failed(self, key: str, error: str) -> bool:
        return self._finish(key, "failed", error=error)

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
        """Close, leaving a plain database file (no WAL side files for readers to trip on) unless
        another process still has it open (the last one to close does it)."""
        try:
            self.db.execute("PRAGMA busy_timeout = 0")
            self.db.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.OperationalError:  # locked: someone else is using the store
            pass
        self.db.close()


class Heartbeat:
    """A daemon thread that refreshes an owner's heartbeat every :data:`HEARTBEAT_S` seconds, on its
    own connection (training in this process, or waiting on workers, does not delay it)."""

    def __init__(self, path: Path, owner: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(path, owner), daemon=True,
                                        name="results-store-heartbeat")
        self._thread.start()

    def _beat(self, path: Path, owner: str) -> None:
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            while not self._stop.wait(HEARTBEAT_S):
                db.execute("UPDATE owners SET heartbeat = ? WHERE owner = ?", (time.time(), owner))
        except sqlite3.Error:  # the store went away; the owner will look dead, which is safe
            pass
        finally:
            db.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
