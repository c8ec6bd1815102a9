"""Atomic file writes: write to a temporary file in the same directory, then rename.

A reader (or a crash) never sees a half-written result or checkpoint. The temporary file is created
with mode ``0o666`` so the umask decides the permissions, as for any other new file (``mkstemp``
would force ``0o600`` and teammates on a shared cluster could not read the results).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def write_atomic(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(fh)`` on a temporary file next to ``path`` and rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n"
    return write_atomic(path, lambda fh: fh.write(text.encode()))


def check_output_dir(path: str | Path, flag: str = "--out") -> Path:
    """Make sure ``path`` is (or can become) a writable directory, before any work starts.

    Creates the directory and writes and removes a probe file in it, so a path that is a file, lies
    under a file, or is on a read-only or full file system is found at once.

    Raises:
        ConfigError: one line naming ``flag`` and what is wrong.
    """
    from .errors import ConfigError

    path = Path(path)
    for ancestor in (path, *path.parents):
        if ancestor.exists() or ancestor.is_symlink():
            if not ancestor.is_dir():
                where = "is a file" if ancestor == path else f"lies under {ancestor}, which is a file"
                raise ConfigError(f"{flag}: {path} {where}, not a directory")
            break
    probe = path / f".swiftsampler-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{flag}: cannot write to {path} ({exc.strerror or exc})") from None
    return path
