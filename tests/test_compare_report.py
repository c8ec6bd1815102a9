"""The comparison report from a hand-made results.db: means, stds, the seed-paired difference to the
baseline and its 95% CI, bold winners, unfinished runs, CSV, plots and errors."""

import json
import math
import sqlite3

import pytest
from scipy.stats import t

from swiftsampler.errors import ConfigError
from swiftsampler.experiments.report import (
    Cell,
    count_status,
    format_diff,
    load_done,
    read_csv,
    render_markdown,
    summarize,
    write_csv,
    write_report,
)

SCHEMA = """CREATE TABLE runs (key TEXT PRIMARY KEY, spec TEXT NOT NULL, config TEXT NOT NULL,
    status TEXT NOT NULL, result TEXT, error TEXT, updated REAL)"""

# (sampler, budget) -> test accuracy of seeds 0, 1, 2
ACC = {
    ("uniform", 0.3): [0.80, 0.82, 0.84],
    ("loss", 0.3): [0.81, 0.84, 0.87],  # differences to uniform: 0.01, 0.02, 0.03
    ("uniform", 1.0): [0.90, 0.91, 0.95],
    ("loss", 1.0): [0.89, 0.90, 0.92],
}


def _spec(sampler, budget, seed, model="cnn1d", noise=0.0, augment="none"):
    return dict(model=model, noise=noise, augment=augment, sampler=sampler, budget=budget, seed=seed)


def _result(acc, budget, noise=0.0, seed=0):
    result = {"test_acc": acc, "val_acc": acc - 0.01, "wall_s": 10.0 * budget + seed,
              "cost": {"iterations": 10, "forward_samples": 2000 * budget,
                       "backward_samples": 1000 * budget}}
    if noise > 0:
        result["noise"] = {"rate": noise, "sampling_mass_on_noisy": noise / 2 + 0.01 * seed}
    return result


def make_db(path, runs):
    """``runs``: (spec, status, result or None, error or None) tuples."""
    with sqlite3.connect(path) as con:
        con.execute(SCHEMA)
        for i, (spec, status, result, error) in enumerate(runs):
            con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (f"run-{i:03d}", json.dumps(spec), json.dumps({"seed": spec["seed"]}), status,
                         None if result is None else json.dumps(result), error, 0.0))
    con.close()
    return path


@pytest.fixture
def grid(tmp_path):
    runs = [(_spec(s, b, seed), "done", _result(acc, b, seed=seed), None)
            for (s, b), accs in ACC.items() for seed, acc in enumerate(accs)]
    runs.append((_spec("loss", 1.0, 3), "failed", None, "TrainingError: loss is NaN\ntraceback..."))
    runs.append((_spec("uniform", 0.3, 3), "pending", None, None))
    runs.append((_spec("uniform", 0.3, 4), "running", None, None))
    make_db(tmp_path / "results.db", runs)
    return tmp_path


def _cell(cells, sampler, budget):
    (cell,) = [c for c in cells if c.sampler == sampler and c.budget == budget]
    return cell


def _sd(xs):
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def test_load_done_flattens_done_runs_only(grid):
    rows = load_done(grid / "results.db")
    assert len(rows) == 12
    row = next(r for r in rows if r["sampler"] == "loss" and r["budget"] == 0.3 and r["seed"] == 1)
    assert row == {**_spec("loss", 0.3, 1), "test_acc": 0.84, "val_acc": 0.84 - 0.01,
                   "wall_s": 4.0, "forward_samples": 600.0, "backward_samples": 300.0,
                   "noisy_mass": None, "weight_noisy": None}
    assert count_status(grid / "results.db") == {"done": 12, "running": 1, "pending": 1, "failed": 1}


