"""Plots (PNG, matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .files import write_atomic


def figure(ncols: int = 1, width: float = 5.5, height: float = 4.0, nrows: int | None = None):  # noqa: ANN201
    """``(pyplot, figure, axes)`` with ``ncols`` panels side by side on the Agg backend: ``axes`` is
    the row of panels, or, with ``nrows``, the (nrows, ncols) grid of them."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows or 1, ncols, figsize=(width * ncols, height * (nrows or 1)),
                             squeeze=False)
    return plt, fig, (axes if nrows is not None else axes[0])


def save_figure(plt, fig, path: Path | str) -> Path:  # noqa: ANN001
    """Write ``fig`` as a PNG atomically and close it."""
    import io

    buffer = io.BytesIO()
    fig.tight_layout()
    title = fig.get_suptitle()
    if title:  # above the panels' own titles (tight_layout can leave it over the top row's)
        fig.suptitle(title, y=fig.subplotpars.top + 0.4 / fig.get_figheight(), va="bottom")
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")  # outside legends included
    plt.close(fig)
    return write_atomic(path, lambda fh: fh.write(buffer.getvalue()))


def plot_convergence(curves: Mapping[str, Sequence[float]], path: Path | str, *,
                     uniform: float | None = None, title: str = "Sampler search",
                     startup: int | None = None, objective: str = "val_acc") -> Path:
    """Best objective so far against the trial (numbered from 0, as in ``trials.csv``), a step curve
    per search algorithm (Yao et al. 2024, Figure 3). ``curves`` maps a label to the objective of
    each trial, in order: the validation accuracy (``val_acc``, shown in %, the best is the highest)
    or loss (``val_loss``, in nats per token, the best is the lowest); ``startup`` shades the random
    start-up trials that come before the Bayesian optimisation (GP or TPE) proposes anything."""
    accuracy = objective == "val_acc"
    scale = 100 if accuracy else 1
    running_best = np.maximum.accumulate if accuracy else np.minimum.accumulate
    plt, fig, (ax,) = figure()
    longest = max((len(v) for v in curves.values()), default=0)
    if startup:
        ax.axvspan(-0.5, min(startup, longest) - 0.5, color="0.92", zorder=0,
                   label=f"random start-up trials ({startup})")
    for label, values in curves.items():
        best = running_best(np.asarray(values, dtype=float)) * scale
        ax.step(np.arange(len(best)), best, where="post", marker="o", markersize=3,
                label=f"best so far ({label})")
    if uniform is not None:
        ax.axhline(uniform * scale, color="grey", linestyle="--", label="uniform sampler (trial 0)")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel("best validation accuracy so far (%)" if accuracy
                  else "best validation loss so far (nats/token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small", frameon=False)
    return save_figure(plt, fig, path)


def plot_sampler(loss: np.ndarray, entropy: np.ndarray, probability: np.ndarray,
                 noisy: np.ndarray | None, path: Path | str, *, title: str = "") -> Path:
    """The learned sampler over (loss, renormed entropy) next to the density of mislabelled samples
    (Yao et al. 2024, Figure 1). Arrays are per training sample; ``probability`` sums to 1."""
    panels = 2 if noisy is not None and noisy.any() else 1
    plt, fig, axes = figure(panels)
    n = len(probability)
    relative = probability * n  # 1 = the uniform probability
    order = np.argsort(relative)
    scatter = axes[0].scatter(loss[order], entropy[order], c=relative[order], s=4, cmap="viridis",
                              vmin=0, vmax=max(2.0, float(np.quantile(relative, 0.99))))
    fig.colorbar(scatter, ax=axes[0], label="sampling probability × N (1 = uniform)")
    axes[0].set_title(title or "learned sampler")
    if panels == 2:
        extent = [[float(loss.min()), float(loss.max())], [float(entropy.min()), float(entropy.max())]]
        hist = axes[1].hist2d(loss[noisy], entropy[noisy], bins=40, range=extent, cmap="magma")
        fig.colorbar(hist[3], ax=axes[1], label="mislabelled samples per bin")
        axes[1].set_title(f"mislabelled samples ({int(noisy.sum())} of {n})")
    for ax in axes:  # the same axes in both panels, so they can be compared point by point
        ax.set_xlabel("training loss")
        ax.set_ylabel("renormed entropy $E^r$")
        ax.set_xlim(float(loss.min()), float(loss.max()))
        ax.set_ylim(float(entropy.min()), float(entropy.max()))
    return save_figure(plt, fig, path)
