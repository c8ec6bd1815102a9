"""Results in pandas: :func:`load_results` turns a comparison's store or run folders into a DataFrame.

One row per run, flat columns (:data:`COLUMNS`, in this order, then any task extra such as
``test_ppl``):

==================  ==============================================================================
``key``             the run's id (a comparison's run key, or the run folder's path)
``status``          ``done``, ``failed``, ``running`` or ``pending`` (a run folder: ``done``)
``dataset``         dataset name
``model``           model name
``sampler``         sampler name
``augment``         augmentations, ``+``-joined (``none``)
``budget``          budget fraction b
``noise``           label-noise rate injected into the training split
``noise_type``      ``symmetric`` or ``asymmetric``
``seed``            the run's seed
``test_acc``        the task's test accuracy, in [0, 1]
``val_acc``         validation accuracy after the last epoch
``test_loss``       mean test loss (nats)
``val_loss``        mean validation loss after the last epoch (nats)
``train_loss``      mean training loss of the last epoch
``epochs``          epochs run
``iterations``      optimiser steps
``forward_samples`` samples forwarded (scoring passes included)
``backward_samples`` samples back-propagated
``noisy_mass``      share of the drawn samples whose label was corrupted (None without noise)
``wall_s``          wall-clock seconds of the whole run
``train_s``         seconds of the training loop
``error``           the one-line reason of a failed run
==================  ==============================================================================

``pandas`` is an optional extra: ``pip install 'swiftsampler[pandas]'``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["COLUMNS", "load_results", "result_row"]

COLUMNS = ("key", "status", "dataset", "model", "sampler", "augment", "budget", "noise", "noise_type",
           "seed", "test_acc", "val_acc", "test_loss", "val_loss", "train_loss", "epochs",
           "iterations", "forward_samples", "backward_samples", "noisy_mass", "wall_s", "train_s",
           "error")


def result_row(result: dict[str, Any], key: str, status: str = "done") -> dict[str, Any]:
    """The flat row of one ``result.json``."""
    cfg, cost = result.get("config", {}), result.get("cost", {})
    data, noise = cfg.get("data", {}), result.get("noise") or {}
    row: dict[str, Any] = {
        "key": key, "status": status, "dataset": data.get("dataset"),
        "model": cfg.get("model", {}).get("model"), "sampler": cfg.get("sampler", {}).get("sampler"),
        "augment": "+".join(cfg.get("augment", {}).get("augment", ["none"])),
        "budget": cfg.get("budget", {}).get("budget"), "noise": data.get("noise"),
        "noise_type": data.get("noise_type"), "seed": cfg.get("seed"),
        **{k: result.get(k) for k in ("test_acc", "val_acc", "test_loss", "val_loss", "train_loss",
                                      "epochs", "wall_s", "train_s")},
        **{k: cost.get(k) for k in ("iterations", "forward_samples", "backward_samples")},
        "noisy_mass": noise.get("sampling_mass_on_noisy"), "error": None,
    }
    extras = {k: v for k, v in result.items() if k.startswith(("test_", "val_")) and k not in row
              and k != "test_s" and isinstance(v, (int, float))}  # task scores, e.g. test_ppl
    return {**row, **extras}


def _store_rows(db: Path) -> list[dict[str, Any]]:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
            rows = connection.execute("SELECT key, spec, status, result, error FROM runs "
                                      "ORDER BY key").fetchall()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{db}: not a readable swiftsampler results database ({exc})") from None
    out = []
    for key, spec_text, status, result_text, error in rows:
        if result_text:
            row = result_row(json.loads(result_text), key, status)
        else:
            spec = json.loads(spec_text)
            row = {"key": key, "status": status, **{k: spec.get(k) for k in (
                "model", "sampler", "augment", "budget", "noise", "seed")}}
        row["error"] = error
        out.append(row)
    return out


def _folder_rows(folders: Iterable[Path]) -> list[dict[str, Any]]:
    out = []
    for folder in folders:
        try:
            result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{folder / 'result.json'}: unreadable ({exc})") from None
        out.append(result_row(result, str(folder)))
    return out


def load_results(path: str | Path) -> Any:
    """A pandas DataFrame with one row per run (the columns of :data:`COLUMNS`).

    ``path`` is a comparison's folder (``DIR/results.db``, every run whatever its status), a run
    folder (``DIR/result.json``), or a folder of run folders (each ``*/result.json``).
    """
    try:
        import pandas as pd
    except ImportError:
        raise ConfigError("load_results needs pandas: pip install 'swiftsampler[pandas]'") from None
    path = Path(path)
    if (path / "results.db").is_file():
        rows = _store_rows(path / "results.db")
    elif (path / "result.json").is_file():
        rows = _folder_rows([path])
    else:
        folders = sorted(p.parent for p in path.glob("*/result.json"))
        if not folders:
            raise ConfigError(f"{path} holds no results.db, no result.json and no run folders")
        rows = _folder_rows(folders)
    frame = pd.DataFrame(rows)
    ordered = [c for c in COLUMNS if c in frame.columns]
    return frame[ordered + [c for c in frame.columns if c not in ordered]]