def test_means_stds_and_paired_interval_match_hand_computation(grid):
    cells = summarize(load_done(grid / "results.db"))
    assert [(c.budget, c.sampler) for c in cells] == [(0.3, "uniform"), (0.3, "loss"),
                                                     (1.0, "uniform"), (1.0, "loss")]
    for (sampler, budget), accs in ACC.items():
        c = _cell(cells, sampler, budget)
        assert c.n == 3 and c.seeds == (0, 1, 2)
        assert c.test_acc_mean == pytest.approx(sum(accs) / 3)
        assert c.test_acc_std == pytest.approx(_sd(accs))
        assert c.val_acc_mean == pytest.approx(sum(accs) / 3 - 0.01)
        assert c.wall_s_mean == pytest.approx(10 * budget + 1)
        assert c.backward_samples_mean == pytest.approx(1000 * budget)
        assert c.forward_samples_mean == pytest.approx(2000 * budget)
        assert c.noisy_mass_mean is None
    assert _cell(cells, "uniform", 0.3).test_acc_std == pytest.approx(0.02)

    base = _cell(cells, "uniform", 0.3)
    assert base.is_baseline and base.diff_mean is None and base.diff_low is None and base.diff_n == 0

    # budget 1.0: the formula, with t from scipy
    d = [a - b for a, b in zip(ACC[("loss", 1.0)], ACC[("uniform", 1.0)])]
    half = t.ppf(0.975, len(d) - 1) * _sd(d) / math.sqrt(len(d))
    c = _cell(cells, "loss", 1.0)
    assert c.diff_n == 3
    assert c.diff_mean == pytest.approx(sum(d) / 3)
    assert (c.diff_low, c.diff_high) == pytest.approx((sum(d) / 3 - half, sum(d) / 3 + half))

    # budget 0.3, worked out by hand: d = 0.01, 0.02, 0.03 -> mean 0.02, sd 0.01,
    # t(0.975, 2) = 4.302652729911275, half-width = 4.302652729911275 * 0.01 / sqrt(3) = 0.0248414...
    c = _cell(cells, "loss", 0.3)
    assert c.diff_mean == pytest.approx(0.02)
    assert c.diff_low == pytest.approx(0.02 - 0.024841377, abs=1e-8)
    assert c.diff_high == pytest.approx(0.02 + 0.024841377, abs=1e-8)
    assert format_diff(c) == "+2.00 [\u22120.48, +4.48]"


def test_pairing_uses_seeds_and_other_keys():
    rows = [{**_spec("uniform", 0.5, s), "test_acc": a} for s, a in [(0, 0.5), (1, 0.6), (2, 0.7)]]
    rows += [{**_spec("loss", 0.5, s), "test_acc": a} for s, a in [(1, 0.65), (2, 0.72), (3, 0.99)]]
    # one seed in common: mean only; other augmentation / noise: no baseline to pair with
    rows += [{**_spec("uniform", 0.2, 0), "test_acc": 0.4}, {**_spec("loss", 0.2, 0), "test_acc": 0.45},
             {**_spec("loss", 0.2, 1), "test_acc": 0.47}]
    rows += [{**_spec("loss", 0.5, 0, augment="mixup"), "test_acc": 0.9},
             {**_spec("loss", 0.5, 0, noise=0.4), "test_acc": 0.9}]
    cells = summarize(rows)
    c = next(c for c in cells if c.sampler == "loss" and c.budget == 0.5 and c.augment == "none"
             and c.noise == 0)
    assert c.n == 3 and c.diff_n == 2  # seed 0 has no loss run, seed 3 no uniform run
    assert c.diff_mean == pytest.approx((0.05 + 0.02) / 2)
    half = t.ppf(0.975, 1) * _sd([0.05, 0.02]) / math.sqrt(2)
    assert (c.diff_low, c.diff_high) == pytest.approx((0.035 - half, 0.035 + half))
    one = next(c for c in cells if c.sampler == "loss" and c.budget == 0.2)
    assert one.diff_n == 1 and one.diff_mean == pytest.approx(0.05)
    assert one.diff_low is None and one.diff_high is None
    assert format_diff(one) == "+5.00 (1 seed)"
    for c in cells:
        if c.augment == "mixup" or c.noise == 0.4:
            assert c.diff_n == 0 and c.diff_mean is None and format_diff(c) == "-"
    # order: model, noise, augment, budget, then the baseline first
    assert [(c.noise, c.augment, c.budget, c.sampler) for c in cells] == [
        (0.0, "mixup", 0.5, "loss"), (0.0, "none", 0.2, "uniform"), (0.0, "none", 0.2, "loss"),
        (0.0, "none", 0.5, "uniform"), (0.0, "none", 0.5, "loss"), (0.4, "none", 0.5, "loss")]


