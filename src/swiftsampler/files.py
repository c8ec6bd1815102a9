"""Atomic file writes: write to a temporary file in the same directory, then rename.

A reader (or a crash) never sees a half-written result or checkpoint. The temporary file is created
with mode ``0o666`` so the umask decides the permissions, as for any other new file (``mkstemp``
would force ``0o600`` and teammates on a shared cluster could not read the results).
"""

from __future__ import annotations

import csv
import io
import json
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any


def write_atomic(path: str | Path, write: Callable[[IO[bytes]], None], *,
                 overwrite: bool = True) -> Path:
    """Call ``write(fh)`` on a temporary file next to ``path`` and rename it to ``path``.

    With ``overwrite=False`` the file is published only if ``path`` does not exist yet (a hard link,
    atomic on local disks and NFS): the first of several concurrent writers wins and the others get
    :class:`FileExistsError`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
            os.unlink(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n"
    return write_atomic(path, lambda fh: fh.write(text.encode()))


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Write a header line and ``rows`` as CSV (``None`` as an empty field), atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return write_atomic(path, lambda fh: fh.write(buffer.getvalue().encode()))


def check_output_dir(path: str | Path, flag: str = "--out") -> Path:
    """Make sure ``path`` is, or can become, a writable directory, before any work starts.

    Nothing is left behind: the nearest existing ancestor of ``path`` must be a directory in which a
    probe file can be created (and is removed at once), so a path that is a file, lies under a file,
    or is on a read-only or full file system is found without creating ``path``.

    Raises:
        ConfigError: one line naming ``flag`` and what is wrong.
    """
    from .errors import ConfigError

    path = Path(path)
    existing = next(a for a in (path, *path.parents) if a.exists() or a.is_symlink() or a == a.parent)
    if not existing.is_dir():
        where = "is a file" if existing == path else f"lies under {existing}, which is a file"
        raise ConfigError(f"{flag}: {path} {where}, not a directory")
    probe = existing / f".swiftsampler-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{flag}: cannot write to {path} ({exc.strerror or exc})") from None
    return path
