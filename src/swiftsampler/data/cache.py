"""On-disk cache of generated arrays: one ``.npz`` file per dataset variant, written atomically.

Only plain numeric arrays are stored (``numpy.savez`` with ``allow_pickle=False`` on load), so a
cache file can never execute code. A file that cannot be read back is treated as absent: the caller
regenerates it. Writes go to a temporary file in the same directory followed by :func:`os.replace`,
so concurrent runs and interrupted writes never leave a half-written file under the final name.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..files import write_atomic

ENV_VAR = "SWIFTSAMPLER_CACHE"


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir`` if given, else ``$SWIFTSAMPLER_CACHE``, else ``~/.cache/swiftsampler``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "swiftsampler"


def load_arrays(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The arrays ``keys`` in ``path``; ``None`` if the file is missing, corrupt or incomplete."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: np.asarray(npz[key]) for key in keys}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def save_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> bool:
    """Write ``arrays`` to ``path`` atomically; return whether it worked.

    Caching is an optimisation: failing to write (read-only or full disk) only warns.
    """
    try:
        write_atomic(path, lambda fh: np.savez(fh, **arrays))  # type: ignore[arg-type]
        return True
    except OSError as exc:
        warnings.warn(f"could not write dataset cache {str(path)!r}: {exc}", RuntimeWarning,
                      stacklevel=2)
        return False