def _table_rows(markdown):
    rows = []
    for line in markdown.splitlines():
        if line.startswith("| ") and not line.startswith("| budget"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def test_markdown_bolds_the_best_per_budget_and_counts_runs(grid):
    cells = summarize(load_done(grid / "results.db"))
    md = render_markdown(cells, "My comparison", status=count_status(grid / "results.db"))
    assert md.startswith("# My comparison")
    assert "## cnn1d, no label noise" in md
    assert "12 of 15 runs done (1 running, 1 pending, 1 failed: not included)" in md
    assert "paired 95% confidence interval" in md and "backward samples" in md
    rows = _table_rows(md)
    bold = [(r[0], r[2]) for r in rows if r[3].startswith("**")]
    assert bold == [("30%", "loss"), ("100%", "uniform")]
    loss30 = next(r for r in rows if r[:3] == ["30%", "none", "loss"])
    assert loss30[3] == "**84.00 ± 3.00**"
    assert loss30[4] == "+2.00 [\u22120.48, +4.48]"
    assert loss30[6:] == ["300", "600", "4.0", "1.00", "3"]  # wall s as uniform's: time × 1.00
    assert next(r for r in rows if r[:3] == ["30%", "none", "uniform"])[4] == "baseline"
    assert "12 finished runs in 4 cells" in render_markdown(cells, "t")


def test_csv_round_trips(grid, tmp_path):
    cells = summarize(load_done(grid / "results.db"))
    cells.append(Cell(model="m", noise=0.2, augment="standard+ricap", sampler="x", budget=0.5, n=1,
                      seeds=(7,), test_acc_mean=0.5, test_acc_std=0.0, val_acc_mean=None,
                      wall_s_mean=1.25, forward_samples_mean=None, backward_samples_mean=10.0,
                      noisy_mass_mean=0.1, baseline="uniform", diff_mean=None, diff_low=None,
                      diff_high=None, diff_n=0))
    path = write_csv(cells, tmp_path / "out" / "cells.csv")
    assert read_csv(path) == cells


def test_write_report_with_unfinished_runs_and_noise_levels(tmp_path):
    runs = []
    for noise in (0.0, 0.4):
        for sampler, shift in (("uniform", 0.0), ("loss", 0.02)):
            for budget in (0.3, 1.0):
                for seed in range(2):
                    acc = 0.9 - noise / 2 + shift + budget / 10 + 0.01 * seed
                    runs.append((_spec(sampler, budget, seed, noise=noise), "done",
                                 _result(acc, budget, noise, seed), None))
    runs.append((_spec("loss", 0.3, 2, noise=0.4), "failed", None, "CUDA out of memory\nmore"))
    runs.append((_spec("loss", 0.3, 3, noise=0.4), "pending", None, None))
    make_db(tmp_path / "results.db", runs)
    paths = write_report(tmp_path, title="Noise study")
    assert set(paths) == {"markdown", "csv", "accuracy_vs_budget", "accuracy_vs_time",
                          "accuracy_vs_noise"}
    for name in ("accuracy_vs_budget", "accuracy_vs_time", "accuracy_vs_noise"):
        data = paths[name].read_bytes()
        assert paths[name].name == f"{name}.png" and len(data) > 1000
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
    md = paths["markdown"].read_text()
    assert "16 of 18 runs done (1 pending, 1 failed: not included)" in md
    assert "## cnn1d, 40% label noise" in md and "mislabelled drawn %" in md
    assert "![Test accuracy against the label-noise rate](accuracy_vs_noise.png)" in md
    assert "CUDA out of memory" in md and "more" not in md.split("## Failed runs")[1]
    cells = read_csv(paths["csv"])
    assert len(cells) == 8 and sum(c.n for c in cells) == 16
    noisy = next(c for c in cells if c.noise == 0.4 and c.sampler == "uniform" and c.budget == 1.0)
    assert noisy.noisy_mass_mean == pytest.approx(0.205)
    assert not list(tmp_path.glob("*.tmp"))


def test_report_without_noise_levels_or_done_runs(grid, tmp_path):
    paths = write_report(grid)
    assert "accuracy_vs_noise" not in paths and not (grid / "accuracy_vs_noise.png").exists()
    assert paths["accuracy_vs_budget"].stat().st_size > 0
    assert "accuracy_vs_noise.png" not in paths["markdown"].read_text()
    empty = tmp_path / "empty"
    empty.mkdir()
    make_db(empty / "results.db", [(_spec("uniform", 1.0, 0), "pending", None, None)])
    paths = write_report(empty)
    assert set(paths) == {"markdown", "csv"}
    md = paths["markdown"].read_text()
    assert "0 of 1 runs done (1 pending: not included)" in md and "No finished runs yet." in md


def test_missing_or_bad_database_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no results database"):
        load_done(tmp_path / "nowhere" / "results.db")
    with pytest.raises(ConfigError, match="no results database"):
        write_report(tmp_path)
    junk = tmp_path / "junk.db"
    junk.write_text("this is not a database, just some text that is long enough " * 20)
    with pytest.raises(ConfigError, match="not a readable SQLite"):
        load_done(junk)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE t (x)")
    con.close()
    with pytest.raises(ConfigError, match="not a swiftsampler results database"):
        load_done(other)
