"""Checkpoints: everything needed to resume a run exactly, written atomically."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import torch

from ..data.files import describe_exception
from ..errors import ConfigError
from ..files import write_atomic

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_VERSION = 1


def save_checkpoint(path: str | Path, state: dict[str, Any], *, overwrite: bool = True) -> Path:
    """Serialise ``state`` with ``torch.save`` to ``path`` (temporary file + rename; with
    ``overwrite=False``, :class:`FileExistsError` if ``path`` exists: see ``files.write_atomic``)."""
    buffer = io.BytesIO()
    torch.save({"version": CHECKPOINT_VERSION, **state}, buffer)
    return write_atomic(path, lambda fh: fh.write(buffer.getvalue()), overwrite=overwrite)


def load_checkpoint(path: str | Path, what: str = "--resume: checkpoint") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, tensors and plain values only
    (``weights_only=True``: a pickle that would call anything is refused before it runs); problems
    are one-line ConfigErrors that name the file as ``what``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--resume: no checkpoint at {str(path)!r} (was --checkpoint-every set?)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ConfigError(f"{what} {str(path)!r} is refused: it holds objects other than tensors "
                          "and plain values (loading it could run code)") from None
    except Exception as exc:  # torch raises many types for corrupt files
        raise ConfigError(f"{what} {str(path)!r} is unreadable: {describe_exception(exc)}") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise ConfigError(f"{what} {str(path)!r} is not a swiftsampler checkpoint "
                          f"(version {CHECKPOINT_VERSION})")
    return state


def config_difference(saved: dict[str, Any], current: dict[str, Any],
                      ignore: tuple[str, ...] = ("checkpoint_every", "workers")) -> str | None:
    """The first setting that differs between two ``RunConfig.to_dict()`` s, as ``key: a != b``."""
    def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            if isinstance(v, dict) and not k.endswith("_params"):
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    a, b = flat(saved), flat(current)
    for key in sorted(set(a) | set(b)):
        if key.rsplit(".", 1)[-1] in ignore:
            continue
        if a.get(key) != b.get(key):
            return f"{key}: {a.get(key)!r} != {b.get(key)!r}"
    return None
