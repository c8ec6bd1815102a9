"""The comparison report: what the grid of runs in ``DIR/results.db`` measured.

``load_done`` reads the finished runs (read-only), ``summarize`` averages them per cell (model, noise,
augmentation, sampler, budget) over seeds and pairs each sampler with the baseline sampler on the same
seeds, ``render_markdown`` / ``write_csv`` / the ``plot_*`` functions present the cells, and
``write_report`` does all of it for one output folder.

Accuracies are fractions in the data (``0.8123``) and percentages (``81.23``) on screen; differences to
the baseline are shown in percentage points.
"""

from __future__ import annotations

import csv
import json
import math
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..files import write_atomic
from ..files import write_csv as write_rows
from ..plots import figure, save_figure
from ..report import format_table
from .grid import SAMPLER_ALIASES

#: The statuses a run in ``results.db`` can have.
STATUSES = ("done", "running", "pending", "failed")

_GROUP = ("model", "noise", "augment", "sampler", "budget")


# ----------------------------------------------------------------------------------------- reading


def _connect(db_path: Path | str) -> sqlite3.Connection:
    path = Path(db_path)
    if not path.is_file():
        raise ConfigError(f"{path}: no results database here (run the comparison first)")
    try:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ConfigError(f"{path}: cannot open the results database ({exc})") from None


def _query(db_path: Path | str, sql: str) -> list[tuple]:
    path = Path(db_path)
    with closing(_connect(path)) as con:
        try:
            return con.execute(sql).fetchall()
        except sqlite3.DatabaseError as exc:
            if "no such table" in str(exc) or "no such column" in str(exc):
                raise ConfigError(f"{path}: not a swiftsampler results database ({exc})") from None
            raise ConfigError(f"{path}: not a readable SQLite results database ({exc})") from None


def load_done(db_path: Path | str) -> list[dict[str, Any]]:
    """The finished runs of ``db_path``, each flattened to its spec (model, noise, augment, sampler,
    budget, seed) plus ``test_acc``, ``val_acc``, ``wall_s``, ``forward_samples``,
    ``backward_samples`` and ``noisy_mass`` (the share of drawn samples that were mislabelled; None
    without label noise). Raises :class:`ConfigError` if the file is missing or not a results db."""
    rows = _query(db_path, "SELECT key, spec, result FROM runs WHERE status = 'done' ORDER BY key")
    out = []
    for key, spec_text, result_text in rows:
        try:
            spec, result = json.loads(spec_text), json.loads(result_text or "null")
            cost, noise = result.get("cost", {}), result.get("noise") or {}
            out.append({
                **spec,
                "noise": float(spec["noise"]),
                "budget": float(spec["budget"]),
                "seed": int(spec["seed"]),
                "test_acc": float(result["test_acc"]),
                "val_acc": _float_or_none(result.get("val_acc")),
                "wall_s": _float_or_none(result.get("wall_s")),
                "forward_samples": _float_or_none(cost.get("forward_samples")),
                "backward_samples": _float_or_none(cost.get("backward_samples")),
                "noisy_mass": _float_or_none(noise.get("sampling_mass_on_noisy")),
                "weight_noisy": _float_or_none(noise.get("loss_weight_on_noisy")),
            })
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ConfigError(f"{db_path}: run {key!r} has a malformed spec or result "
                              f"({type(exc).__name__}: {exc})") from None
    return out


def count_status(db_path: Path | str) -> dict[str, int]:
    """How many runs of ``db_path`` are done, running, pending and failed (every status is a key)."""
    counts = dict.fromkeys(STATUSES, 0)
    for status, n in _query(db_path, "SELECT status, COUNT(*) FROM runs GROUP BY status"):
        counts[status] = counts.get(status, 0) + n
    return counts


def failed_runs(db_path: Path | str) -> list[tuple[str, str]]:
    """``(key, first line of the error)`` of each failed run."""
    rows = _query(db_path, "SELECT key, error FROM runs WHERE status = 'failed' ORDER BY key")
    return [(key, (error or "").strip().splitlines()[0] if (error or "").strip() else "")
            for key, error in rows]


