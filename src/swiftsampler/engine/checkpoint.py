"""Checkpoints: everything needed to resume a run exactly, written atomically, read safely.

A checkpoint holds only tensors and plain containers (dicts, lists, numbers, strings), so it is read
with ``torch.load(weights_only=True)``: a crafted file cannot run code; a pickle that names any other
global is refused before anything is called.
"""

from __future__ import annotations

import io
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from ..config import RunConfig
from ..data.files import describe_exception
from ..errors import ConfigError
from ..files import write_atomic

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_VERSION = 2  # 2: the sampling state under "core"


def save_checkpoint(path: str | Path, state: dict[str, Any], *, overwrite: bool = True) -> Path:
    """Serialise ``state`` with ``torch.save`` to ``path`` (temporary file + rename; with
    ``overwrite=False``, :class:`FileExistsError` if ``path`` exists: see ``files.write_atomic``)."""
    buffer = io.BytesIO()
    torch.save({"version": CHECKPOINT_VERSION, **state}, buffer)
    return write_atomic(path, lambda fh: fh.write(buffer.getvalue()), overwrite=overwrite)


def load_checkpoint(path: str | Path, what: str = "--resume: checkpoint", *,
                    required: tuple[str, ...] = ("config", "state")) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, tensors and plain values only
    (``weights_only=True``: a pickle that would call anything is refused before it runs).

    Args:
        path: the file.
        what: how messages name the file (its flag or role).
        required: top-level entries that must be present and be tables (dicts).

    Raises:
        ConfigError: one line naming the file as ``what``: missing, unreadable, refused as unsafe,
            not a checkpoint, or lacking a required table.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {str(path)!r} does not exist")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickles before refusing them
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ConfigError(f"{what} {str(path)!r} is refused as unsafe or corrupt (only tensors and "
                          f"plain values are read, so no code in it can run): {_refusal(exc)}") from None
    except Exception as exc:  # torch raises many types for corrupt files
        raise ConfigError(f"{what} {str(path)!r} is unreadable: "
                          f"{describe_exception(exc)[:200]}") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise ConfigError(f"{what} {str(path)!r} is not a swiftsampler checkpoint "
                          f"(version {CHECKPOINT_VERSION})")
    for key in required:
        if not isinstance(state.get(key), dict):
            raise ConfigError(f"{what} {str(path)!r} has no {key!r} table")
    return state


def _refusal(exc: pickle.UnpicklingError) -> str:
    """Why the safe unpickler refused a file, in a few words: the last paragraph of torch's
    page-long message (e.g. "Trying to load unsupported GLOBAL posix.system ...")."""
    text = str(exc)
    if "Weights only load failed" not in text:
        return describe_exception(exc)[:200]
    body = text.split("Check the documentation")[0]
    paragraphs = [" ".join(p.split()) for p in body.split("\n\n") if p.strip()]
    reason = paragraphs[-1].removeprefix("WeightsUnpickler error:").strip() if paragraphs else ""
    return reason[:160]


def config_difference(saved: dict[str, Any], current: dict[str, Any],
                      ignore: tuple[str, ...] = ("checkpoint_every", "workers")) -> str | None:
    """The first setting that differs between two ``RunConfig.to_dict()`` s, as ``key: a != b``.

    A setting missing from ``saved`` (a config written before the setting existed) counts as its
    default, so results and checkpoints of an earlier version stay usable while it is unchanged."""
    def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            if isinstance(v, dict) and not k.endswith("_params"):
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    a, b = {**flat(RunConfig().to_dict()), **flat(saved)}, flat(current)
    for key in sorted(set(a) | set(b)):
        if key.rsplit(".", 1)[-1] in ignore:
            continue
        if a.get(key) != b.get(key):
            return f"{key}: {a.get(key)!r} != {b.get(key)!r}"
    return None