def _float_or_none(x: Any) -> float | None:
    return None if x is None else float(x)


# --------------------------------------------------------------------------------------- summaries


@dataclass(frozen=True)
class Cell:
    """One cell of the grid averaged over its seeds, with the paired difference to the baseline.

    ``test_acc_std`` is the sample standard deviation (ddof=1; 0 with one run). ``diff_*`` compare the
    test accuracy with the baseline sampler's on the same model, noise, augmentation, budget and seed:
    ``diff_mean`` is the mean paired difference over the ``diff_n`` seeds both have, and
    ``[diff_low, diff_high]`` its 95% Student-t interval (None with fewer than two pairs). All ``diff_*``
    are None for the baseline itself and when no seed pairs up (``diff_n`` is then 0).
    """

    model: str
    noise: float
    augment: str
    sampler: str
    budget: float
    n: int
    seeds: tuple[int, ...]
    test_acc_mean: float
    test_acc_std: float
    val_acc_mean: float | None
    wall_s_mean: float | None
    forward_samples_mean: float | None
    backward_samples_mean: float | None
    noisy_mass_mean: float | None
    baseline: str
    diff_mean: float | None
    diff_low: float | None
    diff_high: float | None
    diff_n: int
    weight_noisy_mean: float | None = None  # the mislabelled samples' share of the loss weight
    time_ratio: float | None = None  # wall s over the baseline's

    @property
    def is_baseline(self) -> bool:
        return self.sampler == self.baseline


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return math.fsum(present) / len(present) if present else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _std(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    m = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / (len(values) - 1))


def paired_interval(diffs: Sequence[float], level: float = 0.95) -> tuple[float, float | None,
                                                                            float | None]:
    """Mean of paired differences and its two-sided Student-t interval:
    ``mean ± t_{(1+level)/2, n-1} · sd(d) / sqrt(n)``; the bounds are None for fewer than 2 pairs."""
    from scipy.stats import t

    n = len(diffs)
    if n == 0:
        raise ValueError("no differences")
    mean = math.fsum(diffs) / n
    if n < 2:
        return mean, None, None
    half = float(t.ppf(0.5 + level / 2, n - 1)) * _std(diffs) / math.sqrt(n)
    return mean, mean - half, mean + half


def _sampler_order(sampler: str, baseline: str) -> tuple[bool, str]:
    return (sampler != baseline, sampler)


def summarize(rows: Iterable[Mapping[str, Any]], baseline: str = "uniform") -> list[Cell]:
    """Average the runs (as from :func:`load_done`) per (model, noise, augment, sampler, budget) and pair
    each sampler with ``baseline`` seed by seed. If a seed appears more than once in a cell, its
    runs all count in the mean and std and their mean is its value in the pairing. Sorted by model,
    noise, augment, budget, then sampler (the baseline first)."""
    groups: dict[tuple, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[tuple(row[k] for k in _GROUP)].append(row)

    def per_seed(group: list[Mapping[str, Any]]) -> dict[int, float]:
        by_seed: dict[int, list[float]] = defaultdict(list)
        for r in group:
            by_seed[int(r["seed"])].append(float(r["test_acc"]))
        return {s: math.fsum(v) / len(v) for s, v in by_seed.items()}

    cells = []
    for (model, noise, augment, sampler, budget), group in groups.items():
        acc = [float(r["test_acc"]) for r in group]
        diff_mean = diff_low = diff_high = None
        diff_n = 0
        base = groups.get((model, noise, augment, baseline, budget))
        if sampler != baseline and base is not None:
            mine, theirs = per_seed(group), per_seed(base)
            common = sorted(set(mine) & set(theirs))
            diff_n = len(common)
            if common:
                diff_mean, diff_low, diff_high = paired_interval([mine[s] - theirs[s] for s in common])
        cells.append(Cell(
            model=model, noise=noise, augment=augment, sampler=sampler, budget=budget,
            n=len(group), seeds=tuple(sorted({int(r["seed"]) for r in group})),
            test_acc_mean=math.fsum(acc) / len(acc), test_acc_std=_std(acc),
            val_acc_mean=_mean(r.get("val_acc") for r in group),
            wall_s_mean=_mean(r.get("wall_s") for r in group),
            forward_samples_mean=_mean(r.get("forward_samples") for r in group),
            backward_samples_mean=_mean(r.get("backward_samples") for r in group),
            noisy_mass_mean=_mean(r.get("noisy_mass") for r in group),
            baseline=baseline, diff_mean=diff_mean, diff_low=diff_low, diff_high=diff_high,
            diff_n=diff_n, weight_noisy_mean=_mean(r.get("weight_noisy") for r in group),
            time_ratio=_ratio(_mean(r.get("wall_s") for r in group),
                              None if base is None else _mean(r.get("wall_s") for r in base)),
        ))
    cells.sort(key=lambda c: (c.model, c.noise, c.augment, c.budget,
                              *_sampler_order(c.sampler, baseline)))
    return cells


# --------------------------------------------------------------------------------------- rendering


def _signed(x: float) -> str:
    return f"{x:+.2f}".replace("-", "\u2212")


def format_diff(cell: Cell) -> str:
    """The paired difference to the baseline in percentage points: ``+0.31 [−0.10, +0.72]``;
    ``+0.31 (1 seed)`` with one pair, ``baseline`` for the baseline, ``-`` with no pairs."""
    if cell.is_baseline:
        return "baseline"
    if cell.diff_mean is None:
        return "-"
    if cell.diff_low is None or cell.diff_high is None:
        return f"{_signed(100 * cell.diff_mean)} (1 seed)"
    return (f"{_signed(100 * cell.diff_mean)} [{_signed(100 * cell.diff_low)}, "
            f"{_signed(100 * cell.diff_high)}]")


def _budget_label(budget: float) -> str:
    return f"{100 * budget:g}%"


def _noise_label(noise: float) -> str:
    return "no label noise" if noise == 0 else f"{100 * noise:g}% label noise"


def _count(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def _sections(cells: Iterable[Cell]) -> dict[tuple[str, float], list[Cell]]:
    sections: dict[tuple[str, float], list[Cell]] = defaultdict(list)
    for c in cells:
        sections[(c.model, c.noise)].append(c)
    return dict(sorted(sections.items()))


def _best(cells: Iterable[Cell]) -> set[Cell]:
    """The cells with the best mean test accuracy of their (model, noise, budget); ties all win. An
    oracle (:data:`~swiftsampler.experiments.grid.SAMPLER_ALIASES`) is not a method: it never wins."""
    top: dict[tuple, float] = {}
    cells = [c for c in cells if c.sampler not in SAMPLER_ALIASES]
    for c in cells:
        key = (c.model, c.noise, c.budget)
        top[key] = max(top.get(key, -math.inf), c.test_acc_mean)
    return {c for c in cells if math.isclose(c.test_acc_mean, top[(c.model, c.noise, c.budget)],
                                              rel_tol=0, abs_tol=1e-12)}


def render_markdown(cells: Sequence[Cell], title: str, *,
                    status: Mapping[str, int] | None = None) -> str:
    """The comparison as markdown: one section per (model, noise) with a table of its cells (rows by
    budget, augmentation, sampler), the best mean test accuracy per budget in bold, a legend, and
    the number of runs (``status``, as from :func:`count_status`, adds the unfinished ones)."""
    baseline = cells[0].baseline if cells else "uniform"
    runs = sum(c.n for c in cells)
    lines = [f"# {title}", ""]
    summary = f"{runs} finished run{'s' if runs != 1 else ''} in {len(cells)} cells"
    if status is not None:
        unfinished = [f"{status.get(s, 0)} {s}" for s in ("running", "pending", "failed")
                      if status.get(s, 0)]
        total = sum(status.values())
        summary = (f"{status.get('done', 0)} of {total} runs done"
                   + (f" ({', '.join(unfinished)}: not included)" if unfinished else "")
                   + f"; {len(cells)} cells")
    lines += [summary + ".", ""]
    if not cells:
        lines += ["No finished runs yet.", ""]
        return "\n".join(lines)
    best = _best(cells)
    for (model, noise), section in _sections(cells).items():
        lines += [f"## {model}, {_noise_label(noise)}", ""]
        noisy = any(c.noisy_mass_mean is not None for c in section)
        headers = ["budget", "augment", "sampler", "test acc %", f"Δ vs {baseline} (pts, 95% CI)",
                   "val acc %", "backward samples", "forward samples", "wall s",
                   f"time × {baseline}", "seeds"]
        if noisy:
            headers[-1:-1] = ["mislabelled drawn %", "mislabelled loss weight %"]
        rows = []
        order = sorted(section, key=lambda c: (c.budget, c.augment,
                                               *_sampler_order(c.sampler, baseline)))
        for c in order:
            acc = f"{100 * c.test_acc_mean:.2f} ± {100 * c.test_acc_std:.2f}"
            row = [_budget_label(c.budget), c.augment, c.sampler,
                   f"**{acc}**" if c in best else acc, format_diff(c), _pct(c.val_acc_mean),
                   _count(c.backward_samples_mean), _count(c.forward_samples_mean),
                   "-" if c.wall_s_mean is None else f"{c.wall_s_mean:.1f}",
                   "-" if c.time_ratio is None else f"{c.time_ratio:.2f}", str(c.n)]
            if noisy:
                row[-1:-1] = [_pct(c.noisy_mass_mean), _pct(c.weight_noisy_mean)]
            rows.append(row)
        lines += [format_table(headers, rows), ""]
    lines += [
        "How to read the tables:",
        "",
        "- *test acc %*: mean ± sample standard deviation over the seeds; the best mean per model, "
        "noise and budget (of the methods, not the oracle) is in **bold**.",
        f"- *Δ vs {baseline}*: the test accuracy minus that of the {baseline} sampler with the same "
        "model, noise, augmentation, budget and seed, in percentage points: the mean over the seeds "
        "both have and its paired 95% confidence interval, mean ± t(0.975, n−1) · sd / √n. An "
        "interval that excludes 0 is a difference the seeds support; with one seed only the mean is "
        "given.",
        "- *budget*: the share of the full training run's sample budget (backward samples).",
        "- *backward samples*: samples that went through a backward pass (the training cost); "
        "*forward samples*: samples that went through a forward pass, including scoring passes "
        "that some samplers use to choose; *wall s*: wall-clock seconds of the whole run; all "
        "three are means over the seeds; *time × " + baseline + "*: wall s over the " + baseline
        + " run's.",
    ]
    if any(c.sampler in SAMPLER_ALIASES for c in cells):
        lines.append("- *oracle*: an **oracle**, not a method: uniform sampling on the correctly "
                     "labelled training samples only (`--drop-noisy`), which needs to know which "
                     "labels are wrong.")
    if any(c.noisy_mass_mean is not None for c in cells):
        lines.append("- *mislabelled drawn %*: the share of the samples drawn for training whose "
                     "label had been corrupted by the injected noise; *mislabelled loss weight %*: "
                     "their share of the loss weight (lower than the drawn share when a loss rule "
                     "such as MentorNet, small-loss or L2RW down-weights them).")
    lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- CSV

_FIELDS = tuple(f.name for f in fields(Cell))


def write_csv(cells: Iterable[Cell], path: Path | str) -> Path:
    """One row per cell, the :class:`Cell` fields as columns (seeds space-separated, None empty),
    written atomically; :func:`read_csv` reads it back."""
    return write_rows(path, _FIELDS, (
        ["" if v is None else " ".join(map(str, v)) if isinstance(v, tuple)
         else repr(v) if isinstance(v, float) else v for v in astuple(c)] for c in cells))


def read_csv(path: Path | str) -> list[Cell]:
    """The cells of a CSV written by :func:`write_csv`."""
    kinds = {f.name: f.type for f in fields(Cell)}
    cells = []
    with open(path, newline="", encoding="utf-8") as fh:
        for record in csv.DictReader(fh):
            values: dict[str, Any] = {}
            for name, text in record.items():
                kind = str(kinds[name])
                if name == "seeds":
                    values[name] = tuple(int(s) for s in text.split())
                elif text == "" and "None" in kind:
                    values[name] = None
                elif kind.startswith("int"):
                    values[name] = int(text)
                elif kind.startswith("float"):
                    values[name] = float(text)
                else:
                    values[name] = text
            cells.append(Cell(**values))
    return cells


# ----------------------------------------------------------------------------------------- plots

_MAX_PANELS = 4
_MAX_SERIES = 6  # more series than this in one panel: one row of panels per augmentation
_MARKERS = "osD^v<>Pp*h"


def _panels(cells: Sequence[Cell]) -> tuple[list[tuple[tuple[str, float], list[Cell]]], int]:
    sections = list(_sections(cells).items())
    if not sections:
        raise ConfigError("nothing to plot: no finished runs")
    return sections[:_MAX_PANELS], len(sections)


def _styles(cells: Iterable[Cell], baseline: str) -> tuple[dict[str, Any], dict[str, int]]:
    """A colour per sampler (the baseline first) and a marker index per augmentation ("none" first)."""
    import matplotlib

    palette = matplotlib.colormaps["tab10"].colors
    samplers = sorted({c.sampler for c in cells}, key=lambda s: _sampler_order(s, baseline))
    augments = sorted({c.augment for c in cells}, key=lambda a: (a != "none", a))
    return ({s: palette[i % len(palette)] for i, s in enumerate(samplers)},
            {a: i for i, a in enumerate(augments)})


def _augment_rows(cells: Sequence[Cell]) -> list[str | None]:
    """The rows of panels: one per augmentation when a panel would hold more than ``_MAX_SERIES``
    series, else a single row (None) with every series."""
    series = {(c.sampler, c.augment) for c in cells}
    augments = sorted({c.augment for c in cells}, key=lambda a: (a != "none", a))
    return list(augments) if len(series) > _MAX_SERIES and len(augments) > 1 else [None]


def _plot_points(ax, series: Mapping[tuple[str, str], list[Cell]], x: str,  # noqa: ANN001
                 colours: Mapping[str, Any], styles: Mapping[str, int], baseline: str) -> None:
    """Mean ± std test accuracy of each (sampler, augmentation) at each measured value of the cell
    attribute ``x`` (``budget`` or ``noise``): markers with error bars and no connecting lines (a
    line would claim values that were not measured). The measured values are evenly spaced
    categories, and the series are dodged sideways so their error bars do not hide each other."""
    levels = sorted({getattr(c, x) for line in series.values() for c in line})
    position = {v: i for i, v in enumerate(levels)}
    ordered = sorted(series.items(),
                     key=lambda kv: (styles[kv[0][1]], *_sampler_order(kv[0][0], baseline)))
    width = min(0.6, 0.12 * len(ordered))
    for k, ((sampler, augment), line) in enumerate(ordered):
        offset = (k - (len(ordered) - 1) / 2) * width / max(1, len(ordered) - 1) if len(ordered) > 1 \
            else 0.0
        line.sort(key=lambda c: getattr(c, x))
        m = styles[augment]
        ax.errorbar([position[getattr(c, x)] + offset for c in line],
                    [100 * c.test_acc_mean for c in line], yerr=[100 * c.test_acc_std for c in line],
                    color=colours[sampler], linestyle="none", marker=_MARKERS[m % len(_MARKERS)],
                    markersize=5, capsize=2, label=_series_label(sampler, augment))
    ax.set_xticks(range(len(levels)), [f"{100 * v:g}%" for v in levels])
    ax.set_xlim(-0.5, len(levels) - 0.5)


def _series_label(sampler: str, augment: str) -> str:
    return sampler if augment == "none" else f"{sampler} + {augment}"


def _legend_outside(fig, axes) -> None:  # noqa: ANN001
    """One legend for the figure, right of the panels (never over the data)."""
    handles, labels = {}, []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in handles:
                handles[label] = handle
                labels.append(label)
    if labels:
        fig.legend([handles[label] for label in labels], labels, loc="center left",
                   bbox_to_anchor=(1.0, 0.5), fontsize="small", frameon=False)


def _suptitle(fig, what: str, shown: int, total: int) -> None:  # noqa: ANN001
    more = f" (first {shown} of {total} model/noise settings)" if shown < total else ""
    fig.suptitle(what + more)


def plot_accuracy_vs_budget(cells: Sequence[Cell], path: Path | str) -> Path:
    """Test accuracy (mean ± std over seeds) at each measured budget, one series per (sampler,
    augmentation), one column of panels per (model, noise) and, when there are more than six series,
    one row per augmentation; the baseline sampler at the full budget without augmentation is the
    dashed reference line (as in Arazo et al.'s budgeted-training figure)."""
    panels, total = _panels(cells)
    baseline = cells[0].baseline
    colours, styles = _styles(cells, baseline)
    rows = _augment_rows(cells)
    plt, fig, grid = figure(len(panels), width=5.0, height=3.6, nrows=len(rows))
    for r, augment in enumerate(rows):
        for ax, ((model, noise), section) in zip(grid[r], panels):
            series: dict[tuple[str, str], list[Cell]] = defaultdict(list)
            for c in section:
                if augment is None or c.augment == augment:
                    series[(c.sampler, c.augment)].append(c)
            _plot_points(ax, series, "budget", colours, styles, baseline)
            full = [c for c in section if c.sampler == baseline and c.augment == "none"
                    and math.isclose(c.budget, 1.0)]
            if full:
                ax.axhline(100 * full[0].test_acc_mean, color="grey", linestyle="--", linewidth=1,
                           label=f"{baseline}, no augmentation, 100% budget")
            ax.set_xlabel("budget (share of the full training run's samples)")
            ax.set_ylabel("test accuracy (%)")
            where = f"{model}, {_noise_label(noise)}"
            ax.set_title(where if augment is None else f"{where}: {augment}")
            ax.grid(alpha=0.3, axis="y")
    for column in grid.T:  # one y range down each column: the augmentations compare row by row
        low = min(ax.get_ylim()[0] for ax in column)
        high = max(ax.get_ylim()[1] for ax in column)
        for ax in column:
            ax.set_ylim(low, high)
    _legend_outside(fig, grid.flat)
    _suptitle(fig, "Test accuracy under a budget (mean ± std over seeds)", len(panels), total)
    return save_figure(plt, fig, path)


def plot_accuracy_vs_time(cells: Sequence[Cell], path: Path | str) -> Path:
    """Mean test accuracy against mean wall-clock seconds, one marker per cell and one panel per
    (model, noise); colour is the sampler, marker the augmentation, marker size the budget."""
    panels, total = _panels(cells)
    baseline = cells[0].baseline
    colours, styles = _styles(cells, baseline)
    budgets = sorted({c.budget for c in cells})
    size = {b: 12 + 60 * i / max(1, len(budgets) - 1) for i, b in enumerate(budgets)}
    plt, fig, axes = figure(len(panels), width=5.0, height=3.8)
    for ax, ((model, noise), section) in zip(axes, panels):
        labelled: set[tuple[str, str]] = set()
        for c in sorted(section, key=lambda c: (styles[c.augment],
                                                *_sampler_order(c.sampler, baseline), c.budget)):
            if c.wall_s_mean is None:
                continue
            key = (c.sampler, c.augment)
            m = styles[c.augment]
            ax.scatter(c.wall_s_mean, 100 * c.test_acc_mean, color=colours[c.sampler],
                       marker=_MARKERS[m % len(_MARKERS)], s=size[c.budget], zorder=3, alpha=0.85,
                       label=None if key in labelled else _series_label(*key))
            labelled.add(key)
        ax.set_xlabel("wall-clock time per run (s, mean over seeds)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{model}, {_noise_label(noise)}")
        ax.grid(alpha=0.3)
    for b in budgets:  # the size legend
        axes[0].scatter([], [], s=size[b], color="grey", label=f"budget {_budget_label(b)}")
    _legend_outside(fig, axes)
    _suptitle(fig, "Test accuracy against wall-clock time (marker size: budget)", len(panels), total)
    return save_figure(plt, fig, path)


def noise_levels(cells: Iterable[Cell]) -> list[float]:
    """The distinct label-noise rates of the cells, ascending."""
    return sorted({c.noise for c in cells})


def plot_accuracy_vs_noise(cells: Sequence[Cell], path: Path | str) -> Path | None:
    """Test accuracy (mean ± std) at each measured label-noise rate, at each model's largest budget,
    one series per (sampler, augmentation) and one panel per model (as in Swift Sampler's Table 1).
    Writes nothing and returns None when the cells have fewer than two noise levels."""
    if len(noise_levels(cells)) < 2:
        return None
    baseline = cells[0].baseline
    colours, styles = _styles(cells, baseline)
    models = sorted({c.model for c in cells})
    shown = models[:_MAX_PANELS]
    plt, fig, axes = figure(len(shown), width=5.0, height=3.8)
    for ax, model in zip(axes, shown):
        mine = [c for c in cells if c.model == model]
        budget = max(c.budget for c in mine)
        series: dict[tuple[str, str], list[Cell]] = defaultdict(list)
        for c in mine:
            if c.budget == budget:
                series[(c.sampler, c.augment)].append(c)
        _plot_points(ax, series, "noise", colours, styles, baseline)
        ax.set_xlabel("label noise rate (share of training labels corrupted)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{model}, budget {_budget_label(budget)}")
        ax.grid(alpha=0.3, axis="y")
    _legend_outside(fig, axes)
    more = f" (first {len(shown)} of {len(models)} models)" if len(shown) < len(models) else ""
    fig.suptitle("Test accuracy against label noise (mean ± std over seeds)" + more)
    return save_figure(plt, fig, path)


# ---------------------------------------------------------------------------------------- report


def write_report(out_dir: Path | str, title: str = "swiftsampler comparison", *,
                 baseline: str = "uniform") -> dict[str, Path]:
    """Read ``out_dir/results.db`` and write ``report.md`` (tables, legend, links to the plots),
    ``report.csv`` and the plots ``accuracy_vs_budget.png``, ``accuracy_vs_time.png`` and, with two
    or more noise levels, ``accuracy_vs_noise.png``. Unfinished runs are counted, not averaged.
    Returns the written paths by name (``markdown``, ``csv``, and the plot names without ``.png``)."""
    out_dir = Path(out_dir)
    db = out_dir / "results.db"
    status = count_status(db)
    cells = summarize(load_done(db), baseline=baseline)
    paths: dict[str, Path] = {"csv": write_csv(cells, out_dir / "report.csv")}
    if cells:
        paths["accuracy_vs_budget"] = plot_accuracy_vs_budget(cells, out_dir / "accuracy_vs_budget.png")
        paths["accuracy_vs_time"] = plot_accuracy_vs_time(cells, out_dir / "accuracy_vs_time.png")
        noise_plot = plot_accuracy_vs_noise(cells, out_dir / "accuracy_vs_noise.png")
        if noise_plot is not None:
            paths["accuracy_vs_noise"] = noise_plot
    text = render_markdown(cells, title, status=status)
    captions = {
        "accuracy_vs_budget": "Test accuracy against the budget",
        "accuracy_vs_time": "Test accuracy against wall-clock time",
        "accuracy_vs_noise": "Test accuracy against the label-noise rate",
    }
    figures = [f"![{caption}]({paths[name].name})" for name, caption in captions.items()
               if name in paths]
    if figures:
        text += "\n## Plots\n\n" + "\n\n".join(figures) + "\n"
    failed = failed_runs(db)
    if failed:
        text += "\n## Failed runs\n\n" + "\n".join(
            f"- `{key}`: {error or '(no error recorded)'}" for key, error in failed[:20])
        if len(failed) > 20:
            text += f"\n- ... and {len(failed) - 20} more"
        text += "\n"
    text += f"\nData: `{paths['csv'].name}` (one row per cell); runs: `{db.name}`.\n"
    paths["markdown"] = write_atomic(out_dir / "report.md", lambda fh: fh.write(text.encode()))
    return paths
